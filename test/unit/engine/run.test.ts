import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HostRecap } from "../../../src/engine/events.js";
import { exitCodeFor, mapLimit, prepareRun, type RunOptions } from "../../../src/engine/run.js";
import { parseVarArg } from "../../../src/engine/vars.js";
import { kinds } from "./kinds.fixture.js";
import { testTarget } from "./target.fixture.js";

function options(files: string[], vars: string[]): RunOptions {
  return {
    playbookFile: files,
    kinds,
    hosts: [
      {
        target: testTarget("h"),
        vars: [],
      },
    ],
    overrides: vars.map(parseVarArg),
    builtins: {},
    connector: () => Promise.reject(new Error("prepareRun must not connect")),
    onEvent: () => undefined,
  };
}

describe("run", () => {
  const dir = mkdtempSync(join(tmpdir(), "lc-run-"));
  const a = join(dir, "a.yml");
  const b = join(dir, "b.yml");
  writeFileSync(a, "vars: { user: deploy }\ntasks:\n  - note: { path: /a, text: '{{user}}' }\n");
  writeFileSync(
    b,
    "vars: { user: deploy, port: 80 }\ntasks:\n  - note: { path: /b, text: '{{user}}:{{port}}' }\n",
  );

  it("chains playbooks: each play takes the --vars it declares", () => {
    const { perHost } = prepareRun(options([a, b], ["port=8080", "user=ops"]));
    expect(perHost[0]!.plays.map((p) => p.tasks[0]!.spec)).toEqual([
      { path: "/a", text: "ops" },
      { path: "/b", text: "ops:8080" },
    ]);
  });

  it("refuses a --var that no play of the run declares, listing the known ones, before connecting", () => {
    expect(() => prepareRun(options([a, b], ["prot=1"]))).toThrowError(
      /unknown variable 'prot'[\s\S]*declares: port, user/,
    );
  });

  it("maps recaps to the documented exit codes (1 over 4 over 2 over 0)", () => {
    const r = (x: Partial<HostRecap>): HostRecap => ({
      host: "h",
      ok: 0,
      changed: 0,
      failed: 0,
      skipped: 0,
      unreachable: false,
      execs: 1,
      durationMs: 1,
      ...x,
    });
    expect(exitCodeFor([r({})])).toBe(0);
    // a successful apply is 0 even when it changed things; 2 is for --check and --detailed-exitcode
    expect(exitCodeFor([r({}), r({ changed: 2 })])).toBe(0);
    expect(exitCodeFor([r({}), r({ changed: 2 })], { check: true })).toBe(2);
    expect(exitCodeFor([r({}), r({ changed: 2 })], { detailedExitCode: true })).toBe(2);
    expect(exitCodeFor([r({})], { check: true, detailedExitCode: true })).toBe(0);
    expect(exitCodeFor([r({ changed: 1 }), r({ unreachable: true })])).toBe(4);
    expect(exitCodeFor([r({ failed: 1 }), r({ unreachable: true })])).toBe(1);
  });

  it("runs at most `limit` at once and keeps the order", async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 3, 2], 2, async (ms) => {
      peak = Math.max(peak, ++running);
      await new Promise((res) => setTimeout(res, ms * 5));
      running--;
      return ms * 10;
    });
    expect(out).toEqual([50, 10, 30, 20]);
    expect(peak).toBe(2);
  });
});

describe("-vvv script display", () => {
  it("never shows a here-document's base64 (file contents, secrets among them)", async () => {
    const { shown } = await import("../../../src/engine/host-run.js");
    const { base64Heredoc, raw } = await import("../../../src/core/sh.js");
    const secret = "s3cr3t-token-0123456789";
    const script = `echo a\n${base64Heredoc(raw('cat > "$f"'), secret).text}\necho b`;
    const out = shown(script);
    expect(out).toContain("echo a");
    expect(out).toContain("echo b");
    expect(out).toContain(
      `<<'LOCKCLAW_B64_EOF' | cat > "$f"\n(23 bytes of base64 data, not shown)\nLOCKCLAW_B64_EOF`,
    );
    expect(out).not.toContain(Buffer.from(secret).toString("base64").slice(0, 12));
  });
});
