/**
 * A lock file between processes (two test workers, or `lab up` in two terminals). Node has no flock, so
 * the lock is an O_EXCL file holding the owner's PID; a lock whose owner is dead is taken over.
 */
import { open, readFile, unlink } from "node:fs/promises";
import { LabError } from "./errors.js";

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function withLock<T>(
  file: string,
  fn: () => Promise<T>,
  options: { timeoutMs?: number; onWait?: () => void } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  let warned = false;
  for (;;) {
    try {
      const fh = await open(file, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
      // An empty file is a lock being written right now; only a dead owner's lock is stale.
      if (owner > 0 && owner !== process.pid && !pidAlive(owner)) {
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new LabError(`timed out waiting for lock ${file} (held by PID ${owner || "?"})`);
      }
      if (!warned) options.onWait?.();
      warned = true;
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 200));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(file).catch(() => undefined);
  }
}
