/**
 * Consecutive tasks of a module that joins its plans (applyTogether, e.g. package: one apt-get run)
 * do their work in one fragment; a task of another module in between splits the run. Over a real sshd:
 * the joined fragment runs once for the first three tasks, each task is still reported and verified.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { sh, shJoin } from "../../../src/core/sh.js";
import type { ResourceKind } from "../../../src/engine/resource.js";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { runPlaybook } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-together-"));
});
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Creates a file; each fragment it runs appends one line to `log` naming the files it made. */
const touchKind: ResourceKind<{ path: string; log: string }, { present: boolean }, { path: string }> = {
  name: "touch",
  spec: z.strictObject({ path: z.string(), log: z.string() }),
  describe: (s) => `touch ${s.path}`,
  probe: (s) => ({
    script: sh`if [ -e ${s.path} ]; then echo present; else echo absent; fi`,
    parse: (out) => ({ present: out.trim() === "present" }),
  }),
  plan: (spec, facts) => ({
    changes: facts.present ? [] : [{ summary: `create ${spec.path}` }],
    plan: { path: spec.path },
  }),
  apply: (spec, plan) => sh`touch -- ${plan.path} && echo ${plan.path} >> ${spec.log}`,
  applyTogether: (items) =>
    shJoin([
      sh`touch -- ${items.map((i) => i.plan.path)}`,
      sh`echo ${items.map((i) => i.plan.path).join(" ")} >> ${items[0]!.spec.log}`,
    ]),
};

describe("applyTogether", () => {
  it("joins consecutive tasks of the module into one fragment, split by a task of another", async () => {
    const log = join(work, "runs.log");
    const [a, b, c, e] = ["a", "b", "c", "e"].map((n) => join(work, n)) as [string, string, string, string];
    const d = join(work, "d");
    const pb = join(work, "pb.yml");
    writeFileSync(
      pb,
      [
        "tasks:",
        ...[a, b, c].flatMap((p, i) => [`  - name: t${i}`, `    touch: { path: ${p}, log: ${log} }`]),
        `  - name: other`,
        `    file: { path: ${d}, content: "x\\n" }`,
        `  - name: t3`,
        `    touch: { path: ${e}, log: ${log} }`,
        "",
      ].join("\n"),
    );
    const events: LockclawEvent[] = [];
    const r = await runPlaybook({
      playbookFile: pb,
      kinds: { ...resourceKinds, touch: touchKind },
      hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
      overrides: [],
      builtins: {},
      connector: connect,
      state: new HostStateStore(join(work, "state.json")),
      check: false,
      onEvent: (ev) => events.push(ev),
    });
    expect(r.hosts[0]!.failed, JSON.stringify(r.hosts[0])).toBe(0);
    expect(readFileSync(log, "utf8")).toBe(`${a} ${b} ${c}\n${e}\n`);
    for (const p of [a, b, c, d, e]) expect(existsSync(p), p).toBe(true);
    const results = events.filter((ev) => ev.type === "task-result") as Array<{
      task: string;
      status: string;
    }>;
    expect(results.map((x) => [x.task, x.status])).toEqual([
      ["t0", "changed"],
      ["t1", "changed"],
      ["t2", "changed"],
      ["other", "changed"],
      ["t3", "changed"],
    ]);
  });
});
