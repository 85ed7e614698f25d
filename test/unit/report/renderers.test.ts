import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { HostRecap, LockclawEvent } from "../../../src/engine/events.js";
import { Redactor } from "../../../src/engine/redact.js";
import { createRenderer, JsonRenderer, PlainRenderer, TtyRenderer } from "../../../src/report/index.js";

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

  it("json: the events of one turn reach the stream in one write, in order, before the next turn", async () => {
    const writes: string[] = [];
    const out = new PassThrough();
    out.on("data", (d: Buffer) => writes.push(d.toString()));
    const r = new JsonRenderer({ out, diff: false, verbose: true });
    events.forEach((e) => r.handle(e));
    // what is queued behind the renderer's flush (the next turn's I/O) sees every line already written
    await new Promise<void>((done) => setImmediate(done));
    expect(writes).toHaveLength(1);
    expect(
      writes[0]!
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as LockclawEvent).type),
    ).toEqual(events.map((e) => e.type));
    // a later turn gets a write of its own; interrupt() (Ctrl-C, then exit) writes at once
    r.handle(events[0]!);
    r.interrupt();
    expect(writes).toHaveLength(2);
    await r.end();
    expect(writes).toHaveLength(2);
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

describe("local hashing progress (before the run starts)", () => {
  const hash = (bytes: number, done = false): LockclawEvent => ({
    type: "hash",
    task: "Bundle",
    file: "/data/images.tar",
    bytes,
    total: 2 * 1024 ** 3,
    rate: 400 * 1024 ** 2,
    ...(done ? { etaSeconds: 0, done } : { etaSeconds: 3 }),
  });

  it("tty: one line redrawn in place while the file is read, left on the screen when done", async () => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => (text += d.toString()));
    const r = new TtyRenderer({ out, diff: false, verbose: false });
    r.handle(hash(0));
    r.handle(hash(1024 ** 3));
    r.handle(hash(2 * 1024 ** 3, true));
    expect(text.split("\r\x1b[2K")).toEqual([
      "",
      "▸ Bundle: hashing images.tar 0 B / 2.0 GiB, 400.0 MiB/s, ETA 3s",
      "▸ Bundle: hashing images.tar 1.0 GiB / 2.0 GiB, 400.0 MiB/s, ETA 3s",
      "✔ Bundle: hashed images.tar (2.0 GiB, 400.0 MiB/s)\n",
    ]);
    // not repeated among the details after the live view
    await r.end();
    expect(text.match(/hashed/g)).toHaveLength(1);
  });

  it("json: each event as a line; plain: nothing (as for uploads)", async () => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => (text += d.toString()));
    const json = new JsonRenderer({ out, diff: false, verbose: false });
    json.handle(hash(1024 ** 3));
    await json.end();
    expect(JSON.parse(text)).toMatchObject({ type: "hash", task: "Bundle", bytes: 1024 ** 3 });
    text = "";
    new PlainRenderer({ out, diff: false, verbose: false }).handle(hash(1024 ** 3));
    expect(text).toBe("");
  });
});

describe("renderers mask secrets on values, before serialising", () => {
  const secret = 'alpha"quote\\back-01\nbravo-line\\"two\ncharlie-third';
  const leaks = /alpha|bravo|charlie/;
  const diff = secret.replace(/^/gm, "+");
  const failed: HostRecap = {
    ...recap,
    failed: 1,
    error: `Leak: failed (exit 3)\n  ${secret.replace(/\n/g, "\n  ")}`,
  };
  const leaky: LockclawEvent[] = [
    { type: "run-start", playbook: "pb.yml", hosts: ["h1"], check: false },
    { type: "debug", host: "h1", message: `probe saw ${secret}` },
    {
      type: "task-result",
      host: "h1",
      task: "Token",
      status: "changed",
      changes: [{ summary: "create token", diff: `@@ -0,0 +1,3 @@\n${diff}` }],
    },
    { type: "task-result", host: "h1", task: "Leak", status: "failed", changes: [], error: failed.error },
    { type: "warning", host: "h1", message: `odd value ${JSON.stringify(secret)}` },
    { type: "host-recap", recap: failed },
    { type: "recap", hosts: [failed], exitCode: 1, durationMs: 1300 },
  ];

  for (const kind of ["plain", "json", "tty"] as const) {
    it(`${kind}: with --diff and -v, no line of the secret shows`, async () => {
      const redactor = new Redactor();
      redactor.add(secret);
      const out = new PassThrough();
      let text = "";
      out.on("data", (d: Buffer) => (text += d.toString()));
      const opt = { out, diff: true, verbose: true, redactor };
      const r =
        kind === "json"
          ? new JsonRenderer(opt)
          : kind === "plain"
            ? new PlainRenderer(opt)
            : new TtyRenderer(opt);
      leaky.forEach((e) => r.handle(e));
      await r.end();
      expect(text).toContain("create token");
      expect(text).toContain("********");
      expect(text.match(leaks)?.[0], text).toBeUndefined();
    });
  }
});
