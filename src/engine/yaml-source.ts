/**
 * YAML documents that remember where each value came from, so every validation error can name the
 * file, the line and the key path (playbooks, inventories, vars files share this).
 */
import { readFileSync } from "node:fs";
import { isAlias, LineCounter, parseDocument, visit, type Document } from "yaml";
import type { z } from "zod";
import { ConfigError, type SourceLocation } from "../core/errors.js";
import { indexedParse, indexFinder, type FoundNode, type IndexedDoc, type KeyPath } from "./yaml-index.js";

export type { KeyPath } from "./yaml-index.js";

type Finder = (path: KeyPath) => FoundNode | undefined;

export class YamlSource {
  private constructor(
    readonly file: string,
    private readonly find: Finder,
    readonly value: unknown,
    private readonly text: string,
  ) {}

  static readFile(file: string, what: string): YamlSource {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read ${what}: ${(err as Error).message}`, { file }, `check the path`, {
        cause: err,
      });
    }
    // a built-in playbook as the build parsed it (see yaml-index.ts); any other text is parsed here
    const indexed = indexedParse(text);
    return indexed ? YamlSource.fromIndexed(text, file, indexed) : YamlSource.parse(text, file);
  }

  /** The source of a text as the index holds its parse (the caller checked it is that very text). */
  static fromIndexed(text: string, file: string, indexed: IndexedDoc): YamlSource {
    return new YamlSource(file, indexFinder(indexed), indexed.value, text);
  }

  /** The parsed document and its line counter, or a located ConfigError. */
  static parseDocument(text: string, file: string): { doc: Document; lines: LineCounter; value: unknown } {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const first = doc.errors[0];
    if (first) {
      const pos = first.linePos?.[0] ?? lines.linePos(Math.min(first.pos[0], Math.max(text.length - 1, 0)));
      throw new ConfigError(
        `YAML syntax error: ${first.message.split("\n")[0]}`,
        { file, line: pos?.line, column: pos?.col },
        "fix the YAML syntax at that line (indentation, quotes, brackets)",
      );
    }
    let value: unknown;
    try {
      // toJS expands aliases, and refuses (ReferenceError) a document whose aliases expand too far
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      if (!(err instanceof ReferenceError)) throw err;
      let at: number | undefined;
      visit(doc, {
        Alias(_, node) {
          at = node.range?.[0];
          return visit.BREAK;
        },
      });
      const pos = at === undefined ? undefined : lines.linePos(at);
      throw new ConfigError(
        `YAML aliases expand too far (${err.message}): an alias bomb, or far too many *references`,
        { file, line: pos?.line, column: pos?.col },
        "write the values out instead of referring to them with *aliases",
        { cause: err },
      );
    }
    return { doc, lines, value };
  }

  static parse(text: string, file: string): YamlSource {
    const { doc, lines, value } = YamlSource.parseDocument(text, file);
    const find: Finder = (path) => {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      if (!node?.range) return undefined;
      const pos = lines.linePos(node.range[0]);
      return { start: node.range[0], end: node.range[1], line: pos.line, col: pos.col, alias: isAlias(node) };
    };
    return new YamlSource(file, find, value, text);
  }

  /** The source text of the scalar at `path` (e.g. `0x8AE` for a YAML number), undefined if none. */
  textAt(path: KeyPath): string | undefined {
    const node = this.find(path);
    if (!node || node.alias) return undefined;
    return this.text.slice(node.start, node.end).trim();
  }

  /** locate()'s answers by path: a fleet prepares each task once per host, with the same paths. */
  private readonly located = new Map<string, SourceLocation>();

  /** Where the value at `path` is; falls back to the nearest parent that exists. */
  locate(path: KeyPath): SourceLocation {
    const key = JSON.stringify(path);
    let loc = this.located.get(key);
    if (!loc) this.located.set(key, (loc = this.nearest(path)));
    // a copy: the caller may extend it
    return { ...loc };
  }

  private nearest(path: KeyPath): SourceLocation {
    for (let n = path.length; n >= 0; n--) {
      const node = this.find(path.slice(0, n));
      if (node) return { file: this.file, line: node.line, column: node.col, path: formatPath(path) };
    }
    return { file: this.file, path: formatPath(path) };
  }

  /** Validate the value at `path` with a zod schema; the first issue becomes a located ConfigError. */
  validate<T>(schema: z.ZodType<T>, value: unknown, path: KeyPath, fix?: string): T {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0]!;
    const issuePath = [...path, ...(issue.path as Array<string | number>)];
    // for unknown keys point at the key itself, not at its parent mapping
    const keys = (issue as { keys?: string[] }).keys;
    const locPath = keys?.length ? [...issuePath, keys[0]!] : issuePath;
    if (keys?.length && !fix) {
      // a misspelled key: "did you mean" the key the schema knows there, as for module names
      const known = objectKeysAt(schema, issue.path as Array<string | number>);
      const near = closest(keys[0]!, known);
      if (near) fix = `did you mean '${near}'? (remove '${keys[0]}' or check its spelling)`;
      else if (known.length) fix = `remove '${keys[0]}': the keys here are ${known.join(", ")}`;
    }
    throw new ConfigError(issue.message, this.locate(locPath), fix ?? fixFor(issue));
  }
}

export function formatPath(path: KeyPath): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function fixFor(issue: z.core.$ZodIssue): string | undefined {
  switch (issue.code) {
    case "unrecognized_keys":
      return `remove ${issue.keys.map((k) => `'${k}'`).join(", ")} or check its spelling`;
    case "invalid_type":
      return `give a ${issue.expected} here`;
    case "invalid_value":
      return `use one of: ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return undefined;
  }
}

type AnySchema = { def: Record<string, unknown> & { type: string }; shape?: Record<string, unknown> };

/** The keys an object schema declares at `path` (best effort through records, arrays, unions, wrappers). */
export function objectKeysAt(schema: unknown, path: ReadonlyArray<string | number>): string[] {
  const out = new Set<string>();
  const walk = (s: AnySchema | undefined, i: number, depth: number): void => {
    if (!s?.def || depth > 40) return;
    const d = s.def;
    switch (d.type) {
      case "optional":
      case "nullable":
      case "default":
      case "readonly":
      case "catch":
        return walk(d.innerType as AnySchema, i, depth + 1);
      case "lazy":
        return walk((d.getter as () => AnySchema)(), i, depth + 1);
      case "pipe":
        return walk(d.in as AnySchema, i, depth + 1);
      case "union":
        return (d.options as AnySchema[]).forEach((o) => walk(o, i, depth + 1));
      case "intersection":
        walk(d.left as AnySchema, i, depth + 1);
        return walk(d.right as AnySchema, i, depth + 1);
    }
    if (i === path.length) {
      if (d.type === "object" && s.shape) Object.keys(s.shape).forEach((k) => out.add(k));
      return;
    }
    const key = path[i]!;
    if (d.type === "object" && s.shape) walk(s.shape[key] as AnySchema, i + 1, depth + 1);
    else if (d.type === "record") walk(d.valueType as AnySchema, i + 1, depth + 1);
    else if (d.type === "array") walk(d.element as AnySchema, i + 1, depth + 1);
  };
  walk(schema as AnySchema, 0, 0);
  return [...out];
}

/** The known name within edit distance 2 (a transposition counts 1), for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  // optimal string alignment: Levenshtein plus adjacent transpositions (childern → children is 1)
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}
