import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hashFileChunked, localSha256 } from "../../../../src/resources/common/localHash.js";

describe("local sha256", () => {
  const dir = mkdtempSync(join(tmpdir(), "lc-lhash-"));
  const memo = join(dir, "memo.json");

  it("hashes in chunks exactly as a whole-file hash", () => {
    const f = join(dir, "big");
    const data = Buffer.alloc(9 * 1024 * 1024 + 17, 3);
    writeFileSync(f, data);
    expect(hashFileChunked(f)).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("says how far it read: the start, after each 4 MiB chunk, then done; a memoised hash reads nothing", () => {
    const f = join(dir, "progress");
    const size = 9 * 1024 * 1024 + 17;
    writeFileSync(f, Buffer.alloc(size, 5));
    const seen: Array<{ file: string; bytes: number; total: number; done?: boolean }> = [];
    const m = join(dir, "progress-memo.json");
    localSha256(f, m, (p) => seen.push(p));
    const MiB = 1024 * 1024;
    expect(seen.map((p) => [p.bytes, p.done ?? false])).toEqual([
      [0, false],
      [4 * MiB, false],
      [8 * MiB, false],
      [size, false],
      [size, true],
    ]);
    expect(seen.every((p) => p.file === f && p.total === size)).toBe(true);
    seen.length = 0;
    localSha256(f, m, (p) => seen.push(p));
    expect(seen).toEqual([]);
  });

  it("answers from the memo while the file is unchanged, and hashes again once it changed", () => {
    const f = join(dir, "tar");
    writeFileSync(f, "one");
    const first = localSha256(f, memo);
    expect(first).toBe(createHash("sha256").update("one").digest("hex"));
    // a memo entry for the same identity is trusted: prove it is read (a planted value comes back)
    const m = JSON.parse(readFileSync(memo, "utf8")) as Record<string, { id: string; sha256: string }>;
    m[f]!.sha256 = "a".repeat(64);
    writeFileSync(memo, JSON.stringify(m));
    expect(localSha256(f, memo)).toBe("a".repeat(64));
    writeFileSync(f, "two, longer");
    expect(localSha256(f, memo)).toBe(createHash("sha256").update("two, longer").digest("hex"));
  });
});
