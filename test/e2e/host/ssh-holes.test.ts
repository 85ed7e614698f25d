/**
 * Issue 10 cases 5 and 14 end to end on a real Debian machine: a Match block two Includes down that
 * turns password login back on for deploy, and an intruder's key appended to deploy's authorized_keys.
 * Each is proven live from outside first (the password method is offered; the intruder's key logs in),
 * then audit fails it, --check names it, a run fixes it, and audit passes again.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useMachines } from "../support/lab.js";
import { cliFor, events, show, target, unbanAll } from "./support.js";

describe("SSH holes: Match blocks behind Includes, and an intruder's key", () => {
  const m = useMachines(1, { prefix: "hs" });
  const cli = cliFor();
  const machine = () => m[0]!;
  const deploy = (cmd: string) => machine().ssh(cmd, { user: "deploy", port: 2222 });
  const keys = mkdtempSync(join(tmpdir(), "lc-e2e-intruder-"));
  const intruderKey = join(keys, "intruder");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "intruder@evil", "-f", intruderKey]);
  const intruderPub = readFileSync(`${intruderKey}.pub`, "utf8").trim();
  const intruderFp = execFileSync("ssh-keygen", ["-lf", `${intruderKey}.pub`])
    .toString()
    .split(" ")[1]!;

  /** The auth methods sshd offers deploy on 2222 to a client that has no key to offer. */
  const offeredMethods = (): string => {
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
          `UserKnownHostsFile=${machine().target.knownHostsFile}`,
          "-o",
          "StrictHostKeyChecking=yes",
          "-p",
          "2222",
          `deploy@${machine().target.host}`,
          "true",
        ],
        { encoding: "utf8", stdio: "pipe" },
      );
      return "logged in";
    } catch (err) {
      return /Permission denied \(([^)]*)\)/.exec(String((err as { stderr: string }).stderr))?.[1] ?? "?";
    }
  };
  const asIntruder = () =>
    new Promise<number>((resolve) => {
      try {
        execFileSync(
          "ssh",
          [
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            intruderKey,
            "-o",
            `UserKnownHostsFile=${machine().target.knownHostsFile}`,
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            "2222",
            `deploy@${machine().target.host}`,
            "true",
          ],
          { stdio: "ignore" },
        );
        resolve(0);
      } catch (err) {
        resolve((err as { status: number }).status ?? 255);
      }
    });

  it("provisions a fresh machine", async () => {
    const r = await cli(["provision", "host", "--no-stack", target(machine())]);
    expect(r.stdout, show(r)).toMatch(/failed=0/);
    expect(offeredMethods()).toBe("publickey");
  });

  it("audit fails both holes, --check names them, a run closes them, audit passes", async () => {
    // sshd_config Includes sshd_config.d/*.conf; 00-aaa.conf (read before lockclaw's 00-lockclaw.conf)
    // Includes extra.d/*.conf; there, two files down, a Match block turns password login back on
    const drift = await deploy(
      [
        "sudo -n mkdir -p /etc/ssh/extra.d",
        "printf 'Include /etc/ssh/extra.d/*.conf\\n' | sudo -n tee /etc/ssh/sshd_config.d/00-aaa.conf >/dev/null",
        "printf 'Match User deploy\\n\\tPasswordAuthentication yes\\nMatch all\\n\\tKbdInteractiveAuthentication yes\\n' | sudo -n tee /etc/ssh/extra.d/pw.conf >/dev/null",
        "sudo -n sshd -t",
        "sudo -n systemctl reload ssh",
        `printf '%s\\n' '${intruderPub}' >> ~/.ssh/authorized_keys`,
      ].join(" && "),
    );
    expect(drift.code, drift.stderr).toBe(0);
    // both holes are live, seen from outside
    expect(offeredMethods()).toMatch(/password/);
    expect(await asIntruder()).toBe(0);
    await unbanAll(machine()); // the refused logins above count for fail2ban

    const audit = await cli(["audit", target(machine()), "--json"]);
    expect(audit.code, show(audit)).toBe(1);
    const [report] = events(audit.stdout) as Array<{
      checks: Array<{ id: string; pass: boolean; evidence: string }>;
    }>;
    const failed = report!.checks.filter((c) => !c.pass);
    const byId = (id: string) => failed.find((c) => c.id === id)?.evidence ?? "";
    expect(byId("sshd.PasswordAuthentication"), show(audit)).toMatch(
      /passwordauthentication yes for a login user=deploy/,
    );
    expect(byId("sshd.KbdInteractiveAuthentication"), show(audit)).toMatch(
      /kbdinteractiveauthentication yes/,
    );
    expect(byId("keys.deploy"), show(audit)).toContain(`${intruderFp} (intruder@evil)`);
    expect(byId("keys.deploy")).toContain("NOT DECLARED");

    const check = await cli(["provision", "host", "--no-stack", target(machine()), "--check"]);
    expect(check.stdout, show(check)).toMatch(/PasswordAuthentication yes → no for a login user=deploy/);
    expect(check.stdout).toMatch(/comment out \/etc\/ssh\/extra\.d\/pw\.conf:2/);
    expect(check.stdout).toContain(`remove undeclared key ${intruderFp} (intruder@evil)`);
    // --check changed nothing
    expect(await asIntruder()).toBe(0);

    const fix = await cli(["provision", "host", "--no-stack", target(machine()), "--json"]);
    const recap = events(fix.stdout).find((e) => e.type === "recap") as
      { hosts: Array<{ changed: number; failed: number }> } | undefined;
    expect(recap?.hosts[0], show(fix)).toMatchObject({ failed: 0 });
    expect(recap!.hosts[0]!.changed).toBeGreaterThanOrEqual(2);

    expect(offeredMethods()).toBe("publickey");
    expect(await asIntruder()).not.toBe(0);
    await unbanAll(machine());
    // sudo: the directory was made under login.defs UMASK 027 (0750), which deploy cannot read
    const pw = await deploy("sudo -n cat /etc/ssh/extra.d/pw.conf; cat ~/.ssh/authorized_keys");
    expect(pw.stdout).toMatch(/# lockclaw: disabled .*PasswordAuthentication yes/);
    expect(pw.stdout).not.toContain(intruderPub.split(" ")[1]);

    const after = await cli(["audit", target(machine())]);
    expect(after.code, show(after)).toBe(0);
    expect(after.stdout).toMatch(/PASS\s+deploy's authorized keys are all declared/);
    const again = await cli(["provision", "host", "--no-stack", target(machine()), "--check"]);
    expect(again.code, show(again)).toBe(0);
  });

  it("never removes the key it logged in with: a team key is declared instead, the login key stays", async () => {
    const team = join(keys, "team");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "team@ci", "-f", team]);
    const r = await cli([
      "provision",
      "host",
      "--no-stack",
      target(machine()),
      "--authorized-key",
      `${team}.pub`,
      "--json",
    ]);
    const warnings = events(r.stdout).filter((e) => e.type === "warning");
    expect(JSON.stringify(warnings), show(r)).toMatch(/keeping undeclared key SHA256:\S+ \(lockclaw-lab-/);
    const file = await deploy("cat ~/.ssh/authorized_keys");
    expect(file.code, file.stderr).toBe(0); // the login key still works
    expect(file.stdout).toContain(readFileSync(`${team}.pub`, "utf8").trim().split(" ")[1]);
  });
});
