/**
 * Local memory of how each machine is reached after lockclaw moved its SSH port and login user, so a
 * re-run needs no edits. One JSON file, 0600, under $XDG_STATE_HOME/lockclaw.
 *
 * Keyed by what identifies the machine, never by the name the user typed: a name (`web1`, `lab:t1`) is
 * reused for another machine in another inventory or lab directory, and that machine must not be sent
 * the first one's login. See stateKeyOf.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ConnectionTarget } from "../transport/types.js";
import { stateDir } from "./paths.js";

export interface HostState {
  host: string;
  user: string;
  port: number;
  /** Host-key fingerprint verified when this login was proven. */
  hostKey?: string;
  updatedAt: string;
}

/**
 * The machine a target reaches: a lab machine's own key (its lab directory, name and creation time),
 * else the SSH address as resolved (HostName and port, after ~/.ssh/config) and the jump host it is
 * reached through.
 */
export function stateKeyOf(t: ConnectionTarget): string {
  if (t.stateKey) return t.stateKey;
  const host = t.host.includes(":") ? `[${t.host}]` : t.host;
  return `ssh:${host}:${t.port}${t.proxyJump ? ` via ${stateKeyOf(t.proxyJump)}` : ""}`;
}

/** Keys of this format; anything else in the file (the old name-keyed entries) is dropped on write. */
const CURRENT_KEY = /^(ssh:|lab:\/|vagrant:\/)/;

export class HostStateStore {
  constructor(private readonly file = join(stateDir(), "hosts.json")) {}

  /** The file as last parsed, with its stamp: every host of a fleet reads it as it connects. */
  private cache?: { stamp: string; all: Record<string, HostState> };

  private readAll(): Record<string, HostState> {
    try {
      const st = statSync(this.file);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      if (this.cache?.stamp !== stamp) {
        this.cache = { stamp, all: JSON.parse(readFileSync(this.file, "utf8")) as Record<string, HostState> };
      }
      // a copy: set() changes it
      return { ...this.cache.all };
    } catch {
      return {};
    }
  }

  get(key: string): HostState | undefined {
    return CURRENT_KEY.test(key) ? this.readAll()[key] : undefined;
  }

  set(key: string, state: Omit<HostState, "updatedAt">): void {
    this.update((all) => {
      all[key] = { ...state, updatedAt: new Date().toISOString() };
    });
  }

  /** Forget every machine whose key starts with `prefix` (e.g. a lab machine that was removed); how many. */
  forget(prefix: string): number {
    let n = 0;
    this.update((all) => {
      for (const k of Object.keys(all)) {
        if (k.startsWith(prefix)) {
          delete all[k];
          n++;
        }
      }
    });
    return n;
  }

  private update(change: (all: Record<string, HostState>) => void): void {
    const all = Object.fromEntries(Object.entries(this.readAll()).filter(([k]) => CURRENT_KEY.test(k)));
    change(all);
    mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
    // write-then-rename: parallel hosts (--forks) must not leave a torn file
    const tmp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/** The key prefix of a lab machine (of every machine of the lab without a name). */
export function labStatePrefix(labDir: string, name?: string): string {
  return `lab:${resolve(labDir)}/${name === undefined ? "" : `${name}@`}`;
}
