/**
 * The bottom shell layer: how a value becomes POSIX sh. A finished piece of sh is an `Sh`, a value the
 * type checker keeps apart from string (a plain string is refused where an Sh is expected), and that
 * the `sh` tagged template can tell apart at run time: every interpolated value is quoted as one sh
 * word unless it is itself an Sh (built by this module, or marked with `raw()` as a trusted literal
 * written in lockclaw's own source). Nothing here depends on the rest of the engine, so every kind, the
 * engine and the audit can build on it. `String(piece)` (or a template literal) gives the text.
 */

const TOKEN: unique symbol = Symbol("lockclaw.sh");

/** Finished POSIX sh. Only this module makes one (its constructor needs a token nobody else has). */
export class Sh {
  readonly #text: string;
  constructor(token: typeof TOKEN, text: string) {
    if (token !== TOKEN) throw new TypeError("an Sh is made with sh`…` or raw(), not new Sh()");
    this.#text = text;
  }
  toString(): string {
    return this.#text;
  }
  get text(): string {
    return this.#text;
  }
}
const mint = (text: string): Sh => new Sh(TOKEN, text);

/** Characters that need no quoting in any sh context (unquoted, "…", here-document, comment). */
export const SH_SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

function word(value: string | number): string {
  const s = String(value);
  // a NUL cannot be in argv or in a sh variable: refusing it beats a silently truncated value
  if (s.includes("\0")) throw new TypeError("a NUL byte cannot be written into sh");
  return s;
}

/** The quoted text of one word: read by sh in an unquoted context, it is exactly `value`. */
export function quoteWord(value: string | number): string {
  const s = word(value);
  if (SH_SAFE_WORD.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Like quoteWord, but always in single quotes (files whose readers are used to quotes: an env file). */
export function quoteWordAlways(value: string | number): string {
  return `'${word(value).replace(/'/g, `'\\''`)}'`;
}

/** One value as one sh word. */
export function shq(value: string | number): Sh {
  return mint(quoteWord(value));
}

/** Several values, each one word. */
export function shArgs(words: ReadonlyArray<string | number>): Sh {
  return mint(words.map(quoteWord).join(" "));
}

/** Trusted literal sh written in lockclaw's own source (never a value from outside). */
export function raw(text: string): Sh {
  return mint(text);
}

/**
 * A word that needs no quoting (checked: letters, digits and `_@%+=:,./-` only) as Sh, for the places
 * where a quoted word cannot stand, e.g. inside "…". Throws on anything else.
 */
export function safeWord(value: string | number): Sh {
  const s = String(value);
  if (!SH_SAFE_WORD.test(s)) throw new TypeError(`not a safe sh word: ${JSON.stringify(s)}`);
  return mint(s);
}

/** Join finished pieces. */
export function shJoin(parts: readonly Sh[], sep: "" | "\n" | " " | "; " | " && " = "\n"): Sh {
  return mint(parts.map(String).join(sep));
}

/** What `sh` accepts: finished sh as is, a value as one quoted word, a list as several. */
export type ShValue = Sh | string | number | ReadonlyArray<string | number>;

/**
 * sh`rm -f -- ${path}` → `rm -f -- '/a b'`. Every interpolated value is quoted as ONE sh word (a list:
 * one word per item); an Sh is inserted as is. Put values in unquoted positions: inside "…" or '…' the
 * quotes would be literal characters (wrong, though never code).
 */
export function sh(strings: TemplateStringsArray, ...values: ShValue[]): Sh {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    if (v instanceof Sh) out += v.text;
    else if (Array.isArray(v)) out += v.map((w: string | number) => quoteWord(w)).join(" ");
    else out += quoteWord(v as string | number);
    out += strings[i + 1] ?? "";
  });
  return mint(out);
}

/**
 * A here-document feeding `data` (base64, so any bytes survive) into `command`'s stdin.
 * The data travels inside the script on the exec's stdin, never in argv.
 */
export function base64Heredoc(command: Sh, data: string | Buffer): Sh {
  const b64 = Buffer.from(data)
    .toString("base64")
    .replace(/(.{76})/g, "$1\n");
  return mint(`base64 -d <<'LOCKCLAW_B64_EOF' | ${command.text}\n${b64}\nLOCKCLAW_B64_EOF`);
}
