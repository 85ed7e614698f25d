/** The audit's inputs as the unit tests build them: the built-in host playbook prepared, and its sections. */
import type { SectionResult } from "../../../src/engine/sections.js";
import { builtinVars } from "../../../src/cli/builtins.js";
import { builtinPlaybook } from "../../../src/engine/paths.js";
import { loadPlaybook } from "../../../src/engine/playbook/loader.js";
import { preparePlaybook, type PreparedPlay } from "../../../src/engine/prepare.js";
import { Redactor } from "../../../src/engine/redact.js";
import type { VarOverride } from "../../../src/engine/vars.js";
import { resourceKinds } from "../../../src/resources/index.js";

/** A syntactically real public key: the blob embeds its type, as ssh-keygen writes it. */
export function fakeKey(seed: number, comment: string): string {
  const t = Buffer.from("ssh-ed25519");
  const body = Buffer.alloc(32, seed);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return `ssh-ed25519 ${Buffer.concat([u32(t.length), t, u32(body.length), body]).toString("base64")} ${comment}`;
}

/** A playbook prepared for one host as `provision` and `audit` prepare it. */
export function prepared(file = builtinPlaybook("host"), vars: Record<string, unknown> = {}): PreparedPlay[] {
  const overrides: VarOverride[] = Object.entries({
    authorized_keys: [fakeKey(1, "op@laptop")],
    ...vars,
  }).map(([name, value]) => ({ name, value, from: { file: "(test)" } }) as VarOverride);
  return preparePlaybook(loadPlaybook(file, resourceKinds), resourceKinds, {
    overrides,
    builtins: builtinVars(),
    redactor: new Redactor(),
  });
}

/**
 * The variables of a host provisioned before `ssh_explicit` (the sshd -T fixtures were captured there):
 * the sshd task then declares no forwarding directives, and sshd's own MaxSessions.
 */
export const PRE_EXPLICIT = { ssh_explicit: false, ssh_max_sessions: 10 };

/** Sections as SectionWriter.parse returns them (every fragment ran to its end). */
export function sections(parts: Record<string, string>): Map<string, SectionResult> {
  return new Map(Object.entries(parts).map(([id, output]) => [id, { output, rc: 0 }]));
}

export const b64 = (s: string) => Buffer.from(s).toString("base64");
export const AUDIT_M = "@@lockclaw-audit";
export const SSHD_M = "@@lockclaw-sshd";
export const UFW_M = "@@lockclaw-ufw";
export const F2B_M = "@@lockclaw-fail2ban";

/** The sshd module's probe output: sshd -T, and sshd -T -C per connection spec. */
export function sshdOutput(t: string, perConnection: Record<string, string> = {}, rc = 0): string {
  return [
    `${SSHD_M} sshd-T`,
    t,
    `${SSHD_M} sshd-T-rc ${rc}`,
    ...Object.entries(perConnection).flatMap(([c, o]) => [
      `${SSHD_M} sshd-TC ${c}`,
      o,
      `${SSHD_M} sshd-TC-rc 0`,
    ]),
    `${SSHD_M} end`,
  ].join("\n");
}
