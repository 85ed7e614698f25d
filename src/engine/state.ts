/**
 * Local memory of how each host is reached after lockclaw moved its SSH port and login user, so a
 * re-run needs no edits. One JSON file, 0600, under $XDG_STATE_HOME/lockclaw.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stateDir } from "./paths.js";

export interface HostState {
  host: string;
  user: string;
  port: number;
  /** Host-key fingerprint verified when this login was proven. */
  hostKey?: string;
  updatedAt: string;
}

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

  get(name: string): HostState | undefined {
    return this.readAll()[name];
  }

  set(name: string, state: Omit<HostState, "updatedAt">): void {
    const all = this.readAll();
    all[name] = { ...state, updatedAt: new Date().toISOString() };
    mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
    // write-then-rename: parallel hosts (--forks) must not leave a torn file
    const tmp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
