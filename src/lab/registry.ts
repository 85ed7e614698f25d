/**
 * Host-wide reservations of lab subnets. Each lab directory has its own state, but the /24s and the
 * veth names live in the host's one network namespace: two lab dirs booting at the same moment must
 * not pick the same /24 before either has configured its veth. Reservations are files under /run
 * (gone at reboot), taken under one host-wide lock, and a reservation whose machine no longer exists
 * in its lab dir is stale and ignored.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { withLock } from "./lock.js";
import { readState } from "./state.js";

export const REGISTRY_DIR = process.env.LOCKCLAW_LAB_REGISTRY ?? "/run/lockclaw-lab";

interface Reservation {
  subnet: number;
  labDir: string;
  name: string;
}

const fileOf = (subnet: number) => join(REGISTRY_DIR, `subnet-${subnet}`);

async function live(): Promise<Reservation[]> {
  const out: Reservation[] = [];
  for (const f of await readdir(REGISTRY_DIR).catch(() => [] as string[])) {
    const m = /^subnet-(\d+)$/.exec(f);
    if (!m) continue;
    const [labDir = "", name = ""] = (await readFile(join(REGISTRY_DIR, f), "utf8").catch(() => "")).split(
      "\n",
    );
    const state = labDir && name ? await readState(labDir, name).catch(() => undefined) : undefined;
    if (state?.subnet === Number(m[1])) out.push({ subnet: Number(m[1]), labDir, name });
    else await rm(join(REGISTRY_DIR, f), { force: true });
  }
  return out;
}

/**
 * Runs `choose` with every subnet reserved by any lab dir on this host, and records the one it picked
 * for (labDir, name). `choose` must write the machine's state before returning (so the reservation is live).
 */
export async function reserveSubnet(
  labDir: string,
  name: string,
  choose: (reserved: number[]) => Promise<number>,
): Promise<number> {
  await mkdir(REGISTRY_DIR, { recursive: true, mode: 0o700 });
  return withLock(join(REGISTRY_DIR, "registry.lock"), async () => {
    const subnet = await choose((await live()).map((r) => r.subnet));
    await writeFile(fileOf(subnet), `${labDir}\n${name}\n`, { mode: 0o600 });
    return subnet;
  });
}

export async function releaseSubnet(labDir: string, name: string, subnet: number | undefined): Promise<void> {
  if (subnet === undefined) return;
  const [dir, n] = (await readFile(fileOf(subnet), "utf8").catch(() => "")).split("\n");
  if (dir === labDir && n === name) await rm(fileOf(subnet), { force: true });
}
