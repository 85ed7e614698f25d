/**
 * The Vagrant box for the libvirt provider (vagrant-libvirt, QEMU), built offline from the lab's pristine
 * rootfs plus Debian's kernel: one ext4 filesystem as the disk (no partition table, no bootloader), and
 * the kernel and initrd shipped in the box, booted directly by a Vagrantfile inside the box. The box
 * asks for no management network (vagrant-libvirt's would NAT the guest out); the project's Vagrantfile
 * gives it an isolated private network (forward mode none), the only way in.
 */
import { readdir, rename, rm, writeFile, copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { addVagrantLogin } from "./box-login.js";
import { LabError } from "./errors.js";
import { hostMirror } from "./rootfs.js";
import { run, runRaw } from "./run.js";
import type { Distro } from "./state.js";

/** Bump when the box's contents below change, so boxes built by older code are not reused. */
const LIBVIRT_BOX_LAYOUT = 1;

/** The root filesystem's size as the guest sees it (qcow2: only what is written takes room). */
export const LIBVIRT_DISK_GB = 8;

/**
 * The Vagrantfile inside the box, merged under the project's: how to boot it. `driver` qemu (TCG) works
 * everywhere; LOCKCLAW_LIBVIRT_DRIVER=kvm where /dev/kvm works. "maximum" gives TCG every CPU feature
 * it can emulate (a boot takes seconds; qemu64 took close to a minute).
 */
export function libvirtBoxVagrantfile(): string {
  return `# lockclaw's offline libvirt box: the kernel and initrd next to this file are booted directly
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = File.join(__dir__, "vmlinuz")
    lv.initrd = File.join(__dir__, "initrd.img")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0"
    lv.driver = ENV.fetch("LOCKCLAW_LIBVIRT_DRIVER", "qemu")
    lv.cpu_mode = ENV.fetch("LOCKCLAW_LIBVIRT_CPU_MODE", "maximum")
    # no management network (vagrant-libvirt's is NAT): SSH goes over the project's private network
    lv.mgmt_attach = false
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
`;
}

export const LIBVIRT_NETWORK_UNIT = `[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
`;

/** What the box's hash covers (with the kernel Debian serves at build time). */
export function libvirtBoxInputs(rootfs: string, key: string): unknown {
  return {
    v: LIBVIRT_BOX_LAYOUT,
    rootfs,
    key,
    vagrantfile: libvirtBoxVagrantfile(),
    net: LIBVIRT_NETWORK_UNIT,
    disk: LIBVIRT_DISK_GB,
  };
}

export async function buildLibvirtBox(o: {
  pristine: string;
  file: string;
  distro: Distro;
  insecureKey: string;
  mirror?: string;
  log?: (l: string) => void;
}): Promise<void> {
  const log = o.log ?? (() => undefined);
  const stage = `${o.file}.build-${process.pid}`;
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, "box"), { recursive: true });
  const r = join(stage, "root");
  try {
    await run("cp", ["-a", "--reflink=auto", o.pristine, r]);
    await rm(join(r, ".lockclaw-complete"), { force: true });
    await installKernel(r, o.distro, o.mirror ?? (await hostMirror()), log);

    // A VM loads modules: the lab's drop-in that tolerates a kernel without them goes
    await rm(join(r, "etc/systemd/system/systemd-modules-load.service.d/lockclaw-lab.conf"), { force: true });
    await writeFile(join(r, "etc/fstab"), "/dev/vda / ext4 defaults 0 1\n");
    await writeFile(join(r, "etc/systemd/network/10-vm.network"), LIBVIRT_NETWORK_UNIT);
    await addVagrantLogin(r, o.insecureKey, ["serial-getty@ttyS0.service"]);
    await writeFile(join(r, "etc/machine-id"), "");
    await writeFile(join(r, "etc/hostname"), `lockclaw-${o.distro}\n`);

    const boot = await readdir(join(r, "boot"));
    const vmlinuz = boot.find((f) => f.startsWith("vmlinuz-"));
    const initrd = boot.find((f) => f.startsWith("initrd.img-"));
    if (!vmlinuz || !initrd)
      throw new LabError(`no kernel or initrd in ${join(r, "boot")} after the install`);
    await copyFile(join(r, "boot", vmlinuz), join(stage, "box", "vmlinuz"));
    await copyFile(join(r, "boot", initrd), join(stage, "box", "initrd.img"));

    const raw = join(stage, "disk.raw");
    log(`lab: making the ${LIBVIRT_DISK_GB} GB ext4 disk`);
    await run("mkfs.ext4", ["-q", "-L", "root", "-d", r, raw, `${LIBVIRT_DISK_GB}G`], {
      timeoutMs: 20 * 60_000,
    });
    await rm(r, { recursive: true, force: true });
    await run("qemu-img", ["convert", "-O", "qcow2", raw, join(stage, "box", "box.img")], {
      timeoutMs: 20 * 60_000,
    });
    await rm(raw, { force: true });
    await writeFile(
      join(stage, "box", "metadata.json"),
      JSON.stringify({ provider: "libvirt", format: "qcow2", virtual_size: LIBVIRT_DISK_GB }) + "\n",
    );
    await writeFile(join(stage, "box", "Vagrantfile"), libvirtBoxVagrantfile());
    await run(
      "tar",
      ["-cf", `${o.file}.tmp`, "metadata.json", "Vagrantfile", "vmlinuz", "initrd.img", "box.img"],
      { cwd: join(stage, "box"), timeoutMs: 20 * 60_000 },
    );
    await rename(`${o.file}.tmp`, o.file);
  } finally {
    // never remove the stage while the host's /proc is still mounted inside it
    const mounted = (await runRaw("mountpoint", ["-q", join(r, "proc")])).code === 0;
    if (!mounted) await rm(stage, { recursive: true, force: true });
  }
}

/**
 * Debian's kernel and an initramfs, from the mirror the lab's rootfs came from (the chroot shares the
 * host's network only for this, as when the rootfs was built); then back to the offline local repository.
 */
async function installKernel(r: string, distro: Distro, mirror: string, log: (l: string) => void) {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" };
  const chroot = (...args: string[]) => run("chroot", [r, ...args], { env, timeoutMs: 20 * 60_000 });
  const sources = join(r, "etc/apt/sources.list");
  const offline = join(r, "etc/apt/sources.list.lockclaw-offline");
  await rename(sources, offline);
  await writeFile(sources, `deb ${mirror} ${distro} main\n`);
  await run("cp", ["-L", "/etc/resolv.conf", join(r, "etc/resolv.conf")]).catch(() => undefined);
  await run("mount", ["--bind", "/proc", join(r, "proc")]);
  log(`lab: installing linux-image-amd64 from ${mirror}`);
  try {
    await chroot("apt-get", "-q", "update");
    await chroot(
      "apt-get",
      "-q",
      "install",
      "-y",
      "--no-install-recommends",
      "linux-image-amd64",
      "initramfs-tools",
    );
  } finally {
    await runRaw("umount", [join(r, "proc")]);
  }
  await rename(offline, sources);
  await rm(join(r, "var/lib/apt/lists"), { recursive: true, force: true });
  await mkdir(join(r, "var/lib/apt/lists/partial"), { recursive: true });
  await chroot("apt-get", "-q", "update");
  await chroot("apt-get", "clean");
  await writeFile(join(r, "etc/resolv.conf"), "# lockclaw box: no DNS, no route out\n");
}

/**
 * vagrant-libvirt copies a box into libvirt's storage pool once, named by the box's file time: after a
 * rebuilt box is added, the copies of older builds are removed (a running VM's own disk is another volume).
 */
export async function dropLibvirtBoxVolumes(name: string, log: (l: string) => void): Promise<void> {
  const list = await runRaw("virsh", ["-c", "qemu:///system", "vol-list", "--pool", "default"]);
  if (list.code !== 0) return; // no pool yet: nothing copied
  const prefix = `${name.replaceAll("/", "-VAGRANTSLASH-")}_vagrant_box_image_`;
  for (const line of list.stdout.split("\n")) {
    const vol = line.trim().split(/\s+/)[0] ?? "";
    if (!vol.startsWith(prefix)) continue;
    const r = await runRaw("virsh", ["-c", "qemu:///system", "vol-delete", "--pool", "default", vol]);
    if (r.code === 0) log(`lab: removed libvirt volume ${vol} (an older build of ${name})`);
  }
}
