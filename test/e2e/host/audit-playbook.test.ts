/**
 * The audit judges a host against the playbook it was provisioned with (issue 13): a custom host playbook
 * that opens one more port passes `audit --playbook` (and fails the built-in playbook's audit, which calls
 * the port extra); drift from it (the port closed by hand, the sudoers file edited) fails, each named
 * (and AIDE names the edited files).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { builtinPlaybook } from "../../../src/engine/paths.js";
import { useMachines } from "../support/lab.js";
import { cliFor, events, show, target } from "./support.js";

interface Report {
  pass: boolean;
  checks: Array<{ id: string; pass: boolean; evidence: string }>;
}

describe("audit --playbook: the host as its own playbook declared it", () => {
  const [m] = [useMachines(1, { prefix: "ap" })];
  const cli = cliFor();
  const machine = () => m[0]!;
  const dir = mkdtempSync(join(tmpdir(), "lc-e2e-audit-pb-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const custom = join(dir, "custom.yml");
  const host = readFileSync(builtinPlaybook("host"), "utf8");
  const text = host.replace(
    "          comment: lockclaw admin\n",
    "          comment: lockclaw admin\n        - port: 8443\n          proto: tcp\n          comment: app\n",
  );
  writeFileSync(custom, text);
  const failed = (r: Report) => r.checks.filter((c) => !c.pass);
  const audit = async (args: string[]) => {
    const r = await cli(["audit", target(machine()), "--json", ...args]);
    const [report] = events(r.stdout) as unknown as Report[];
    return { r, report: report! };
  };

  it("a host provisioned with a playbook that opens 8443 passes its audit; the built-in audit names the port", async () => {
    expect(text).toContain("port: 8443");
    const p = await cli(["provision", "host", "--no-stack", "--playbook", custom, target(machine())]);
    expect(p.code, show(p)).toBe(0);

    const own = await audit(["--playbook", custom]);
    expect(own.r.code, show(own.r)).toBe(0);
    expect(failed(own.report)).toEqual([]);
    const ids = own.report.checks.map((c) => c.id);
    // the same host checks as the built-in audit, and the other tasks from their modules' probes
    for (const id of [
      "sshd.port",
      "ufw.rules",
      "ufw.live",
      "fail2ban.jail",
      "listeners.public",
      "keys.deploy",
    ])
      expect(ids).toContain(id);
    expect(ids).toContain("template.sudoers-for-the-deploy-user");
    expect(ids).toContain("sysctl.network-hardening-sysctls");
    expect(own.report.checks.find((c) => c.id === "ufw.rules")!.evidence).toMatch(/none extra or missing/);

    const builtin = await audit([]);
    expect(builtin.r.code, show(builtin.r)).toBe(1);
    // the rule files and the live filter both hold the port the built-in playbook does not open
    expect(failed(builtin.report).map((c) => c.id)).toEqual(["ufw.rules", "ufw.live"]);
    expect(failed(builtin.report)[0]!.evidence).toContain("extra: allow 8443/tcp from any (v4) # app");
    expect(failed(builtin.report)[1]!.evidence).toContain("--dport 8443 -j ACCEPT");
  });

  it("drift from the custom playbook fails, naming the closed port and the edited file", async () => {
    const d = await machine().ssh(
      "sudo -n ufw delete allow 8443/tcp && echo '# drift' | sudo -n tee -a /etc/sudoers.d/deploy >/dev/null",
      { user: "deploy", port: 2222 },
    );
    expect(d.code, d.stderr).toBe(0);
    const { r, report } = await audit(["--playbook", custom]);
    expect(r.code, show(r)).toBe(1);
    const bad = failed(report);
    const ids = bad.map((c) => c.id);
    expect(ids).toEqual(
      expect.arrayContaining(["ufw.rules", "template.sudoers-for-the-deploy-user", "integrity.aide"]),
    );
    // nothing else drifted (the live filter follows ufw's files, which ufw delete reloaded); AIDE
    // (file_integrity) rightly sees the edited files changed since lockclaw's baseline. The sudoers
    // comment changes no effective sudo Default, so the sudo.* checks pass: the file's drift is the
    // template task's one failure
    expect(
      ids.filter(
        (id) =>
          !["ufw.rules", "ufw.live", "template.sudoers-for-the-deploy-user", "integrity.aide"].includes(id),
      ),
    ).toEqual([]);
    expect(bad.find((c) => c.id === "integrity.aide")!.evidence).toContain("/etc/sudoers.d/deploy");
    expect(bad.find((c) => c.id === "ufw.rules")!.evidence).toContain(
      "missing: allow 8443/tcp from any (v4)",
    );
    expect(bad.find((c) => c.id === "template.sudoers-for-the-deploy-user")!.evidence).toContain(
      "/etc/sudoers.d/deploy",
    );
  });
});
