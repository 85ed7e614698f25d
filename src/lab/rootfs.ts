/**
 * The pristine root filesystem every lab machine is copied from, built once and cached in the lab dir:
 * a debootstrap minbase tree (layer "base") plus the package store of everything the playbooks install
 * (layer "pristine"). Each layer's directory name carries a hash of what went into it, so a changed
 * playbook package list rebuilds only the store, not debootstrap.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LabError } from "./errors.js";
import { withLock } from "./lock.js";
import { rootfsDir } from "./paths.js";
import { run } from "./run.js";
import type { Distro } from "./state.js";

/** What a fresh minimal cloud VM has: systemd, sshd, sudo, python3 and basic tools. */
export const BASE_PACKAGES: readonly string[] = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "openssh-server",
  "sudo",
  "python3",
  "iproute2",
  "iputils-ping",
  "ca-certificates",
  "curl",
  "procps",
  "apt-utils",
  "less",
];

/** Bump when the build steps below change, so caches built by older code are not reused. */
const LAYOUT_VERSION = 2;

export const LOCAL_REPO = "/srv/localrepo";
export const LOCAL_REPO_SOURCE = `deb [trusted=yes] file:${LOCAL_REPO} ./`;

export interface RootfsOptions {
  labDir: string;
  distro: Distro;
  /** Packages for the store (from the playbooks plus the lab's extras). */
  storePackages: readonly string[];
  mirror?: string;
  log?: (line: string) => void;
}

export interface Rootfs {
  path: string;
  /** Seconds this call spent building (0 when the cache was used). */
  buildSeconds: number;
  built: boolean;
}

/** The first `URIs:` of /etc/apt/sources.list.d/debian.sources, else the first `deb URL` line. */
export async function hostMirror(): Promise<string> {
  const deb822 = await readFile("/etc/apt/sources.list.d/debian.sources", "utf8").catch(() => "");
  const uri = /^URIs:\s*(\S+)/m.exec(deb822)?.[1];
  if (uri) return uri;
  const list = await readFile("/etc/apt/sources.list", "utf8").catch(() => "");
  const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m.exec(list)?.[1];
  if (line) return line;
  throw new LabError(
    "cannot find a Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list\n" +
      "  fix: configure apt with a Debian mirror (the lab builds its machines from it)",
  );
}

function hash(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

export function baseKey(distro: Distro, mirror: string): string {
  return `base-${distro}-${hash({ v: LAYOUT_VERSION, distro, mirror, include: BASE_PACKAGES })}`;
}

export function pristineKey(distro: Distro, mirror: string, storePackages: readonly string[]): string {
  const packages = [...new Set(storePackages)].sort();
  return `pristine-${distro}-${hash({ v: LAYOUT_VERSION, base: baseKey(distro, mirror), packages })}`;
}

/** Returns the pristine rootfs for these inputs, building it (once, under a lock) when missing. */
export async function ensureRootfs(options: RootfsOptions): Promise<Rootfs> {
  const log = options.log ?? (() => undefined);
  const mirror = options.mirror ?? (await hostMirror());
  const dir = rootfsDir(options.labDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = pristineKey(options.distro, mirror, options.storePackages);
  const path = join(dir, key);
  if (existsSync(join(path, ".lockclaw-complete"))) return { path, buildSeconds: 0, built: false };

  return withLock(
    join(dir, `${options.distro}.lock`),
    async () => {
      // Someone else may have finished it while we waited for the lock.
      if (existsSync(join(path, ".lockclaw-complete"))) return { path, buildSeconds: 0, built: false };
      const started = Date.now();
      const base = await ensureBase(dir, options.distro, mirror, log);
      await buildPristine(base, path, options.distro, mirror, options.storePackages, log);
      await removeStale(dir, options.distro, [key, baseKey(options.distro, mirror)]);
      const buildSeconds = (Date.now() - started) / 1000;
      log(`lab: ${options.distro} rootfs ready in ${buildSeconds.toFixed(1)} s (${path})`);
      return { path, buildSeconds, built: true };
    },
    { onWait: () => log(`lab: waiting for another process building the ${options.distro} rootfs`) },
  );
}

async function ensureBase(dir: string, distro: Distro, mirror: string, log: (l: string) => void) {
  const path = join(dir, baseKey(distro, mirror));
  if (existsSync(join(path, ".lockclaw-complete"))) return path;
  const tmp = `${path}.build-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const cache = join(dir, `debs-${distro}`);
  await mkdir(cache, { recursive: true });
  log(`lab: debootstrap ${distro} from ${mirror} (about a minute)`);
  const started = Date.now();
  await run(
    "debootstrap",
    [
      "--variant=minbase",
      `--include=${BASE_PACKAGES.join(",")}`,
      `--cache-dir=${cache}`,
      distro,
      tmp,
      mirror,
    ],
    { timeoutMs: 20 * 60_000 },
  );
  log(`lab: debootstrap took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await writeFile(join(tmp, ".lockclaw-complete"), "");
  await rename(tmp, path);
  return path;
}

async function buildPristine(
  base: string,
  path: string,
  distro: Distro,
  mirror: string,
  storePackages: readonly string[],
  log: (l: string) => void,
): Promise<void> {
  const tmp = `${path}.build-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await run("cp", ["-a", "--reflink=auto", base, tmp]);
  await rm(join(tmp, ".lockclaw-complete"), { force: true });
  const chroot = (...args: string[]) =>
    run("chroot", [tmp, ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" },
      timeoutMs: 15 * 60_000,
    });

  // The chroot shares the host's network only while we build: resolve the mirror like the host does.
  await run("cp", ["-L", "/etc/resolv.conf", join(tmp, "etc/resolv.conf")]).catch(() => undefined);
  await writeFile(join(tmp, "etc/apt/sources.list"), `deb ${mirror} ${distro} main\n`);
  await chroot("apt-get", "update");

  const packages = [...new Set(storePackages)].sort();
  log(`lab: downloading ${packages.length} packages for the package store`);
  if (packages.length > 0) {
    await chroot("apt-get", "install", "-y", "--download-only", ...packages);
  }
  const repo = join(tmp, LOCAL_REPO.slice(1));
  await mkdir(repo, { recursive: true });
  const archives = join(tmp, "var/cache/apt/archives");
  for (const f of await readdir(archives)) {
    if (f.endsWith(".deb")) await rename(join(archives, f), join(repo, f));
  }
  // Filenames in the index are relative to the repo root, as `file:/srv/localrepo ./` expects.
  const index = await run("apt-ftparchive", ["packages", "."], { cwd: repo });
  await writeFile(join(repo, "Packages"), index);
  await writeFile(join(tmp, "etc/apt/sources.list"), `${LOCAL_REPO_SOURCE}\n`);
  await rm(join(tmp, "etc/apt/sources.list.d"), { recursive: true, force: true });
  await mkdir(join(tmp, "etc/apt/sources.list.d"));
  await rm(join(tmp, "var/lib/apt/lists"), { recursive: true, force: true });
  await mkdir(join(tmp, "var/lib/apt/lists/partial"), { recursive: true });
  await chroot("apt-get", "update");
  await chroot("apt-get", "clean");

  // A machine has no DNS (no route out); an empty resolv.conf makes lookups fail fast instead of hang.
  await writeFile(join(tmp, "etc/resolv.conf"), "# lockclaw lab: no DNS, no route out\n");
  // Every machine gets its own host keys and machine-id when it is copied.
  for (const f of await readdir(join(tmp, "etc/ssh"))) {
    if (/^ssh_host_.*_key(\.pub)?$/.test(f)) await rm(join(tmp, "etc/ssh", f));
  }
  await writeFile(join(tmp, "etc/machine-id"), "");
  await rm(join(tmp, "var/lib/dbus/machine-id"), { force: true });

  await chroot("systemctl", "enable", "systemd-networkd");
  // Lab-only: a real VPS has these devices; rootless Docker needs both.
  await writeFile(
    join(tmp, "etc/tmpfiles.d/lockclaw-lab-devices.conf"),
    "# lockclaw lab: devices a real VM has (rootless Docker needs them)\n" +
      "c /dev/fuse 0666 root root - 10:229\n" +
      "z /dev/net/tun 0666 root root -\n",
  );
  // Lab-only: the kernel is the host's and has no loadable modules, so libkmod cannot start inside and
  // systemd-modules-load fails, leaving a fresh machine "degraded"; a real VPS loads its modules fine.
  const dropIn = join(tmp, "etc/systemd/system/systemd-modules-load.service.d");
  await mkdir(dropIn, { recursive: true });
  await writeFile(
    join(dropIn, "lockclaw-lab.conf"),
    "# lockclaw lab: no loadable modules in this container; see LAB.md\n" +
      "[Service]\nExecStart=\nExecStart=-/usr/lib/systemd/systemd-modules-load\n",
  );
  await writeFile(join(tmp, ".lockclaw-complete"), JSON.stringify({ distro, mirror, packages }) + "\n");
  await rename(tmp, path);
}

/** Drops older cache layers of this distro (older package lists) and leftovers of crashed builds. */
async function removeStale(dir: string, distro: Distro, keep: string[]): Promise<void> {
  for (const entry of await readdir(dir)) {
    const ours = entry.startsWith(`base-${distro}-`) || entry.startsWith(`pristine-${distro}-`);
    if (ours && !keep.includes(entry)) await rm(join(dir, entry), { recursive: true, force: true });
  }
}
