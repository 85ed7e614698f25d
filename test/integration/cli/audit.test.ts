/**
 * `lockclaw audit` output through the built binary against a real sshd (this machine, not hardened, so
 * checks fail): FAIL red on a terminal unless NO_COLOR, failed checks one per line with their fix, no
 * temp-script path, and an unreachable host said so.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, buildCli, cliEnv, lockclaw, lockclawTty } from "./cli.js";

let sshd: SshdFixture;
let work: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  await buildCli();
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-audit-cli-"));
  env = cliEnv(join(work, "state"));
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const args = () => [
  "audit",
  `root@127.0.0.1:${sshd.port}`,
  "--key",
  sshd.clientKeyPath,
  "--known-hosts",
  sshd.knownHostsFile,
];

describe("lockclaw audit (CLI output)", () => {
  it("on a terminal: FAIL in red, the failed checks one per line with what to run, no temp path", async () => {
    const r = await lockclawTty(args(), env);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toContain("\x1b[31mFAIL\x1b[39m");
    expect(r.stdout).toContain("\x1b[31mFAILED\x1b[39m (");
    expect(r.stdout).toMatch(/\(\d+\), and what to run to fix each:/);
    expect(r.stdout).toMatch(/\n {4}sshd\.port: lockclaw provision host root@127\.0\.0\.1:\d+ -t ssh\n/);
    expect(r.stdout).not.toMatch(/\/tmp\/tmp\.\w+: /);
    const passLines = (r.stdout.match(/^ {2}PASS /gm) ?? []).length;
    const m = /^ {2}(\d+)\/(\d+) checks passed/m.exec(r.stdout);
    expect(Number(m?.[1])).toBe(passLines);
  });

  it("NO_COLOR: no colour on a terminal either", async () => {
    const r = await lockclawTty(args(), { ...env, NO_COLOR: "1" });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("FAIL  ");
    expect(r.stdout).not.toContain("\x1b[31m");
  });

  it("an unreachable host says so, not 0/0 checks passed", async () => {
    const r = await lockclaw(["audit", "root@127.0.0.1:1", "--key", sshd.clientKeyPath], env);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain("UNREACHABLE");
    expect(r.stdout).toContain("no checks ran: the host could not be reached");
    expect(r.stdout).not.toContain("0/0");
  });

  it("--playbook: the checks come from that playbook's tasks, each read through its module's probe", async () => {
    const dir = join(work, "app");
    const playbook = join(work, "custom.yml");
    writeFileSync(
      playbook,
      `name: custom\ntasks:\n  - name: App directory\n    directory:\n      path: ${dir}\n      mode: "0750"\n`,
    );
    mkdirSync(dir, { mode: 0o750 });
    const report = async () => {
      const r = await lockclaw([...args(), "--playbook", playbook, "--json"], env);
      const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
      const checks = (JSON.parse(line!) as { checks: Array<{ id: string; pass: boolean; evidence: string }> })
        .checks;
      return { r, checks, app: checks.find((c) => c.id === "directory.app-directory") };
    };
    const ok = await report();
    expect(ok.app, ok.r.stdout).toMatchObject({ pass: true, evidence: "nothing to change" });
    // no sshd, ufw or fail2ban task in that playbook: none of their checks
    expect(ok.checks.filter((c) => /^(sshd|ufw|fail2ban)\./.test(c.id))).toEqual([]);
    rmSync(dir, { recursive: true });
    const drift = await report();
    expect(drift.r.code).toBe(1);
    expect(drift.app).toMatchObject({ pass: false, evidence: `drift: create directory ${dir} (mode 0750)` });
  });
});
