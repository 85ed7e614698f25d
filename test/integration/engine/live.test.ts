/**
 * The live view over a real sshd (issue 11.3): the batched probe and the apply are read as they run, so
 * a task's events (its start, its apply, its result) arrive when its section ends on the host, not when
 * the exec does; local hashing and uploads send throttled `hash` / `upload` progress events; a no-op run
 * is still one exec.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { runPlaybook, type RunOptions } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-live-"));
});
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

type Timed = LockclawEvent & { at: number };

async function run(pb: string, extra: Partial<RunOptions> = {}) {
  const events: Timed[] = [];
  const r = await runPlaybook({
    playbookFile: pb,
    kinds: resourceKinds,
    hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
    overrides: [],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, "state.json")),
    onEvent: (e) => events.push({ ...e, at: Date.now() }),
    ...extra,
  });
  return { r, events };
}

/** When the exec of this description ended: its debug line is emitted right after it. */
const execEnd = (events: Timed[], what: RegExp) => {
  const e = events.find((x) => x.type === "debug" && what.test(x.message));
  expect(e, `no debug event for ${what}`).toBeDefined();
  return e!.at;
};

describe("the live view over a real sshd", () => {
  it("a task's events arrive while a later task of the same exec still runs", async () => {
    const dir = join(work, "slow");
    const pb = join(work, "slow.yml");
    writeFileSync(
      pb,
      [
        "tasks:",
        "  - name: first",
        `    directory: { path: ${dir}, mode: "0755" }`,
        "  - name: slow",
        // the probe runs `unless` (3 s), the apply the command (3 s more)
        "    command: { cmd: 'sleep 3', unless: 'sleep 3; false' }",
        "",
      ].join("\n"),
    );
    // -vvv: a debug event with the probe's sh goes out just before the probe exec starts
    const { r, events } = await run(pb, { verbosity: 3 });
    expect(r.exitCode).toBe(0);
    expect(r.hosts[0]!.execs).toBe(2);
    const at = (type: string, task: string) => {
      const e = events.find((x) => x.type === type && "task" in x && x.task === task);
      expect(e, `${type} ${task}`).toBeDefined();
      return e!.at;
    };
    const probeEnd = execEnd(events, /: probe of 2 tasks \([\d.]+s, exit/);
    const applyEnd = execEnd(events, /: apply 2 changes.* \([\d.]+s, exit/);
    // the probe: "first" is announced, and "slow" when its section began (after first's), seconds
    // before the probe exec ended
    const probeStart = events.find((e) => e.type === "debug" && /: probe of 2 tasks: sh/.test(e.message))!.at;
    expect(at("task-start", "first")).toBeGreaterThanOrEqual(probeStart);
    expect(at("task-start", "first")).toBeLessThanOrEqual(at("task-start", "slow"));
    expect(probeEnd - at("task-start", "slow")).toBeGreaterThan(1500);
    // the apply: slow's change is announced when its section begins, seconds before the exec ends
    expect(at("task-apply", "first")).toBeLessThanOrEqual(at("task-apply", "slow"));
    expect(applyEnd - at("task-apply", "slow")).toBeGreaterThan(1500);
    // and first's result (changed, verified: its verification runs right after its change) goes out
    // then, not when the exec ends
    expect(events.find((e) => e.type === "task-result" && e.task === "first")).toMatchObject({
      status: "changed",
    });
    expect(at("task-result", "first")).toBeLessThanOrEqual(at("task-apply", "slow"));
    expect(applyEnd - at("task-result", "first")).toBeGreaterThan(1500);
    // one task-start per task, before its result
    expect(events.filter((e) => e.type === "task-start").map((e) => (e as { task: string }).task)).toEqual([
      "first",
      "slow",
    ]);
    expect(at("task-start", "slow")).toBeLessThan(at("task-result", "slow"));

    // --check: "first" is reported (ok, it exists now) while slow's probe still sleeps
    const check = await run(pb, { check: true });
    expect(check.r.exitCode).toBe(2);
    const firstResult = check.events.find((e) => e.type === "task-result" && e.task === "first");
    expect(firstResult).toMatchObject({ status: "ok" });
    expect(execEnd(check.events, /: probe of 2 tasks \([\d.]+s, exit/) - firstResult!.at).toBeGreaterThan(
      1500,
    );
  }, 120_000);

  it("a multi-MB copy sends hash and upload progress events, throttled; the no-op re-run is one exec and sends none", async () => {
    const src = join(work, "big.bin");
    const size = 24 * 1024 * 1024;
    writeFileSync(src, Buffer.alloc(size, 3));
    const pb = join(work, "copy.yml");
    writeFileSync(
      pb,
      `tasks:\n  - name: big\n    copy: { src: ${src}, path: ${join(work, "remote.bin")} }\n`,
    );
    // every chunk let through: the events follow the bytes
    const { r, events } = await run(pb, { progressIntervalMs: 0 });
    expect(r.exitCode).toBe(0);
    const ups = events.filter((e): e is Extract<Timed, { type: "upload" }> => e.type === "upload");
    expect(ups.length).toBeGreaterThan(3);
    expect(ups[0]).toMatchObject({ task: "big", file: src, bytes: 0, total: size });
    expect(ups.at(-1)).toMatchObject({ bytes: size, total: size, done: true });
    for (let i = 1; i < ups.length; i++) expect(ups[i]!.bytes).toBeGreaterThanOrEqual(ups[i - 1]!.bytes);
    expect(ups.some((u) => u.bytes > 0 && u.bytes < size)).toBe(true);
    expect(ups.filter((u) => u.done).length).toBe(1);
    // the events come before the apply that moves the file into place
    const apply = events.findIndex((e) => e.type === "task-apply" && e.task === "big");
    expect(events.indexOf(ups.at(-1)!)).toBeLessThan(apply);
    // before that, before anything connected: the local hash of the file, chunk by chunk
    const hashes = events.filter((e): e is Extract<Timed, { type: "hash" }> => e.type === "hash");
    expect(hashes[0]).toMatchObject({ task: "big", file: src, bytes: 0, total: size });
    expect(hashes.at(-1)).toMatchObject({ bytes: size, total: size, done: true });
    expect(hashes.length).toBeGreaterThanOrEqual(4); // 0, each 4 MiB read (6), done
    expect(events.indexOf(hashes.at(-1)!)).toBeLessThan(events.findIndex((e) => e.type === "run-start"));

    // the default throttle: a start, at most one per 500 ms while it runs, and the end
    rmSync(join(work, "remote.bin"));
    const again = await run(pb);
    const slow = again.events.filter((e): e is Extract<Timed, { type: "upload" }> => e.type === "upload");
    const span = slow.at(-1)!.at - slow[0]!.at;
    expect(slow.length).toBeGreaterThanOrEqual(2);
    expect(slow.length).toBeLessThanOrEqual(2 + Math.floor(span / 500) + 1);
    expect(slow.length).toBeLessThan(ups.length);
    // the hash is remembered (same file, same inode and mtime): nothing is read, nothing said
    expect(again.events.some((e) => e.type === "hash")).toBe(false);

    const noop = await run(pb);
    expect(noop.r.hosts[0]!.execs).toBe(1);
    expect(noop.events.some((e) => e.type === "upload")).toBe(false);
  }, 120_000);
});
