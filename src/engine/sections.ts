/**
 * One exec serves many resources: each fragment runs in its own subshell between marker lines, and
 * the output is split back per fragment. A per-run nonce in the marker keeps host data from forging one.
 */
import { randomBytes } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import { raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";
import { PROBE_COST } from "./resource.js";

export interface Fragment {
  id: string;
  script: Sh;
  /** Estimated time on the host (Probe.cost), for lanes(). */
  cost?: number;
}

export interface SectionResult {
  output: string;
  /** Exit status of the fragment's subshell. */
  rc: number;
}

/**
 * Fragments whose script an earlier fragment already has run as `:` instead, and the id whose output
 * serves each: two read-only probes of one exec read the same host (the host playbook's two ufw tasks
 * read the same ~56 KB firewall state). A duplicate keeps its place, so the live view's order holds.
 */
export function shareDuplicates(fragments: Fragment[]): {
  fragments: Fragment[];
  sourceOf: Map<string, string>;
} {
  const byText = new Map<string, string>();
  const sourceOf = new Map<string, string>();
  const out = fragments.map((f) => {
    const first = byText.get(f.script.text);
    if (first === undefined) byText.set(f.script.text, f.id);
    sourceOf.set(f.id, first ?? f.id);
    return first === undefined ? f : { id: f.id, script: raw(":"), cost: 0 };
  });
  return { fragments: out, sourceOf };
}

/** A fresh marker: one per exec, so what a host's files hold cannot pass for one. */
export const newMarker = (): string => `@@lockclaw-${randomBytes(6).toString("hex")}@@`;

export class SectionWriter {
  constructor(readonly marker: string = newMarker()) {}

  /** A fragment that only reads: errors do not stop the script; stdin is /dev/null; stderr is kept apart. */
  probe(f: Fragment): Sh {
    const [m, id] = [safeWord(this.marker), safeWord(f.id)];
    return shJoin([
      sh`printf '\\n%s begin %s\\n' '${m}' '${id}'`,
      sh`(\n${f.script}\n) </dev/null 2>>"$LOCKCLAW_ERR"`,
      sh`printf '\\n%s end %s %s\\n' '${m}' '${id}' "$?"`,
    ]);
  }

  /**
   * A fragment that changes things: `set -e` inside its subshell, stderr merged so a failure shows its
   * message, and the whole script stops at the first failing fragment (later ones may depend on it).
   */
  change(f: Fragment): Sh {
    const [m, id] = [safeWord(this.marker), safeWord(f.id)];
    return shJoin([
      sh`printf '\\n%s begin %s\\n' '${m}' '${id}'`,
      sh`(\nset -e\n${f.script}\n) </dev/null 2>&1`,
      raw(`lockclaw_rc=$?`),
      sh`printf '\\n%s end %s %s\\n' '${m}' '${id}' "$lockclaw_rc"`,
      raw(`[ "$lockclaw_rc" -eq 0 ] || exit "$lockclaw_rc"`),
    ]);
  }

  /**
   * Probe fragments in lanes that run at once: a no-op run of the whole stack spends most of its probe
   * waiting on docker clients, compose and systemctl, one after another. Each lane is a contiguous run
   * of fragments (so results still arrive in playbook order within it), cut where the estimated costs
   * (`costs[i]` for `parts[i]`, default all equal) balance best: the host playbook's sshd probe alone
   * weighs as much as a dozen file probes. Only for probes: they read, so their order is no dependency
   * (and a later play's are re-read after any change anyway).
   *
   * Only the first lane writes to stdout, so sections never interleave: the others write each section
   * to its own file in a root-only temp directory and mark it done (`: >`, no process), and the first
   * lane prints the finished ones between its own sections, then each lane's rest once it has ended.
   * The first lane's own sections go to a file too and are printed whole, in the same `cat`.
   * A section is so planned (and shown by the live view) about when it ends, not after the whole probe;
   * parse() finds sections in any order. `cat` runs only when a section is ready.
   */
  lanes(parts: Sh[], costs?: number[], count = 3): Sh {
    const n = Math.max(1, Math.min(count, Math.floor(parts.length / 4)));
    if (n < 2) return shJoin(parts);
    const cuts = laneCuts(costs ?? parts.map(() => 1), n);
    const chunks = cuts.map((start, i) => parts.slice(start, cuts[i + 1] ?? parts.length));
    // the other lanes' sections are numbered in order: the file names are these numbers
    let next = 0;
    const others = chunks.slice(1).map((c) => c.map((part) => ({ part, file: next++ })));
    return shJoin([
      raw(`lc_dir=$(mktemp -d) || exit 1`),
      raw(`trap 'rm -rf "$LOCKCLAW_ERR" "$lc_dir"' EXIT`),
      sh`lc_pending=${raw(
        `'${others
          .flat()
          .map((s) => s.file)
          .join(" ")}'`,
      )}`,
      LANE_FLUSH,
      ...others.map(
        (lane, i) => sh`{
${shJoin(lane.map(({ part, file }) => sh`{\n${part}\n} >"$lc_dir/${file}"; : >"$lc_dir/${file}.done"`))}
} &
lc_lane${raw(String(i))}=$!`,
      ),
      ...chunks[0]!.map((part) => sh`{\n${part}\n} >"$lc_dir/first"; lc_flush first`),
      ...others.map((_, i) => raw(`wait "$lc_lane${i}"; lc_flush`)),
    ]);
  }

  /** Wrap fragments into a whole script. It must run WITHOUT `sh -e`: the fragments handle errors. */
  script(parts: Sh[]): Sh {
    return shJoin([
      raw("LOCKCLAW_ERR=$(mktemp) || exit 1"),
      raw("trap 'rm -f \"$LOCKCLAW_ERR\"' EXIT"),
      raw("export LC_ALL=C"),
      ...parts,
    ]);
  }

  /** An incremental reader of this script's output, for the live view (see SectionStream). */
  stream(events: SectionEvents): SectionStream {
    return new SectionStream(this.marker, events);
  }

  parse(stdout: string): Map<string, SectionResult> {
    const sections = new Map<string, SectionResult>();
    const begin = `\n${this.marker} begin `;
    let pos = 0;
    for (;;) {
      const b = stdout.indexOf(begin, pos);
      if (b < 0) break;
      const idEnd = stdout.indexOf("\n", b + begin.length);
      if (idEnd < 0) break;
      const id = stdout.slice(b + begin.length, idEnd);
      const endMark = `\n${this.marker} end ${id} `;
      const e = stdout.indexOf(endMark, idEnd);
      if (e < 0) {
        // the script died inside this fragment: keep what it printed
        sections.set(id, { output: stdout.slice(idEnd + 1), rc: -1 });
        break;
      }
      const rcEnd = stdout.indexOf("\n", e + endMark.length);
      const rc = Number(stdout.slice(e + endMark.length, rcEnd < 0 ? undefined : rcEnd));
      // one trailing newline is the fragment's own last line end, not data
      sections.set(id, { output: stdout.slice(idEnd + 1, e).replace(/\n$/, ""), rc });
      pos = rcEnd < 0 ? stdout.length : rcEnd;
    }
    return sections;
  }
}

/** A batched probe's script (see probeScript) and which section's output serves each fragment. */
export interface ProbeExec {
  script: Sh;
  /** Fragment id → the id whose section printed its output (its own, or an earlier duplicate's). */
  sourceOf: ReadonlyMap<string, string>;
  /** Sections the script runs (a duplicate's `:` counted). */
  count: number;
}

/**
 * The read-only fragments of one exec, duplicates shared (shareDuplicates), in lanes by their costs,
 * as a whole script marked with `marker`.
 */
export function probeScript(fragments: Fragment[], marker: string): ProbeExec {
  const w = new SectionWriter(marker);
  const shared = shareDuplicates(fragments);
  const parts = shared.fragments.map((f) => w.probe(f));
  return {
    script: w.script([
      w.lanes(
        parts,
        shared.fragments.map((f) => f.cost ?? PROBE_COST),
      ),
    ]),
    sourceOf: shared.sourceOf,
    count: parts.length,
  };
}

/**
 * Prints the first lane's fragment just written (its name as the argument, if any) and the other lanes'
 * sections that are done, in order, in one `cat`, and forgets them: written as it went, a fragment's many
 * small writes reached the controller as ~100 SSH packets a host, each a wake-up to decrypt, parse and
 * hand on (issue 14). `[ -e ]` is a builtin, so a call with nothing to print starts no process. The names
 * are words of the script's own (no quoting needed), read relative to the directory so its path is never
 * split into words.
 */
const LANE_FLUSH = raw(`lc_flush() {
  lc_ready= lc_left=
  for lc_s in $lc_pending; do
    if [ -e "$lc_dir/$lc_s.done" ]; then lc_ready="$lc_ready $lc_s"; else lc_left="$lc_left $lc_s"; fi
  done
  lc_pending=$lc_left
  [ -z "\${1-}$lc_ready" ] || (cd "$lc_dir" && exec cat \${1-} $lc_ready)
}`);

export interface SectionEvents {
  /** A fragment's begin marker arrived: it is running now. */
  begin?(id: string): void;
  /** Its end marker arrived: what it printed and its status, as parse() gives them. */
  end?(id: string, result: SectionResult): void;
}

/**
 * Reads a script's stdout as it arrives (chunks split anywhere, even inside a UTF-8 character or a
 * marker) and says when each fragment begins and ends, while the exec still runs. Only the live view
 * listens: the outcome of the exec is read from its whole stdout with parse(), as before.
 */
export class SectionStream {
  private readonly decoder = new StringDecoder("utf8");
  /** Output not yet consumed (what precedes it has been reported). */
  private text = "";
  /** The fragment now running: its id and where its output starts in `text`. */
  private open?: { id: string; start: number };
  /** Where the next marker search starts (a failed search need not look at the same text again). */
  private from = 0;

  constructor(
    private readonly marker: string,
    private readonly events: SectionEvents,
  ) {}

  push(chunk: Buffer | string): void {
    this.text += typeof chunk === "string" ? chunk : this.decoder.write(chunk);
    for (;;) {
      if (!this.open) {
        const begin = `\n${this.marker} begin `;
        const b = this.text.indexOf(begin, this.from);
        if (b < 0) return this.rewind(begin.length);
        const idEnd = this.text.indexOf("\n", b + begin.length);
        if (idEnd < 0) {
          this.from = b;
          return;
        }
        const id = this.text.slice(b + begin.length, idEnd);
        this.open = { id, start: idEnd + 1 };
        this.from = idEnd;
        this.events.begin?.(id);
        continue;
      }
      const endMark = `\n${this.marker} end ${this.open.id} `;
      const e = this.text.indexOf(endMark, Math.max(this.from, this.open.start - 1));
      if (e < 0) return this.rewind(endMark.length);
      const rcEnd = this.text.indexOf("\n", e + endMark.length);
      if (rcEnd < 0) {
        this.from = e;
        return;
      }
      const rc = Number(this.text.slice(e + endMark.length, rcEnd));
      const output = this.text.slice(this.open.start, e).replace(/\n$/, "");
      const { id } = this.open;
      // what is reported is dropped: a long exec's output is not held twice
      this.text = this.text.slice(rcEnd);
      this.open = undefined;
      this.from = 0;
      this.events.end?.(id, { output, rc });
    }
  }

  /** Nothing found: the next search starts where a marker cut off at the end could begin. */
  private rewind(markLength: number): void {
    this.from = Math.max(this.open ? this.open.start - 1 : 0, this.text.length - markLength);
    if (!this.open) {
      // outside a fragment nothing before that point is needed again
      this.text = this.text.slice(this.from);
      this.from = 0;
    }
  }
}

/**
 * Where each of `n` contiguous lanes starts (the first at 0) so that the costliest lane costs as little
 * as possible: the classic linear partition, exact by dynamic programming (n is 3, costs a few dozen).
 * Every lane gets at least one item (n <= costs.length). Deterministic: of equal splits, the one whose
 * lanes end earliest. Negative or non-finite costs count as 0.
 */
export function laneCuts(costs: number[], n: number): number[] {
  const m = costs.length;
  if (n < 1 || n > m) throw new Error(`cannot cut ${m} items into ${n} lanes`);
  const pre = [0];
  for (const c of costs) pre.push(pre.at(-1)! + (Number.isFinite(c) && c > 0 ? c : 0));
  const sum = (a: number, b: number) => pre[b]! - pre[a]!;
  // best[j][i]: the least max lane cost of items [0, i) in j lanes; from[j][i]: where the last one starts
  const best = [Array.from({ length: m + 1 }, (_, i) => (i === 0 ? 0 : Infinity))];
  const from: number[][] = [[]];
  for (let j = 1; j <= n; j++) {
    best.push(Array.from({ length: m + 1 }, () => Infinity));
    from.push(Array.from({ length: m + 1 }, () => 0));
    for (let i = j; i <= m - (n - j); i++) {
      for (let k = j - 1; k < i; k++) {
        const v = Math.max(best[j - 1]![k]!, sum(k, i));
        if (v < best[j]![i]!) {
          best[j]![i] = v;
          from[j]![i] = k;
        }
      }
    }
  }
  const cuts: number[] = [];
  for (let j = n, i = m; j >= 1; j--) {
    i = from[j]![i]!;
    cuts.unshift(i);
  }
  return cuts;
}
