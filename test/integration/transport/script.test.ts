/** runScript: scripts travel on stdin, never in argv, and cannot be eaten by the commands inside them. */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, runScript, SCRIPT_WRAPPER } from "../../../src/transport/ssh.js";
import type { Transport } from "../../../src/transport/types.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let root: Transport;
let user: Transport;
beforeAll(async () => {
  sshd = await startSshd({ user: { sudo: true } });
  root = await connect(sshd.target());
  user = await connect(sshd.target({ as: "user" }));
});
afterAll(async () => {
  await root?.close();
  await user?.close();
  await sshd?.stop();
});

describe("runScript", () => {
  it("a command that reads stdin does not eat the rest of the script", async () => {
    const r = await runScript(root, "echo one\ncat\nread line || echo no-more-input\necho two\n");
    expect(r).toEqual({ stdout: "one\nno-more-input\ntwo\n", stderr: "", code: 0 });
  });

  it("stops at the first failing command (sh -e) and returns its status; errexit:false goes on", async () => {
    const r = await runScript(root, "echo a\nsh -c 'exit 4'\necho not-reached\n");
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("a\n");
    const goOn = await runScript(root, "echo a\nfalse\necho reached\n", { errexit: false });
    expect(goOn).toMatchObject({ code: 0, stdout: "a\nreached\n" });
  });

  it("removes its temp file, on success and on failure", async () => {
    // the script's $0 is the temp file's path
    const ok = await runScript(root, 'echo "$0"');
    const failed = await runScript(root, 'echo "$0"; exit 9');
    expect(failed.code).toBe(9);
    for (const r of [ok, failed]) {
      const path = r.stdout.trim();
      expect(path).toMatch(/^\/tmp\/tmp\./);
      expect(existsSync(path)).toBe(false);
    }
  });

  it("keeps the temp file private while the script runs", async () => {
    const r = await runScript(root, 'ls -l "$0"; stat -c %a "$0"');
    expect(r.stdout.trim().split("\n").pop()).toBe("600");
  });

  it("runs a large script (2 MB) whole", async () => {
    const lines = Array.from({ length: 40_000 }, (_, i) => `x=${i} # ${"p".repeat(40)}`);
    const r = await runScript(root, `${lines.join("\n")}\necho "last=$x"`);
    expect(r).toMatchObject({ code: 0, stdout: "last=39999\n" });
  });

  it("become through sudo runs the script as root", async () => {
    const r = await runScript(user, "id -un\ncat\necho done", { become: true });
    expect(r).toEqual({ stdout: "root\ndone\n", stderr: "", code: 0 });
  });

  it("a secret in the script never appears in any process's argv", async () => {
    const secret = `s3cr3t-${randomBytes(12).toString("hex")}`;
    const script = `SECRET='${secret}'\nprintf '%s' "$SECRET" > /dev/null\nsleep 2\necho "\${#SECRET}"\n`;
    const done = runScript(user, script, { become: true });
    const seen: string[] = [];
    let sawSleep = false;
    let sawWrapper = false;
    let finished = false;
    void done.finally(() => (finished = true));
    while (!finished) {
      const ps = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout;
      if (ps.includes(secret)) seen.push(ps);
      if (/^sleep 2$/m.test(ps)) sawSleep = true;
      if (ps.includes("mktemp")) sawWrapper = true;
      await new Promise((r) => setTimeout(r, 25));
    }
    const r = await done;
    expect(r).toMatchObject({ code: 0, stdout: `${secret.length}\n` });
    expect(sawSleep).toBe(true); // we really sampled while the script ran
    expect(sawWrapper).toBe(true); // and what was in argv is the fixed wrapper
    expect(seen).toEqual([]);
    expect(SCRIPT_WRAPPER).not.toContain(secret);
  });
});
