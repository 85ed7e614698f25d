import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { templateKind, type TemplateSpec } from "../../../src/resources/template.js";
import { fileKind } from "../../../src/resources/file.js";
import { applyOf, changesOf, converge, parseSpec, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): TemplateSpec => parseSpec(templateKind, input);
const ctx = { check: false };

describe("template", () => {
  it("accepts src and the engine-filled content", () => {
    const s = spec({
      path: "/etc/ssh/sshd_config.d/00-lockclaw.conf",
      src: "sshd/00-lockclaw.conf.hbs",
      mode: "0644",
    });
    expect(s).toMatchObject({ src: "sshd/00-lockclaw.conf.hbs", mode: "0644" });
    expect(s.content).toBeUndefined();
    expect(templateKind.describe(s)).toBe(
      "template /etc/ssh/sshd_config.d/00-lockclaw.conf (from sshd/00-lockclaw.conf.hbs)",
    );
  });
  it("rejects a missing or escaping src and unknown keys", () => {
    expect(specError(templateKind, { path: "/x" })).toMatch(/src/);
    expect(specError(templateKind, { path: "/x", src: "../../etc/shadow" })).toMatch(
      /relative to templates\//,
    );
    expect(specError(templateKind, { path: "/x", src: "a.hbs", source: "b" })).toMatch(
      /Unrecognized key: "source"/,
    );
  });
  it("diffs and applies exactly like file once rendered", () => {
    const s = spec({ path: "/etc/x", src: "x.hbs", content: "rendered\n", mode: "0600" });
    const facts = { type: "absent" } as const;
    const asFile = parseSpec(fileKind, { path: "/etc/x", content: "rendered\n", mode: "0600" });
    expect(changesOf(templateKind, s, facts, ctx)).toEqual(changesOf(fileKind, asFile, facts, ctx));
    expect(String(applyOf(templateKind, s, facts))).toBe(String(applyOf(fileKind, asFile, facts)));
    expect(String(templateKind.probe(s).script)).toBe(String(fileKind.probe(asFile).script));
  });
  it("fails loudly when the engine did not render it", () => {
    expect(() =>
      changesOf(templateKind, spec({ path: "/x", src: "x.hbs" }), { type: "absent" }, ctx),
    ).toThrow(/not rendered/);
  });
  it("redacts sensitive rendered content", () => {
    const s = spec({ path: "/x", src: "env.hbs", content: "KEY=sk-secret-123\n", sensitive: true });
    expect(templateKind.secrets!(s)).toEqual(["KEY=sk-secret-123\n"]);
    expect(JSON.stringify(changesOf(templateKind, s, { type: "absent" }, ctx))).not.toContain("sk-secret");
    expect(String(applyOf(templateKind, s, { type: "absent" }))).not.toContain("sk-secret");
  });
  it("converges on this machine", () => {
    const dir = mkdtempSync(join(tmpdir(), "lockclaw-tpl-"));
    try {
      const p = join(dir, "t.conf");
      const r = converge(templateKind, spec({ path: p, src: "t.hbs", content: "x=1\n" }));
      expect(r.changes).toHaveLength(1);
      expect(r.after).toEqual([]);
      expect(readFileSync(p, "utf8")).toBe("x=1\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
