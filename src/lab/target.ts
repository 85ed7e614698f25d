/** `lab:NAME` and `vagrant:NAME` target names, resolved to connection targets. */
import type { ConnectionTarget } from "../transport/types.js";
import { resolveLabTarget } from "./machine.js";
import { resolveVagrantTarget } from "./vagrant.js";

export function isLabTarget(spec: string): boolean {
  return spec.startsWith("lab:");
}

export function isVagrantTarget(spec: string): boolean {
  return spec.startsWith("vagrant:");
}

/** A ConnectionTarget for `lab:NAME` / `vagrant:NAME`; undefined for any other spec (resolved elsewhere). */
export async function resolveTarget(
  spec: string,
  options: { labDir?: string; vagrantCwd?: string } = {},
): Promise<ConnectionTarget | undefined> {
  if (isLabTarget(spec)) return resolveLabTarget(spec.slice("lab:".length), options.labDir);
  if (isVagrantTarget(spec))
    return resolveVagrantTarget(spec.slice("vagrant:".length), { cwd: options.vagrantCwd });
  return undefined;
}
