/**
 * The built `lockclaw` binary against a real sshd on loopback: exit codes 2 then 0, --check after a
 * manual edit, --json events, help text, and bad input refused before connecting.
 */
import { spawnSync } from "node:child_process";
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
  const build = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, encoding: "utf8" });
  expect(build.status, build.stdout + build.stderr).toBe(0);
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-cli-"));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

function lockclaw(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, XDG_STATE_HOME: join(work, "state"), SSH_AUTH_SOCK: "" },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const target = () => `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`;
const common = () => [
  "--playbook",
  join(ROOT, "examples/hello/playbook.yml"),
  "-k",
  sshd.clientKeyPath,
  "--known-hosts",
  sshd.knownHostsFile,
];

describe("lockclaw provision (CLI)", () => {
  it("documents every option in --help", () => {
    const top = lockclaw(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Exit codes:[\s\S]*4\s+a host could not be reached/);
    const h = lockclaw(["provision", "host", "--help"]);
    for (const opt of [
      "--check",
      "--diff",
      "--var",
      "--vars-file",
      "--tags",
      "--skip-tags",
      "--limit",
      "--forks",
      "--json",
      "--key",
      "--inventory",
      "--accept-new-host-key",
      "--verbose",
      "--playbook",
      "--authorized-key",
    ]) {
      expect(h.stdout).toContain(opt);
    }
  });

  it("exits 2 on a first run, 0 on the re-run, 2 under --check after a manual edit, with the diff", () => {
    const root = join(work, "app");
    const first = lockclaw(["provision", "host", target(), ...common(), "--var", `root=${root}`]);
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(first.stdout).toMatch(/changed=5/);

    const again = lockclaw(["provision", "host", target(), ...common(), "--var", `root=${root}`, "-v"]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/changed=0/);
    expect(again.stdout).toMatch(/execs=1\b/);

    writeFileSync(join(root, "app.conf"), "greeting = edited by hand\n");
    const check = lockclaw([
      "provision",
      "host",
      target(),
      ...common(),
      "--var",
      `root=${root}`,
      "--check",
      "--diff",
    ]);
    expect(check.code).toBe(2);
    expect(check.stdout).toContain("-greeting = edited by hand");
    expect(check.stdout).toContain("+greeting = hello");
  });

  it("streams NDJSON events with --json", () => {
    const root = join(work, "json");
    const r = lockclaw(["provision", "host", target(), ...common(), "--var", `root=${root}`, "--json"]);
    expect(r.code).toBe(2);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(events[0]!.type).toBe("run-start");
    expect(events.filter((e) => e.type === "task-start").length).toBe(4);
    expect(events.filter((e) => e.type === "task-result").length).toBe(5);
    expect(events.at(-1)).toMatchObject({ type: "recap", exitCode: 2 });
  });

  it("refuses bad input before connecting: exit 1, file and line named", () => {
    const pb = join(work, "bad.yml");
    writeFileSync(pb, "tasks:\n  - name: x\n    fiel: { path: /tmp/x }\n");
    const r = lockclaw([
      "provision",
      "host",
      target(),
      "--playbook",
      pb,
      "-k",
      sshd.clientKeyPath,
      "--known-hosts",
      sshd.knownHostsFile,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${pb}:3`);
    expect(r.stderr).toContain("unknown module 'fiel'");
    expect(r.stderr).toContain("did you mean 'file'");
  });

  it("exits 4 when a host is unreachable", () => {
    const r = lockclaw(["provision", "host", "root@127.0.0.1:1", ...common(), "--var", "root=/tmp/never"]);
    expect(r.code).toBe(4);
    expect(r.stdout + r.stderr).toMatch(/127\.0\.0\.1/);
  });
});
