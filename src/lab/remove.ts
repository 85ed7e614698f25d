/**
 * Removing a machine directory for good. A machine that ran the stack leaves work behind for a moment
 * after its nspawn exits (processes still exiting and writing, rootless Docker's overlay mounts), and a
 * single `rm -rf` then meets "Directory not empty" and leaves the machine half-removed. So: wait for the
 * processes using the tree, unmount what is mounted below it, and remove it with bounded retries; if it
 * never goes, say exactly what is still there.
 */
import { existsSync } from "node:fs";
import { readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { LabError } from "./errors.js";
import { cmdlineOf, mountsUnder } from "./procs.js";
import { runRaw } from "./run.js";

export interface RemoveTreeOptions {
  /** Give up (LabError) after this long. Default 60 s. */
  timeoutMs?: number;
  /**
   * How long to wait for processes whose cwd, root or an open file lies in the tree before removing
   * anyway (an idle shell sitting in the directory must not block a teardown). Default 20 s.
   */
  holderGraceMs?: number;
  log?: (line: string) => void;
}

export interface Holder {
  pid: number;
  command: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function under(path: string, dir: string): boolean {
  const p = path.endsWith(" (deleted)") ? path.slice(0, -" (deleted)".length) : path;
  return p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/**
 * Host processes whose cwd, root or an open file descriptor lies under `dir`. (A container's own
 * processes see their root as `/` and are not found this way: stopMachine waits for the container's
 * init, which the kernel lets exit only after every process of its PID namespace is gone.)
 */
export async function holdersUnder(dir: string): Promise<Holder[]> {
  const out: Holder[] = [];
  const entries = await readdir("/proc").catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const links: string[] = [];
    for (const l of ["cwd", "root"]) {
      const target = await readlink(`/proc/${pid}/${l}`).catch(() => undefined);
      if (target) links.push(target);
    }
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
      if (target) links.push(target);
    }
    if (links.some((l) => under(l, dir))) {
      const cmd = await cmdlineOf(pid);
      if (cmd !== undefined) out.push({ pid, command: cmd.join(" ").slice(0, 120) || "?" });
    }
  }
  return out;
}

/** Unmounts everything mounted at or below `dir`, deepest first; lazily when a mount is busy. */
export async function unmountUnder(dir: string): Promise<string[]> {
  for (const m of await mountsUnder(dir)) {
    if ((await runRaw("umount", [m])).code !== 0) await runRaw("umount", ["-l", m]);
  }
  return mountsUnder(dir);
}

async function staysGone(dir: string, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    await sleep(100);
    if (existsSync(dir)) return false;
  }
  return true;
}

/** Up to `max` paths still in the tree, to name in an error. */
async function leftovers(dir: string, max = 5): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const names = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const n of names) {
      if (found.length >= max) return;
      const p = join(d, n.name);
      if (n.isDirectory()) {
        const before = found.length;
        await walk(p);
        if (found.length === before && found.length < max) found.push(`${p}/`);
      } else found.push(p);
    }
  };
  await walk(dir);
  return found;
}

/** Removes `dir` and everything in it, never crossing into a filesystem mounted below it. */
export async function removeTree(dir: string, options: RemoveTreeOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const graceMs = Math.min(options.holderGraceMs ?? 20_000, timeoutMs);
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const deadline = started + timeoutMs;
  if (!existsSync(dir)) return;

  // 1. Let the processes still using the tree finish (they would refill what rm empties).
  let holders = await holdersUnder(dir);
  if (holders.length > 0) {
    log(`lab: waiting for ${holders.map((h) => `PID ${h.pid}`).join(", ")} to leave ${dir}`);
    while (holders.length > 0 && Date.now() - started < graceMs) {
      await sleep(100);
      holders = await holdersUnder(dir);
    }
  }

  // 2. Unmount, then remove; both again until the tree is gone or the time is up.
  let lastError = "";
  let mounts: string[] = [];
  for (let attempt = 1; ; attempt++) {
    mounts = await unmountUnder(dir);
    if (mounts.length === 0) {
      // --one-file-system: should a mount appear meanwhile, never follow into it.
      const res = await runRaw("rm", ["-rf", "--one-file-system", dir]);
      // with a process still in the tree, gone must mean gone for a while, not refilled at once
      if (res.code === 0 && !existsSync(dir) && (holders.length === 0 || (await staysGone(dir, 1000)))) {
        if (attempt > 1) log(`lab: removed ${dir} at attempt ${attempt}`);
        return;
      }
      lastError =
        res.code === 0
          ? "it was refilled right after removal"
          : res.stderr.trim().split("\n").slice(0, 3).join("; ") || `rm exited ${res.code}`;
    } else {
      lastError = "mounts are still there";
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(100 * attempt, 1000, Math.max(0, deadline - Date.now())));
  }

  holders = await holdersUnder(dir);
  const left = await leftovers(dir);
  const parts = [`cannot remove ${dir} within ${(timeoutMs / 1000).toFixed(0)} s (last: ${lastError})`];
  if (left.length) parts.push(`  still there: ${left.join(", ")}`);
  if (mounts.length) parts.push(`  still mounted: ${mounts.join(", ")}`);
  if (holders.length) {
    parts.push(`  still used by: ${holders.map((h) => `PID ${h.pid} (${h.command})`).join(", ")}`);
  }
  parts.push(
    holders.length
      ? "  fix: stop those processes, then run lockclaw lab down again"
      : "  fix: run lockclaw lab down again; if it stays, umount and remove the directory by hand",
  );
  throw new LabError(parts.join("\n"));
}
