/**
 * Issue 10 cases 6 and 10 on a real machine: the firewall is judged by what the kernel enforces. After a
 * provision, an ACCEPT for 443 inserted by hand (`iptables -I INPUT`), one added to /etc/ufw/before.rules
 * and loaded by `ufw reload`, and a ufw allow rule commented `by Fail2Ban` each open a port while
 * `ufw status` and user.rules look right. Each time: the port answers from a non-Cloudflare address, the
 * audit fails quoting the rule, --check reports the drift, a run fixes it, the port is filtered again
 * and the audit passes. And ufw unloaded from the kernel behind its back (its chains flushed, ufw.conf still
 * ENABLED=yes): the probe reads "active" from the live filter table, as `ufw status` does, so the drift is
 * seen and a run loads ufw again.
 */
import { describe, expect, it } from "vitest";
import { useMachines } from "../support/lab.js";
import { cliFor, events, probePort, show, target } from "./support.js";

interface Recap {
  type: string;
  hosts?: Array<{ changed: number; failed: number; execs: number }>;
}

describe("the live packet filter is held to what ufw should load", () => {
  const m = useMachines(1, { prefix: "fw" });
  const cli = cliFor();
  const machine = () => m[0]!;
  const root = async (cmd: string) => {
    const r = await machine().ssh(`sudo -n sh -c '${cmd}'`, { user: "deploy", port: 2222 });
    expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const recap = (stdout: string) =>
    (events(stdout) as unknown as Recap[]).find((e) => e.type === "recap")!.hosts![0]!;

  /** The drift is visible from outside, reported by audit and --check, fixed by a run, then gone. */
  async function driftFixed(evidence: RegExp): Promise<void> {
    const host = machine().target.host;
    // nothing listens on 443: an RST means the firewall let the SYN through
    expect(await probePort(host, 443), "443 is open through the firewall").toBe("refused");

    const audit = await cli(["audit", target(machine()), "--json"]);
    expect(audit.code, show(audit)).toBe(1);
    const [report] = events(audit.stdout) as Array<{
      checks: Array<{ id: string; pass: boolean; evidence: string }>;
    }>;
    const live = report!.checks.find((c) => c.id === "ufw.live")!;
    expect(live.pass, live.evidence).toBe(false);
    expect(live.evidence).toMatch(evidence);

    const check = await cli(["provision", "host", "--no-stack", target(machine()), "--check"]);
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout).toMatch(evidence);
    expect(await probePort(host, 443), "--check changed nothing").toBe("refused");

    const fix = await cli(["provision", "host", "--no-stack", target(machine()), "--json"]);
    const r = recap(fix.stdout);
    expect(r.failed, show(fix)).toBe(0);
    expect(r.changed, show(fix)).toBeGreaterThanOrEqual(1);
    expect(await probePort(host, 443)).toBe("filtered");
    expect(await probePort(host, 2222)).toBe("open");

    const after = await cli(["audit", target(machine())]);
    expect(after.code, show(after)).toBe(0);
  }

  it("provisions, and the live filter passes the audit", async () => {
    const r = await cli(["provision", "host", "--no-stack", target(machine()), "--json"]);
    expect(recap(r.stdout).failed, show(r)).toBe(0);
    expect(await probePort(machine().target.host, 443)).toBe("filtered");
    const audit = await cli(["audit", target(machine())]);
    expect(audit.code, show(audit)).toBe(0);
    expect(audit.stdout).toMatch(/no stray ACCEPT, ufw's files as shipped/);
  });

  it("an ACCEPT inserted with iptables -I INPUT", async () => {
    await root("iptables -I INPUT -p tcp --dport 443 -j ACCEPT");
    await driftFixed(/iptables: -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT/);
    expect(await root("iptables-save")).not.toMatch(/^-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT$/m);
  });

  it("an ACCEPT added to /etc/ufw/before.rules and loaded by ufw reload", async () => {
    await root(
      `sed -i "/^COMMIT\\$/i -A ufw-before-input -p tcp --dport 443 -j ACCEPT" /etc/ufw/before.rules && ufw reload >/dev/null`,
    );
    await driftFixed(/ufw-before-input -p tcp -m tcp --dport 443 -j ACCEPT[\s\S]*before\.rules differs/);
    expect(
      await root("cmp /etc/ufw/before.rules /usr/share/ufw/iptables/before.rules && echo same"),
    ).toContain("same");
  });

  it("a ufw allow rule commented `by Fail2Ban` is no ban: reported and removed", async () => {
    await root(`ufw allow 443/tcp comment "by Fail2Ban after 3 attempts against sshd" >/dev/null`);
    await driftFixed(/ufw-user-input -p tcp -m tcp --dport 443 -j ACCEPT/);
    expect(await root("ufw status")).not.toMatch(/Fail2Ban/);
    // nothing left to do: the re-run changes nothing and reads the live filter in the same one exec
    const again = await cli(["provision", "host", "--no-stack", target(machine()), "--json"]);
    const r = recap(again.stdout);
    expect(r.changed, show(again)).toBe(0);
    expect(r.execs).toBeLessThanOrEqual(2);
  });

  it("ufw unloaded in the kernel only (nft flush ruleset): audit and --check see it, a run loads ufw again", async () => {
    const host = machine().target.host;
    await root("nft flush ruleset");
    // the drift is in the kernel alone: ufw's files still say enabled, ufw itself says inactive
    expect(await root("grep -x ENABLED=yes /etc/ufw/ufw.conf")).toContain("ENABLED=yes");
    expect(await root("ufw status")).toMatch(/^Status: inactive$/m);
    expect(await probePort(host, 443), "no filter: 443 answers").toBe("refused");

    const audit = await cli(["audit", target(machine()), "--json"]);
    expect(audit.code, show(audit)).toBe(1);
    const [report] = events(audit.stdout) as Array<{ checks: Array<{ id: string; pass: boolean }> }>;
    expect(report!.checks.find((c) => c.id === "ufw.active")!.pass).toBe(false);

    const check = await cli(["provision", "host", "--no-stack", target(machine()), "--check"]);
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout).toContain("enable ufw (inactive → active)");

    const fix = await cli(["provision", "host", "--no-stack", target(machine()), "--json"]);
    expect(recap(fix.stdout).failed, show(fix)).toBe(0);
    expect(await root("ufw status")).toMatch(/^Status: active$/m);
    expect(await probePort(host, 443)).toBe("filtered");
    const after = await cli(["audit", target(machine())]);
    expect(after.code, show(after)).toBe(0);
  });
});
