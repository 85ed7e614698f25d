/**
 * The SSH parts of the host audit: what a real login gets (sshd -T -C, Match blocks applied) and every
 * authorized key of every login user. Samples are real Debian 12 sshd -T output (see host.test.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  auditProbeScript,
  evaluateAudit,
  expectedFromHostVars,
  sshConnections,
  type AuditCheck,
} from "../../../src/audit/host.js";
import { loadCloudflareRanges } from "../../../src/cloudflare/ranges.js";

const fx = (name: string) => readFileSync(join(__dirname, "fixtures", name), "utf8");
const M = "@@lockclaw-audit";
const b64 = (s: string) => Buffer.from(s).toString("base64");
const HARDENED_T = fx("sshd-T-debian12-hardened.txt");

const expected = expectedFromHostVars({
  deploy_user: "deploy",
  ssh_port: 2222,
  admin_cidrs: [],
  cloudflare_ranges: loadCloudflareRanges(),
});
const DEPLOY_C = "user=deploy,host=lockclaw-check.invalid,addr=203.0.113.7,lport=2222";
const ROOT_C = "user=root,host=lockclaw-check.invalid,addr=203.0.113.7,lport=2222";

/** Only the sshd sections: the other parts' checks fail without their sections, and are ignored here. */
function output(perConnection: Record<string, string>, extra: string[] = []): string {
  return [
    `${M} sshd-T`,
    HARDENED_T,
    `${M} sshd-T-rc 0`,
    ...Object.entries(perConnection).flatMap(([c, t]) => [`${M} sshd-TC ${c}`, t, `${M} sshd-TC-rc 0`]),
    ...extra,
    `${M} end`,
  ].join("\n");
}
const sshdChecks = (checks: AuditCheck[]) => checks.filter((c) => c.id.startsWith("sshd."));

describe("audit: sshd as a real login gets it", () => {
  it("asks sshd -T -C for the deploy user and for root, from a non-admin address, on the SSH port", () => {
    expect(sshConnections(expected)).toEqual([DEPLOY_C, ROOT_C]);
    const script = auditProbeScript({ sshConnections: sshConnections(expected) });
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
