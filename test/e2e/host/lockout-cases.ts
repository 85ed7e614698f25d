/**
 * SPEC §3's lock-out faults as test bodies of their own, so lab machines (lockout.test.ts) and Vagrant
 * boxes (vagrant/fleet.test.ts) run the same cases: a fresh login that fails is rolled back, a config
 * sshd -t rejects is never reloaded, and the rollback armed on the host restores access when lockclaw dies.
 * The machine must be fresh (its original login on port 22), and is again after every case.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import type { CliResult } from "../support/cli.js";
import { e2eContext, type TestMachine } from "../support/lab.js";
import { events, show, target } from "./support.js";

const ENTRY = join(import.meta.dirname, "../support/lockclaw-cli.ts");

export interface LockoutOptions {
  machine: () => TestMachine;
  cli: (args: string[]) => Promise<CliResult>;
  /** What a lockclaw started by the case itself needs besides the lab dir (a Vagrant project's VAGRANT_CWD). */
  env?: () => NodeJS.ProcessEnv;
}

export function lockoutCases({ machine: m, cli, env = () => ({}) }: LockoutOptions): void {
  /** The original access (root, or a Vagrant box's vagrant user, on 22) still works; sshd still on 22. */
  async function originalAccessWorks(): Promise<void> {
    // sudo -n: a Vagrant box's original login is vagrant, not root (sshd -T needs the host keys)
    const r = await m().ssh(
      "sudo -n sshd -T 2>/dev/null | grep -E '^(port|passwordauthentication) '; ls /etc/ssh/sshd_config.d/",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^port 22$/m);
    expect(r.stdout).not.toContain("00-lockclaw.conf");
  }

  it("(a) a fresh login that fails rolls the change back and reports it; the old login still works", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-lockout-"));
    const otherKey = join(dir, "other.pub");
    // deploy gets a key the operator does not hold: the fresh login as deploy must fail
    writeFileSync(
      otherKey,
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other@example\n",
    );
    const r = await cli([
      "provision",
      "host",
      "--no-stack",
      target(m()),
      "--authorized-key",
      otherKey,
      "--json",
    ]);
    expect(r.code, show(r)).toBe(1);
    const guard = events(r.stdout).filter((e) => e.type === "guard");
    // "arming" comes first: an interrupt from then on leaves a rollback armed on the host
    expect(guard.map((e) => e.phase)).toEqual(["arming", "armed", "rolled-back"]);
    expect(String(guard[2]!.detail)).toMatch(/fresh login deploy@.*:2222 failed/);
    const failed = events(r.stdout).find((e) => e.type === "task-result" && e.status === "failed");
    expect(String(failed!.error)).toMatch(/rolled back/);
    await originalAccessWorks();
  });

  it("(b) a config sshd -t rejects is never reloaded and leaves the host unchanged", async () => {
    const pb = join(mkdtempSync(join(tmpdir(), "lc-bad-sshd-")), "bad-sshd.yml");
    // passes lockclaw's validation (a user@CIDR pattern) but sshd -t refuses the CIDR
    writeFileSync(
      pb,
      "tasks:\n  - name: sshd\n    sshd:\n      port: 2222\n      settings: { AllowUsers: ['deploy@10.0.0.0/99'] }\n",
    );
    const before = await m().ssh("systemctl show -p MainPID --value ssh; md5sum /etc/ssh/sshd_config");
    const r = await cli(["provision", "host", target(m()), "--playbook", pb]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/invalid AllowUsers pattern/);
    const after = await m().ssh("systemctl show -p MainPID --value ssh; md5sum /etc/ssh/sshd_config");
    expect(after.stdout).toBe(before.stdout);
    await originalAccessWorks();
  });

  it("(c) lockclaw killed after the change, before the proof: the armed rollback restores access by itself", async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        ENTRY,
        "provision",
        "host",
        "--no-stack",
        target(m()),
        "--json",
        "--rollback-after",
        "15",
      ],
      {
        env: {
          ...process.env,
          ...env(),
          LOCKCLAW_LAB_DIR: e2eContext().labDir,
          LOCKCLAW_TEST_CONFIRM_DELAY_MS: "120000",
          XDG_STATE_HOME: mkdtempSync(join(tmpdir(), "lc-kill-")),
          SSH_AUTH_SOCK: "",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const armed = await new Promise<boolean>((resolve) => {
      let buf = "";
      const timer = setTimeout(() => resolve(false), 240_000);
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        if (/"type":"guard","host":"[^"]+","task":"sshd hardening","phase":"armed"/.test(buf)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    child.kill("SIGKILL");
    expect(armed).toBe(true);
    // the change is live now: sshd moved to 2222 and only deploy may log in
    const moved = await m().ssh("sudo -n sshd -T 2>/dev/null | grep '^port '", {
      user: "deploy",
      port: 2222,
      timeoutMs: 20_000,
    });
    expect(moved.stdout).toMatch(/port 2222/);
    await new Promise((r) => setTimeout(r, 25_000));
    await originalAccessWorks();
  });
}
