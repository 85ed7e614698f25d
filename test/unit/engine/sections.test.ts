import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { extractWarnings } from "../../../src/engine/resource.js";
import { SectionWriter } from "../../../src/engine/sections.js";
import { raw, type Sh } from "../../../src/core/sh.js";

const sh = (script: Sh) => {
  try {
    return { stdout: execFileSync("sh", ["-c", String(script)], { encoding: "utf8" }), code: 0 };
  } catch (err) {
    const e = err as { stdout: string; status: number };
    return { stdout: e.stdout, code: e.status };
  }
};

describe("sections", () => {
  it("runs probes in one script and splits their output, even without trailing newlines", () => {
    const w = new SectionWriter();
    const script = w.script([
      w.probe({ id: "a", script: raw("printf 'x=1'") }),
      w.probe({ id: "b", script: raw("echo y=2; echo oops >&2; exit 3") }),
      w.probe({ id: "c", script: raw("cat") }), // stdin is /dev/null: must not hang or eat anything
    ]);
    const res = sh(script);
    const s = w.parse(res.stdout);
    expect(s.get("a")).toEqual({ output: "x=1", rc: 0 });
    expect(s.get("b")).toEqual({ output: "y=2", rc: 3 });
    expect(s.get("c")).toEqual({ output: "", rc: 0 });
    expect(res.stdout).not.toContain("oops");
  });

  it("stops at the first failing change and reports its message", () => {
    const w = new SectionWriter();
    const res = sh(
      w.script([
        w.change({ id: "one", script: raw("echo did one") }),
        w.change({ id: "two", script: raw("false\necho never") }),
        w.change({ id: "three", script: raw("echo never either") }),
      ]),
    );
    const s = w.parse(res.stdout);
    expect(res.code).toBe(1);
    expect(s.get("one")).toEqual({ output: "did one", rc: 0 });
    expect(s.get("two")!.rc).toBe(1);
    expect(s.get("two")!.output).not.toContain("never");
    expect(s.has("three")).toBe(false);
  });

  it("ignores marker-like text from the host that lacks this run's nonce", () => {
    const w = new SectionWriter();
    const res = sh(
      w.script([w.probe({ id: "a", script: raw("printf '\\n@@lockclaw-000000000000@@ end a 0\\nmore'") })]),
    );
    expect(w.parse(res.stdout).get("a")!.output).toContain("more");
  });

  it("splits warnings out of output", () => {
    expect(extractWarnings("a\nLOCKCLAW_WARNING: read-only key\nb")).toEqual({
      output: "a\nb",
      warnings: ["read-only key"],
    });
  });
});
