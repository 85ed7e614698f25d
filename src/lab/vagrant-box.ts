/**
 * Vagrant boxes for the lxc provider (vagrant-lxc), built offline from the lab's pristine rootfs, and
 * the host-only network they need: a bridge with a private /24 and a DHCP-only dnsmasq that hands each
 * box (known by its fixed MAC) its fixed address. No NAT, no forwarding, no gateway, no DNS: a box
 * reaches this host's end of the bridge and nothing else (never lxc-net: it adds MASQUERADE and turns
 * on ip_forward).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LabError } from "./errors.js";
import { pidAlive, withLock } from "./lock.js";
import { linkExists } from "./network.js";
import { cmdlineOf } from "./procs.js";
import { ensureRootfs } from "./rootfs.js";
import { run, runRaw } from "./run.js";
import type { Distro } from "./state.js";
import { storePackages } from "./store.js";
import { addVagrantLogin, vagrantInsecureKey } from "./box-login.js";
import { buildLibvirtBox, dropLibvirtBoxVolumes, libvirtBoxInputs } from "./vagrant-box-libvirt.js";
import { VAGRANT_BRIDGE, VAGRANT_HOST_ADDRESS, VAGRANT_NET_PREFIX } from "./vagrant-net-names.js";

export { VAGRANT_BRIDGE, VAGRANT_HOST_ADDRESS, VAGRANT_NET_PREFIX } from "./vagrant-net-names.js";
export { vagrantInsecureKey } from "./box-login.js";

/** Bump when the box's contents below change, so boxes built by older code are not reused. */
const BOX_LAYOUT = 1;

export const BOX_NAMES: Record<Distro, string> = {
  trixie: "lockclaw/debian13",
  bookworm: "lockclaw/debian12",
};

/** The MAC the Vagrantfile gives a box with address a.b.c.d: 02:00 (locally administered) + the address. */
export function macForAddress(ip: string): string {
  const octets = ip.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new LabError(`${JSON.stringify(ip)} is not an IPv4 address`);
  }
  return ["02", "00", ...octets.map((o) => o.toString(16).padStart(2, "0"))].join(":");
}

/** The boxes of vagrant/boxes.json on the lab network: name → address. */
export function boxAddresses(boxesJson: string): Array<{ name: string; ip: string }> {
  const boxes = JSON.parse(boxesJson) as Record<string, { ip?: string }>;
  return Object.entries(boxes)
    .filter(([, b]) => typeof b.ip === "string" && b.ip.startsWith(`${VAGRANT_NET_PREFIX}.`))
    .map(([name, b]) => ({ name, ip: b.ip! }));
}

/** dnsmasq's argv: DHCP only (no DNS: --port=0), static leases only, no router, no DNS server handed out. */
export function dnsmasqArgs(dir: string, hosts: Array<{ ip: string }>): string[] {
  return [
    "--conf-file=/dev/null",
    "--port=0",
    "--no-resolv",
    "--no-hosts",
    "--bind-interfaces",
    `--interface=${VAGRANT_BRIDGE}`,
    "--except-interface=lo",
    // "static": only the addresses below are handed out, each to its own MAC
    `--dhcp-range=${VAGRANT_NET_PREFIX}.0,static,255.255.255.0,12h`,
    ...hosts.map((h) => `--dhcp-host=${macForAddress(h.ip)},${h.ip}`),
    // empty options 3 (router) and 6 (DNS): no default route, no resolver
    "--dhcp-option=3",
    "--dhcp-option=6",
    "--dhcp-authoritative",
    `--dhcp-leasefile=${join(dir, "leases")}`,
    `--pid-file=${join(dir, "dnsmasq.pid")}`,
  ];
}

export function vagrantNetDir(labDir: string): string {
  return join(labDir, "vagrant-net");
}

/** The PID in the pid file, when that process is still our dnsmasq (its argv names our pid file). */
async function ourDnsmasq(dir: string): Promise<number | undefined> {
  const pidFile = join(dir, "dnsmasq.pid");
  const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return undefined;
  const cmd = await cmdlineOf(pid);
  return cmd?.some((a) => a === `--pid-file=${pidFile}`) ? pid : undefined;
}

export interface VagrantNetStatus {
  bridge: boolean;
  dnsmasqPid?: number;
}

export async function vagrantNetStatus(labDir: string): Promise<VagrantNetStatus> {
  return { bridge: await linkExists(VAGRANT_BRIDGE), dnsmasqPid: await ourDnsmasq(vagrantNetDir(labDir)) };
}

/** Creates the bridge (host address .1/24) and starts dnsmasq on it; a no-op when both are there. */
export async function vagrantNetUp(
  labDir: string,
  boxesJson: string,
  log: (l: string) => void = () => undefined,
): Promise<VagrantNetStatus> {
  const dir = vagrantNetDir(labDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withLock(join(dir, "net.lock"), async () => {
    if (!(await linkExists(VAGRANT_BRIDGE))) {
      await run("ip", ["link", "add", VAGRANT_BRIDGE, "type", "bridge"]);
      log(`lab: bridge ${VAGRANT_BRIDGE} created`);
    }
    const addrs = await run("ip", ["-4", "-o", "addr", "show", "dev", VAGRANT_BRIDGE]);
    if (!addrs.includes(`inet ${VAGRANT_HOST_ADDRESS}/24`)) {
      await run("ip", ["addr", "add", `${VAGRANT_HOST_ADDRESS}/24`, "dev", VAGRANT_BRIDGE]);
    }
    await run("ip", ["link", "set", VAGRANT_BRIDGE, "up"]);
    let pid = await ourDnsmasq(dir);
    if (pid === undefined) {
      await rm(join(dir, "dnsmasq.pid"), { force: true });
      // dnsmasq drops to an unprivileged user: its lease file must be there before it does
      await writeFile(join(dir, "leases"), "", { flag: "a" });
      await run("dnsmasq", dnsmasqArgs(dir, boxAddresses(boxesJson)));
      pid = await ourDnsmasq(dir);
      if (pid === undefined) throw new LabError(`dnsmasq started but wrote no pid file in ${dir}`);
      log(
        `lab: DHCP (dnsmasq PID ${pid}) on ${VAGRANT_BRIDGE}, ${VAGRANT_NET_PREFIX}.0/24, no NAT, no route`,
      );
    }
    return { bridge: true, dnsmasqPid: pid };
  });
}

/** Stops our dnsmasq (by its pid file) and deletes the bridge; nothing of the network is left. */
export async function vagrantNetDown(
  labDir: string,
  log: (l: string) => void = () => undefined,
): Promise<void> {
  const dir = vagrantNetDir(labDir);
  const pid = await ourDnsmasq(dir);
  if (pid !== undefined) {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (pidAlive(pid)) process.kill(pid, "SIGKILL");
    log(`lab: dnsmasq PID ${pid} stopped`);
  }
  if (await linkExists(VAGRANT_BRIDGE)) {
    await runRaw("ip", ["link", "del", VAGRANT_BRIDGE]);
    log(`lab: bridge ${VAGRANT_BRIDGE} deleted`);
  }
  await rm(dir, { recursive: true, force: true });
}

/** The LXC config vagrant-lxc appends to the container's: a veth on our bridge, cgroup2, no AppArmor. */
export function lxcConfig(): string {
  return [
    "lxc.include = /usr/share/lxc/config/common.conf",
    "lxc.arch = amd64",
    "lxc.apparmor.profile = unconfined",
    "lxc.net.0.type = veth",
    `lxc.net.0.link = ${VAGRANT_BRIDGE}`,
    "lxc.net.0.name = eth0",
    "lxc.net.0.flags = up",
    // systemd wants cgroup v2; a hybrid host gets the container its own cgroup2 tree
    "lxc.mount.auto = proc:mixed sys:mixed",
    "lxc.mount.entry = cgroup2 sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,create=dir 0 0",
    "lxc.autodev = 1",
    "",
  ].join("\n");
}

export type BoxProvider = "lxc" | "libvirt";
export const BOX_PROVIDERS: readonly BoxProvider[] = ["lxc", "libvirt"];

export interface LabBox {
  name: string;
  distro: Distro;
  provider: BoxProvider;
  file: string;
  built: boolean;
  added: boolean;
  buildSeconds: number;
}

/**
 * The box file for `distro` and `provider`, built from the pristine rootfs when its inputs changed (its
 * name carries their hash), and `vagrant box add`ed when Vagrant does not have this build yet.
 */
export async function labBox(options: {
  labDir: string;
  distro: Distro;
  provider?: BoxProvider;
  playbooks?: string[];
  add?: boolean;
  vagrant?: string;
  log?: (l: string) => void;
}): Promise<LabBox> {
  const log = options.log ?? (() => undefined);
  const { labDir, distro } = options;
  const provider = options.provider ?? "lxc";
  const pristine = await ensureRootfs({
    labDir,
    distro,
    storePackages: storePackages(options.playbooks),
    log,
  });
  const key = vagrantInsecureKey();
  const inputs =
    provider === "lxc"
      ? { v: BOX_LAYOUT, rootfs: pristine.path, key, lxc: lxcConfig() }
      : libvirtBoxInputs(pristine.path, key);
  const hash = createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
  const dir = join(labDir, "boxes");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const prefix = `lockclaw-${distro}-${provider}-`;
  const file = join(dir, `${prefix}${hash}.box`);
  const name = BOX_NAMES[distro];
  const started = Date.now();
  let built = false;
  await withLock(join(dir, `${distro}-${provider}.lock`), async () => {
    if (existsSync(file)) return;
    if (provider === "lxc") await buildBox(pristine.path, file, distro, key);
    else await buildLibvirtBox({ pristine: pristine.path, file, distro, insecureKey: key, log });
    built = true;
    // older builds of this distro's box
    for (const f of readdirSync(dir)) {
      if (f.startsWith(prefix) && join(dir, f) !== file) await rm(join(dir, f), { force: true });
    }
  });
  const buildSeconds = (Date.now() - started) / 1000;
  if (built) log(`lab: box ${name} (${provider}) built in ${buildSeconds.toFixed(1)} s (${file})`);
  let added = false;
  if (options.add !== false) {
    const vagrant = options.vagrant ?? "vagrant";
    // the lxc stamp keeps its first name, so boxes added by older code are not added again
    const stamp = join(dir, provider === "lxc" ? `added-${distro}` : `added-${distro}-${provider}`);
    const have = await readFile(stamp, "utf8").catch(() => "");
    const list = await run(vagrant, ["box", "list"]);
    const listed = list.split("\n").some((l) => l.startsWith(`${name} `) && l.includes(`(${provider},`));
    if (!listed || have.trim() !== hash) {
      await run(vagrant, ["box", "add", "--force", "--name", name, "--provider", provider, file], {
        timeoutMs: 10 * 60_000,
      });
      await writeFile(stamp, `${hash}\n`);
      added = true;
      log(`lab: vagrant box add ${name} (${provider})`);
      if (provider === "libvirt") await dropLibvirtBoxVolumes(name, log);
    }
  }
  return { name, distro, provider, file, built, added, buildSeconds };
}

async function buildBox(pristine: string, file: string, distro: Distro, insecureKey: string): Promise<void> {
  const stage = `${file}.build-${process.pid}`;
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  try {
    const r = join(stage, "rootfs");
    await run("cp", ["-a", "--reflink=auto", pristine, r]);
    await rm(join(r, ".lockclaw-complete"), { force: true });
    await addVagrantLogin(r, insecureKey);
    // its address from the bridge's DHCP (the MAC the Vagrantfile sets), no IPv6 autoconfiguration
    await writeFile(
      join(r, "etc/systemd/network/10-eth0.network"),
      "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
    );
    await writeFile(join(r, "etc/machine-id"), "");
    await writeFile(join(r, "etc/hostname"), `lockclaw-${distro}\n`);
    // Lab-only (as on the lab machines): the host kernel has no loadable modules
    const release = (await run("uname", ["-r"])).trim();
    await mkdir(join(r, "lib/modules", release), { recursive: true });
    await writeFile(
      join(r, "lib/modules", release, "modules.builtin"),
      "kernel/net/ipv4/netfilter/ip_tables.ko\n",
      {
        flag: "a",
      },
    );
    await writeFile(join(stage, "lxc-config"), lxcConfig());
    await writeFile(
      join(stage, "metadata.json"),
      JSON.stringify({ provider: "lxc", version: "1.0.0", "built-on": new Date().toISOString() }) + "\n",
    );
    await run(
      "tar",
      ["--numeric-owner", "--xattrs", "--xattrs-include=*", "-czf", "rootfs.tar.gz", "./rootfs"],
      {
        cwd: stage,
        timeoutMs: 20 * 60_000,
      },
    );
    await rm(r, { recursive: true, force: true });
    await run("tar", ["-cf", `${file}.tmp`, "metadata.json", "lxc-config", "rootfs.tar.gz"], { cwd: stage });
    await rename(`${file}.tmp`, file);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
