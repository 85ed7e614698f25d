/**
 * `lab:NAME` as a ConnectionTarget, read from the machine's state file alone: a provision run resolves
 * its targets before its early login can start, and machine.ts (booting, rootfs builds, yaml) is a
 * fifth of a no-op process's start-up to compile for nothing.
 */
import { resolve } from "node:path";
import type { ConnectionTarget } from "../transport/types.js";
import { LabError } from "./errors.js";
import { defaultLabDir, machinePaths, validateMachineName } from "./paths.js";
import { readState } from "./state.js";

/** The ConnectionTarget for `lab:NAME`: address, user, key and the pinned host keys from the lab state. */
export async function resolveLabTarget(
  name: string,
  labDir: string = defaultLabDir(),
): Promise<ConnectionTarget> {
  validateMachineName(name);
  const s = await readState(labDir, name);
  if (!s) {
    throw new LabError(`no lab machine named ${name} in ${labDir}\n  fix: lockclaw lab up ${name}`);
  }
  const p = machinePaths(labDir, name);
  return {
    name: `lab:${name}`,
    // the machine, not its name: `lab:t1` of another lab directory, or a new t1 here, is another one
    stateKey: `lab:${resolve(labDir)}/${name}@${s.createdAt}`,
    host: s.address,
    port: 22,
    user: s.user,
    identityFiles: [p.key],
    hostKeyPolicy: "strict",
    knownHostsFile: p.knownHosts,
  };
}
