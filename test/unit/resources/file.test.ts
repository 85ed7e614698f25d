import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
  readdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileKind, type FileFacts, type FileSpec } from "../../../src/resources/file.js";
import { sha256 } from "../../../src/resources/common/fileState.js";
import { applyOf, changesOf, converge, parseSpec, probeFacts, runSh, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): FileSpec => parseSpec(fileKind, input);
const ctx = { check: false };
const present = (content: string, extra: Partial<FileFacts> = {}): FileFacts => ({
  type: "file",
  mode: "0644",
  owner: "root",
  uid: "0",
  group: "root",
  gid: "0",
  size: content.length,
  sha256: sha256(content),
  content,
  ...extra,
});

describe("file spec", () => {
  it("accepts a full spec and normalises the mode", () => {
    const s = spec({ path: "/etc/x.conf", content: "a\n", mode: "640", owner: "root", group: "adm" });
    expect(s).toMatchObject({ mode: "0640", state: "present", backup: false, sensitive: false });
    expect(spec({ path: "/etc/x", mode: 600 }).mode).toBe("0600"); // YAML 0600 arrives as 600
    expect(spec({ path: "/etc/x", mode: "1777" }).mode).toBe("1777");
    expect(spec({ path: "/etc/x", sensitive: "true" }).sensitive).toBe(true);
  });
  it("rejects bad input with a useful message", () => {
    expect(specError(fileKind, { path: "etc/x" })).toMatch(/path: path must be absolute/);
    expect(specError(fileKind, { path: "/etc/../x" })).toMatch(/\.\. components/);
    expect(specError(fileKind, { path: "/etc/x", mode: "0999" })).toMatch(
      /mode: mode must be an octal string/,
    );
    expect(specError(fileKind, { path: "/etc/x", contents: "typo" })).toMatch(/Unrecognized key: "contents"/);
    expect(specError(fileKind, { path: "/etc/x", validate: "visudo -c" })).toMatch(/must contain %s/);
    expect(specError(fileKind, { path: "/etc/x", owner: "ro ot" })).toMatch(/owner: owner must be a user/);
    expect(specError(fileKind, { path: "/etc/x", state: "gone" })).toMatch(
      /state must be "present" or "absent"/,
    );
  });
});

describe("file parse", () => {
  it("reads realistic probe output", () => {
    const b64 = Buffer.from("hello\n").toString("base64");
    const out = `type=file\nmode=640\nuid=0\nowner=root\ngid=4\ngroup=adm\nsize=6\nsha256=${sha256("hello\n")}\ncontent_b64=${b64}\n`;
    expect(fileKind.probe(spec({ path: "/x" })).parse(out)).toEqual(
      present("hello\n", { mode: "0640", gid: "4", group: "adm", size: 6 }),
    );
    expect(fileKind.probe(spec({ path: "/x" })).parse("type=absent\n")).toEqual({ type: "absent" });
  });
  it("throws on garbage", () => {
    expect(() => fileKind.probe(spec({ path: "/x" })).parse("sh: 1: syntax error\n")).toThrow(
      /no valid type= line/,
    );
  });
  it("does not fetch the content of a sensitive file", () => {
    expect(String(fileKind.probe(spec({ path: "/x", sensitive: true })).script)).not.toContain("base64");
    expect(String(fileKind.probe(spec({ path: "/x" })).script)).toContain("base64 -w0");
  });
});

describe("file diff", () => {
  it("is empty when in the desired state", () => {
    expect(
      changesOf(
        fileKind,
        spec({ path: "/x", content: "a\n", mode: "0644", owner: "root" }),
        present("a\n"),
        ctx,
      ),
    ).toEqual([]);
  });
  it("creates a missing file with a diff from /dev/null", () => {
    const [c] = changesOf(
      fileKind,
      spec({ path: "/etc/x", content: "a\n", mode: "0600" }),
      { type: "absent" },
      ctx,
    );
    expect(c!.summary).toBe("create /etc/x (2 bytes, mode 0600)");
    expect(c!.diff).toContain("--- /dev/null");
    expect(c!.diff).toContain("+a");
  });
  it("shows content drift as a unified diff", () => {
    const cs = changesOf(fileKind, spec({ path: "/etc/x", content: "a\nB\n" }), present("a\nb\n"), ctx);
    expect(cs).toHaveLength(1);
    expect(cs[0]!.summary).toBe("update content of /etc/x");
    expect(cs[0]!.diff).toMatch(/^--- \/etc\/x/m);
    expect(cs[0]!.diff).toMatch(/^-b$/m);
    expect(cs[0]!.diff).toMatch(/^\+B$/m);
  });
  it("reports mode, owner and group drift separately", () => {
    const cs = changesOf(
      fileKind,
      spec({ path: "/x", mode: "0600", owner: "deploy", group: "1000" }),
      present(""),
      ctx,
    );
    expect(cs.map((c) => c.summary)).toEqual([
      "/x mode 0644 → 0600",
      "/x owner root → deploy",
      "/x group root → 1000",
    ]);
  });
  it("removes a file when absent is wanted, and nothing when already gone", () => {
    expect(changesOf(fileKind, spec({ path: "/x", state: "absent" }), present("a"), ctx)[0]!.summary).toBe(
      "remove /x",
    );
    expect(changesOf(fileKind, spec({ path: "/x", state: "absent" }), { type: "absent" }, ctx)).toEqual([]);
  });
  it("redacts the diff of a sensitive file", () => {
    const secret = "token=hunter2-very-secret\n";
    const s = spec({ path: "/x", content: secret, sensitive: true });
    for (const facts of [present("token=old\n"), { type: "absent" } as FileFacts]) {
      const cs = changesOf(fileKind, s, facts, ctx);
      expect(cs[0]!.diff).toContain("content changed (sensitive)");
      expect(JSON.stringify(cs)).not.toContain("hunter2");
    }
    expect(fileKind.secrets!(s)).toEqual([secret]);
  });
  it("says the old content is not shown when it was too large to probe", () => {
    const cs = changesOf(
      fileKind,
      spec({ path: "/x", content: "new" }),
      present("x", { content: undefined, sha256: "0".repeat(64) }),
      ctx,
    );
    expect(cs[0]!.diff).toMatch(/larger than the probe limit/);
  });
  it("refuses to turn a symlink into an empty file when no content is given", () => {
    expect(() =>
      changesOf(
        fileKind,
        spec({ path: "/etc/resolv.conf", mode: "0644" }),
        { type: "link", mode: "0777" },
        ctx,
      ),
    ).toThrow(/is a symlink; give content/);
  });
  it("refuses to replace a directory", () => {
    expect(() =>
      changesOf(fileKind, spec({ path: "/x", content: "" }), { type: "directory", mode: "0755" }, ctx),
    ).toThrow(/is a directory/);
  });
});

describe("file apply (text)", () => {
  it("writes atomically through a temp file, with validate and backup", () => {
    const s = spec({
      path: "/etc/sudoers.d/deploy",
      content: "deploy ALL=(ALL) NOPASSWD:ALL\n",
      mode: "0440",
      validate: "visudo -cf %s",
      backup: true,
    });
    const sh = String(applyOf(fileKind, s, present("old\n")));
    expect(sh).toContain("mktemp -- /etc/sudoers.d/.lockclaw.");
    expect(sh).toContain(`base64 -d <<'LOCKCLAW_B64_EOF'`);
    expect(sh).toContain(`chmod 0440 "$lc_t"`);
    expect(sh).toContain(`visudo -cf "$lc_t"`);
    expect(sh).toContain(`rm -f -- "$lc_t"`);
    expect(sh).toContain("lockclaw-bak.");
    expect(sh).toMatch(/mv -f -- "\$lc_t" \/etc\/sudoers\.d\/deploy$/);
    // chmod/validate come before the rename
    expect(sh.indexOf("chmod")).toBeLessThan(sh.indexOf("mv -f"));
    expect(sh.indexOf("visudo")).toBeLessThan(sh.indexOf("mv -f"));
  });
  it("only chmods/chowns when only attributes drift", () => {
    const sh = String(
      applyOf(fileKind, spec({ path: "/x", content: "a", mode: "0600", owner: "deploy" }), present("a")),
    );
    expect(sh).toBe("chown -- deploy /x\nchmod 0600 /x");
  });
  it("never puts sensitive content in plain text", () => {
    const secret = "password=hunter2-very-secret";
    const sh = String(
      applyOf(fileKind, spec({ path: "/x", content: secret, sensitive: true }), { type: "absent" }),
    );
    expect(sh).not.toContain("hunter2");
    expect(sh).toContain(Buffer.from(secret).toString("base64").slice(0, 20));
    expect(sh).toContain("chmod 0600"); // a new sensitive file defaults to 0600
  });
  it("quotes paths", () => {
    expect(String(applyOf(fileKind, spec({ path: "/tmp/a b'c", state: "absent" }), present("")))).toBe(
      `rm -f -- '/tmp/a b'\\''c'`,
    );
  });
});

describe("file on this machine", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lockclaw-file-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("probes a real file", () => {
    const p = join(dir, "f");
    writeFileSync(p, "hello\nworld\n");
    chmodSync(p, 0o640);
    const f = probeFacts(fileKind, spec({ path: p }));
    expect(f).toMatchObject({
      type: "file",
      mode: "0640",
      owner: "root",
      uid: "0",
      size: 12,
      content: "hello\nworld\n",
    });
    expect(f.sha256).toBe(sha256("hello\nworld\n"));
    expect(probeFacts(fileKind, spec({ path: join(dir, "nope") }))).toEqual({ type: "absent" });
    symlinkSync(p, join(dir, "l"));
    expect(probeFacts(fileKind, spec({ path: join(dir, "l") })).type).toBe("link");
  });

  it("converges: create, then update content and mode, with backup; then nothing to do", () => {
    const p = join(dir, "app.conf");
    const s1 = spec({ path: p, content: "a=1\n", mode: "0640", owner: "root", group: "root" });
    const r1 = converge(fileKind, s1);
    expect(r1.changes.map((c) => c.summary)).toEqual([
      `create ${p} (4 bytes, mode 0640, owner root, group root)`,
    ]);
    expect(r1.after).toEqual([]);
    expect(readFileSync(p, "utf8")).toBe("a=1\n");
    expect(statSync(p).mode & 0o7777).toBe(0o640);

    const s2 = spec({ path: p, content: "a=2\n", mode: "0600", backup: true });
    const r2 = converge(fileKind, s2);
    expect(r2.changes.map((c) => c.summary)).toEqual([`update content of ${p}`, `${p} mode 0640 → 0600`]);
    expect(r2.after).toEqual([]);
    expect(readFileSync(p, "utf8")).toBe("a=2\n");
    const files = readdirSync(dir);
    expect(files.filter((f) => f.startsWith("app.conf.lockclaw-bak."))).toHaveLength(1);
    expect(files.filter((f) => f.startsWith(".lockclaw."))).toEqual([]); // no temp file left

    chmodSync(p, 0o644);
    const r3 = converge(fileKind, s2);
    expect(r3.script).toBe(`chmod 0600 ${p}`);
    expect(r3.after).toEqual([]);
    expect(converge(fileKind, spec({ path: p, state: "absent" })).after).toEqual([]);
  });

  it("keeps the target when validate fails, and removes the temp file", () => {
    const p = join(dir, "v.conf");
    writeFileSync(p, "good\n");
    const s = spec({ path: p, content: "bad\n", validate: "grep -q good %s" });
    const facts = probeFacts(fileKind, s);
    const r = runSh(applyOf(fileKind, s, facts), { setE: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`file ${p}: validate failed (grep -q good %s)`);
    expect(readFileSync(p, "utf8")).toBe("good\n");
    expect(readdirSync(dir)).toEqual(["v.conf"]);
    // and a passing validator lets it through
    const ok = spec({ path: p, content: "still good\n", validate: "grep -q good %s" });
    expect(converge(fileKind, ok).after).toEqual([]);
  });

  it("fails clearly when the parent directory is missing", () => {
    const s = spec({ path: join(dir, "no/such/file"), content: "x" });
    const r = runSh(applyOf(fileKind, s, { type: "absent" }), { setE: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not exist \(add a directory task before this one\)/);
  });

  it("replaces a symlink with a regular file and leaves its target alone", () => {
    const target = join(dir, "target");
    writeFileSync(target, "orig\n");
    symlinkSync(target, join(dir, "link"));
    const r = converge(fileKind, spec({ path: join(dir, "link"), content: "new\n" }));
    expect(r.changes[0]!.summary).toMatch(/replace symlink/);
    expect(r.after).toEqual([]);
    expect(readFileSync(target, "utf8")).toBe("orig\n");
  });
});
