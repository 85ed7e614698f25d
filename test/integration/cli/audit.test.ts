/**
 * `lockclaw audit` output through the built binary against a real sshd (this machine, not hardened, so
 * checks fail): FAIL red on a terminal unless NO_COLOR, failed checks one per line with their fix, no
 * temp-script path, and an unreachable host said so.
 */
import { mkdtempSync, rmSync } from "node:fs";
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
});
