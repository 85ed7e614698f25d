/** Finding and stopping the lab's systemd-nspawn processes by PID, never by name. */
import { readdir, readFile } from "node:fs/promises";
import { pidAlive } from "./lock.js";

export async function cmdlineOf(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return raw.split("\0").filter((s) => s.length > 0);
  } catch {
    return undefined;
  }
}

/** The `-D`/`--directory` of an nspawn command line, if it is one. */
export function nspawnRoot(cmdline: string[]): string | undefined {
  if (!cmdline[0] || !/(^|\/)systemd-nspawn$/.test(cmdline[0])) return undefined;
  for (let i = 1; i < cmdline.length; i++) {
    const arg = cmdline[i]!;
    if ((arg === "-D" || arg === "--directory") && cmdline[i + 1]) return cmdline[i + 1];
    if (arg.startsWith("--directory=")) return arg.slice("--directory=".length);
  }
  return undefined;
}

/** True when `pid` is a live systemd-nspawn running the tree at `root` (guards against PID reuse). */
export async function isNspawnOf(pid: number, root: string): Promise<boolean> {
  const cmd = await cmdlineOf(pid);
  return cmd !== undefined && nspawnRoot(cmd) === root;
}

/** All systemd-nspawn processes whose root directory lies under `dir`. */
export async function nspawnsUnder(dir: string): Promise<Array<{ pid: number; root: string }>> {
  const out: Array<{ pid: number; root: string }> = [];
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await cmdlineOf(Number(entry));
    const root = cmd && nspawnRoot(cmd);
    if (root && root.startsWith(prefix)) out.push({ pid: Number(entry), root });
  }
  return out;
}

/** The container's init: nspawn's only child once the container runs. */
export async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text
    .trim()
    .split(/\s+/)
    .filter((s) => s.length > 0)
    .map(Number);
}

/** Waits until `pid` is gone (or is a zombie: nothing left to stop). */
export async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) || (await isZombie(pid))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !pidAlive(pid);
}

/** The kernel's start time of `pid` (clock ticks since boot), to tell it from a later process reusing the PID. */
export async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  if (!stat) return undefined;
  // fields after the parenthesised command name: state is 3rd, starttime 22nd
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

/** Like waitExit, for a process that is not our child: gone, a zombie, or its PID taken by another. */
export async function waitGone(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await startTimeOf(pid)) !== startTime || (await isZombie(pid))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // state is the field after the parenthesised command name
  return / Z /.test(stat.slice(stat.lastIndexOf(")")));
}

/** Mount points at or below `dir` in the host's mount table, deepest first (the order to unmount). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/mounts", "utf8");
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return text
    .split("\n")
    .map((l) => l.split(" ")[1])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\040/g, " "))
    .filter((m) => m === dir || m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}
