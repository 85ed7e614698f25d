/**
 * Lab machines: a copy of the pristine rootfs booted with systemd-nspawn on its own veth and /24,
 * reachable over SSH like a fresh cloud VM. `labUp`, `labDown`, `labList`, `resolveLabTarget`.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFile, chmod, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { excerpt } from "../core/errors.js";
import { LabError } from "./errors.js";
import { generateHostKeys, generateLoginKey, writeKnownHosts } from "./keys.js";
import { pidAlive, withLock } from "./lock.js";
import { configureHostSide, hostSubnetsInUse, linkExists, removeLink, waitForLink } from "./network.js";
import { releaseSubnet, reserveSubnet } from "./registry.js";
import { defaultLabDir, machinePaths, machinesDir, validateMachineName, vethName } from "./paths.js";
import { childrenOf, isNspawnOf, nspawnsUnder, startTimeOf, waitExit, waitGone } from "./procs.js";
import { removeTree } from "./remove.js";
import { ensureRootfs } from "./rootfs.js";
import { run, runRaw } from "./run.js";
import {
  allocateSubnet,
  listStates,
  machineNames,
  readState,
  subnetAddresses,
  writeState,
  type Distro,
  type LabUser,
  type MachineState,
} from "./state.js";
import { storePackages } from "./store.js";

export { resolveLabTarget } from "./target.js";

export interface LabUpOptions {
  name: string;
  distro?: Distro;
  labDir?: string;
  /** Serve SSH through ssh.socket (socket activation, as Ubuntu 24.04 does) instead of ssh.service. */
  sshSocket?: boolean;
  /** Log in as root (default) or as a `debian` user with passwordless sudo, like a Debian cloud image. */
  user?: LabUser;
  /** Playbooks whose packages go into the store (default: lockclaw's playbooks/*.yml). */
  playbooks?: string[];
  /** How long to wait for sshd to answer after boot. */
  bootTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface LabMachine {
  name: string;
  distro: Distro;
  address: string;
  hostAddress: string;
  user: LabUser;
  keyFile: string;
  knownHostsFile: string;
  pid: number;
  veth: string;
  consoleLog: string;
}

export interface LabListEntry extends LabMachine {
  status: "running" | "stopped";
}

function toMachine(labDir: string, s: MachineState): LabMachine {
  const p = machinePaths(labDir, s.name);
  return {
    name: s.name,
    distro: s.distro,
    address: s.address,
    hostAddress: s.hostAddress,
    user: s.user,
    keyFile: p.key,
    knownHostsFile: p.knownHosts,
    pid: s.pid ?? 0,
    veth: s.veth,
    consoleLog: p.console,
  };
}

/** Builds (once) the rootfs, copies it for `name`, boots it and waits until sshd answers. */
export async function labUp(options: LabUpOptions): Promise<LabMachine> {
  const name = validateMachineName(options.name);
  const labDir = options.labDir ?? defaultLabDir();
  const distro = options.distro ?? "trixie";
  const user = options.user ?? "root";
  const log = options.log ?? (() => undefined);
  const paths = machinePaths(labDir, name);
  await mkdir(machinesDir(labDir), { recursive: true, mode: 0o700 });

  const rootfs = await ensureRootfs({ labDir, distro, storePackages: storePackages(options.playbooks), log });

  // Reserve the name and a subnet under a lock, so parallel `up`s get distinct /24s.
  let state!: MachineState;
  await reserveSubnet(labDir, name, (reserved) =>
    withLock(join(labDir, "machines.lock"), async () => {
      const existing = await readState(labDir, name);
      if (existing) {
        const running = existing.pid !== undefined && (await isNspawnOf(existing.pid, paths.root));
        throw new LabError(
          `lab machine ${name} already exists (${running ? `running, PID ${existing.pid}` : "stopped"})\n` +
            `  fix: lockclaw lab down ${name}`,
        );
      }
      if (await linkExists(vethName(name))) {
        throw new LabError(
          `a lab machine named ${name} already runs from another lab directory (link ${vethName(name)} exists)\n` +
            `  fix: choose another name, or stop it with --lab-dir pointing at its directory`,
        );
      }
      const used = [
        ...(await listStates(labDir)).map((s) => s.subnet),
        ...(await hostSubnetsInUse()),
        ...reserved,
      ];
      const subnet = allocateSubnet(used);
      const addr = subnetAddresses(subnet);
      const s: MachineState = {
        name,
        distro,
        subnet,
        address: addr.machine,
        hostAddress: addr.host,
        veth: vethName(name),
        user,
        sshSocket: options.sshSocket ?? false,
        rootfs: rootfs.path,
        createdAt: new Date().toISOString(),
      };
      // a leftover without a state file: never follow into anything mounted in it
      await removeTree(paths.dir, { log });
      await writeState(labDir, s);
      state = s;
      return subnet;
    }),
  );

  try {
    await prepareRoot(labDir, state, rootfs.path);
    const pid = await boot(labDir, state);
    state.pid = pid;
    await writeState(labDir, state);
    await waitForLink(state.veth, 15_000, () => pidAlive(pid));
    await configureHostSide(state.veth, state.hostAddress);
    await waitForSsh(state.address, options.bootTimeoutMs ?? 90_000, () => pidAlive(pid));
    log(`lab: ${name} up at ${user}@${state.address}`);
    return toMachine(labDir, state);
  } catch (err) {
    const tail = await readFile(paths.console, "utf8").catch(() => "");
    await stopMachine(labDir, name).catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err);
    throw new LabError(
      `lab machine ${name} failed to come up: ${why}` +
        (tail.trim()
          ? `\n  last console lines (${paths.console}, now removed):\n  ${excerpt(tail, 20)}`
          : "\n  (the console log was empty)"),
      { cause: err },
    );
  }
}

/** Per-machine copy: identity (hostname, machine-id, host keys), login key, network, lab tweaks. */
async function prepareRoot(labDir: string, s: MachineState, pristine: string): Promise<void> {
  const p = machinePaths(labDir, s.name);
  await run("cp", ["-a", "--reflink=auto", pristine, p.root]);
  await rm(join(p.root, ".lockclaw-complete"), { force: true });
  const etc = (f: string) => join(p.root, "etc", f);
  await writeFile(etc("hostname"), `${s.name}\n`);
  await writeFile(
    etc("hosts"),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${s.name}\n::1\t\tlocalhost ip6-localhost ip6-loopback\n`,
  );
  await writeFile(etc("machine-id"), randomBytes(16).toString("hex") + "\n");

  await writeKnownHosts(p.knownHosts, await generateHostKeys(p.root, s.address));
  const pub = await generateLoginKey(p.key, `lockclaw-lab-${s.name}`);
  await chmod(p.key, 0o600);
  if (s.user === "root") {
    await installAuthorizedKey(join(p.root, "root"), pub, 0, 0);
  } else {
    await run("chroot", [p.root, "useradd", "-m", "-s", "/bin/bash", "-G", "sudo", s.user]);
    await writeFile(etc(`sudoers.d/90-lab-${s.user}`), `${s.user} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
    const ids = (await run("chroot", [p.root, "id", "-u", s.user])).trim();
    const gid = (await run("chroot", [p.root, "id", "-g", s.user])).trim();
    await installAuthorizedKey(join(p.root, "home", s.user), pub, Number(ids), Number(gid));
  }

  // Static address on the container side of the veth; deliberately no Gateway=: no route out.
  await writeFile(
    etc("systemd/network/10-host0.network"),
    `[Match]\nName=host0\n\n[Network]\nAddress=${s.address}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
  );
  if (s.sshSocket) {
    await run("chroot", [p.root, "systemctl", "disable", "ssh.service"]);
    await run("chroot", [p.root, "systemctl", "enable", "ssh.socket"]);
  }
  // Lab-only: the host kernel has no loadable modules; rootless Docker's setup checks for ip_tables.
  const release = (await run("uname", ["-r"])).trim();
  const modules = join(p.root, "lib/modules", release);
  await mkdir(modules, { recursive: true });
  await appendFile(join(modules, "modules.builtin"), "kernel/net/ipv4/netfilter/ip_tables.ko\n");
}

async function installAuthorizedKey(home: string, pub: string, uid: number, gid: number): Promise<void> {
  const ssh = join(home, ".ssh");
  await mkdir(ssh, { recursive: true, mode: 0o700 });
  await chmod(ssh, 0o700);
  await writeFile(join(ssh, "authorized_keys"), `${pub}\n`, { mode: 0o600 });
  await run("chown", ["-R", `${uid}:${gid}`, ssh]);
}

/** Starts systemd-nspawn detached (it outlives this process), console to console.log; returns its PID. */
async function boot(labDir: string, s: MachineState): Promise<number> {
  const p = machinePaths(labDir, s.name);
  const consoleFile = await open(p.console, "a", 0o600);
  try {
    const child = spawn(
      "systemd-nspawn",
      [
        "--boot",
        // The host has no systemd/D-Bus to register with; without these nspawn fails to start.
        "--register=no",
        "--keep-unit",
        "-M",
        s.name,
        "-D",
        p.root,
        "--network-veth",
        // Docker, ufw and nft need the capabilities; runc needs a session keyring and bpf.
        "--capability=all",
        "--system-call-filter=@keyring bpf",
      ],
      {
        detached: true,
        stdio: ["ignore", consoleFile.fd, consoleFile.fd],
        // cgroup v2, as on a current VPS: otherwise docker fails on a read-only cpuset.
        env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1" },
      },
    );
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => resolve(child.pid!));
    });
    child.unref();
    return pid;
  } finally {
    await consoleFile.close();
  }
}

/** sshd answers when a TCP connect gets an `SSH-` banner. */
export async function waitForSsh(host: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (!alive()) throw new LabError(`systemd-nspawn exited while waiting for sshd on ${host}:22`);
    try {
      // never let one attempt run past the deadline: a late success would hide a too-slow boot
      await sshBanner(host, 22, Math.max(1, Math.min(3000, deadline - Date.now())));
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new LabError(`sshd on ${host}:22 did not answer within ${timeoutMs / 1000} s (last: ${last})`);
}

export function sshBanner(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let data = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("no banner"));
    }, timeoutMs);
    sock.on("data", (chunk) => {
      data += chunk.toString("latin1");
      if (data.includes("\n")) {
        clearTimeout(timer);
        sock.destroy();
        if (data.startsWith("SSH-")) resolve(data.trim());
        else reject(new Error(`unexpected banner ${JSON.stringify(data.slice(0, 40))}`));
      }
    });
    sock.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      reject(new Error("closed before banner"));
    });
  });
}

/** Stops one machine (or every machine of the lab, plus stray nspawns under the lab dir). */
export async function labDown(
  target: string | { all: true },
  options: { labDir?: string; log?: (line: string) => void } = {},
): Promise<string[]> {
  const labDir = options.labDir ?? defaultLabDir();
  const log = options.log ?? (() => undefined);
  if (typeof target === "string") {
    validateMachineName(target);
    const names = await machineNames(labDir);
    if (!names.includes(target)) {
      throw new LabError(`no lab machine named ${target} in ${labDir}\n  fix: lockclaw lab ls`);
    }
    await stopMachine(labDir, target, log);
    return [target];
  }
  const names = await machineNames(labDir);
  // every machine is stopped even when another fails; then the failures are reported together
  const failures = await settle(names.map((n) => stopMachine(labDir, n, log)));
  // nspawns whose state file was lost (crash between spawn and write, or a hand-deleted dir).
  const strays = await nspawnsUnder(machinesDir(labDir));
  failures.push(
    ...(await settle(
      strays.map(async ({ pid, root }) => {
        log(`lab: stopping stray systemd-nspawn PID ${pid} (${root})`);
        await stopPid(pid, root);
      }),
    )),
  );
  // and the links/dirs those strays left
  const after = await machineNames(labDir);
  if (failures.length === 0) failures.push(...(await settle(after.map((n) => stopMachine(labDir, n, log)))));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new LabError(failures.map((f) => (f instanceof Error ? f.message : String(f))).join("\n"), {
      cause: failures[0],
    });
  }
  return names;
}

async function settle(work: Array<Promise<unknown>>): Promise<unknown[]> {
  const results = await Promise.allSettled(work);
  return results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
}

async function stopMachine(labDir: string, name: string, log: (l: string) => void = () => undefined) {
  const p = machinePaths(labDir, name);
  const state = await readState(labDir, name).catch(() => undefined);
  const pid = state?.pid;
  if (pid !== undefined && (await isNspawnOf(pid, p.root))) {
    const started = Date.now();
    await stopPid(pid, p.root);
    log(`lab: ${name} stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } else if (state) {
    log(`lab: ${name} was not running; cleaning up`);
  }
  await removeLink(vethName(name));
  // the directory before the subnet: a machine that could not be removed keeps its reservation
  await removeTree(p.dir, { log });
  await releaseSubnet(labDir, name, state?.subnet);
}

/**
 * Poweroff from inside first (SIGRTMIN+4 to the container's systemd is what `systemctl poweroff` asks
 * for, and takes seconds); then SIGTERM to nspawn (it halts the container); SIGKILL as a last resort.
 */
async function stopPid(pid: number, root: string): Promise<void> {
  const init = (await childrenOf(pid))[0];
  const initStart = init === undefined ? undefined : await startTimeOf(init);
  await stopNspawn(pid, root, init);
  // nspawn may be gone (SIGKILL) while its container is still exiting, its processes still writing into
  // the tree. The kernel lets the container's init exit only once every process of its PID namespace
  // (nested ones too, such as rootless Docker's containers) is gone: wait for that.
  if (init !== undefined && initStart !== undefined && !(await waitGone(init, initStart, 30_000))) {
    signal(init, "SIGKILL");
    if (!(await waitGone(init, initStart, 10_000))) {
      throw new LabError(
        `the container of ${root} (init PID ${init}) is still running after systemd-nspawn ${pid} exited\n` +
          `  fix: kill -9 ${init}, then lockclaw lab down again`,
      );
    }
  }
}

async function stopNspawn(pid: number, root: string, init: number | undefined): Promise<void> {
  if (init !== undefined) {
    await runRaw("kill", ["-s", "RTMIN+4", String(init)]);
    if (await waitExit(pid, 20_000)) return;
  }
  if (!(await isNspawnOf(pid, root))) return;
  signal(pid, "SIGTERM");
  if (await waitExit(pid, 20_000)) return;
  if (!(await isNspawnOf(pid, root))) return;
  signal(pid, "SIGKILL");
  if (!(await waitExit(pid, 10_000))) throw new LabError(`systemd-nspawn PID ${pid} (${root}) would not die`);
}

/** A process that exits between our check and the signal is not an error. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

export async function labList(options: { labDir?: string } = {}): Promise<LabListEntry[]> {
  const labDir = options.labDir ?? defaultLabDir();
  const out: LabListEntry[] = [];
  for (const s of await listStates(labDir)) {
    const running = s.pid !== undefined && (await isNspawnOf(s.pid, machinePaths(labDir, s.name).root));
    out.push({ ...toMachine(labDir, s), status: running ? "running" : "stopped" });
  }
  return out;
}
