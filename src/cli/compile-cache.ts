/**
 * A V8 code cache for the bundled CLI and the CommonJS packages it requires (ssh2): compiling them was
 * the largest part of a no-op run's start-up, and Node 20 (Debian 13's) has no compile cache of its own
 * (`module.enableCompileCache` came in 22.1). bin/lockclaw.js loads the bundle through `loadBundle`.
 *
 * Cached bytecode runs as whoever loads it, often root. So a cache file is used only when no other user
 * could have written it: every directory on its path is owned by this user or root and writable by
 * nobody else (sticky ones like /tmp excepted, as OpenSSH's StrictModes does for a key's path), the cache
 * directory is this user's alone, and the file is this user's, writable only by them, with one link. And
 * it is used only for the exact source it was made from: its SHA-256 is recorded beside it, because V8's
 * own check compares the source's length only. Anything else (a missing, foreign, stale or rejected
 * entry) compiles from source, as Node would; a failure to write is silent.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import Module, { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, sep } from "node:path";
import { Script } from "node:vm";

/** What happened to one compiled file's cache entry. */
export type CacheOutcome = "hit" | "miss" | "stale" | "rejected" | "untrusted";

const MAGIC = Buffer.from("lockclaw-v8-cache-1\n");
const DIGEST_BYTES = 32;

/** The default cache directory: $XDG_CACHE_HOME/lockclaw/compile-cache (~/.cache/…); off when
 * LOCKCLAW_NO_COMPILE_CACHE is set. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LOCKCLAW_NO_COMPILE_CACHE) return undefined;
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), ".cache");
  return join(base, "lockclaw", "compile-cache");
}

const euid = () => process.geteuid?.() ?? -1;

/** True when no user but this one (or root) can change what `dir` holds: see the header. */
export function isPrivateDirectory(dir: string): boolean {
  let real: string;
  try {
    real = realpathSync(dir);
    const own = lstatSync(real);
    if (!own.isDirectory() || own.uid !== euid() || (own.mode & 0o077) !== 0) return false;
    for (let p = dirname(real); ; p = dirname(p)) {
      const st = lstatSync(p);
      if (st.uid !== euid() && st.uid !== 0) return false;
      if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) return false;
      if (p === dirname(p)) return true;
    }
  } catch {
    return false;
  }
}

/** The entry's bytes if this user alone wrote it (see the header); undefined otherwise. */
function readPrivateFile(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== euid() || (st.mode & 0o022) !== 0 || st.nlink !== 1) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export class CompileCache {
  /** Each compiled file's outcome, by file name (what the tests read). */
  readonly outcomes = new Map<string, CacheOutcome>();
  private readonly toWrite: Array<{ entry: string; digest: Buffer; script: Script }> = [];

  /** `dir` undefined or not private: everything compiles from source and nothing is written. */
  constructor(
    private readonly dir: string | undefined,
    private readonly tag = "",
  ) {
    if (dir === undefined) return;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch {
      /* unwritable: isPrivateDirectory says no */
    }
    if (!isPrivateDirectory(dir)) this.dir = undefined;
  }

  /** Compile a CommonJS wrapper around `source`, from the cache when it may be; returns the wrapper. */
  compileWrapper(source: string, filename: string): (...args: unknown[]) => unknown {
    const wrapped = Module.wrap(source);
    if (this.dir === undefined) {
      this.outcomes.set(filename, "untrusted");
      return new Script(wrapped, { filename }).runInThisContext() as (...args: unknown[]) => unknown;
    }
    // what the bytecode was made from: this source, this Node (V8 checks its own version and flags too)
    const digest = createHash("sha256")
      .update(source)
      .update(`\0${process.version}\0${process.arch}\0${filename}`)
      .digest();
    const entry = join(
      this.dir,
      `${createHash("sha256").update(`${filename}\0${this.tag}`).digest("hex").slice(0, 32)}.bin`,
    );
    const stored = readPrivateFile(entry);
    const header = MAGIC.length + DIGEST_BYTES;
    const fresh =
      stored !== undefined &&
      stored.length > header &&
      stored.subarray(0, MAGIC.length).equals(MAGIC) &&
      stored.subarray(MAGIC.length, header).equals(digest);
    const script = new Script(wrapped, {
      filename,
      ...(fresh ? { cachedData: stored.subarray(header) } : {}),
    });
    const outcome: CacheOutcome = !stored
      ? "miss"
      : !fresh
        ? "stale"
        : script.cachedDataRejected
          ? "rejected"
          : "hit";
    this.outcomes.set(filename, outcome);
    if (outcome !== "hit") this.toWrite.push({ entry, digest, script });
    return script.runInThisContext() as (...args: unknown[]) => unknown;
  }

  /**
   * Write the entries that were missing or out of date, with the functions this run compiled (V8 adds
   * what ran lazily): called at exit, so the next run of the same command skips their compilation too.
   */
  save(): void {
    if (this.dir === undefined) return;
    for (const { entry, digest, script } of this.toWrite.splice(0)) {
      const tmp = join(this.dir, `.${randomBytes(8).toString("hex")}.tmp`);
      try {
        writeFileSync(tmp, Buffer.concat([MAGIC, digest, script.createCachedData()]), {
          mode: 0o600,
          flag: "wx",
        });
        renameSync(tmp, entry);
      } catch {
        rmSync(tmp, { force: true });
      }
    }
  }

  /** Compile and run a CommonJS file as Node's loader would, through the cache; its exports. */
  load(file: string): unknown {
    const module = { exports: {} as unknown };
    const wrapper = this.compileWrapper(readFileSync(file, "utf8"), file);
    wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
    return module.exports;
  }

  /**
   * Route the packages' CommonJS files (ssh2, the bundle's one external package) through the cache;
   * returns what undoes it.
   */
  coverPackages(): () => void {
    // without a cache, Node's own loader compiles them as well as this would
    if (this.dir === undefined) return () => undefined;
    type Compile = (this: NodeJS.Module, content: string, filename: string) => unknown;
    const proto = Module.prototype as unknown as { _compile: Compile };
    const original = proto._compile;
    const packages = `${sep}node_modules${sep}`;
    const compileWrapper = this.compileWrapper.bind(this);
    proto._compile = function (content, filename) {
      // a hashbang is valid only at a script's very start, not inside the wrapper
      if (!filename.includes(packages) || content.startsWith("#!"))
        return original.call(this, content, filename);
      const wrapper = compileWrapper(content, filename);
      return wrapper.call(
        this.exports,
        this.exports,
        createRequire(filename),
        this,
        filename,
        dirname(filename),
      );
    };
    return () => {
      proto._compile = original;
    };
  }
}

/**
 * Run the bundled CLI (a CommonJS file) through a code cache kept per command (`tag`, e.g. "provision
 * host"): each command's cache then holds the functions that command runs.
 */
export function loadBundle(file: string, tag: string): { main: (argv: string[]) => Promise<number> } {
  const cache = new CompileCache(defaultCacheDir(), tag);
  cache.coverPackages();
  process.once("exit", () => cache.save());
  return cache.load(file) as { main: (argv: string[]) => Promise<number> };
}
