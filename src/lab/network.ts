/**
 * The host side of a machine's veth. Only addresses of the machine's own /24 are put on it: no NAT, no
 * route out, so a machine can reach nothing but the host's end of its own link.
 */
import { readFile } from "node:fs/promises";
import { LabError } from "./errors.js";
import { run, runRaw } from "./run.js";
import { subnetsInIpAddrJson } from "./state.js";

export async function linkExists(name: string): Promise<boolean> {
  return (await runRaw("ip", ["link", "show", "dev", name])).code === 0;
}

/** Waits for nspawn to create the host side of the veth; gives up when `alive()` says nspawn died. */
export async function waitForLink(name: string, deadlineMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await linkExists(name))) {
    if (!alive()) throw new LabError(`systemd-nspawn exited before it created ${name}`);
    if (Date.now() > deadline) throw new LabError(`${name} did not appear within ${deadlineMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function configureHostSide(veth: string, hostAddress: string): Promise<void> {
  await run("ip", ["addr", "add", `${hostAddress}/24`, "dev", veth]);
  await run("ip", ["link", "set", veth, "up"]);
}

export async function removeLink(name: string): Promise<void> {
  if (await linkExists(name)) await runRaw("ip", ["link", "del", name]);
}

/** Subnets of 10.213/16 already on some host interface (another lab dir's machines, leftovers). */
export async function hostSubnetsInUse(): Promise<number[]> {
  const res = await runRaw("ip", ["-j", "-4", "addr"]);
  return res.code === 0 ? subnetsInIpAddrJson(res.stdout) : [];
}

/** Names of host links starting with `ve-`, the ones nspawn makes. */
export async function vethLinks(): Promise<string[]> {
  const text = await readFile("/proc/net/dev", "utf8");
  return text
    .split("\n")
    .map((l) => l.split(":")[0]!.trim())
    .filter((n) => n.startsWith("ve-"));
}
