/** Where the lab keeps its state: one directory holding rootfs caches, machines and locks. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { LabError } from "./errors.js";

/** `$LOCKCLAW_LAB_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/lockclaw/lab`. */
export function defaultLabDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LOCKCLAW_LAB_DIR) return resolve(env.LOCKCLAW_LAB_DIR);
  const cache = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return resolve(cache, "lockclaw", "lab");
}

export interface MachinePaths {
  dir: string;
  root: string;
  state: string;
  console: string;
  key: string;
  knownHosts: string;
}

export function machinesDir(labDir: string): string {
  return join(labDir, "machines");
}

export function rootfsDir(labDir: string): string {
  return join(labDir, "rootfs");
}

export function machinePaths(labDir: string, name: string): MachinePaths {
  const dir = join(machinesDir(labDir), name);
  return {
    dir,
    root: join(dir, "root"),
    state: join(dir, "state.json"),
    console: join(dir, "console.log"),
    key: join(dir, "id_ed25519"),
    knownHosts: join(dir, "known_hosts"),
  };
}

/**
 * nspawn names the host side of the veth `ve-NAME` and an interface name holds at most 15 bytes, so a
 * longer name would be shortened (or hashed) by nspawn and we could no longer find the link.
 */
export const MACHINE_NAME = /^[a-z][a-z0-9-]{0,11}$/;

export function validateMachineName(name: string): string {
  if (!MACHINE_NAME.test(name)) {
    throw new LabError(
      `invalid lab machine name ${JSON.stringify(name)}\n` +
        "  fix: use 1-12 characters: a lowercase letter first, then lowercase letters, digits or '-'",
    );
  }
  return name;
}

export function vethName(name: string): string {
  return `ve-${name}`;
}
