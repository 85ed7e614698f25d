/**
 * Piping and interrupting, through a real shell and a real pseudo-terminal against a real sshd:
 * `… | head -1` neither crashes (EPIPE) nor stops the run halfway; Ctrl-C exits 130 in every view
 * and says, per host, what was applied, what was running and whether a rollback is armed.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BIN, BUILD_TIMEOUT_MS, ROOT, buildCli, cliEnv, commandLine, shell, startTty, until } from "./cli.js";

let sshd: SshdFixture;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-interrupt-"));
  env = cliEnv(join(work, "state"));
  // two plays: the first is applied (its own exec) before the second starts its slow step
  writeFileSync(
    join(work, "slow.yml"),
    [
      "- name: first",
      "  vars: { root: /tmp/never }",
      "  var_types: { root: abs_path }",
      "  tasks:",
      "    - name: Marker",
      '      file: { path: "{{root}}/marker", content: "one\\n" }',
      "- name: second",
      "  vars: { root: /tmp/never }",
      "  var_types: { root: abs_path }",
      "  tasks:",
      "    - name: Slow step",
      '      command: { cmd: "touch {{root}}/slow-started; sleep 60; touch {{root}}/slow-done" }',
      "",
    ].join("\n"),
  );
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const target = () => `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`;
const conn = () => ["--key", sshd.clientKeyPath, "--known-hosts", sshd.knownHostsFile];
let n = 0;
function freshRoot(): string {
  const root = join(work, `root${++n}`);
  mkdirSync(root);
  return root;
}

describe("a closed stdout (| head -1)", () => {
  it("an apply piped into head -1 finishes every task and exits 0, without EPIPE", async () => {
    const root = freshRoot();
    const args = ["provision", "host", target(), "--playbook", join(ROOT, "examples/hello/playbook.yml")];
    const line = `set -o pipefail; ${commandLine([...args, ...conn(), "--var", `root=${root}`])} | head -1`;
    const r = await shell(line, env);
    expect(r.stdout).toMatch(/^RUN .*playbook\.yml on /);
    expect(r.stdout.split("\n").filter(Boolean)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(r.code, r.stderr).toBe(0);
    // the run went on to its end after head left: the last task and the handler ran too
    expect(existsSync(join(root, "created-at"))).toBe(true);
    expect(readFileSync(join(root, "restarts"), "utf8")).toBe("restarted\n");
  });

  it("--check piped into head -1 exits 2 (would change), without EPIPE", async () => {
    const root = freshRoot();
    const args = ["provision", "host", target(), "--playbook", join(ROOT, "examples/hello/playbook.yml")];
    const line = `set -o pipefail; ${commandLine([...args, ...conn(), "--var", `root=${root}`, "--check", "-v"])} | head -1`;
    const r = await shell(line, env);
    expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(r.code, r.stderr).toBe(2);
  });
});

function slowArgs(root: string, ...extra: string[]): string[] {
  return [
    "provision",
    "host",
    target(),
    "--playbook",
    join(work, "slow.yml"),
    ...conn(),
    "--var",
    `root=${root}`,
    ...extra,
  ];
}

function expectReport(text: string, root: string) {
  expect(text).toContain("lockclaw: interrupted");
  expect(text).toMatch(/applied: Marker/);
  expect(text).toMatch(/running: Slow step/);
  expect(text).toMatch(/rollback: none armed/);
  expect(readFileSync(join(root, "marker"), "utf8")).toBe("one\n");
}

describe("Ctrl-C", () => {
  it("in the TTY view (a pseudo-terminal): exits 130 and reports each host", async () => {
    const root = freshRoot();
    const tty = startTty(slowArgs(root), env);
    await until("the slow step to start", () => existsSync(join(root, "slow-started")));
    tty.write("\x03");
    const code = await tty.wait();
    expect(code, tty.output()).toBe(130);
    expectReport(tty.output(), root);
    expect(existsSync(join(root, "slow-done"))).toBe(false);
  });

  for (const view of ["plain", "json"] as const) {
    it(`in the ${view} view: exits 130 and reports each host on stderr`, async () => {
      const root = freshRoot();
      const child = spawn(
        process.execPath,
        [BIN, ...slowArgs(root, ...(view === "json" ? ["--json"] : []))],
        {
          env,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      await until("the slow step to start", () => existsSync(join(root, "slow-started")));
      child.kill("SIGINT");
      expect(await exited, out + err).toBe(130);
      expectReport(err, root);
      // --json: stdout stays NDJSON
      if (view === "json")
        out
          .trim()
          .split("\n")
          .forEach((l) => JSON.parse(l));
    });
  }
});
