/**
 * @deprecated String-returning quoting, kept only for src/audit until it moves to the typed layer in
 * ./sh.ts (same quoting rule: these wrap it). Every other module builds sh with `sh`, `Sh` and `raw()`.
 */
import { quoteWord } from "./sh.js";

/** @deprecated Quote one word for POSIX sh; use sh`…${value}…` instead. */
export function shq(value: string | number): string {
  return quoteWord(value);
}
