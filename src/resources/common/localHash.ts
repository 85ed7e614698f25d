/**
 * sha256 of a file on the control machine, read in chunks (an image tarball can be larger than the memory
 * we want to use) and remembered by identity: device, inode, size and mtime, as make and rsync trust
 * them. A bundle of image tarballs is gigabytes; hashing it again on every run (a no-op, a --check) would
 * cost seconds each time.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { LocalProgress } from "../../engine/resource.js";

const CHUNK = 4 * 1024 * 1024;

export function localHashCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "lockclaw", "local-sha256.json");
}

type Memo = Record<string, { id: string; sha256: string }>;

function readMemo(file: string): Memo {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as Memo) : {};
  } catch {
    return {};
  }
}

export function hashFileChunked(path: string, progress?: LocalProgress): string {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, "r");
  try {
    const total = progress ? fstatSync(fd).size : 0;
    let bytes = 0;
    progress?.({ file: path, bytes, total });
    for (let n = readSync(fd, buf, 0, CHUNK, null); n > 0; n = readSync(fd, buf, 0, CHUNK, null)) {
      h.update(buf.subarray(0, n));
      bytes += n;
      progress?.({ file: path, bytes, total });
    }
    progress?.({ file: path, bytes, total, done: true });
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** The file's sha256, from the memo when the file is the one hashed before (then nothing is read). */
export function localSha256(path: string, memoFile = localHashCacheFile(), progress?: LocalProgress): string {
  const abs = resolve(path);
  const st = statSync(abs);
  const id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const memo = readMemo(memoFile);
  const known = memo[abs];
  if (known?.id === id && /^[0-9a-f]{64}$/.test(known.sha256)) return known.sha256;
  const sha256 = hashFileChunked(abs, progress);
  memo[abs] = { id, sha256 };
  try {
    mkdirSync(dirname(memoFile), { recursive: true });
    writeFileSync(memoFile, JSON.stringify(memo), { mode: 0o600 });
  } catch {
    // a read-only home only costs the next run a re-hash
  }
  return sha256;
}
