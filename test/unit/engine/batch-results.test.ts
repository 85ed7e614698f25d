import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { BatchResults, type Outcome } from "../../../src/engine/batch-results.js";
import { SectionWriter, type SectionResult } from "../../../src/engine/sections.js";
import { raw } from "../../../src/core/sh.js";

/** Feeds a real script's output, one byte at a time, to BatchResults; returns what was settled, in order. */
function streamed(
  tasks: Array<{ id: string; verifies: boolean; script: string; verify?: string }>,
  outcomeOf: (i: number, change: SectionResult, verify?: SectionResult) => Outcome = () => ({
    status: "changed",
  }),
) {
  const w = new SectionWriter();
  const parts = tasks.flatMap((t) => [
    w.change({ id: t.id, script: raw(t.script) }),
    ...(t.verifies ? [w.probe({ id: `v-${t.id}`, script: raw(t.verify ?? "echo same") })] : []),
  ]);
  let stdout = "";
  try {
    stdout = execFileSync("sh", ["-c", String(w.script(parts))], { encoding: "utf8" });
  } catch (err) {
    stdout = (err as { stdout: string }).stdout;
  }
  const settled: Array<[number, Outcome["status"]]> = [];
  const seen: Array<[number, string | undefined]> = [];
  const r = new BatchResults(
    tasks,
    (i, c, v) => {
      seen.push([i, v?.output]);
      return outcomeOf(i, c, v);
    },
    (i, o) => settled.push([i, o.status]),
  );
  const stream = w.stream({ end: (id, res) => r.section(id, res) });
  for (const ch of stdout) stream.push(ch);
  return { r, settled, seen };
}

describe("BatchResults: an apply exec's results as its sections end", () => {
  it("settles each task when its change, and its verification when it has one, has ended", () => {
    const { settled, seen, r } = streamed([
      { id: "a", verifies: true, script: "echo did a", verify: "echo state-a" },
      { id: "b", verifies: false, script: "echo did b" },
      { id: "c", verifies: true, script: "true", verify: "echo state-c" },
    ]);
    expect(settled).toEqual([
      [0, "changed"],
      [1, "changed"],
      [2, "changed"],
    ]);
    // the verification section is what the outcome is worked out from
    expect(seen).toEqual([
      [0, "state-a"],
      [1, undefined],
      [2, "state-c"],
    ]);
    expect(r.failure).toBeUndefined();
    expect([0, 1, 2].every((i) => r.done(i))).toBe(true);
  });

  it("stops at a failed change: it and the tasks after it are left to the whole output", () => {
    const { settled, r } = streamed([
      { id: "a", verifies: false, script: "true" },
      { id: "b", verifies: true, script: "echo broken; false" },
      { id: "c", verifies: false, script: "true" },
    ]);
    expect(settled).toEqual([[0, "changed"]]);
    expect(r.done(1)).toBe(false);
    expect(r.changeFailed).toBe(false);
    r.report(1, { status: "failed", error: new Error("b failed"), changeFailed: true });
    r.report(2, { status: "skipped" });
    expect(r.changeFailed).toBe(true);
    expect(r.failure?.message).toBe("b failed");
    expect(() => r.report(2, { status: "skipped" })).toThrow(/twice/);
  });

  it("a drift found by a verification is a failure; the tasks after it (which ran) get their own outcome", () => {
    const { settled, r } = streamed(
      [
        { id: "a", verifies: true, script: "true", verify: "echo drift" },
        { id: "b", verifies: true, script: "true", verify: "echo same" },
      ],
      (_i, _c, v) =>
        v?.output === "drift" ? { status: "failed", error: new Error("a drifts") } : { status: "changed" },
    );
    expect(settled).toEqual([
      [0, "failed"],
      [1, "changed"],
    ]);
    expect(r.failure?.message).toBe("a drifts");
    expect(r.changeFailed).toBe(false);
  });

  it("an outcome it cannot work out (a verification it cannot read) stops the stream", () => {
    const { settled, r } = streamed(
      [
        { id: "a", verifies: true, script: "true" },
        { id: "b", verifies: false, script: "true" },
      ],
      (i) => {
        if (i === 0) throw new Error("cannot read");
        return { status: "changed" };
      },
    );
    expect(settled).toEqual([]);
    expect(r.done(0)).toBe(false);
  });
});
