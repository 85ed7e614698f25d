/**
 * Issue 12 (the configuration part) on a real Debian machine: the deeper hardening block of the host
 * playbook provisions, re-runs as one exec, and drift in each of its settings (sudoers without use_pty, a
 * changed login.defs line, a removed sshd directive, an edited journald drop-in, an edited kernel sysctl
 * drop-in) is found by the audit and by --check, and fixed by a run. The lab is a container: its kernel
 * keys are read-only, so the audit says SKIP with the reason for them, and the file is what is checked.
 */
import { describe, expect, it } from "vitest";
import { useMachines } from "../support/lab.js";
import { cliFor, events, show, target } from "./support.js";

interface Check {
  id: string;
  pass: boolean;
  evidence: string;
  skipped?: boolean;
}
const auditChecks = (stdout: string) => (events(stdout)[0] as { checks: Check[] }).checks;
const seconds = (stdout: string) => Number(/unreachable=\d+\s+execs=\d+\s+([\d.]+)s/.exec(stdout)?.[1]);

describe("deeper host hardening (issue 12): kernel, sudo, accounts, logs", () => {
  const m = useMachines(1, { prefix: "hh" });
  const cli = cliFor();
  const machine = () => m[0]!;
  const deploy = (cmd: string) => machine().ssh(cmd, { user: "deploy", port: 2222 });

  it("provisions, and a no-op re-run is one exec", async () => {
    const r = await cli(["provision", "host", "--no-stack", target(machine()), "-v"]);
    expect(r.code, show(r)).toBe(0);
    // the container's kernel keys are read-only: warned, never failed
    expect(r.stdout).toMatch(/WARNING Kernel hardening sysctls: sysctl kernel\.\S+ is read-only here/);
    const again = await cli(["provision", "host", "--no-stack", target(machine()), "-v"]);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toMatch(/changed=0/);
    expect(again.stdout).toMatch(/execs=1\b/);
    console.log(`first provision ${seconds(r.stdout)} s, no-op ${seconds(again.stdout)} s`);

    // lockclaw's own SSH use fits the MaxSessions 2 it sets; umask 027 reaches sudo through pam_umask
    const s = await deploy("sudo -n sh -c umask; sudo -n sshd -T | grep -E '^(maxsessions|tcpkeepalive) '");
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain("0027\n");
    expect(s.stdout).toContain("maxsessions 2\n");
    expect(s.stdout).toContain("tcpkeepalive no\n");
    // the banner is what an SSH client is shown before it logs in
    expect(s.stderr).toMatch(/Authorized access only/);
  });

  it("drift in each setting: audit fails naming it, --check finds it, a run fixes it", async () => {
    const drift = await deploy(
      [
        "sudo -n sed -i 's/^Defaults use_pty$/Defaults !use_pty/' /etc/sudoers.d/deploy",
        "sudo -n sed -i 's/^UMASK .*/UMASK 022/' /etc/login.defs",
        // both copies (global and the Match all block): sshd -T then shows the default again
        "sudo -n sed -i '/AllowTcpForwarding/d' /etc/ssh/sshd_config.d/00-lockclaw.conf",
        "sudo -n systemctl reload ssh",
        "sudo -n sed -i 's/^SystemMaxUse=.*/SystemMaxUse=4G/' /etc/systemd/journald.conf.d/60-lockclaw.conf",
        "sudo -n sed -i 's/^kernel.sysrq = 0$/kernel.sysrq = 1/' /etc/sysctl.d/60-lockclaw-kernel.conf",
      ].join(" && "),
    );
    expect(drift.code, drift.stderr).toBe(0);

    const audit = await cli(["audit", target(machine()), "--json"]);
    expect(audit.code, show(audit)).toBe(1);
    const failed = auditChecks(audit.stdout)
      .filter((c) => !c.pass)
      .map((c) => `${c.id}: ${c.evidence}`);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sudo\.use_pty: effective: .*!use_pty/),
        "accounts.UMASK: UMASK 022",
        expect.stringMatching(/^sshd\.AllowTcpForwarding: allowtcpforwarding yes/),
        "journald.max_use: SystemMaxUse=4G",
        expect.stringMatching(/^kernel\.kernel\.sysrq: \/etc\/sysctl\.d\/60-lockclaw-kernel\.conf sets 1/),
        // AIDE (file_integrity) sees the same four edited files changed since lockclaw's baseline
        expect.stringMatching(/^integrity\.aide: .*\/etc\/login\.defs.*\/etc\/sudoers\.d\/deploy/),
      ]),
    );
    expect(failed, failed.join("\n")).toHaveLength(6);

    const check = await cli(["provision", "host", "--no-stack", target(machine()), "--check", "--diff"]);
    expect(check.code, show(check)).toBe(2);
    for (const re of [
      /-Defaults !use_pty/,
      /run # set UMASK 027/,
      /AllowTcpForwarding yes → no/,
      /-SystemMaxUse=4G/,
      /-kernel\.sysrq = 1/,
    ])
      expect(check.stdout, show(check)).toMatch(re);
    // --check changed nothing
    expect((await deploy("grep ^UMASK /etc/login.defs")).stdout).toBe("UMASK 022\n");

    const fix = await cli(["provision", "host", "--no-stack", target(machine())]);
    expect(fix.code, show(fix)).toBe(0);
    expect(fix.stdout).toMatch(/\bchanged=[5-9]/);
    const after = await cli(["audit", target(machine()), "--json"]);
    expect(after.code, show(after)).toBe(0);
    const checks = auditChecks(after.stdout);
    const kptr = checks.find((c) => c.id === "kernel.kernel.kptr_restrict")!;
    expect(kptr, JSON.stringify(checks)).toMatchObject({ pass: true, skipped: true });
    expect(kptr.evidence).toMatch(/read-only here/);
    for (const id of [
      "sudo.use_pty",
      "accounts.UMASK",
      "accounts.root_password",
      "journald.persistent",
      "journald.max_use",
      "kernel.modules",
      "fail2ban.local_files",
      "sshd.AllowTcpForwarding",
      "sshd.MaxSessions",
    ])
      expect(
        checks.find((c) => c.id === id && c.pass && !c.skipped),
        id,
      ).toBeDefined();
    const again = await cli(["provision", "host", "--no-stack", target(machine()), "-v"]);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toMatch(/changed=0/);
    expect(again.stdout).toMatch(/execs=1\b/);
  });

  it("fail2ban starts once on a first run; a drifted jail.local is put back and reloaded", async () => {
    // the first run (above): the jail task's restart read jail.local, so the reload handler had nothing to do
    const reloads = async () =>
      Number((await deploy("sudo -n grep -c 'Reload all jails' /var/log/fail2ban.log || :")).stdout.trim());
    expect(await reloads()).toBe(0);
    const drift = await deploy(
      "sudo -n sed -i 's/^banaction = nftables-multiport$/banaction = iptables-multiport/' /etc/fail2ban/jail.local",
    );
    expect(drift.code, drift.stderr).toBe(0);
    const fix = await cli(["provision", "host", "--no-stack", target(machine()), "-v"]);
    expect(fix.code, show(fix)).toBe(0);
    expect(fix.stdout).toMatch(/changed=2\b/); // jail.local and its handler
    expect((await deploy("grep -c '^banaction = nftables-multiport$' /etc/fail2ban/jail.local")).stdout).toBe(
      "1\n",
    );
    expect(await reloads()).toBe(1);
    const jail = await deploy("sudo -n fail2ban-client status sshd");
    expect(jail.code, jail.stderr).toBe(0);
  });
});
