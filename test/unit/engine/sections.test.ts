import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { extractWarnings } from "../../../src/engine/resource.js";
import { laneCuts, SectionWriter, shareDuplicates } from "../../../src/engine/sections.js";
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

  it("runs a script that an earlier fragment has once, and keeps the duplicate's place", () => {
    const w = new SectionWriter();
    const count = raw("lc_n=$((lc_n + 1)); echo run $lc_n");
    const { fragments, sourceOf } = shareDuplicates([
      { id: "fw1", script: count },
      { id: "other", script: raw("echo other") },
      { id: "fw2", script: raw(String(count)) },
    ]);
    expect(fragments.map((f) => f.id)).toEqual(["fw1", "other", "fw2"]);
    expect(String(fragments[2]!.script)).toBe(":");
    expect([...sourceOf]).toEqual([
      ["fw1", "fw1"],
      ["other", "other"],
      ["fw2", "fw1"],
    ]);
    // the fragments run in subshells: a second run of the counter would print "run 1" again, so the
    // duplicate's section being empty is what shows it did not run
    const s = w.parse(sh(w.script(fragments.map((f) => w.probe(f)))).stdout);
    expect(s.get("fw1")).toEqual({ output: "run 1", rc: 0 });
    expect(s.get("fw2")).toEqual({ output: "", rc: 0 });
    expect(s.get(sourceOf.get("fw2")!)!.output).toBe("run 1");
  });

  it("runs probes in lanes at once, every section parsed from the joined output", () => {
    const w = new SectionWriter();
    const dir = mkdtempSync(join(tmpdir(), "lc-lanes-"));
    // 12 probes in 3 lanes of 4: p0 (first lane) waits for p4 (second lane) to have run, which it can
    // only see if the lanes run at once (one after another, p4 runs after p0 has given up)
    const parts = Array.from({ length: 12 }, (_, i) =>
      w.probe({
        id: `p${i}`,
        script:
          i === 0
            ? raw(
                `n=0; while [ ! -e ${dir}/p4 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done; [ -e ${dir}/p4 ] && echo out=0`,
              )
            : raw(`touch ${dir}/p${i}; echo out=${i}; [ ${i} != 5 ] || exit 4`),
      }),
    );
    const res = sh(w.script([raw('echo "tmp=$TMPDIR"'), w.lanes(parts)]));
    rmSync(dir, { recursive: true, force: true });
    const s = w.parse(res.stdout);
    for (let i = 0; i < 12; i++) expect(s.get(`p${i}`)).toEqual({ output: `out=${i}`, rc: i === 5 ? 4 : 0 });
    expect(res.stdout).not.toMatch(/lc_lane/);
    // a few probes are not worth a lane
    expect(String(w.lanes(parts.slice(0, 3)))).not.toContain("mktemp");
  });

  it("cuts lanes where the costs balance, contiguous and in order", () => {
    // equal costs: as even as counts allow (what count-based lanes gave)
    expect(laneCuts(Array(12).fill(1), 3)).toEqual([0, 4, 8]);
    expect(laneCuts(Array(10).fill(5), 3)).toEqual([0, 3, 6]);
    // the host playbook's shape: one heavy probe among cheap ones gets a lane almost to itself
    const host = [5, 5, 5, 5, 5, 10, 5, 29, 5, 50, 70, 0, 5, 80, 5, 5, 22, 5, 5, 5, 5, 5, 5];
    const cuts = laneCuts(host, 3);
    const lanes = cuts.map((c, i) => host.slice(c, cuts[i + 1] ?? host.length));
    const sums = lanes.map((l) => l.reduce((a, b) => a + b, 0));
    expect(lanes.flat()).toEqual(host);
    expect(cuts).toEqual([0, 10, 13]);
    expect(sums).toEqual([124, 75, 142]);
    // by count (8, 8, 7 items) the lanes would carry 69, 220 and 52
    expect(Math.max(...sums)).toBeLessThan(220);
    // exact: no other contiguous cut has a cheaper costliest lane
    let best = Infinity;
    for (let a = 1; a < host.length - 1; a++)
      for (let b = a + 1; b < host.length; b++) {
        const s = (x: number, y: number) => host.slice(x, y).reduce((p, q) => p + q, 0);
        best = Math.min(best, Math.max(s(0, a), s(a, b), s(b, host.length)));
      }
    expect(Math.max(...sums)).toBe(best);
    // every lane gets at least one item, even when one item outweighs all the rest
    expect(laneCuts([1000, 1, 1, 1], 3)).toEqual([0, 1, 2]);
    expect(laneCuts([1, 1, 1, 1000], 3)).toEqual([0, 1, 3]); // a tie: the earlier lanes end first
    // zero, negative or non-finite costs weigh nothing; more lanes than items is refused
    expect(laneCuts([-50, 40, 9, 9], 2)).toEqual([0, 2]); // -50 counted would give [0, 3]
    expect(laneCuts([Number.NaN, 5, 5], 2)).toEqual([0, 2]);
    expect(() => laneCuts([1, 2], 3)).toThrow(/lanes/);
  });

  it("lanes by cost run every section, each lane's in order, the first lane's first", () => {
    const w = new SectionWriter();
    const parts = Array.from({ length: 12 }, (_, i) =>
      w.probe({ id: `p${i}`, script: raw(`echo out=${i}`) }),
    );
    // p0 is as costly as all others together: it runs alone in the first lane
    const costs = [100, ...Array(11).fill(10)];
    const script = String(w.lanes(parts, costs));
    const first = script.slice(script.lastIndexOf("=$!"));
    expect(first).toContain(`'p0'`);
    expect(first).not.toContain(`'p1'`);
    const out = sh(w.script([w.lanes(parts, costs)])).stdout;
    const s = w.parse(out);
    for (let i = 0; i < 12; i++) expect(s.get(`p${i}`)).toEqual({ output: `out=${i}`, rc: 0 });
    const order = [...out.matchAll(new RegExp(`${w.marker} begin p([0-9]+)`, "g"))].map((m) => Number(m[1]));
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(order[0]).toBe(0);
    // lanes are contiguous (p1-p5, p6-p11 here): within one, the sections keep their order
    const cuts = laneCuts(costs, 3);
    const lanes: Array<[number, number]> = [
      [cuts[1]!, cuts[2]!],
      [cuts[2]!, 12],
    ];
    for (const [a, b] of lanes) {
      const lane = order.filter((i) => i >= a && i < b);
      expect(lane).toEqual([...lane].sort((x, y) => x - y));
    }
  });

  it("a section of another lane is printed when it is done, between the first lane's, never inside one", () => {
    const w = new SectionWriter();
    const dir = mkdtempSync(join(tmpdir(), "lc-lanes-"));
    // two lanes of 4: p2 (first lane) waits until p5 (second lane) has run, so p4 is done by then and
    // is printed before p3 begins; p4 prints more than a pipe holds at once, so interleaved writes
    // would split it
    const line = "x".repeat(99);
    const big = Array(2000).fill(line).join("\n");
    const parts = Array.from({ length: 8 }, (_, i) =>
      w.probe({
        id: `p${i}`,
        script:
          i === 2
            ? raw(
                `n=0; while [ ! -e ${dir}/p5 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done; echo out=2`,
              )
            : i === 4
              ? raw(`i=0; while [ $i -lt 2000 ]; do echo ${line}; i=$((i + 1)); done; echo out=4`)
              : raw(`echo out=${i}; touch ${dir}/p${i}`),
      }),
    );
    const out = sh(w.script([w.lanes(parts, undefined, 2)])).stdout;
    rmSync(dir, { recursive: true, force: true });
    const s = w.parse(out);
    for (let i = 0; i < 8; i++)
      expect(s.get(`p${i}`)).toEqual({ output: i === 4 ? `${big}\nout=4` : `out=${i}`, rc: 0 });
    const begins = [...out.matchAll(new RegExp(`${w.marker} begin (p[0-9]+)`, "g"))].map((m) => m[1]);
    // before: the second lane's sections came only after the whole first lane, after `wait`
    expect(begins.indexOf("p4")).toBeLessThan(begins.indexOf("p3"));
    // every section is whole: its begin is followed by its own end before any other begin
    const marks = [...out.matchAll(new RegExp(`${w.marker} (begin|end) (p[0-9]+)`, "g"))].map((m) => m[2]);
    for (let i = 0; i < marks.length; i += 2) expect(marks[i + 1]).toBe(marks[i]);
    expect(out).not.toMatch(/lc_dir|lc_pending/);
  });

  it("prints each first-lane fragment in one piece, when it ends", async () => {
    const w = new SectionWriter();
    // p0 prints a line, then takes a while before its last one: written as it went, the first line
    // would reach the reader alone, well before the rest
    const parts = Array.from({ length: 8 }, (_, i) =>
      w.probe({ id: `p${i}`, script: raw(i === 0 ? "echo early; sleep 0.5; echo late" : `echo out=${i}`) }),
    );
    const script = String(w.script([w.lanes(parts, [100, ...Array(7).fill(1)])]));
    const child = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: string[] = [];
    child.stdout.setEncoding("utf8").on("data", (c: string) => chunks.push(c));
    await new Promise((r) => child.on("close", r));
    const holding = chunks.find((c) => c.includes("early"));
    expect(holding).toContain("late");
    expect(holding).toContain(`${w.marker} end p0 0`);
    const s = w.parse(chunks.join(""));
    expect(s.get("p0")).toEqual({ output: "early\nlate", rc: 0 });
    for (let i = 1; i < 8; i++) expect(s.get(`p${i}`)).toEqual({ output: `out=${i}`, rc: 0 });
  });

  it("splits warnings out of output", () => {
    expect(extractWarnings("a\nLOCKCLAW_WARNING: read-only key\nb")).toEqual({
      output: "a\nb",
      warnings: ["read-only key"],
    });
  });
});

describe("the incremental section reader (live view)", () => {
  /** Feeds `bytes` in the given chunks; what the reader said, in order. */
  const read = (w: SectionWriter, bytes: Buffer, cuts: number[]) => {
    const said: Array<[string, string, { output: string; rc: number }?]> = [];
    const s = w.stream({
      begin: (id) => said.push(["begin", id]),
      end: (id, r) => said.push(["end", id, r]),
    });
    let at = 0;
    for (const c of [...cuts, bytes.length]) {
      s.push(bytes.subarray(at, c));
      at = c;
    }
    return said;
  };

  const w = new SectionWriter();
  const out = sh(
    w.script([
      w.probe({ id: "a", script: raw("printf 'x=1'") }),
      w.probe({ id: "b", script: raw("printf 'naïve ünïcode\\n\\nlines\\n'; exit 3") }),
      w.probe({ id: "c", script: raw(":") }),
      w.change({ id: "d", script: raw("echo changed") }),
    ]),
  ).stdout;
  const bytes = Buffer.from(out, "utf8");
  const whole = w.parse(out);
  const expected = [...whole].flatMap(([id, r]) => [
    ["begin", id],
    ["end", id, r],
  ]);

  it("says what parse() says, for every place a chunk can be cut (inside markers and characters too)", () => {
    expect(whole.size).toBe(4);
    expect(read(w, bytes, [])).toEqual(expected);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(read(w, bytes, [cut]), `cut at ${cut}`).toEqual(expected);
    }
    // byte by byte
    expect(
      read(
        w,
        bytes,
        [...Array(bytes.length - 1).keys()].map((i) => i + 1),
      ),
    ).toEqual(expected);
  });

  it("says a fragment began as soon as its begin marker is in, and ended only with its status line", () => {
    const begin = out.indexOf(`${w.marker} begin b\n`) + `${w.marker} begin b\n`.length;
    const endLine = out.indexOf(`${w.marker} end b 3\n`);
    const upToBegin = read(w, bytes.subarray(0, Buffer.byteLength(out.slice(0, begin))), []);
    expect(upToBegin.at(-1)).toEqual(["begin", "b"]);
    // the end marker without its newline: b has not ended yet
    const partial = Buffer.byteLength(out.slice(0, endLine + `${w.marker} end b 3`.length));
    expect(read(w, bytes.subarray(0, partial), []).at(-1)).toEqual(["begin", "b"]);
    expect(read(w, bytes.subarray(0, partial + 1), []).at(-1)).toEqual([
      "end",
      "b",
      { output: "naïve ünïcode\n\nlines", rc: 3 },
    ]);
  });

  it("a script that died inside a fragment: it began, it never ends", () => {
    const dead = sh(
      w.script([
        w.probe({ id: "a", script: raw(":") }),
        w.change({ id: "z", script: raw("echo half; kill -9 $$") }),
      ]),
    ).stdout;
    expect(read(w, Buffer.from(dead), [])).toEqual([
      ["begin", "a"],
      ["end", "a", { output: "", rc: 0 }],
      ["begin", "z"],
    ]);
  });

  it("ignores marker-like text without this run's nonce", () => {
    const other = new SectionWriter();
    const forged = sh(
      w.script([
        w.probe({
          id: "a",
          script: raw(`printf '\\n%s end a 0\\n\\n%s begin x\\nmore' '${other.marker}' '${other.marker}'`),
        }),
      ]),
    ).stdout;
    const said = read(w, Buffer.from(forged), [7, 40]);
    expect(said.map((s) => s.slice(0, 2))).toEqual([
      ["begin", "a"],
      ["end", "a"],
    ]);
    expect(said[1]![2]!.output).toContain("more");
  });
});
