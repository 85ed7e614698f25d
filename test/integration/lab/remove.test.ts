/**
 * Removing a machine directory against real processes and real mounts (as root, like the lab): a tree
 * that a process keeps refilling for a moment, a tmpfs and a bind mount inside it, and a holder that
 * never lets go.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LabError } from "../../../src/lab/errors.js";
import { mountsUnder } from "../../../src/lab/procs.js";
import { holdersUnder, removeTree } from "../../../src/lab/remove.js";
import { runRaw } from "../../../src/lab/run.js";

const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function scratch(): string {
  const base = mkdtempSync(join(tmpdir(), "lc-remove-"));
  cleanups.push(async () => {
    for (const m of await mountsUnder(base)) await runRaw("umount", ["-l", m]);
    rmSync(base, { recursive: true, force: true });
  });
  return base;
}

function started(child: ChildProcess): Promise<void> {
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", () => resolve());
  });
}

const exited = (child: ChildProcess) =>
  new Promise<void>((r) =>
    child.exitCode !== null || child.signalCode ? r() : child.once("exit", () => r()),
  );

describe("removeTree", () => {
  it("waits for a process that keeps refilling the tree, then removes it for good", async () => {
    const dir = join(scratch(), "m1");
    mkdirSync(join(dir, "root/var/lib"), { recursive: true });
    // like a container's process still writing while it exits: it sits in the tree and recreates files
    // (absolute paths: it would bring the directory back if removed under it) for 3 s. `echo`, not `:`:
    // a failed redirection of a special built-in would end the shell.
    const refiller = spawn(
      "sh",
      [
        "-c",
        `end=$(($(date +%s%N) + 3000000000)); i=0; ` +
          `while [ "$(date +%s%N)" -lt "$end" ]; do i=$((i+1)); mkdir -p "$D/root/var/lib/x$((i % 7))/y" && echo > "$D/root/var/lib/x$((i % 7))/y/f$i"; done`,
      ],
      { cwd: join(dir, "root"), env: { ...process.env, D: dir }, stdio: "ignore" },
    );
    await started(refiller);
    await new Promise((r) => setTimeout(r, 200));
    expect((await holdersUnder(dir)).map((h) => h.pid)).toContain(refiller.pid);

    const lines: string[] = [];
    await removeTree(dir, { log: (l) => lines.push(l) });
    expect(existsSync(dir)).toBe(false);
    await exited(refiller);
    // it stays gone: nothing was still writing into it when it was removed
    expect(existsSync(dir)).toBe(false);
    expect(lines.join("\n")).toContain(`PID ${refiller.pid}`);
  });

  it.runIf(isRoot)(
    "unmounts a tmpfs and a bind mount inside the tree, never deleting through them",
    async () => {
      const base = scratch();
      const dir = join(base, "m2");
      const outside = join(base, "outside");
      mkdirSync(join(dir, "root/run/user"), { recursive: true });
      mkdirSync(join(dir, "root/mnt/data"), { recursive: true });
      mkdirSync(outside);
      writeFileSync(join(outside, "keep"), "not the machine's\n");
      expect((await runRaw("mount", ["-t", "tmpfs", "lc-test", join(dir, "root/run/user")])).code).toBe(0);
      writeFileSync(join(dir, "root/run/user/file"), "x");
      // a tmpfs inside the tmpfs (rootless Docker's mounts nest like this)
      mkdirSync(join(dir, "root/run/user/overlay"));
      expect(
        (await runRaw("mount", ["-t", "tmpfs", "lc-test", join(dir, "root/run/user/overlay")])).code,
      ).toBe(0);
      expect((await runRaw("mount", ["--bind", outside, join(dir, "root/mnt/data")])).code).toBe(0);
      expect(await mountsUnder(dir)).toHaveLength(3);

      await removeTree(dir);
      expect(existsSync(dir)).toBe(false);
      expect(await mountsUnder(dir)).toEqual([]);
      expect(readFileSync(join(outside, "keep"), "utf8")).toBe("not the machine's\n");
    },
  );

  it("fails with a LabError naming what is left and who still writes there, when it never goes", async () => {
    const dir = join(scratch(), "m3");
    mkdirSync(join(dir, "root"), { recursive: true });
    const writer = spawn(
      "sh",
      ["-c", `while :; do mkdir -p "$D/root/busy" && echo > "$D/root/busy/f"; done`],
      {
        cwd: join(dir, "root"),
        env: { ...process.env, D: dir },
        stdio: "ignore",
      },
    );
    await started(writer);
    const t0 = Date.now();
    const err = await removeTree(dir, { timeoutMs: 2000, holderGraceMs: 500 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(err).toBeInstanceOf(LabError);
    const msg = (err as Error).message;
    expect(msg).toContain(`cannot remove ${dir} within 2 s`);
    expect(msg).toContain(`still used by: PID ${writer.pid} (sh -c`);
    expect(msg).toMatch(/fix: stop those processes/);
    writer.kill("SIGKILL");
    await exited(writer);
    // once the writer is gone the same call succeeds
    await removeTree(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it("an idle process sitting in the tree does not block the removal", async () => {
    const dir = join(scratch(), "m4");
    mkdirSync(join(dir, "root"), { recursive: true });
    const idle = spawn("sleep", ["30"], { cwd: join(dir, "root"), stdio: "ignore" });
    await started(idle);
    const t0 = Date.now();
    await removeTree(dir, { holderGraceMs: 300 });
    expect(existsSync(dir)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
