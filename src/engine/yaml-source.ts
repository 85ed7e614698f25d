/**
 * YAML documents that remember where each value came from, so every validation error can name the
 * file, the line and the key path (playbooks, inventories, vars files share this).
 */
import { readFileSync } from "node:fs";
import { isAlias, LineCounter, parseDocument, visit, type Document } from "yaml";
import type { z } from "zod";
import { ConfigError, type SourceLocation } from "../core/errors.js";

export type KeyPath = ReadonlyArray<string | number>;

export class YamlSource {
  private constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
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
    return YamlSource.parse(text, file);
  }

  static parse(text: string, file: string): YamlSource {
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
    return new YamlSource(file, doc, lines, value, text);
  }

  /** The source text of the scalar at `path` (e.g. `0x8AE` for a YAML number), undefined if none. */
  textAt(path: KeyPath): string | undefined {
    const node = this.doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    if (!node?.range || isAlias(node)) return undefined;
    return this.text.slice(node.range[0], node.range[1]).trim();
  }

  /** Where the value at `path` is; falls back to the nearest parent that exists. */
  locate(path: KeyPath): SourceLocation {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { file: this.file, line: pos.line, column: pos.col, path: formatPath(path) };
      }
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
