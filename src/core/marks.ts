/**
 * Sections within a section. The engine gives each probe its own section of the batched output
 * (src/engine/sections.ts, nonce-marked); a probe that reads several things heads each one with a mark
 * line `<marker> <head>`, and its parser splits its own output back at those lines. The marker is fixed
 * per probe: host data inside a section cannot forge the engine's nonce, and a mark line is only
 * trusted where the probe itself writes one (no sshd -T, ufw, ss or systemctl line starts with `@@`).
 */
import { safeWord, sh, type Sh } from "./sh.js";

export interface Marked {
  /** The whole head: `file /etc/ufw/user.rules`. */
  head: string;
  /** Its first word: `file`. */
  name: string;
  /** The rest after the first space: `/etc/ufw/user.rules` ("" when none). */
  arg: string;
  /** The lines up to the next mark, joined by "\n". */
  body: string;
}

export class Marks {
  /** The marker as sh, safe in any position (inside "…", in a sed program). */
  readonly sh: Sh;

  constructor(readonly marker: string) {
    if (!/^@@lockclaw-[a-z0-9-]+$/.test(marker)) throw new TypeError(`not a mark: ${marker}`);
    this.sh = safeWord(marker);
  }

  /** sh: `echo '<marker> head'`, the line that opens section `head` (words written in lockclaw). */
  open(head: string): Sh {
    return sh`echo ${this.line(head)}`;
  }

  /** The mark line of `head` as one quoted sh word (to print with other words: `echo ${line} "$x"`). */
  line(head: string): Sh {
    return sh`${`${this.marker} ${head}`}`;
  }

  /** The sections of `stdout`, in order (text before the first mark is not a section). */
  split(stdout: string): Marked[] {
    const list: Array<{ head: string; body: string[] }> = [];
    const prefix = `${this.marker} `;
    for (const line of stdout.split("\n")) {
      if (line.startsWith(prefix)) list.push({ head: line.slice(prefix.length), body: [] });
      else if (list.length) list[list.length - 1]!.body.push(line);
    }
    return list.map(({ head, body }) => {
      const sp = head.indexOf(" ");
      return {
        head,
        name: sp < 0 ? head : head.slice(0, sp),
        arg: sp < 0 ? "" : head.slice(sp + 1),
        body: body.join("\n"),
      };
    });
  }

  /** `split`, refusing output that does not reach the `end` mark (the probe was cut short). */
  splitComplete(stdout: string, what: string): Marked[] {
    const list = this.split(stdout);
    if (!list.some((s) => s.head === "end"))
      throw new Error(`${what} probe output is incomplete (no end marker)`);
    return list;
  }
}

/** The first section named exactly `head`. */
export const findMarked = (list: readonly Marked[], head: string): Marked | undefined =>
  list.find((s) => s.head === head);

/** A base64 body as text (`base64 -w0 < file; echo`). */
export const base64Body = (s: Marked | undefined): string =>
  Buffer.from((s?.body ?? "").trim(), "base64").toString("utf8");
