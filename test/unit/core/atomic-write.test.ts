import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  atomicWriteLine,
  atomicWriteSh,
  uploadWriteLine,
  type AtomicWriteOptions,
} from "../../../src/core/atomic-write.js";
import { sh, type Sh } from "../../../src/core/sh.js";

/** Run sh as a kind's apply fragment runs (set -e), with optional stdin. */
function run(script: Sh, stdin = ""): { code: number; stderr: string } {
  const r = spawnSync("sh", ["-c", `set -e\n${String(script)}`], { input: stdin, encoding: "utf8" });
  return { code: r.status ?? -1, stderr: r.stderr };
}
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8).padStart(4, "0");

describe("atomicWrite: the generated sh", () => {
  const base = (o: Partial<AtomicWriteOptions> = {}): AtomicWriteOptions => ({
    target: sh`${"/etc/x y"}`,
    dir: sh`/etc`,
    source: { content: "a\n" },
    mode: "0644",
    label: "test /etc/x y",
    ...o,
  });

  it("sets mode and owner on the temp file before the rename", () => {
    const s = String(atomicWriteSh(base({ owner: "root", group: "adm" })));
    expect(s).toContain("mktemp -- /etc/.lockclaw.XXXXXXXXXX");
    expect(s.indexOf(`chmod 0644 "$lc_t"`)).toBeLessThan(s.indexOf("mv -f --"));
    expect(s.indexOf(`chown -- root:adm "$lc_t"`)).toBeLessThan(s.indexOf("mv -f --"));
    expect(s).not.toContain("--reference");
    expect(s).toMatch(/mv -f -- "\$lc_t" '\/etc\/x y'$/);
  });
  it("keeps the replaced file's owner unless told not to", () => {
    expect(String(atomicWriteSh(base()))).toContain(`chown --reference='/etc/x y' "$lc_t"`);
    expect(String(atomicWriteSh(base({ owner: "deploy" })))).toContain(
      `chown --reference='/etc/x y' "$lc_t"`,
    );
    const own = String(atomicWriteSh(base({ keepOwner: false })));
    expect(own).not.toContain("chown");
  });
  it("keeps the current mode, or the default for a new file, when no mode is given", () => {
    const s = String(atomicWriteSh(base({ mode: undefined, defaultMode: "0600" })));
    expect(s).toContain(
      `if [ -f '/etc/x y' ]; then chmod --reference='/etc/x y' "$lc_t"; else chmod 0600 "$lc_t"; fi`,
    );
    expect(() => atomicWriteSh(base({ mode: undefined }))).toThrow(/mode/);
  });
  it("makes a missing directory only when asked, with the umask asked for", () => {
    expect(String(atomicWriteSh(base()))).toContain("does not exist (add a directory task before this one)");
    expect(String(atomicWriteSh(base({ makeDir: "public" })))).toMatch(/^mkdir -p -- \/etc\n/);
    expect(String(atomicWriteSh(base({ makeDir: "private" })))).toMatch(
      /^\(umask 077 && mkdir -p -- \/etc\)\n/,
    );
  });
  it("one line for a bare exec: every step joined by &&", () => {
    const line = String(atomicWriteLine(base({ source: { stdin: true }, temp: sh`/etc/x.part` })));
    expect(line).not.toContain("\n");
    expect(line).toContain(
      `lc_t=/etc/x.part && rm -f -- "$lc_t" && (umask 077 && : > "$lc_t") && cat > "$lc_t"`,
    );
  });
});

describe("atomicWrite on this machine", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lockclaw-aw-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const opts = (o: Partial<AtomicWriteOptions> = {}): AtomicWriteOptions => ({
    target: sh`${join(dir, "f")}`,
    dir: sh`${dir}`,
    source: { content: "new\n" },
    mode: "0640",
    keepOwner: false,
    label: "test f",
    ...o,
  });

  it("replaces the file with its mode and leaves no temp file", () => {
    writeFileSync(join(dir, "f"), "old\n");
    expect(run(atomicWriteSh(opts())).code).toBe(0);
    expect(readFileSync(join(dir, "f"), "utf8")).toBe("new\n");
    expect(mode(join(dir, "f"))).toBe("0640");
    expect(readdirSync(dir)).toEqual(["f"]);
  });
  it("keeps the mode of the file it replaces when none is given", () => {
    writeFileSync(join(dir, "f"), "old\n");
    chmodSync(join(dir, "f"), 0o604);
    expect(run(atomicWriteSh(opts({ mode: undefined, defaultMode: "0600" }))).code).toBe(0);
    expect(mode(join(dir, "f"))).toBe("0604");
  });
  it("a failed validation or check leaves the target as it was", () => {
    writeFileSync(join(dir, "f"), "old\n");
    const v = run(atomicWriteSh(opts({ validate: "grep -q nothing-like-this %s" })));
    expect(v.code).toBe(1);
    expect(v.stderr).toContain("test f: validate failed (grep -q nothing-like-this %s)");
    const c = run(atomicWriteSh(opts({ check: { test: sh`[ ! -s "$lc_t" ]`, message: "not empty" } })));
    expect(c.code).toBe(1);
    expect(c.stderr).toBe("test f: not empty\n");
    expect(readFileSync(join(dir, "f"), "utf8")).toBe("old\n");
    expect(readdirSync(dir)).toEqual(["f"]);
  });
  it("refuses a missing directory unless asked to make it", () => {
    const sub = join(dir, "a b");
    const o = opts({ target: sh`${join(sub, "f")}`, dir: sh`${sub}` });
    const r = run(atomicWriteSh(o));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not exist");
    expect(run(atomicWriteSh({ ...o, makeDir: "private" })).code).toBe(0);
    expect(mode(sub)).toBe("0700");
    expect(readFileSync(join(sub, "f"), "utf8")).toBe("new\n");
  });
  it("pipes the content through a filter that reads the old file", () => {
    writeFileSync(join(dir, "f"), "head\n### RULES ###\nold\n### END RULES ###\ntail\n");
    const through = sh`awk -v sect=- '/^### RULES ###$/ { print; while ((getline l < sect) > 0) print l; skip = 1; next } /^### END RULES ###$/ { skip = 0 } !skip { print }' ${join(dir, "f")}`;
    expect(run(atomicWriteSh(opts({ source: { content: "r1\nr2\n", through } }))).code).toBe(0);
    expect(readFileSync(join(dir, "f"), "utf8")).toBe(
      "head\n### RULES ###\nr1\nr2\n### END RULES ###\ntail\n",
    );
  });
  it("writes what a command prints", () => {
    writeFileSync(join(dir, "src"), "bytes\n");
    const r = run(atomicWriteSh(opts({ source: { command: sh`cat -- ${join(dir, "src")}` } })));
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "f"), "utf8")).toBe("bytes\n");
  });
  it("an upload streams stdin to the target through one part file, private", () => {
    const remote = join(dir, "stage", "x y");
    // a part file left by a cut upload, readable by all: replaced, never written through
    execFileSync("sh", [
      "-c",
      `mkdir -p "$1" && printf junk > "$1/x y.part" && chmod 0666 "$1/x y.part"`,
      "sh",
      join(dir, "stage"),
    ]);
    const r = spawnSync("sh", ["-c", String(uploadWriteLine(remote))], {
      input: "payload",
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    expect(readFileSync(remote, "utf8")).toBe("payload");
    expect(mode(remote)).toBe("0600");
    expect(readdirSync(join(dir, "stage"))).toEqual(["x y"]);
  });
  it("an upload whose stream fails leaves the target alone", () => {
    const remote = join(dir, "t");
    writeFileSync(remote, "old");
    // the same line with a source that fails stands for a stream cut short
    const line = String(uploadWriteLine(remote)).replace(`cat > "$lc_t"`, `false`);
    expect(spawnSync("sh", ["-c", line]).status).not.toBe(0);
    expect(readFileSync(remote, "utf8")).toBe("old");
  });
});
