import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { commandKind, type CommandSpec } from "../../../src/resources/command.js";
import { applyOf, changesOf, converge, parseSpec, probeFacts, runSh, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): CommandSpec => parseSpec(commandKind, input);
const ctx = { check: false };

describe("command spec", () => {
  it("accepts guards", () => {
    expect(
      spec({ cmd: "echo hi", creates: "/tmp/x", unless: "test -f /y", chdir: "/tmp", become_user: "deploy" }),
    ).toMatchObject({ cmd: "echo hi" });
  });
  it("rejects bad input", () => {
    expect(specError(commandKind, { cmd: "" })).toMatch(/cmd must not be empty/);
    expect(specError(commandKind, { cmd: "x", creates: "relative" })).toMatch(
      /creates: path must be absolute/,
    );
    expect(specError(commandKind, { cmd: "x", when: "y" })).toMatch(/Unrecognized key: "when"/);
    expect(specError(commandKind, {})).toMatch(/cmd/);
  });
});

describe("command diff", () => {
  it("runs every time without a guard, and says so", () => {
    expect(changesOf(commandKind, spec({ cmd: "apt-get clean" }), {}, ctx)).toEqual([
      { summary: "run apt-get clean (no guard: runs on every run)" },
    ]);
  });
  it("honours each guard", () => {
    const s = spec({ cmd: "make install", creates: "/usr/local/bin/x" });
    expect(changesOf(commandKind, s, { createsExists: true }, ctx)).toEqual([]);
    expect(changesOf(commandKind, s, { createsExists: false }, ctx)).toEqual([
      { summary: "run make install" },
    ]);
    expect(changesOf(commandKind, spec({ cmd: "x", removes: "/a" }), { removesExists: false }, ctx)).toEqual(
      [],
    );
    expect(changesOf(commandKind, spec({ cmd: "x", unless: "true" }), { unlessRc: 0 }, ctx)).toEqual([]);
    expect(changesOf(commandKind, spec({ cmd: "x", unless: "true" }), { unlessRc: 1 }, ctx)).toHaveLength(1);
    expect(changesOf(commandKind, spec({ cmd: "x", onlyif: "true" }), { onlyifRc: 1 }, ctx)).toEqual([]);
    expect(
      changesOf(commandKind, spec({ cmd: "x", onlyif: "true", become_user: "deploy" }), { onlyifRc: 0 }, ctx),
    ).toEqual([{ summary: "run x as deploy" }]);
  });
  it("is not verifiable", () => {
    expect(commandKind.verifiable).toBe(false);
  });
});

describe("command apply (text)", () => {
  it("re-checks guards on the host and keeps the command out of argv for become_user", () => {
    const sh = String(
      applyOf(
        commandKind,
        spec({ cmd: "docker login -p s3cret-token", become_user: "deploy", creates: "/x" }),
        {},
      ),
    );
    expect(sh).toMatch(/^if \[ ! -e \/x \]; then\n/);
    expect(sh).not.toContain("s3cret-token");
    expect(sh).toContain(`runuser -u deploy -- env "$lc_env" sh "$lc_s"`);
    expect(sh).toContain(`rm -f -- "$lc_s"`);
  });
});

describe("command on this machine", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lockclaw-cmd-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("probes guards", () => {
    writeFileSync(join(dir, "there"), "");
    const f = probeFacts(
      commandKind,
      spec({
        cmd: "x",
        creates: join(dir, "there"),
        removes: join(dir, "gone"),
        unless: "exit 3",
        onlyif: `cd ${dir} && test -f there`,
      }),
    );
    expect(f).toEqual({ createsExists: true, removesExists: false, unlessRc: 3, onlyifRc: 0 });
  });

  it("converges with creates, in chdir, without set -e semantics inside the command", () => {
    const s = spec({ cmd: "false; echo made > out.txt", creates: join(dir, "out.txt"), chdir: dir });
    const r = converge(commandKind, s);
    expect(r.changes).toHaveLength(1);
    expect(r.after).toEqual([]);
    expect(readFileSync(join(dir, "out.txt"), "utf8")).toBe("made\n");
  });

  it("converges with unless", () => {
    const flag = join(dir, "flag");
    const s = spec({ cmd: `echo x >> ${flag}`, unless: `grep -q x ${flag}` });
    expect(converge(commandKind, s).after).toEqual([]);
    expect(converge(commandKind, s).changes).toEqual([]);
    expect(readFileSync(flag, "utf8")).toBe("x\n");
  });

  it("fails with the command's exit status and a message", () => {
    const s = spec({ cmd: "echo oops >&2; exit 7" });
    const r = runSh(applyOf(commandKind, s, {}), { setE: true });
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("oops");
    expect(r.stderr).toContain("command failed (exit 7)");
  });

  it("skips at apply time when an earlier task satisfied the guard after the probe", () => {
    const s = spec({ cmd: `touch ${join(dir, "ran")}`, creates: join(dir, "made") });
    const facts = probeFacts(commandKind, s);
    writeFileSync(join(dir, "made"), "");
    expect(runSh(applyOf(commandKind, s, facts), { setE: true }).code).toBe(0);
    expect(existsSync(join(dir, "ran"))).toBe(false);
  });

  it("runs as another user through a temp script", () => {
    const s = spec({ cmd: `id -un > ${join(dir, "who")}`, become_user: "nobody", chdir: "/" });
    // nobody cannot write into root's temp dir: let it write to a world-writable file
    writeFileSync(join(dir, "who"), "");
    runSh(`chmod 0777 ${dir}; chmod 0666 ${join(dir, "who")}`);
    const r = runSh(applyOf(commandKind, s, {}), { setE: true });
    expect(r.stderr).toBe("");
    expect(readFileSync(join(dir, "who"), "utf8")).toBe("nobody\n");
  });

  it("runs a become_user guard as that user, its text never in argv", () => {
    const token = `guard-secret-${process.pid}`;
    // the guard sleeps so that ps can look at every process while it runs
    const s = spec({
      cmd: "true",
      unless: `[ "$(id -un)" = nobody ] && sleep 1 && [ "${token}" != x ]`,
      become_user: "nobody",
      chdir: "/",
    });
    const probe = String(commandKind.probe(s).script);
    expect(probe).not.toContain(token);
    const r = runSh(`(${probe}) > ${join(dir, "out")} & sleep 0.5; ps -eo args; wait`);
    expect(r.stdout).not.toContain(token);
    expect(readFileSync(join(dir, "out"), "utf8")).toContain("unless=0");
  });
});
