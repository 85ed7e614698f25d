/**
 * --ssh-keepalive through the built CLI: a bad value is refused before connecting, naming the flag;
 * a given value is what the connection uses (a frozen session is given up after exactly that budget).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

const ROOT = join(__dirname, "../../..");
const BIN = join(ROOT, "bin/lockclaw.js");
let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  // the CLI runs from dist/: build when a developer runs this file alone
  const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: ROOT, encoding: "utf8" });
  expect(build.status, build.stdout + build.stderr).toBe(0);
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-cli-ka-"));
}, 180_000);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const env = () => ({ ...process.env, XDG_STATE_HOME: join(work, "state"), SSH_AUTH_SOCK: "" });
const common = () => [
  `root@127.0.0.1:${sshd.port}`,
  "--key",
  sshd.clientKeyPath,
  "--known-hosts",
  sshd.knownHostsFile,
];

describe("--ssh-keepalive", () => {
  it("refuses a bad value before connecting, naming the flag and the variable", () => {
    const pb = join(work, "noop.yml");
    writeFileSync(pb, `tasks:\n  - command: { cmd: "true" }\n`);
    const before = sshd.logs().length;
    const r = spawnSync(
      process.execPath,
      [BIN, "provision", "host", ...common(), "--playbook", pb, "--ssh-keepalive", "fast"],
      {
        encoding: "utf8",
        env: env(),
      },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('--ssh-keepalive (or LOCKCLAW_SSH_KEEPALIVE) "fast" is not SECONDS[,COUNT]');
    expect(r.stderr).toMatch(/fix: e\.g\. 15,12/);
    expect(sshd.logs().slice(before)).not.toMatch(/Accepted publickey/);
    const help = spawnSync(process.execPath, [BIN, "provision", "host", "--help"], { encoding: "utf8" });
    expect(help.stdout).toContain("--ssh-keepalive");
  });

  it("the connection uses the given keepalive: a frozen session is given up after that budget", async () => {
    const secs = `20.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;
    const pb = join(work, "slow.yml");
    writeFileSync(pb, `tasks:\n  - name: silent step\n    command: { cmd: "sleep ${secs}" }\n`);
    const child = spawn(
      process.execPath,
      [BIN, "provision", "host", ...common(), "--playbook", pb, "--json"],
      {
        env: { ...env(), LOCKCLAW_SSH_KEEPALIVE: "0.5,2" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      for (let i = 0; i < 800; i++) {
        if (spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout.includes(`sleep ${secs}\n`)) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      sshd.freezeSessions();
      const t0 = Date.now();
      await exited;
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      sshd.thawSessions();
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    expect(out).toContain("the host answered no keepalive for 1.5 s (a keepalive every 0.5 s, 2 unanswered)");
    expect(out).toContain("running when it was lost: apply 1 changes");
    expect(out).toContain("(silent step)");
  }, 60_000);
});
