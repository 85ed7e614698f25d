/**
 * `{{name}}` inside sh (a kind's shFields, a .sh/.env template), rendered by construction: the text is
 * read like sh reads it, and each substitution is written for the place it stands in, as exactly one
 * word. Unquoted (also inside $(…)): the value quoted (shq). Inside "…": a value of safe characters as
 * is, anything else by closing the quotes around a quoted word ("…"'v'"…"). Inside '…', a comment, a
 * here-document, `…`, ${…} or $((…)), or after a `\` or `$`: refused, because no quoting is right
 * there. Where the reader cannot be sure of its place (a `case` inside $(…), backquotes), only values
 * of safe characters pass, which mean the same in every place. Nothing but bare `{{name}}` and
 * `{{name.path}}` may appear: no block helpers, no `{{{raw}}}`.
 */
import { quoteWord, quoteWordAlways, SH_SAFE_WORD } from "../core/sh.js";

export type ShPlace = "word" | "dq" | "comment";

export interface ShSlot {
  /** The variable path, e.g. `deploy_user` or `cloudflare_ranges.ipv4`. */
  name: string;
  place: ShPlace;
  /** The reader is not sure of the place: only safe-character values are allowed. */
  unsure: boolean;
  /** 1-based line inside the source. */
  line: number;
}

/** A refusal while reading or rendering sh; the caller adds the file and field. */
export class ShRenderError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly fix: string,
  ) {
    super(message);
  }
}

const TAG = /\{\{\{?[\s\S]*?\}?\}\}/g;
const SIMPLE = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}$/;
const HOLE = "\u0000";

interface Parsed {
  /** Literal text between substitutions (length = slots + 1). */
  parts: string[];
  slots: ShSlot[];
}

const cache = new Map<string, Parsed>();

/** Split sh source into literal text and substitution slots, each with the place it stands in. */
export function parseShSource(source: string): Parsed {
  const hit = cache.get(source);
  if (hit) return hit;
  const parts: string[] = [];
  const names: string[] = [];
  let last = 0;
  for (const m of source.matchAll(TAG)) {
    const line = lineAt(source, m.index);
    const simple = SIMPLE.exec(m[0]);
    if (!simple) {
      throw new ShRenderError(
        `'${m[0]}' cannot appear in sh: only {{name}} (or {{name.path}}) is written there, as one quoted word`,
        line,
        "compute the value in a variable (vars:) and write {{that_variable}}, or do the logic in sh itself",
      );
    }
    parts.push(source.slice(last, m.index));
    names.push(simple[1]!);
    last = m.index + m[0].length;
  }
  parts.push(source.slice(last));
  if (source.slice(last).includes("{{") || parts.some((p) => p.includes(HOLE))) {
    throw new ShRenderError(
      "an unclosed '{{' in sh",
      lineAt(source, source.lastIndexOf("{{")),
      "close it with }}",
    );
  }
  const places = names.length ? classify(parts.join(HOLE)) : [];
  // every substitution must have been placed: one skipped would be written without being read
  if (places.length !== names.length) {
    throw new ShRenderError("the sh around a {{…}} could not be read", 1, "simplify the command around it");
  }
  const slots = names.map((name, i) => ({ name, ...places[i]! }));
  const parsed = { parts, slots };
  cache.set(source, parsed);
  return parsed;
}

function lineAt(s: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

type Mode = "top" | "cmd" | "dq" | "sq" | "param" | "arith" | "bq";

/**
 * Read sh text with each substitution replaced by HOLE and say where each hole stands. Conservative:
 * what it does not follow exactly either refuses or marks the rest unsure.
 */
function classify(text: string): Array<{ place: ShPlace; unsure: boolean; line: number }> {
  const out: Array<{ place: ShPlace; unsure: boolean; line: number }> = [];
  const stack: Mode[] = ["top"];
  const parenDepth: number[] = [0];
  let unsure = false;
  let line = 1;
  let wordStart = true;
  const heredocs: Array<{ delim: string; strip: boolean }> = [];
  const top = () => stack[stack.length - 1]!;
  const refuse = (why: string, fix: string): never => {
    throw new ShRenderError(`{{…}} ${why}`, line, fix);
  };
  const unquotedCtx = () => stack.every((m) => m === "top" || m === "cmd");

  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const mode = top();
    if (c === "\\" && text[i + 1] === HOLE) refuse("right after a backslash", "remove the backslash");
    if (c === HOLE) {
      const prev = text[i - 1];
      if (prev === "\\") refuse("right after a backslash", "remove the backslash");
      if (prev === "$" && mode !== "sq") refuse("right after a $", "write $ apart from the variable");
      if (mode === "sq") {
        refuse(
          "inside '…': the value is quoted for you",
          "remove the quotes around it: write {{name}}, not '{{name}}'",
        );
      }
      if (mode === "dq") {
        const below = stack.slice(0, -1);
        if (!below.every((m) => m === "top" || m === "cmd")) refuse("inside a nested quote", "move it out");
        out.push({ place: "dq", unsure, line });
      } else if (mode === "top" || mode === "cmd") {
        out.push({ place: "word", unsure, line });
      } else {
        refuse(
          `inside ${mode === "param" ? "${…}" : mode === "arith" ? "$((…))" : "`…`"}`,
          'give the value its own sh variable first (x={{name}}) and use "$x" there',
        );
      }
      wordStart = false;
      continue;
    }
    if (c === "\n") {
      line++;
      if ((mode === "top" || mode === "cmd") && heredocs.length) {
        // here-document bodies follow this line: skip them, refusing a substitution inside
        i = skipHeredocs(
          text,
          i + 1,
          heredocs.splice(0),
          (l) => {
            line += l;
          },
          refuse,
        );
        wordStart = true;
        continue;
      }
    }
    switch (mode) {
      case "sq":
        if (c === "'") stack.pop();
        break;
      case "dq":
        if (c === "\\") {
          if (text[i + 1] === "\n") line++;
          i++;
        } else if (c === '"') stack.pop();
        else if (c === "`") {
          stack.push("bq");
          unsure = true;
        } else if (c === "$" && text[i + 1] === "(") {
          if (text[i + 2] === "(") {
            stack.push("arith");
            i += 2;
          } else {
            stack.push("cmd");
            parenDepth.push(0);
            i++;
            wordStart = true;
          }
        } else if (c === "$" && text[i + 1] === "{") {
          stack.push("param");
          i++;
        }
        break;
      case "bq":
        if (c === "\\") i++;
        else if (c === "`") stack.pop();
        break;
      case "arith":
        if (c === ")" && text[i + 1] === ")") {
          stack.pop();
          i++;
        }
        break;
      case "param":
        if (c === "\\") i++;
        else if (c === "}") stack.pop();
        else if (c === "'") stack.push("sq");
        else if (c === '"') stack.push("dq");
        break;
      case "top":
      case "cmd": {
        if (c === "\\") {
          if (text[i + 1] === "\n") line++;
          i++;
          wordStart = false;
          break;
        }
        if (c === "'") stack.push("sq");
        else if (c === '"') stack.push("dq");
        else if (c === "`") {
          stack.push("bq");
          unsure = true;
        } else if (c === "#" && wordStart) {
          const end = text.indexOf("\n", i);
          const comment = text.slice(i, end < 0 ? undefined : end);
          for (let k = 0; k < comment.length; k++) {
            if (comment[k] === HOLE) out.push({ place: "comment", unsure, line });
          }
          i = (end < 0 ? text.length : end) - 1;
          break;
        } else if (c === "$" && text[i + 1] === "(") {
          if (text[i + 2] === "(") {
            stack.push("arith");
            i += 2;
          } else {
            stack.push("cmd");
            parenDepth.push(0);
            i++;
          }
        } else if (c === "$" && text[i + 1] === "{") {
          stack.push("param");
          i++;
        } else if (c === "<" && text[i + 1] === "<" && text[i + 2] !== "<") {
          const h = readHeredocOp(text, i + 2, refuse);
          heredocs.push(h.doc);
          i = h.end - 1;
        } else if (c === "(" && mode === "cmd") {
          parenDepth[parenDepth.length - 1]!++;
        } else if (c === ")" && mode === "cmd") {
          if (parenDepth[parenDepth.length - 1] === 0) {
            stack.pop();
            parenDepth.pop();
          } else parenDepth[parenDepth.length - 1]!--;
        } else if (
          mode === "cmd" &&
          wordStart &&
          text.startsWith("case", i) &&
          /[\s]/.test(text[i + 4] ?? "")
        ) {
          // case patterns end in an unmatched `)`: past this point the end of $(…) is a guess
          unsure = true;
        }
        // (after `$(` the char at i is its `(`: a word starts there)
        wordStart = /[\s;&|()<>]/.test(text[i]!);
        break;
      }
    }
  }
  // an unclosed quote or $(…): the places read are a guess, so only safe values anywhere
  if (stack.length !== 1 || !unquotedCtx()) for (const o of out) o.unsure = true;
  return out;
}

function readHeredocOp(
  text: string,
  at: number,
  refuse: (why: string, fix: string) => never,
): { doc: { delim: string; strip: boolean }; end: number } {
  let i = at;
  const strip = text[i] === "-";
  if (strip) i++;
  while (text[i] === " " || text[i] === "\t") i++;
  let delim = "";
  while (i < text.length && !/[\s;&|()<>]/.test(text[i]!)) {
    const c = text[i]!;
    if (c === HOLE) refuse("in a here-document's delimiter", "write the delimiter literally");
    if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1);
      if (close < 0) break;
      delim += text.slice(i + 1, close);
      i = close + 1;
    } else if (c === "\\") {
      delim += text[i + 1] ?? "";
      i += 2;
    } else {
      delim += c;
      i++;
    }
  }
  return { doc: { delim, strip }, end: i };
}

function skipHeredocs(
  text: string,
  from: number,
  docs: Array<{ delim: string; strip: boolean }>,
  addLines: (n: number) => void,
  refuse: (why: string, fix: string) => never,
): number {
  let i = from;
  for (const d of docs) {
    for (;;) {
      if (i >= text.length) return text.length - 1;
      const end = text.indexOf("\n", i);
      const lineText = text.slice(i, end < 0 ? undefined : end);
      if (lineText.includes(HOLE)) {
        refuse(
          "inside a here-document",
          "give the value its own sh variable before the here-document (x={{name}}) and write $x in it",
        );
      }
      i = end < 0 ? text.length : end + 1;
      addLines(1);
      if ((d.strip ? lineText.replace(/^\t+/, "") : lineText) === d.delim) break;
    }
  }
  return i - 1;
}

export interface ShRenderOptions {
  /** Always single-quote unquoted words (an env file sourced by sh). */
  alwaysQuote?: boolean;
}

/**
 * Render sh source: `lookup(name)` gives each variable's value (throws for an unknown one). Lists become
 * several words where a word stands; mappings and null are refused.
 */
export function renderShSource(
  source: string,
  lookup: (name: string, line: number) => unknown,
  options: ShRenderOptions = {},
): string {
  const { parts, slots } = parseShSource(source);
  let out = parts[0]!;
  slots.forEach((slot, i) => {
    out += writeSlot(slot, lookup(slot.name, slot.line), options);
    out += parts[i + 1]!;
  });
  return out;
}

function scalar(slot: ShSlot, v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "boolean") return String(v);
  const what = v === null || v === undefined ? "empty (null)" : Array.isArray(v) ? "a list" : "a mapping";
  throw new ShRenderError(
    `variable '${slot.name}' is ${what}, which cannot be written as one sh word here`,
    slot.line,
    "give it a word, a number or true/false",
  );
}

function writeSlot(slot: ShSlot, value: unknown, options: ShRenderOptions): string {
  const items = Array.isArray(value) && slot.place === "word" ? value : [value];
  const words = items.map((v) => scalar(slot, v));
  for (const w of words) {
    if (w.includes("\0")) {
      throw new ShRenderError(
        `variable '${slot.name}' holds a NUL byte, which sh cannot carry`,
        slot.line,
        "remove it",
      );
    }
  }
  const safe = words.every((w) => SH_SAFE_WORD.test(w));
  if ((slot.unsure || slot.place === "comment") && !safe) {
    throw new ShRenderError(
      `variable '${slot.name}' holds characters that cannot be written safely ${slot.place === "comment" ? "in a sh comment" : "at this place in sh (after a case inside $(…), or near backquotes)"}`,
      slot.line,
      slot.place === "comment"
        ? "remove {{…}} from the comment, or use a value of letters, digits and ._-/:@%+=,"
        : "move {{…}} out of $(…)/`…`: assign it to a sh variable first (x={{name}})",
    );
  }
  if (slot.place === "comment") return words.join(" ");
  if (slot.place === "dq") return safe ? words[0]! : `"${quoteWord(words[0]!)}"`;
  return words.map((w) => (options.alwaysQuote ? quoteWordAlways(w) : quoteWord(w))).join(" ");
}
