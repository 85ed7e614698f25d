/**
 * The built `lockclaw` binary against a real sshd on loopback: a first run that changes things exits 0
 * (2 only with --detailed-exitcode), --check after a manual edit exits 2, --json events, help text, and
 * bad input refused before connecting.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, ROOT, buildCli, cliEnv, lockclaw as run } from "./cli.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-cli-"));
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const lockclaw = (args: string[]) => run(args, cliEnv(join(work, "state")));

const target = () => `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`;
const common = () => [
  "--playbook",
  join(ROOT, "examples/hello/playbook.yml"),
  "--key",
  sshd.clientKeyPath,
  "--known-hosts",
  sshd.knownHostsFile,
];

describe("lockclaw provision (CLI)", () => {
  it("documents every option in --help", async () => {
    const top = await lockclaw(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Exit codes:[\s\S]*4\s+a host could not be reached/);
    expect(top.stdout).toMatch(/2\s+--check: something would change/);
    const h = await lockclaw(["provision", "host", "--help"]);
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
      "--detailed-exitcode",
    ]) {
      expect(h.stdout).toContain(opt);
    }
  });

  it("exits 0 on a first run that changes things and on the re-run, 2 under --check after a manual edit, with the diff", async () => {
    const root = join(work, "app");
    // `provision … && next-step` and `set -e` must work on a new host's first run
    const first = await lockclaw(["provision", "host", target(), ...common(), "--var", `root=${root}`]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/changed=5/);

    const again = await lockclaw(["provision", "host", target(), ...common(), "--var", `root=${root}`, "-v"]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/changed=0/);
    expect(again.stdout).toMatch(/execs=1\b/);

    writeFileSync(join(root, "app.conf"), "greeting = edited by hand\n");
    const check = await lockclaw([
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

    // --detailed-exitcode: 2 when the apply changed something, 0 when it did not
    const fix = await lockclaw([
      "provision",
      "host",
      target(),
      ...common(),
      "--var",
      `root=${root}`,
      "--detailed-exitcode",
    ]);
    expect(fix.code, fix.stdout + fix.stderr).toBe(2);
    expect(fix.stdout).toMatch(/changed=2/);
    const noop = await lockclaw([
      "provision",
      "host",
      target(),
      ...common(),
      "--var",
      `root=${root}`,
      "--detailed-exitcode",
    ]);
    expect(noop.code, noop.stdout + noop.stderr).toBe(0);
    expect(noop.stdout).toMatch(/changed=0/);
  });

  it("streams NDJSON events with --json", async () => {
    const root = join(work, "json");
    const r = await lockclaw(["provision", "host", target(), ...common(), "--var", `root=${root}`, "--json"]);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(events[0]!.type).toBe("run-start");
    expect(events.filter((e) => e.type === "task-start").length).toBe(4);
    expect(events.filter((e) => e.type === "task-result").length).toBe(5);
    expect(events.at(-1)).toMatchObject({ type: "recap", exitCode: 0, hosts: [{ changed: 5, failed: 0 }] });
  });

  it("refuses bad input before connecting: exit 1, file and line named", async () => {
    const pb = join(work, "bad.yml");
    writeFileSync(pb, "tasks:\n  - name: x\n    fiel: { path: /tmp/x }\n");
    const r = await lockclaw([
      "provision",
      "host",
      target(),
      "--playbook",
      pb,
      "--key",
      sshd.clientKeyPath,
      "--known-hosts",
      sshd.knownHostsFile,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${pb}:3`);
    expect(r.stderr).toContain("unknown module 'fiel'");
    expect(r.stderr).toContain("did you mean 'file'");
  });

  it("exits 4 when a host is unreachable", async () => {
    const r = await lockclaw([
      "provision",
      "host",
      "root@127.0.0.1:1",
      ...common(),
      "--var",
      "root=/tmp/never",
    ]);
    expect(r.code).toBe(4);
    expect(r.stdout + r.stderr).toMatch(/127\.0\.0\.1/);
  });
});
