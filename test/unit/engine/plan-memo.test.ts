import { describe, expect, it } from "vitest";
import { raw } from "../../../src/core/sh.js";
import { PlanMemo, plainJson, watchedContext } from "../../../src/engine/plan-memo.js";
import { probeScript } from "../../../src/engine/sections.js";

const alice = { user: "alice", keys: ["ssh-ed25519 AAAA1"] };
const bob = { user: "alice", keys: ["ssh-ed25519 BBBB2"] };

describe("PlanMemo", () => {
  it("keys a task by kind, spec, mode and probe output", () => {
    const m = new PlanMemo();
    const k = m.keyOf("file", { path: "/a", content: "x" }, false, "out")!;
    expect(m.keyOf("file", { path: "/a", content: "x" }, false, "out")).toBe(k);
    for (const other of [
      m.keyOf("template", { path: "/a", content: "x" }, false, "out"),
      m.keyOf("file", { path: "/a", content: "y" }, false, "out"),
      m.keyOf("file", { path: "/a", content: "x" }, true, "out"),
      m.keyOf("file", { path: "/a", content: "x" }, false, "out2"),
      // the boundary between spec and output cannot move
      m.keyOf("file", { path: "/a", content: "xo" }, false, "ut"),
    ])
      expect(other).not.toBe(k);
  });

  it("serialises a spec object once, and keys equal specs alike whatever their object", () => {
    const m = new PlanMemo();
    const spec = { path: "/a", content: "x" };
    const k = m.keyOf("file", spec, false, "out");
    expect(m.keyOf("file", { ...spec }, false, "out")).toBe(k);
    expect(m.keyOf("file", spec, false, "out2")).not.toBe(k);
    expect(m.keyOf("file", "plain", false, "out")).toBe(m.keyOf("file", "plain", false, "out"));
    expect(m.keyOf("file", new Map(), false, "out")).toBeUndefined();
  });

  it("builds a spec's probe script once per kind, and again for another spec or kind", () => {
    const m = new PlanMemo();
    let calls = 0;
    const kind = (name: string) =>
      ({ name, probe: (s: { p: string }) => (calls++, { script: raw(`echo ${name} ${s.p}`) }) }) as never;
    const [a, b] = [{ p: "a" }, { p: "a" }];
    const s1 = m.probeScript(kind("file"), a);
    expect(m.probeScript(kind("file"), a)).toBe(s1);
    expect(calls).toBe(1);
    expect(String(m.probeScript(kind("template"), a).script)).toBe("echo template a");
    expect(String(m.probeScript(kind("file"), b).script)).toBe("echo file a");
    expect(calls).toBe(3);
  });

  it("gives a plan made without the login to any login, one that read it only to the same login", () => {
    const m = new PlanMemo();
    m.remember("k1", "p1", false, alice);
    m.remember("k2", "p2", true, alice);
    expect(m.get("k1", bob)).toEqual({ plan: "p1" });
    expect(m.get("k2", alice)).toEqual({ plan: "p2" });
    expect(m.get("k2", bob)).toBeUndefined();
    expect(m.get("k2", undefined)).toBeUndefined();
    expect(m.get("k3", alice)).toBeUndefined();
  });

  it("records whether plan() read the login (spreading the context counts)", () => {
    const a = watchedContext({ check: false, login: alice });
    expect(a.ctx.check).toBe(false);
    expect(a.readLogin()).toBe(false);
    expect(a.ctx.login).toEqual(alice);
    expect(a.readLogin()).toBe(true);
    const b = watchedContext({ check: false, login: alice });
    const copy = { ...b.ctx };
    expect(copy.login).toEqual(alice);
    expect(b.readLogin()).toBe(true);
  });
});

describe("plainJson", () => {
  it("refuses what a key could not tell apart", () => {
    expect(plainJson({ a: new Map([["x", 1]]) })).toBeUndefined();
    expect(plainJson({ a: () => 1 })).toBeUndefined();
    expect(plainJson({ a: Number.NaN })).toBeUndefined();
    expect(plainJson({ a: "\u0000undefined", b: undefined })).toBeUndefined();
  });

  it("keeps undefined, null, a missing key and the replacer's own mark apart", () => {
    const forms = [{ a: undefined }, { a: null }, {}, { a: "\u0000undefined" }].map(plainJson);
    expect(forms.every((f) => f !== undefined)).toBe(true);
    expect(new Set(forms).size).toBe(4);
  });

  it("builds a batched probe once for the hosts probing alike; each gets it with its own marker", () => {
    const m = new PlanMemo();
    // the same texts in other objects (a task whose spec differs by host but probes alike)
    const frs = (extra = "") =>
      Array.from({ length: 12 }, (_, i) => ({
        id: `0.t${i}`,
        script: raw(`echo probe ${i}${i === 3 ? extra : ""}`),
        cost: i === 5 ? 40 : 5,
      }));
    const mark = (n: number) => `@@lockclaw-00000000000${n}@@`;
    for (const [i, f] of [frs(), frs(), frs(" other"), frs()].entries()) {
      const built = m.probeExec(f, mark(i));
      const direct = probeScript(f, mark(i));
      expect(built.script.text).toBe(direct.script.text);
      expect(built.script.text).toContain(mark(i));
      expect(built.count).toBe(direct.count);
      expect([...built.sourceOf]).toEqual([...direct.sourceOf]);
    }
    // duplicates shared as probeScript shares them
    const dup = [...frs(), { id: "1.t0", script: raw("echo probe 0"), cost: 5 }];
    expect(m.probeExec(dup, mark(7)).sourceOf.get("1.t0")).toBe("0.t0");
  });
});
