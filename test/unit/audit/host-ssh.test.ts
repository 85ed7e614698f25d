/**
 * The SSH parts of the host audit: what a real login gets (sshd -T -C, Match blocks applied) and every
 * authorized key of every login user. Samples are real Debian 12 sshd -T output (see host.test.ts).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  evaluateAudit,
  expectedFromPlays,
  hostAuditFragments,
  type AuditCheck,
} from "../../../src/audit/index.js";
import { authorizedKeysScript } from "../../../src/audit/keys.js";
import { Marks } from "../../../src/core/marks.js";
import type { SectionResult } from "../../../src/engine/sections.js";
import { AUDIT_M as M, b64, fakeKey, prepared, sections, sshdOutput, PRE_EXPLICIT } from "./support.js";

const fx = (name: string) => readFileSync(join(__dirname, "fixtures", name), "utf8");
const HARDENED_T = fx("sshd-T-debian12-hardened.txt");

const expected = expectedFromPlays(prepared(undefined, PRE_EXPLICIT)).host;
const DEPLOY_C = "user=deploy,host=lockclaw-check.invalid,addr=203.0.113.7,lport=2222";
const ROOT_C = "user=root,host=lockclaw-check.invalid,addr=203.0.113.7,lport=2222";

/** Only the sshd and keys sections: the other parts' checks fail without theirs, and are ignored here. */
function output(perConnection: Record<string, string>, keys: string[] = []): Map<string, SectionResult> {
  return sections({ sshd: sshdOutput(HARDENED_T, perConnection), keys: keys.join("\n") });
}
const sshdChecks = (checks: AuditCheck[]) => checks.filter((c) => c.id.startsWith("sshd."));

describe("audit: sshd as a real login gets it", () => {
  it("asks sshd -T -C for the deploy user and for root, from a non-admin address, on the SSH port", () => {
    const script = String(hostAuditFragments(expected).find((f) => f.id === "sshd")!.script);
    expect(script).toContain(`"$lc_sshd" -T -C '${DEPLOY_C}'`);
    expect(script).toContain(`"$lc_sshd" -T -C '${ROOT_C}'`);
  });
  it("passes when every login gets the hardened values", () => {
    const checks = sshdChecks(
      evaluateAudit(output({ [DEPLOY_C]: HARDENED_T, [ROOT_C]: HARDENED_T }), expected),
    );
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(checks.find((c) => c.id === "sshd.PasswordAuthentication")!.evidence).toBe(
      "passwordauthentication no (every login checked)",
    );
  });
  it("a Match block re-enabling passwords for the deploy user fails, though plain sshd -T says no", () => {
    const deploy = HARDENED_T.replace("passwordauthentication no", "passwordauthentication yes");
    const bad = sshdChecks(
      evaluateAudit(output({ [DEPLOY_C]: deploy, [ROOT_C]: HARDENED_T }), expected),
    ).filter((c) => !c.pass);
    expect(bad).toEqual([
      expect.objectContaining({
        id: "sshd.PasswordAuthentication",
        evidence: "passwordauthentication yes for a login user=deploy,addr=203.0.113.7,lport=2222",
      }),
    ]);
  });
  it("a Match block letting root in fails on the root login", () => {
    const root = HARDENED_T.replace("permitrootlogin no", "permitrootlogin yes");
    const bad = sshdChecks(
      evaluateAudit(output({ [DEPLOY_C]: HARDENED_T, [ROOT_C]: root }), expected),
    ).filter((c) => !c.pass);
    expect(bad.map((c) => `${c.id}: ${c.evidence}`)).toEqual([
      "sshd.PermitRootLogin: permitrootlogin yes for a login user=root,addr=203.0.113.7,lport=2222",
    ]);
  });
});

const fp = (k: string) =>
  `SHA256:${createHash("sha256")
    .update(Buffer.from(k.split(" ")[1]!, "base64"))
    .digest("base64")
    .replace(/=+$/, "")}`;
const OPERATOR = fakeKey(1, "op@laptop");
const TEAM = fakeKey(2, "ci@team");
const INTRUDER = fakeKey(9, "backdoor@evil");

describe("audit: authorized keys of root and every login user", () => {
  const keysSection = (user: string, path: string, content: string) => [
    `${M} keys ${user} ${path}`,
    b64(content),
  ];
  const keyChecks = (checks: AuditCheck[]) => checks.filter((c) => c.id.startsWith("keys."));

  it("lists every key's fingerprint and passes when all are declared", () => {
    const out = output({}, [
      ...keysSection("deploy", "/home/deploy/.ssh/authorized_keys", `${OPERATOR}\n${TEAM}\n`),
      ...keysSection("root", "/root/.ssh/authorized_keys", `${OPERATOR}\n`),
    ]);
    const checks = keyChecks(evaluateAudit(out, { ...expected, authorizedKeys: [OPERATOR, TEAM] }));
    expect(checks).toEqual([
      {
        id: "keys.deploy",
        title: "deploy's authorized keys are all declared",
        pass: true,
        evidence: `2 key(s): ${fp(OPERATOR)} (op@laptop) in /home/deploy/.ssh/authorized_keys; ${fp(TEAM)} (ci@team) in /home/deploy/.ssh/authorized_keys`,
      },
      expect.objectContaining({ id: "keys.root", pass: true }),
    ]);
  });
  it("an undeclared key fails, for the deploy user as for any other login user, named by fingerprint", () => {
    const out = output({}, [
      ...keysSection("deploy", "/home/deploy/.ssh/authorized_keys", `${OPERATOR}\n${INTRUDER}\n`),
      ...keysSection("alice", "/home/alice/.ssh/authorized_keys2", `restrict ${INTRUDER}\n`),
    ]);
    const bad = keyChecks(evaluateAudit(out, { ...expected, authorizedKeys: [OPERATOR] })).filter(
      (c) => !c.pass,
    );
    expect(bad.map((c) => c.id)).toEqual(["keys.deploy", "keys.alice"]);
    expect(bad[0]!.evidence).toContain(
      `${fp(INTRUDER)} (backdoor@evil) in /home/deploy/.ssh/authorized_keys NOT DECLARED`,
    );
    expect(bad[0]!.evidence).not.toContain(
      `${fp(OPERATOR)} (op@laptop) in /home/deploy/.ssh/authorized_keys NOT`,
    );
  });
  it("the probe reads root's and every login shell user's AuthorizedKeysFile (%h, %u) and the defaults", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-audit-keys-"));
    try {
      const bin = join(dir, "bin");
      mkdirSync(bin);
      const home = (u: string) => join(dir, "home", u);
      for (const u of ["root", "alice", "svc"]) mkdirSync(join(home(u), ".ssh"), { recursive: true });
      writeFileSync(
        join(bin, "getent"),
        `#!/bin/sh\nprintf '%s\\n' 'root:x:0:0:root:${home("root")}:/usr/sbin/nologin' 'alice:x:1000:1000::${home("alice")}:/bin/bash' 'svc:x:999:999::${home("svc")}:/usr/sbin/nologin'\n`,
      );
      writeFileSync(
        join(bin, "sshd"),
        `#!/bin/sh\necho 'authorizedkeysfile .ssh/authorized_keys %h/.ssh/keys_%u'\n`,
      );
      chmodSync(join(bin, "getent"), 0o755);
      chmodSync(join(bin, "sshd"), 0o755);
      writeFileSync(join(home("root"), ".ssh/authorized_keys"), `${OPERATOR}\n`);
      writeFileSync(join(home("alice"), ".ssh/keys_alice"), `${INTRUDER}\n`);
      writeFileSync(join(home("svc"), ".ssh/authorized_keys"), `${INTRUDER}\n`); // no login shell
      const r = spawnSync(
        "/bin/sh",
        ["-c", `lc_sshd=${join(bin, "sshd")}\n${authorizedKeysScript(new Marks(M))}`],
        {
          encoding: "utf8",
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        },
      );
      const checks = keyChecks(
        evaluateAudit(sections({ keys: r.stdout }), { ...expected, authorizedKeys: [OPERATOR] }),
      );
      expect(checks.map((c) => `${c.id} ${c.pass}`)).toEqual(["keys.root true", "keys.alice false"]);
      expect(checks[1]!.evidence).toContain(`${home("alice")}/.ssh/keys_alice NOT DECLARED`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
