import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MAX_PROBED_CONTENT,
  parsePathState,
  pathProbeScript,
} from "../../../../src/resources/common/fileState.js";
import { runSh } from "../helpers.js";

let work: string;
beforeEach(() => (work = mkdtempSync(join(tmpdir(), "lc-filestate-"))));
afterEach(() => rmSync(work, { recursive: true, force: true }));

const hashOf = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("the path probe, run by sh", () => {
  it("a file small enough to send is hashed from its bytes (no sha256sum), a larger one by sha256sum", () => {
    const small = join(work, "small");
    const bytes = Buffer.from([0x66, 0xff, 0xfe, 0x0a, 0x00, 0x41]); // not UTF-8: the hash is of the bytes
    writeFileSync(small, bytes);
    const out = runSh(pathProbeScript(small, "", { content: true }).text).stdout;
    expect(out).not.toMatch(/^sha256=/m);
    expect(parsePathState(out).sha256).toBe(hashOf(bytes));

    const large = join(work, "large");
    const big = Buffer.alloc(MAX_PROBED_CONTENT + 1, 0x61);
    writeFileSync(large, big);
    const outLarge = runSh(pathProbeScript(large, "", { content: true }).text).stdout;
    expect(outLarge).not.toMatch(/content_b64=/);
    const st = parsePathState(outLarge);
    expect(st.sha256).toBe(hashOf(big));
    expect(st.content).toBeUndefined();
  });

  it("checksum alone (a sensitive file) never sends the content", () => {
    const secret = join(work, "secret");
    writeFileSync(secret, "token\n");
    const out = runSh(pathProbeScript(secret, "p.", { checksum: true }).text).stdout;
    expect(out).not.toMatch(/content_b64=/);
    expect(parsePathState(out, "p.").sha256).toBe(hashOf(Buffer.from("token\n")));
  });
});
