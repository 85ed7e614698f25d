/**
 * String-returning helpers for building POSIX sh fragments, kept for the kinds not yet moved to the
 * typed layer in ./sh.ts (which they wrap: one quoting rule). New code uses `sh`, `Sh` and `raw()`.
 */
import { base64Heredoc as heredoc, quoteWord, raw } from "./sh.js";

export { Sh, raw, sh, shJoin, quoteWord, quoteWordAlways, SH_SAFE_WORD } from "./sh.js";

/** Quote one word for POSIX sh. */
export function shq(value: string | number): string {
  return quoteWord(value);
}

/** Quote and join words. */
export function shArgs(words: ReadonlyArray<string | number>): string {
  return words.map(quoteWord).join(" ");
}

/** A here-document feeding `data` into `command`'s stdin (see ./sh.ts). */
export function base64Heredoc(command: string, data: string | Buffer): string {
  return heredoc(raw(command), data).text;
}
