/**
 * One exec serves many resources: each fragment runs in its own subshell between marker lines, and
 * the output is split back per fragment. A per-run nonce in the marker keeps host data from forging one.
 */
import { randomBytes } from "node:crypto";
import { raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";

export interface Fragment {
  id: string;
  script: Sh;
}

export interface SectionResult {
  output: string;
  /** Exit status of the fragment's subshell. */
  rc: number;
}

export class SectionWriter {
  readonly marker = `@@lockclaw-${randomBytes(6).toString("hex")}@@`;

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

  /** Wrap fragments into a whole script. It must run WITHOUT `sh -e`: the fragments handle errors. */
  script(parts: Sh[]): Sh {
    return shJoin([
      raw("LOCKCLAW_ERR=$(mktemp) || exit 1"),
      raw("trap 'rm -f \"$LOCKCLAW_ERR\"' EXIT"),
      raw("export LC_ALL=C"),
      ...parts,
    ]);
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
