import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import Module, { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CompileCache, defaultCacheDir, isPrivateDirectory } from "../../../src/cli/compile-cache.js";

let work: string;
let dir: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "lc-ccache-"));
  chmodSync(work, 0o700);
  dir = join(work, "cache");
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const script = (name: string, value: string) => {
  const file = join(work, name);
  writeFileSync(file, `module.exports = { value: ${JSON.stringify(value)}, twice: (n) => n * 2 };\n`);
  return file;
};
const entries = () => readdirSync(dir).filter((f) => f.endsWith(".bin"));
const root = process.geteuid?.() === 0;

describe("the compile cache", () => {
  it("writes an entry (0600 in a 0700 directory) and the next load takes it", () => {
    const file = script("a.cjs", "one");
    const first = new CompileCache(dir, "provision host");
    expect(first.load(file)).toMatchObject({ value: "one" });
    expect(first.outcomes.get(file)).toBe("miss");
    first.save();
    expect(entries()).toHaveLength(1);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, entries()[0]!)).mode & 0o777).toBe(0o600);
    const second = new CompileCache(dir, "provision host");
    const exports = second.load(file) as { value: string; twice: (n: number) => number };
    expect(second.outcomes.get(file)).toBe("hit");
    expect(exports.value).toBe("one");
    expect(exports.twice(21)).toBe(42);
    // another command keeps its own entry
    const other = new CompileCache(dir, "audit");
    other.load(file);
    expect(other.outcomes.get(file)).toBe("miss");
  });

  it("a changed source of the same length is compiled afresh, not run from the old bytecode", () => {
    const file = script("a.cjs", "one");
    const first = new CompileCache(dir);
    first.load(file);
    first.save();
    script("a.cjs", "two"); // same length: V8's own check would accept the old cache
    const second = new CompileCache(dir);
    expect(second.load(file)).toMatchObject({ value: "two" });
    expect(second.outcomes.get(file)).toBe("stale");
    second.save();
    const third = new CompileCache(dir);
    expect(third.load(file)).toMatchObject({ value: "two" });
    expect(third.outcomes.get(file)).toBe("hit");
  });

  it("is not used, nor written, in a directory others can write, or under one", () => {
    const file = script("a.cjs", "one");
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o770);
    expect(isPrivateDirectory(dir)).toBe(false);
    const cache = new CompileCache(dir);
    expect(cache.load(file)).toMatchObject({ value: "one" });
    expect(cache.outcomes.get(file)).toBe("untrusted");
    cache.save();
    expect(entries()).toEqual([]);
    // nor does it take over Node's loader for the packages' files
    const compile = (Module.prototype as unknown as { _compile: unknown })._compile;
    cache.coverPackages()();
    cache.coverPackages();
    expect((Module.prototype as unknown as { _compile: unknown })._compile).toBe(compile);
    // a private directory under a world-writable (not sticky) parent is no safer
    chmodSync(dir, 0o700);
    expect(isPrivateDirectory(dir)).toBe(true);
    chmodSync(work, 0o777);
    expect(isPrivateDirectory(dir)).toBe(false);
    chmodSync(work, 0o1777);
    expect(isPrivateDirectory(dir)).toBe(true);
  });

  it("ignores an entry another user could have written", () => {
    const file = script("a.cjs", "one");
    const first = new CompileCache(dir);
    first.load(file);
    first.save();
    const entry = join(dir, entries()[0]!);
    chmodSync(entry, 0o620);
    const writable = new CompileCache(dir);
    writable.load(file);
    expect(writable.outcomes.get(file)).toBe("miss");
    chmodSync(entry, 0o600);
    if (root) {
      chownSync(entry, 65534, 65534);
      const foreign = new CompileCache(dir);
      foreign.load(file);
      expect(foreign.outcomes.get(file)).toBe("miss");
      // and the next save puts this user's own entry in its place
      foreign.save();
      expect(statSync(entry).uid).toBe(0);
    }
  });

  it("covers CommonJS files of packages (node_modules) loaded by require, and only while asked", () => {
    const pkg = join(work, "node_modules/demo");
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, "index.js"), "exports.answer = require('./inner.js').n + 1;\n");
    writeFileSync(join(pkg, "inner.js"), "exports.n = 41;\n");
    const cache = new CompileCache(dir);
    const uncover = cache.coverPackages();
    try {
      expect(createRequire(join(work, "x.js"))("demo")).toEqual({ answer: 42 });
    } finally {
      uncover();
    }
    expect(cache.outcomes.get(join(pkg, "index.js"))).toBe("miss");
    expect(cache.outcomes.get(join(pkg, "inner.js"))).toBe("miss");
    cache.save();
    expect(entries()).toHaveLength(2);
  });

  it("lives under XDG_CACHE_HOME (absolute only) and is off with LOCKCLAW_NO_COMPILE_CACHE", () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/c" })).toBe("/c/lockclaw/compile-cache");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "relative" })).toMatch(/\/\.cache\/lockclaw\/compile-cache$/);
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/c", LOCKCLAW_NO_COMPILE_CACHE: "1" })).toBeUndefined();
  });
});
