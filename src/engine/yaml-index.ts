/**
 * The built-in playbooks, parsed at build time. Parsing host.yml with the yaml library was three
 * quarters of reading the playbooks at start-up (about 75 ms of cold code in every run, a fifth of a
 * `--list-tasks`), and a built-in playbook only changes with a new build. So the build keeps, per
 * playbook text, what YamlSource needs of the parsed document: the value and where each node is. A file
 * is taken from the index only when its text hashes to an indexed text, byte for byte; anything else
 * (a user's playbook, an edited copy, a stale index) is parsed as before. The index holds no secret:
 * only lockclaw's own files are indexed, at build time.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from "yaml";
import { packageRoot } from "./paths.js";

export type KeyPath = ReadonlyArray<string | number>;

/** A node of the document: its offsets in the text, its line and column (1-based), an alias or not. */
export interface FoundNode {
  start: number;
  end: number;
  line: number;
  col: number;
  alias: boolean;
}

/** What YamlSource keeps of a parsed document, as written to the index. */
export interface IndexedDoc {
  format: typeof FORMAT;
  value: unknown;
  /** pathKey → [start, end, line, col, alias (1) or not (0)] of every node the document's getIn finds. */
  nodes: Record<string, [number, number, number, number, number]>;
}

const FORMAT = 2;

export const pathKey = (path: KeyPath): string => JSON.stringify(path);

export const textHash = (text: string): string => createHash("sha256").update(text).digest("hex");

/** Where the build writes the index: one file per indexed text, named by its hash. */
export function indexDir(root: string = packageRoot()): string {
  return join(root, "dist", "src", "yaml-index");
}

/**
 * The index of a parsed document, or undefined when it cannot stand for it exactly: keys that are not
 * plain strings, or a value JSON does not carry unchanged. An alias is a node of its own, with nothing
 * under it (getIn does not follow one).
 */
export function indexDocument(doc: Document, lines: LineCounter, value: unknown): IndexedDoc | undefined {
  const nodes: IndexedDoc["nodes"] = {};
  const walk = (node: unknown, path: Array<string | number>): boolean => {
    if (node === null || node === undefined) return true;
    const n = node as Node;
    if (n.range) {
      const pos = lines.linePos(n.range[0]);
      nodes[pathKey(path)] = [n.range[0], n.range[1], pos.line, pos.col, isAlias(n) ? 1 : 0];
    }
    if (isMap(n)) {
      for (const pair of n.items) {
        if (!isScalar(pair.key) || typeof pair.key.value !== "string") return false;
        if (!walk(pair.value, [...path, pair.key.value])) return false;
      }
    } else if (isSeq(n)) {
      for (const [i, item] of n.items.entries()) if (!walk(item, [...path, i])) return false;
    }
    return true;
  };
  if (!walk(doc.contents, [])) return undefined;
  if (!isDeepStrictEqual(JSON.parse(JSON.stringify(value)) as unknown, value)) return undefined;
  return { format: FORMAT, value, nodes };
}

/** The finder over an indexed document: the same answers as the document's getIn for its nodes. */
export function indexFinder(doc: IndexedDoc): (path: KeyPath) => FoundNode | undefined {
  return (path) => {
    const n = doc.nodes[pathKey(path)];
    return n && { start: n[0], end: n[1], line: n[2], col: n[3], alias: n[4] === 1 };
  };
}

/** The indexed parse of this text, if the build indexed exactly this text. */
export function indexedParse(text: string, dir: string = indexDir()): IndexedDoc | undefined {
  let raw: string;
  try {
    raw = readFileSync(join(dir, `${textHash(text)}.json`), "utf8");
  } catch {
    return undefined;
  }
  const doc = JSON.parse(raw) as IndexedDoc;
  return doc.format === FORMAT ? doc : undefined;
}
