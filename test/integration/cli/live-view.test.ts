/**
 * The live view as an operator sees it (issue 11.3, 11.6): the built CLI in a real terminal (a tmux pane
 * of 120 × 40, and an unsized pseudo-terminal) against a real sshd on loopback, asserting on the screen
 * tmux drew; and the `--json` stream, whose task results arrive as each section of the apply ends.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, buildCli, cliEnv, lockclaw, run, commandLine } from "./cli.js";
import { startTmux, type TmuxPane } from "./tmux.js";

let sshd: SshdFixture;
let work: string;
let env: NodeJS.ProcessEnv;
let pb: string;
const panes: TmuxPane[] = [];

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-live-view-"));
  env = cliEnv(join(work, "state"));
  // one play, one apply exec: the marker file, then a step that takes a few seconds
  pb = join(work, "slow.yml");
  writeFileSync(
    pb,
    [
      "name: live view",
      "vars: { root: /tmp/never, seconds: '3' }",
      "var_types: { root: abs_path, seconds: uint }",
      "tasks:",
      "  - name: Marker file",
      '    file: { path: "{{root}}/marker", content: "one\\n" }',
      "  - name: Slow step",
      '    command: { cmd: "touch {{root}}/slow-started; sleep {{seconds}}; touch {{root}}/slow-done" }',
      "",
    ].join("\n"),
  );
}, BUILD_TIMEOUT_MS);
afterEach(async () => {
  for (const p of panes.splice(0)) await p.kill();
});
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const host = () => `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`;
let n = 0;
function freshRoot(): string {
  const root = join(work, `root${++n}`);
  mkdirSync(root);
  return root;
}
const args = (root: string, ...extra: string[]) => [
  "provision",
  "host",
  host(),
  "--playbook",
  pb,
  "--key",
  sshd.clientKeyPath,
  "--known-hosts",
  sshd.knownHostsFile,
  "--var",
  `root=${root}`,
  ...extra,
];
async function tmux(a: string[]): Promise<TmuxPane> {
  const p = await startTmux(work, a, env);
  panes.push(p);
  return p;
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("the TTY view in a 120 × 40 tmux pane", () => {
  it("follows the running task on the host's line, then shows each task's outcome and the recap", async () => {
    const root = freshRoot();
    const pane = await tmux(args(root, "--var", "seconds=4"));
    const h = escape(host());
    // live: the host's line, and under it the task being applied on the host right now
    const live = await pane.waitFor(/▸ applying: Slow step/);
    expect(live).toMatch(new RegExp(`^. ${h}$`, "m"));
    expect(existsSync(join(root, "slow-done"))).toBe(false);
    expect(await pane.exited()).toBe(0);
    const screen = await pane.screen();
    // the view collapsed to the host's outcome, then each task that changed something, then the recap
    expect(screen).toMatch(new RegExp(`^✔ ${h}: ok=0 changed=2 failed=0$`, "m"));
    expect(screen).toMatch(
      new RegExp(`^\\[${h}\\] changed Marker file\\n {4}- create ${escape(root)}/marker`, "m"),
    );
    expect(screen).toMatch(new RegExp(`^\\[${h}\\] changed Slow step$`, "m"));
    expect(screen).toMatch(
      /^RECAP\n.*ok=0 {2}changed=2 {2}failed=0 {2}skipped=0 {2}unreachable=0 {2}execs=2/m,
    );
    expect(screen).not.toMatch(/Error|at .*\.js/);
    expect(readFileSync(join(root, "marker"), "utf8")).toBe("one\n");

    // again: the marker is ok now (only the command runs), and the line says so
    const again = await tmux(args(root, "--var", "seconds=0"));
    expect(await again.exited()).toBe(0);
    const second = await again.screen();
    expect(second).toMatch(new RegExp(`^✔ ${h}: ok=1 changed=1 failed=0$`, "m"));
    expect(second).not.toMatch(/changed Marker file/);
    expect(second).toMatch(/ok=1 {2}changed=1 {2}failed=0/);
  }, 120_000);

  it("--check says nothing will change, and shows what would", async () => {
    const root = freshRoot();
    const pane = await tmux(args(root, "--check"));
    expect(await pane.exited()).toBe(2);
    const screen = await pane.screen();
    expect(screen).toMatch(/^Checking \(no changes will be made\)$/m);
    expect(screen).toMatch(new RegExp(`^. ${escape(host())}: ok=0 changed=2 failed=0$`, "m"));
    expect(screen).toMatch(/\] changed Marker file\n {4}- /);
    expect(existsSync(join(root, "marker"))).toBe(false);
  }, 120_000);

  it("Ctrl-C during the slow step: exits 130 and says per host what was applied and what was running", async () => {
    const root = freshRoot();
    const pane = await tmux(args(root, "--var", "seconds=60"));
    await pane.waitFor(/▸ applying: Slow step/);
    await pane.keys("C-c");
    expect(await pane.exited()).toBe(130);
    const screen = await pane.screen();
    expect(screen).toContain("lockclaw: interrupted; where each host was left:");
    expect(screen).toMatch(
      new RegExp(`^ {2}${escape(host())}:\\n {4}applied: Marker file\\n {4}running: Slow step$`, "m"),
    );
    expect(screen).toMatch(/^ {4}rollback: none armed$/m);
    expect(screen).not.toMatch(/Error|at .*\.js/);
    expect(existsSync(join(root, "slow-started"))).toBe(true);
    expect(existsSync(join(root, "slow-done"))).toBe(false);
  }, 120_000);
});

describe("a pseudo-terminal nobody sized (0 × 0, as `script` from a job gives)", () => {
  it("still draws whole lines (80 columns), not one character per line", async () => {
    const root = freshRoot();
    const e: NodeJS.ProcessEnv = { ...env, TERM: "xterm-256color" };
    delete e.COLUMNS;
    delete e.LINES;
    // script's stdin is not a terminal here: the pty it makes has no size
    const r = await run(
      "script",
      ["-qec", `stty size; ${commandLine(args(root, "--var", "seconds=0"))}`, "/dev/null"],
      e,
    );
    const out = r.stdout.replace(/\r/g, "");
    expect(out.split("\n")[0]).toBe("0 0");
    expect(r.code, out).toBe(0);
    expect(out).toContain(`${host()}: ok=0 changed=2 failed=0`);
    expect(out).toMatch(/^RECAP$/m);
    // the live lines were drawn whole too (a wrapped title left lines of one character)
    expect(out.split("\n").filter((l) => /^\s*\S\s*$/.test(l))).toEqual([]);
  }, 120_000);
});

describe("--json: task results stream as the apply runs", () => {
  it("the first task's result comes seconds before the second (a sleep) ends", async () => {
    const root = freshRoot();
    const r = await lockclaw(args(root, "--json", "--var", "seconds=2"), env);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; task?: string; status?: string; time: string });
    const idx = (type: string, task: string) => {
      const i = events.findIndex((e) => e.type === type && e.task === task);
      expect(i, `${type} ${task}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const ms = (i: number) => Date.parse(events[i]!.time);
    const first = idx("task-result", "Marker file");
    expect(events[first]).toMatchObject({ status: "changed" });
    expect(idx("task-apply", "Marker file")).toBeLessThan(first);
    expect(first).toBeLessThan(idx("task-apply", "Slow step"));
    const second = idx("task-result", "Slow step");
    expect(events[second]).toMatchObject({ status: "changed" });
    // the marker's result went out when its section ended, not with the exec's end after the sleep
    expect(ms(second) - ms(first)).toBeGreaterThanOrEqual(1500);
  }, 120_000);
});

describe("a large local file is hashed before the run: the views say so", () => {
  const size = 48 * 1024 * 1024;
  function copyPlaybook(name: string): { pb: string; src: string; dest: string } {
    const src = join(work, `${name}.bin`);
    writeFileSync(src, Buffer.alloc(size, 7));
    const dest = join(work, `${name}-remote.bin`);
    const file = join(work, `${name}.yml`);
    writeFileSync(file, `tasks:\n  - name: Big file\n    copy: { src: ${src}, path: ${dest} }\n`);
    return { pb: file, src, dest };
  }
  const copyArgs = (file: string, ...extra: string[]) => [
    "provision",
    "host",
    host(),
    "--playbook",
    file,
    "--key",
    sshd.clientKeyPath,
    "--known-hosts",
    sshd.knownHostsFile,
    ...extra,
  ];
  // a memo of its own: the first run hashes, the second answers from it
  const hashEnv = () => ({ ...env, XDG_CACHE_HOME: join(work, "cache") });

  it("--json: hash events (start, done) before run-start; a re-run reads the memo and sends none", async () => {
    const { pb: file, src } = copyPlaybook("json-big");
    const r = await lockclaw(copyArgs(file, "--json"), hashEnv());
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; bytes?: number; done?: boolean });
    const hashes = events.filter((e) => e.type === "hash");
    expect(hashes[0]).toMatchObject({ task: "Big file", file: src, bytes: 0, total: size });
    expect(hashes.at(-1)).toMatchObject({ bytes: size, total: size, done: true });
    expect(hashes.at(-1)).toHaveProperty("rate");
    expect(events.indexOf(hashes.at(-1)!)).toBeLessThan(events.findIndex((e) => e.type === "run-start"));
    const again = await lockclaw(copyArgs(file, "--json"), hashEnv());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('"type":"hash"');
  }, 120_000);

  it("the TTY view: the hash's line stays above the live view, with the size and rate", async () => {
    const { pb: file, dest } = copyPlaybook("tty-big");
    const p = await startTmux(work, copyArgs(file), hashEnv());
    panes.push(p);
    expect(await p.exited()).toBe(0);
    const screen = await p.screen();
    expect(screen).toMatch(/^✔ Big file: hashed tty-big\.bin \(48\.0 MiB, [\d.]+ [KMG]iB\/s\)$/m);
    expect(screen.indexOf("hashed tty-big.bin")).toBeLessThan(screen.indexOf(`${host()}: ok=0 changed=1`));
    expect(screen).toMatch(/\] changed Big file\n {4}- send /);
    expect(readFileSync(dest).length).toBe(size);
  }, 120_000);
});
