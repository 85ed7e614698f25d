/** Each machine's state file and the allocation of its private /24. */
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { LabError } from "./errors.js";
import { machinePaths, machinesDir } from "./paths.js";

export type Distro = "trixie" | "bookworm";
export const DISTROS: readonly Distro[] = ["trixie", "bookworm"];

export type LabUser = "root" | "debian";

export interface MachineState {
  name: string;
  distro: Distro;
  /** X in 10.213.X.0/24: the machine's own network, on its own veth only. */
  subnet: number;
  /** Address of the machine (host0), `10.213.X.2`. */
  address: string;
  /** Address of the host side of the veth, `10.213.X.1`. */
  hostAddress: string;
  veth: string;
  user: LabUser;
  sshSocket: boolean;
  /** PID of the systemd-nspawn process; absent while the machine is being prepared. */
  pid?: number;
  rootfs: string;
  createdAt: string;
}

/** The lab's private range. 10.213/16 is unlikely to clash with a real network; only veths we make use it. */
export const SUBNET_PREFIX = "10.213";
export const SUBNET_MIN = 1;
export const SUBNET_MAX = 254;

export function subnetAddresses(subnet: number): { network: string; host: string; machine: string } {
  return {
    network: `${SUBNET_PREFIX}.${subnet}.0/24`,
    host: `${SUBNET_PREFIX}.${subnet}.1`,
    machine: `${SUBNET_PREFIX}.${subnet}.2`,
  };
}

/** The lowest free subnet number, skipping those in use by this lab or seen on any host interface. */
export function allocateSubnet(inUse: Iterable<number>): number {
  const taken = new Set(inUse);
  for (let x = SUBNET_MIN; x <= SUBNET_MAX; x++) if (!taken.has(x)) return x;
  throw new LabError(
    `no free lab subnet left in ${SUBNET_PREFIX}.${SUBNET_MIN}-${SUBNET_MAX}.0/24\n  fix: lockclaw lab down --all`,
  );
}

/** Subnet numbers of 10.213.X.Y addresses found in `ip -j addr` output (other labs, leftovers). */
export function subnetsInIpAddrJson(json: string): number[] {
  const out: number[] = [];
  const links = JSON.parse(json) as Array<{ addr_info?: Array<{ family?: string; local?: string }> }>;
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      const m = /^10\.213\.(\d+)\.\d+$/.exec(a.local ?? "");
      if (m) out.push(Number(m[1]));
    }
  }
  return out;
}

export async function readState(labDir: string, name: string): Promise<MachineState | undefined> {
  const file = machinePaths(labDir, name).state;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as MachineState;
  } catch (err) {
    throw new LabError(`${file}: corrupt lab state\n  fix: lockclaw lab down --all`, { cause: err });
  }
}

/** Written atomically so a crash never leaves half a state file for `down --all` to trip on. */
export async function writeState(labDir: string, state: MachineState): Promise<void> {
  const paths = machinePaths(labDir, state.name);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const tmp = `${paths.state}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
  await rename(tmp, paths.state);
}

/** Names of all machine directories (with or without a state file). */
export async function machineNames(labDir: string): Promise<string[]> {
  try {
    const entries = await readdir(machinesDir(labDir), { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

export async function listStates(labDir: string): Promise<MachineState[]> {
  const out: MachineState[] = [];
  for (const name of await machineNames(labDir)) {
    const state = await readState(labDir, name).catch(() => undefined);
    if (state) out.push(state);
  }
  return out;
}
