/**
 * The engine plans each task once per probe (issue 13): over a real sshd, a counting module sees one
 * plan() per task for the probe and one per task for the verify re-probe, and its apply() and uploads()
 * get the very plan object that probe's plan() returned, never one computed again.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { sh } from "../../../src/core/sh.js";
import type { ResourceKind } from "../../../src/engine/resource.js";
import { runPlaybook } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-plan-once-"));
});
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface CountedPlan {
  path: string;
  staged: string;
}

/** Every call the engine makes into the module, in order. */
let calls: Array<{ op: "plan" | "apply" | "uploads"; path: string; check?: boolean; same?: boolean }>;
/** The plan object each path's latest plan() returned (by identity). */
let latest: Map<string, CountedPlan>;

beforeEach(() => {
  calls = [];
  latest = new Map();
});

/** A file written from a local source through an upload: present = nothing to do. */
const countedKind: ResourceKind<{ path: string; src: string }, { present: boolean }, CountedPlan> = {
  name: "counted",
  spec: z.strictObject({ path: z.string(), src: z.string() }),
  describe: (s) => `counted ${s.path}`,
  probe: (s) => ({
    script: sh`if [ -e ${s.path} ]; then echo present; else echo absent; fi`,
    parse: (out) => ({ present: out.trim() === "present" }),
  }),
  plan(spec, facts, ctx) {
    calls.push({ op: "plan", path: spec.path, check: ctx.check });
    const plan = { path: spec.path, staged: `${spec.path}.staged` };
    latest.set(spec.path, plan);
    return { changes: facts.present ? [] : [{ summary: `create ${spec.path}` }], plan };
  },
  uploads(spec, plan) {
    calls.push({ op: "uploads", path: spec.path, same: latest.get(spec.path) === plan });
    return [{ local: spec.src, remote: plan.staged }];
  },
  apply(spec, plan) {
    calls.push({ op: "apply", path: spec.path, same: latest.get(spec.path) === plan });
    return sh`mv -f -- ${plan.staged} ${plan.path}`;
  },
};

async function run(pb: string, check: boolean) {
  const r = await runPlaybook({
    playbookFile: pb,
    kinds: { ...resourceKinds, counted: countedKind },
    hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
    overrides: [],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, "state.json")),
    check,
    onEvent: () => undefined,
  });
  // --check exits 2 when something would change: only a failure counts here
  expect(r.hosts[0]!.failed, JSON.stringify(r.hosts[0])).toBe(0);
  return r;
}

const count = (op: string, path?: string) =>
  calls.filter((c) => c.op === op && (path === undefined || c.path === path)).length;

describe("the engine plans each task once per probe", () => {
  it("--check, apply and a no-op run", async () => {
    const src = join(work, "src.txt");
    writeFileSync(src, "bytes\n");
    const a = join(work, "a");
    const b = join(work, "b");
    const pb = join(work, "pb.yml");
    writeFileSync(
      pb,
      [
        "tasks:",
        `  - name: a`,
        `    counted: { path: ${a}, src: ${src} }`,
        `  - name: b`,
        `    counted: { path: ${b}, src: ${src} }`,
        "",
      ].join("\n"),
    );

    // --check: one plan per task, phrased for check; nothing applied or sent
    await run(pb, true);
    expect(calls).toEqual([
      { op: "plan", path: a, check: true },
      { op: "plan", path: b, check: true },
    ]);
    expect(existsSync(a) || existsSync(b)).toBe(false);

    // apply: one plan per task from the probe, uploads and apply get that plan, one plan per task to verify
    calls = [];
    await run(pb, false);
    for (const p of [a, b]) {
      expect(count("plan", p)).toBe(2);
      expect(count("uploads", p)).toBe(1);
      expect(count("apply", p)).toBe(1);
    }
    const firstVerify = calls.findIndex(
      (c, i) => c.op === "plan" && i > calls.findIndex((x) => x.op === "apply"),
    );
    expect(calls.slice(0, 2).map((c) => c.op)).toEqual(["plan", "plan"]);
    // the object the probe's plan() returned is the one handed on (latest was not replaced before apply)
    expect(calls.filter((c) => c.op !== "plan").every((c) => c.same)).toBe(true);
    expect(calls.slice(firstVerify).map((c) => [c.op, c.check])).toEqual([
      ["plan", false],
      ["plan", false],
    ]);
    expect(readFileSync(a, "utf8")).toBe("bytes\n");
    expect(readFileSync(b, "utf8")).toBe("bytes\n");

    // no-op: one plan per task, nothing else
    calls = [];
    const r = await run(pb, false);
    expect(calls.map((c) => c.op)).toEqual(["plan", "plan"]);
    expect(r.hosts[0]!.execs).toBe(1);
  });
});
