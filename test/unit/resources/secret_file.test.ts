import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  secretFileKind,
  type SecretFileFacts,
  type SecretFileSpec,
} from "../../../src/resources/secret_file.js";
import { applyOf, changesOf, converge, parseSpec, probeFacts, runSh, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): SecretFileSpec => parseSpec(secretFileKind, input);
const ctx = { check: false };
const present = (extra: Partial<SecretFileFacts> = {}): SecretFileFacts => ({
  type: "file",
  mode: "0600",
  owner: "root",
  uid: "0",
  group: "root",
  gid: "0",
  size: 48,
  ...extra,
});

describe("secret_file spec", () => {
  it("defaults to 48 alnum characters, mode 0600", () => {
    expect(spec({ path: "/s/token" })).toEqual({
      path: "/s/token",
      mode: "0600",
      length: 48,
      charset: "alnum",
    });
    expect(spec({ path: "/s/t", mode: 400, length: "64", charset: "hex" })).toMatchObject({
      mode: "0400",
      length: 64,
      charset: "hex",
    });
  });
  it("rejects bad input with a useful message", () => {
    expect(specError(secretFileKind, { path: "s/token" })).toMatch(/path must be absolute/);
    expect(specError(secretFileKind, { path: "/s/t", length: 8 })).toMatch(/at least 16/);
    expect(specError(secretFileKind, { path: "/s/t", charset: "emoji" })).toMatch(/charset must be one of/);
    // the value is never given: a `content` key is a mistake (use file + sensitive for given secrets)
    expect(specError(secretFileKind, { path: "/s/t", content: "x" })).toMatch(/Unrecognized key: "content"/);
  });
});

describe("secret_file probe and diff", () => {
  it("the probe never reads the value: no checksum, no content", () => {
    const script = String(secretFileKind.probe(spec({ path: "/s/token" })).script);
    expect(script).not.toMatch(/sha256sum|base64|cat |head |od /);
    expect(script).toMatch(/stat --printf/);
  });
  it("generates when absent or empty, keeps a present secret", () => {
    const s = spec({ path: "/s/token", owner: "deploy" });
    expect(changesOf(secretFileKind, s, { type: "absent" }, ctx)[0]!.summary).toMatch(
      /generate secret \/s\/token \(48 alnum characters, mode 0600, owner deploy\)/,
    );
    expect(changesOf(secretFileKind, s, present({ size: 0, owner: "deploy" }), ctx)).toHaveLength(1);
    expect(changesOf(secretFileKind, s, present({ owner: "deploy" }), ctx)).toEqual([]);
  });
  it("fixes mode and owner without touching the value", () => {
    const s = spec({ path: "/s/token", owner: "deploy", group: "deploy" });
    const f = present({ mode: "0644" });
    const changes = changesOf(secretFileKind, s, f, ctx).map((c) => c.summary);
    expect(changes).toEqual([
      "/s/token mode 0644 → 0600",
      "/s/token owner root → deploy",
      "/s/token group root → deploy",
    ]);
    const sh = String(applyOf(secretFileKind, s, f));
    expect(sh).toBe("chown -- deploy:deploy /s/token\nchmod 0600 /s/token");
  });
  it("refuses to write through a symlink or over a directory", () => {
    const s = spec({ path: "/s/token" });
    expect(() => changesOf(secretFileKind, s, { type: "link", mode: "0777" }, ctx)).toThrow(/symlink/);
    expect(() => changesOf(secretFileKind, s, { type: "directory", mode: "0755" }, ctx)).toThrow(/directory/);
  });
});

describe("secret_file on this machine", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lc-secret-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("generates once with the right length, charset and mode, then never rotates", () => {
    const s = spec({ path: join(dir, "token"), length: 40, charset: "hex" });
    const first = converge(secretFileKind, s);
    expect(first.changes).toHaveLength(1);
    expect(first.after).toEqual([]);
    const value = readFileSync(s.path, "utf8");
    expect(value).toMatch(/^[0-9a-f]{40}$/);
    expect(statSync(s.path).mode & 0o777).toBe(0o600);
    // no temp file left behind
    expect(readdirSync(dir)).toEqual(["token"]);
    // the apply script itself holds no value (it is generated on the host)
    expect(first.script).not.toContain(value);

    const second = converge(secretFileKind, s);
    expect(second.changes).toEqual([]);
    expect(readFileSync(s.path, "utf8")).toBe(value);

    // a wrong mode is fixed, the value kept
    chmodSync(s.path, 0o644);
    const third = converge(secretFileKind, s);
    expect(third.changes.map((c) => c.summary)).toEqual([`${s.path} mode 0644 → 0600`]);
    expect(readFileSync(s.path, "utf8")).toBe(value);
  });

  it("two secrets differ; alnum and base64url stay within their charsets", () => {
    const a = spec({ path: join(dir, "a"), length: 64 });
    const b = spec({ path: join(dir, "b"), length: 64, charset: "base64url" });
    converge(secretFileKind, a);
    converge(secretFileKind, b);
    const va = readFileSync(a.path, "utf8");
    const vb = readFileSync(b.path, "utf8");
    expect(va).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(vb).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(va).not.toBe(vb);
  });

  it("apply re-checks on the host: a secret created after the probe is not overwritten", () => {
    const s = spec({ path: join(dir, "token") });
    const facts = probeFacts(secretFileKind, s);
    writeFileSync(s.path, "created-meanwhile", { mode: 0o600 });
    const r = runSh(applyOf(secretFileKind, s, facts), { setE: true });
    expect(r.code).toBe(0);
    expect(readFileSync(s.path, "utf8")).toBe("created-meanwhile");
  });

  it("fails clearly when the directory is missing", () => {
    const s = spec({ path: join(dir, "nope", "token") });
    const r = runSh(applyOf(secretFileKind, s, { type: "absent" }), { setE: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not exist \(add a directory task/);
  });

  it("the probe output holds only metadata", () => {
    const s = spec({ path: join(dir, "token") });
    converge(secretFileKind, s);
    const value = readFileSync(s.path, "utf8");
    const out = runSh(secretFileKind.probe(s).script).stdout;
    expect(out).not.toContain(value);
    expect(out).toMatch(/type=file/);
    expect(out).toMatch(/size=48/);
  });
});
