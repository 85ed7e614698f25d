import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { directoryKind, type DirectoryFacts, type DirectorySpec } from "../../../src/resources/directory.js";
import { applyOf, changesOf, converge, parseSpec, probeFacts, runSh, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): DirectorySpec => parseSpec(directoryKind, input);
const ctx = { check: false };
const dirFacts = (extra: Partial<DirectoryFacts> = {}): DirectoryFacts => ({
  type: "directory",
  mode: "0755",
  owner: "root",
  uid: "0",
  group: "root",
  gid: "0",
  ...extra,
});

describe("directory spec", () => {
  it("accepts good input", () => {
    expect(spec({ path: "/opt/lockclaw", mode: 750, owner: "deploy" })).toMatchObject({
      mode: "0750",
      state: "present",
      recurse: false,
    });
  });
  it("rejects bad input", () => {
    expect(specError(directoryKind, { path: "/", state: "absent", recurse: true })).toMatch(
      /refusing to remove \//,
    );
    expect(specError(directoryKind, { path: "/opt/x/" })).toMatch(/no trailing slash/);
    expect(specError(directoryKind, { path: "/opt/x", recurse: "maybe" })).toMatch(
      /recurse must be true or false/,
    );
    expect(specError(directoryKind, { path: "/opt/x", content: "" })).toMatch(/Unrecognized key/);
  });
});

describe("directory diff/apply", () => {
  it("no change", () => {
    expect(
      changesOf(directoryKind, spec({ path: "/d", mode: "0755", owner: "root" }), dirFacts(), ctx),
    ).toEqual([]);
  });
  it("create, drift, remove", () => {
    expect(
      changesOf(directoryKind, spec({ path: "/d", mode: "0700" }), { type: "absent" }, ctx)[0]!.summary,
    ).toBe("create directory /d (mode 0700)");
    expect(
      changesOf(directoryKind, spec({ path: "/d", mode: "0700", group: "adm" }), dirFacts(), ctx).map(
        (c) => c.summary,
      ),
    ).toEqual(["/d mode 0755 → 0700", "/d group root → adm"]);
    expect(changesOf(directoryKind, spec({ path: "/d", state: "absent" }), dirFacts(), ctx)[0]!.summary).toBe(
      "remove directory /d",
    );
    expect(changesOf(directoryKind, spec({ path: "/d", state: "absent" }), { type: "absent" }, ctx)).toEqual(
      [],
    );
    expect(() => changesOf(directoryKind, spec({ path: "/d" }), { type: "file", mode: "0644" }, ctx)).toThrow(
      /not a directory/,
    );
  });
  it("apply: rmdir unless recurse, mkdir private then chmod", () => {
    expect(String(applyOf(directoryKind, spec({ path: "/d", state: "absent" }), dirFacts()))).toMatch(
      /^rmdir -- \/d \|\|/,
    );
    expect(
      String(applyOf(directoryKind, spec({ path: "/d", state: "absent", recurse: true }), dirFacts())),
    ).toBe("rm -rf -- /d");
    expect(
      String(
        applyOf(directoryKind, spec({ path: "/a/d", mode: "0750", owner: "deploy" }), { type: "absent" }),
      ),
    ).toBe("mkdir -p -- /a\nmkdir -m 0700 -- /a/d\nchown -- deploy /a/d\nchmod 00750 /a/d");
  });
});

describe("directory on this machine", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lockclaw-dir-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("probes and converges", () => {
    const p = join(dir, "a", "b");
    const r = converge(directoryKind, spec({ path: p, mode: "2750", owner: "root", group: "root" }));
    expect(r.changes).toHaveLength(1);
    expect(r.after).toEqual([]);
    expect(statSync(p).mode & 0o7777).toBe(0o2750);
    expect(probeFacts(directoryKind, spec({ path: p }))).toMatchObject({
      type: "directory",
      mode: "2750",
      owner: "root",
    });
    expect(converge(directoryKind, spec({ path: p, mode: "0700" })).after).toEqual([]);
    expect(converge(directoryKind, spec({ path: p, state: "absent" })).after).toEqual([]);
    expect(existsSync(p)).toBe(false);
  });

  it("refuses to remove a non-empty directory without recurse", () => {
    const p = join(dir, "full");
    mkdirSync(p);
    writeFileSync(join(p, "x"), "");
    const s = spec({ path: p, state: "absent" });
    const r = runSh(applyOf(directoryKind, s, probeFacts(directoryKind, s)), { setE: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not empty; set recurse: true/);
    expect(converge(directoryKind, spec({ path: p, state: "absent", recurse: true })).after).toEqual([]);
    expect(existsSync(p)).toBe(false);
  });
});
