/**
 * Issue 4 end to end on a real Debian machine (systemd-nspawn lab): provision from fresh, prove the
 * result from outside, re-run with nothing changed, drift detected and fixed, negative audits.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { useMachines } from "../support/lab.js";
import {
  cliFor,
  events,
  probePort,
  show,
  sshAuditFromStore,
  target,
  unbanAll,
  withSourceAddress,
} from "./support.js";

const CLOUDFLARE_SOURCE = "173.245.48.77"; // inside 173.245.48.0/20

describe("provision host on a fresh machine", () => {
  const [m] = [useMachines(1, { prefix: "hp" })];
  const cli = cliFor();
  const machine = () => m[0]!;
  const deploy = (cmd: string) => machine().ssh(cmd, { user: "deploy", port: 2222 });

  it("hardens a fresh machine and proves it from outside", async () => {
    const r = await cli(["provision", "host", "--no-stack", target(machine()), "-v"]);
    // a successful apply exits 0; what changed is in the recap
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/\bchanged=[1-9]/);
    expect(r.stdout).toMatch(/lock-out guard confirmed: fresh login deploy@.*:2222 with sudo proven/);
    const host = machine().target.host;

    // deploy on 2222 with the key, and sudo without a password
    const who = await deploy("id -un && sudo -n true && echo sudo-ok");
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain("deploy\nsudo-ok");
    // exactly SPEC §2's kex and cipher lists: the legacy clients' ones are for vagrant:NAME targets only
    const algs = await deploy("sudo -n sshd -T | grep -E '^(kexalgorithms|ciphers) ' | sort");
    expect(algs.code, algs.stderr).toBe(0);
    expect(algs.stdout.trim().split("\n")).toEqual([
      "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com",
      "kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org",
    ]);
    expect(r.stdout).not.toMatch(/ssh_legacy_clients/);
    // root login refused on the new port; password auth not even offered
    const root = await machine().ssh("true", { user: "root", port: 2222 });
    expect(root.code).not.toBe(0);
    const pw = await new Promise<string>((resolve) => {
      try {
        execFileSync(
          "ssh",
          [
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            "-o",
            `UserKnownHostsFile=${machine().target.knownHostsFile}`,
            "-o",
            "StrictHostKeyChecking=no",
            "-p",
            "2222",
            `deploy@${host}`,
            "true",
          ],
          { encoding: "utf8", stdio: "pipe" },
        );
        resolve("logged in");
      } catch (err) {
        resolve(String((err as { stderr: string }).stderr));
      }
    });
    expect(pw).toMatch(/Permission denied \(publickey\)/);
    // refused logins are what fail2ban counts: three more and this host is banned, as an attacker would be
    for (let i = 0; i < 3; i++) await machine().ssh("true", { user: "root", port: 2222 });
    let banned = false;
    for (let i = 0; i < 20 && !banned; i++) {
      banned = (await probePort(host, 2222)) !== "open";
      if (!banned) await new Promise((r) => setTimeout(r, 500));
    }
    expect(banned, "fail2ban banned this host after refused logins").toBe(true);
    await unbanAll(machine());
    expect(await probePort(host, 2222)).toBe("open");

    // from a non-Cloudflare source only the SSH port answers
    expect(await probePort(host, 2222)).toBe("open");
    for (const port of [22, 80, 443, 8080])
      expect(await probePort(host, port), `port ${port}`).toBe("filtered");

    // from a Cloudflare address on this host's end of the machine's link, 443 is let through (RST:
    // nothing listens yet)
    await withSourceAddress(machine(), CLOUDFLARE_SOURCE, async () => {
      expect(await probePort(host, 443, CLOUDFLARE_SOURCE)).toBe("refused");
      expect(await probePort(host, 8080, CLOUDFLARE_SOURCE)).toBe("filtered");
    });

    const audit = await cli(["audit", target(machine())]);
    expect(audit.code, show(audit)).toBe(0);
    expect(audit.stdout).not.toContain("FAIL");
  });

  it("re-runs with nothing changed, on the new port, without edits", async () => {
    const r = await cli(["provision", "host", "--no-stack", target(machine()), "-v"]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/connected as deploy on port 2222/);
    expect(r.stdout).toMatch(/changed=0/);
    const execs = Number(/execs=(\d+)/.exec(r.stdout)![1]);
    expect(execs).toBeLessThanOrEqual(2);
  });

  it("audit fails naming a rogue listener, a re-enabled password login and an extra UFW rule; --check names the drift; a run fixes it", async () => {
    const drift = await deploy(
      [
        // read before lockclaw's 00-lockclaw.conf, and in a Match block: a plain global line there would
        // lose to the Match all block that ends lockclaw's drop-in, this one wins (sshd keeps the first value)
        "printf 'Match all\\nPasswordAuthentication yes\\n' | sudo -n tee -a /etc/ssh/sshd_config.d/00-early.conf >/dev/null",
        "sudo -n systemctl reload ssh",
        "sudo -n ufw allow 8080 >/dev/null",
        "sudo -n systemctl stop fail2ban",
        "sudo -n systemd-run --unit=rogue python3 -m http.server 8081 --bind 0.0.0.0 >/dev/null",
      ].join(" && "),
    );
    expect(drift.code, drift.stderr).toBe(0);

    const audit = await cli(["audit", target(machine()), "--json"]);
    expect(audit.code, show(audit)).toBe(1);
    const [report] = events(audit.stdout) as Array<{
      checks: Array<{ id: string; pass: boolean; evidence: string }>;
    }>;
    const failed = report!.checks
      .filter((c) => !c.pass)
      .map((c) => `${c.id}: ${c.evidence}`)
      .join("\n");
    expect(failed).toMatch(/passwordauthentication yes/i);
    expect(failed).toMatch(/8080/);
    expect(failed).toMatch(/0\.0\.0\.0:8081/);
    expect(failed).toMatch(/fail2ban/i);

    await deploy("sudo -n systemctl stop rogue");
    const check = await cli(["provision", "host", "--no-stack", target(machine()), "--check"]);
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout).toMatch(/PasswordAuthentication/);
    expect(check.stdout).toMatch(/8080/);
    expect(check.stdout).toMatch(/fail2ban/i);
    // --check changed nothing
    expect((await deploy("sudo -n ufw status")).stdout).toMatch(/8080/);

    const fix = await cli(["provision", "host", "--no-stack", target(machine())]);
    // a successful apply exits 0; what changed is in the recap
    expect(fix.code, show(fix)).toBe(0);
    expect(fix.stdout).toMatch(/\bchanged=[1-9]/);
    const after = await cli(["audit", target(machine())]);
    expect(after.code, show(after)).toBe(0);
    const again = await cli(["provision", "host", "--no-stack", target(machine())]);
    expect(again.code, show(again)).toBe(0);
  });

  it("passes ssh-audit (the outside judge) on the provisioned port (last: its probes earn this host OpenSSH PerSourcePenalties)", async () => {
    const sshAudit = await sshAuditFromStore();
    let out = "";
    let code = 0;
    try {
      out = execFileSync(sshAudit.command, [...sshAudit.args, "-p", "2222", "-n", machine().target.host], {
        encoding: "utf8",
        env: { ...process.env, ...sshAudit.env },
      });
    } catch (err) {
      out = String((err as { stdout: string }).stdout);
      code = (err as { status: number }).status;
    }
    await unbanAll(machine()); // ssh-audit's algorithm probes fail to negotiate, which fail2ban counts
    expect(out, out).not.toMatch(/^\s*\(\w+\) .*-- \[(fail|warn)\]/m);
    expect(code, out).toBe(0);
  });
});
