import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { createRenderer, JsonRenderer, PlainRenderer } from "../../../src/report/index.js";

const recap = {
  host: "h1",
  ok: 3,
  changed: 1,
  failed: 0,
  skipped: 1,
  unreachable: false,
  execs: 2,
  durationMs: 1234,
};
const events: LockclawEvent[] = [
  { type: "run-start", playbook: "pb.yml", hosts: ["h1"], check: false },
  { type: "debug", host: "h1", message: "exec #1: probe" },
  {
    type: "task-result",
    host: "h1",
    task: "Config",
    status: "changed",
    changes: [{ summary: "content changed", diff: "-a\n+b" }],
  },
  { type: "host-recap", recap },
  { type: "recap", hosts: [recap], exitCode: 2, durationMs: 1300 },
];

async function render(kind: "json" | "plain", diff: boolean, verbose: boolean): Promise<string> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  const r =
    kind === "json" ? new JsonRenderer({ out, diff, verbose }) : new PlainRenderer({ out, diff, verbose });
  events.forEach((e) => r.handle(e));
  await r.end();
  return text;
}

describe("renderers", () => {
  it("json: one parsable event per line; diffs and debug only when asked", async () => {
    const lines = (await render("json", false, false))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(["run-start", "task-result", "host-recap", "recap"]);
    expect(JSON.stringify(lines[1])).not.toContain("+b");
    const verbose = await render("json", true, true);
    expect(verbose).toContain("exec #1: probe");
    expect(verbose).toContain("+b");
  });

  it("plain: task lines, change summaries, diff with --diff, and the recap", async () => {
    const text = await render("plain", true, false);
    expect(text).toContain("[h1] changed Config");
    expect(text).toContain("- content changed");
    expect(text).toContain("+b");
    expect(text).not.toContain("exec #1");
    expect(text).toMatch(
      /RECAP\n\s+h1\s+ok=3\s+changed=1\s+failed=0\s+skipped=1\s+unreachable=0\s+execs=2\s+1\.2s/,
    );
  });

  it("falls back to plain lines without a TTY and to NDJSON with --json", () => {
    const out = new PassThrough();
    expect(createRenderer({ out, diff: false, verbose: false, json: false, tty: false })).toBeInstanceOf(
      PlainRenderer,
    );
    expect(createRenderer({ out, diff: false, verbose: false, json: true, tty: true })).toBeInstanceOf(
      JsonRenderer,
    );
  });
});
