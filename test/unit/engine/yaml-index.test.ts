import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../../src/engine/paths.js";
import { parsePlaybook } from "../../../src/engine/playbook/loader.js";
import {
  indexDocument,
  indexedParse,
  textHash,
  type IndexedDoc,
  type KeyPath,
} from "../../../src/engine/yaml-index.js";
import { YamlSource } from "../../../src/engine/yaml-source.js";
import { resourceKinds } from "../../../src/resources/index.js";

const dir = join(packageRoot(), "playbooks");
const builtins = readdirSync(dir).filter((f) => f.endsWith(".yml"));
const work = mkdtempSync(join(tmpdir(), "lc-yaml-index-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function indexed(text: string, file = "x.yml"): IndexedDoc | undefined {
  const { doc, lines, value } = YamlSource.parseDocument(text, file);
  return indexDocument(doc, lines, value);
}

describe("the build's index of the built-in playbooks", () => {
  it.each(builtins)("%s: every node is located and quoted as the parsed document does", (name) => {
    const file = join(dir, name);
    const text = readFileSync(file, "utf8");
    const index = indexed(text, file);
    expect(index).toBeDefined();
    const parsed = YamlSource.parse(text, file);
    const fromIndex = YamlSource.fromIndexed(text, file, index!);
    expect(fromIndex.value).toEqual(parsed.value);
    const paths = Object.keys(index!.nodes).map((k) => JSON.parse(k) as KeyPath);
    expect(paths.length).toBeGreaterThan(100);
    // the nodes, and paths below and beside them that are not there (locate falls back to a parent)
    for (const p of paths)
      for (const q of [p, [...p, "no_such_key"], [...p, 999], [...p, 0, "deeper"]]) {
        expect(fromIndex.locate(q)).toEqual(parsed.locate(q));
        expect(fromIndex.textAt(q)).toEqual(parsed.textAt(q));
      }
  });

  it.each(builtins)("%s: the playbook read through the index is the one parsed", (name) => {
    const file = join(dir, name);
    const text = readFileSync(file, "utf8");
    // functions (compiled guards and the like) compare by identity: what they were made from must match
    const strip = (pb: ReturnType<typeof parsePlaybook>) =>
      JSON.stringify({ ...pb, source: undefined }, (_k, v: unknown) =>
        typeof v === "function" ? String(v) : v instanceof RegExp ? v.source : v,
      );
    const viaIndex = parsePlaybook(YamlSource.fromIndexed(text, file, indexed(text, file)!), resourceKinds);
    expect(strip(viaIndex)).toEqual(strip(parsePlaybook(YamlSource.parse(text, file), resourceKinds)));
    expect(strip(viaIndex).length).toBeGreaterThan(1000);
  });

  it("an alias is a node of its own with nothing under it, as getIn sees it", () => {
    const text = "a: &x { b: 1 }\nc: *x\n";
    const fromIndex = YamlSource.fromIndexed(text, "x.yml", indexed(text)!);
    const parsed = YamlSource.parse(text, "x.yml");
    expect(fromIndex.value).toEqual({ a: { b: 1 }, c: { b: 1 } });
    for (const p of [["c"], ["c", "b"], ["a", "b"]]) {
      expect(fromIndex.locate(p)).toEqual(parsed.locate(p));
      expect(fromIndex.textAt(p)).toEqual(parsed.textAt(p));
    }
    expect(fromIndex.textAt(["c"])).toBeUndefined();
  });

  it("a document the index cannot stand for exactly is not indexed", () => {
    expect(indexed("1: a\n")).toBeUndefined(); // a number as key
    expect(indexed("x: .inf\n")).toBeUndefined(); // JSON has no Infinity
    expect(indexed("x: [1, 2]\n")).toBeDefined();
  });

  it("only the very text indexed is taken from the index", () => {
    const text = "x: 1\n";
    writeFileSync(join(work, `${textHash(text)}.json`), JSON.stringify(indexed(text)));
    expect(indexedParse(text, work)?.value).toEqual({ x: 1 });
    expect(indexedParse("x: 2\n", work)).toBeUndefined();
    expect(indexedParse(`${text} `, work)).toBeUndefined();
    // an index of another format (an older build's) is not read
    const other = "y: 1\n";
    writeFileSync(join(work, `${textHash(other)}.json`), JSON.stringify({ ...indexed(other), format: 0 }));
    expect(indexedParse(other, work)).toBeUndefined();
  });
});
