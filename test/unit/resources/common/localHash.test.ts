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
