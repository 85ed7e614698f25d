/** `lockclaw lab up|down|ls`: real Debian machines (systemd-nspawn) to provision, on this host. */
import { Option, type Command } from "commander";
import { LabError } from "../lab/errors.js";
import type { LabMachine } from "../lab/machine.js";
import { defaultLabDir } from "../lab/paths.js";
import { DISTROS, type Distro } from "../lab/state.js";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { packageRoot } from "../engine/paths.js";
import { VAGRANT_BRIDGE } from "../lab/vagrant-net-names.js";

const labDirOption = () =>
  new Option("--lab-dir <dir>", "lab state directory (default ~/.cache/lockclaw/lab)").env(
    "LOCKCLAW_LAB_DIR",
  );

const err = (line: string) => process.stderr.write(`${line}\n`);

function requireRoot(): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new LabError(
      "the lab needs root (debootstrap, systemd-nspawn, veth links)\n  fix: run it as root, e.g. with sudo",
    );
  }
}

export function describeMachine(m: LabMachine): string {
  return [
    `lab machine ${m.name} (${m.distro}) is up`,
    `  target:      ${m.user}@${m.address}   (use it as lab:${m.name})`,
    `  key:         ${m.keyFile}`,
    `  known_hosts: ${m.knownHostsFile}`,
    `  ssh:         ssh -i ${m.keyFile} -o UserKnownHostsFile=${m.knownHostsFile} ${m.user}@${m.address}`,
  ].join("\n");
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command("lab")
    .description("local lab machines (Debian on systemd-nspawn) to try lockclaw against; needs root");

  lab
    .command("up")
    .description("build (once, cached) and boot a lab machine, then print its target")
    .argument("<name>", "machine name: 1-12 lowercase letters, digits or '-'")
    .addOption(new Option("--distro <distro>", "Debian release").choices([...DISTROS]).default("trixie"))
    .option("--ssh-socket", "serve SSH through ssh.socket (socket activation, as Ubuntu 24.04 does)")
    .addOption(
      new Option("--user <user>", "initial login: root with a key, or a `debian` sudo user")
        .choices(["root", "debian"])
        .default("root"),
    )
    .option("--json", "print the machine as JSON")
    .addOption(labDirOption())
    .action(
      async (
        name: string,
        o: { distro: Distro; sshSocket?: boolean; user: "root" | "debian"; json?: boolean; labDir?: string },
      ) => {
        requireRoot();
        const { labUp } = await import("../lab/machine.js");
        const m = await labUp({
          name,
          distro: o.distro,
          sshSocket: o.sshSocket ?? false,
          user: o.user,
          labDir: o.labDir ?? defaultLabDir(),
          log: err,
        });
        process.stdout.write(o.json ? `${JSON.stringify(m, null, 2)}\n` : `${describeMachine(m)}\n`);
      },
    );

  lab
    .command("down")
    .description("stop a lab machine and remove it (--all: every machine of the lab, and strays)")
    .argument("[name]", "machine name")
    .option("--all", "every machine of this lab directory, including ones left by a crashed run")
    .addOption(labDirOption())
    .action(async (name: string | undefined, o: { all?: boolean; labDir?: string }) => {
      if (!name && !o.all)
        throw new LabError("lab down needs a machine name or --all\n  fix: lockclaw lab ls");
      if (name && o.all) throw new LabError("give either a machine name or --all, not both");
      requireRoot();
      const labDir = o.labDir ?? defaultLabDir();
      const [{ labDown }, { HostStateStore, labStatePrefix }] = await Promise.all([
        import("../lab/machine.js"),
        import("../engine/state.js"),
      ]);
      const stopped = await labDown(o.all ? { all: true } : name!, { labDir, log: err });
      // the logins lockclaw remembered for those machines: a new machine of the name is another host
      const state = new HostStateStore();
      if (o.all) state.forget(labStatePrefix(labDir));
      else state.forget(labStatePrefix(labDir, name!));
      process.stdout.write(stopped.length ? `stopped: ${stopped.join(" ")}\n` : "no lab machines\n");
    });

  lab
    .command("ls")
    .description("list the lab's machines")
    .option("--json", "print them as JSON")
    .addOption(labDirOption())
    .action(async (o: { json?: boolean; labDir?: string }) => {
      const { labList } = await import("../lab/machine.js");
      const machines = await labList({ labDir: o.labDir ?? defaultLabDir() });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(machines, null, 2)}\n`);
        return;
      }
      if (machines.length === 0) {
        process.stdout.write("no lab machines\n");
        return;
      }
      const rows = [
        ["NAME", "STATUS", "DISTRO", "TARGET", "PID", "KEY"],
        ...machines.map((m) => [
          m.name,
          m.status,
          m.distro,
          `${m.user}@${m.address}`,
          String(m.pid),
          m.keyFile,
        ]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows)
        process.stdout.write(
          `${r
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd()}\n`,
        );
    });

  lab
    .command("box")
    .description(
      "build (once, cached) a Vagrant box from the lab's rootfs and `vagrant box add` it (lockclaw/debian13, " +
        "lockclaw/debian12): for lxc, with the host-only network the boxes use; for libvirt, with Debian's " +
        "kernel booted directly (QEMU, no management network)",
    )
    .addOption(new Option("--distro <distro>", "Debian release").choices([...DISTROS]).default("trixie"))
    .addOption(
      new Option("--provider <provider>", "Vagrant provider").choices(["lxc", "libvirt"]).default("lxc"),
    )
    .option("--no-add", "only build the box file")
    .option("--no-net", "do not create the bridge and DHCP server (lxc)")
    .addOption(labDirOption())
    .action(
      async (o: {
        distro: Distro;
        provider: "lxc" | "libvirt";
        add: boolean;
        net: boolean;
        labDir?: string;
      }) => {
        requireRoot();
        const labDir = o.labDir ?? defaultLabDir();
        const { labBox, vagrantNetUp } = await import("../lab/vagrant-box.js");
        const box = await labBox({ labDir, distro: o.distro, provider: o.provider, add: o.add, log: err });
        // libvirt makes the isolated network itself when the box comes up (the Vagrantfile's private network)
        const net = o.net && o.provider === "lxc";
        if (net) await vagrantNetUp(labDir, await boxesJson(), err);
        const machine = box.distro === "trixie" ? "debian13" : "debian12";
        process.stdout.write(
          [
            `box:  ${box.name} (${box.provider})  ${box.built ? "built" : "cached"}${box.added ? ", added to Vagrant" : ""}`,
            `file: ${box.file}`,
            ...(net ? [`net:  bridge ${VAGRANT_BRIDGE}, DHCP only (lockclaw lab net down removes it)`] : []),
            box.provider === "lxc"
              ? `use:  vagrant up ${machine} --provider=lxc`
              : `use:  LOCKCLAW_BOX_${machine.toUpperCase()}=${box.name} vagrant up ${machine} --provider=libvirt`,
            "",
          ].join("\n"),
        );
      },
    );

  const net = lab
    .command("net")
    .description(`the Vagrant boxes' host-only network: bridge ${VAGRANT_BRIDGE} and a DHCP-only dnsmasq`);
  net
    .command("up")
    .description(
      "create the bridge (no NAT, no forwarding) and start dnsmasq (DHCP only, one address per box)",
    )
    .addOption(labDirOption())
    .action(async (o: { labDir?: string }) => {
      requireRoot();
      const { vagrantNetUp } = await import("../lab/vagrant-box.js");
      const s = await vagrantNetUp(o.labDir ?? defaultLabDir(), await boxesJson(), err);
      process.stdout.write(`bridge ${VAGRANT_BRIDGE} up; dnsmasq PID ${s.dnsmasqPid}\n`);
    });
  net
    .command("down")
    .description("stop the dnsmasq and delete the bridge")
    .addOption(labDirOption())
    .action(async (o: { labDir?: string }) => {
      requireRoot();
      const { vagrantNetDown } = await import("../lab/vagrant-box.js");
      await vagrantNetDown(o.labDir ?? defaultLabDir(), err);
      process.stdout.write(`bridge ${VAGRANT_BRIDGE} and its DHCP server removed\n`);
    });
  net
    .command("status")
    .description("whether the bridge and the dnsmasq are there")
    .addOption(labDirOption())
    .action(async (o: { labDir?: string }) => {
      const { vagrantNetStatus } = await import("../lab/vagrant-box.js");
      const s = await vagrantNetStatus(o.labDir ?? defaultLabDir());
      process.stdout.write(
        `bridge ${VAGRANT_BRIDGE}: ${s.bridge ? "up" : "absent"}; dnsmasq: ${s.dnsmasqPid ? `PID ${s.dnsmasqPid}` : "not running"}\n`,
      );
    });

  lab
    .command("stack-images")
    .description(
      "build (once, cached) the stack's images for the offline lab as tarballs for --bundle, with the variables that select them",
    )
    .option(
      "--vars-out <file>",
      "write the playbook variables selecting the lab images, and the bundle (bundle_src), to this YAML file",
    )
    .option("--json", "print the bundle directory, variables and substitutions as JSON")
    .action(async (o: { varsOut?: string; json?: boolean }) => {
      requireRoot();
      const { stackLabImages, writeStackVarsFile } = await import("../stack/lab-bundle.js");
      const images = await stackLabImages(err);
      if (o.varsOut) writeStackVarsFile(resolve(o.varsOut), images);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        [
          `bundle:  ${images.dir}`,
          ...(o.varsOut ? [`vars:    ${resolve(o.varsOut)}`] : []),
          "lab substitutions (not what production runs):",
          ...images.substitutions.map((x) => `  - ${x}`),
          o.varsOut
            ? `use:     lockclaw provision host lab:NAME --vars-file ${resolve(o.varsOut)}`
            : `use:     lockclaw provision host lab:NAME --bundle ${images.dir} (and the variables of --json)`,
          "",
        ].join("\n"),
      );
    });
}

/**
 * The boxes the DHCP server hands addresses to: vagrant/boxes.json beside the Vagrantfile `vagrant` uses
 * from here (a project of the user's, or the e2e suite's own), else this checkout's, else the two Debian
 * boxes.
 */
async function boxesJson(): Promise<string> {
  const { vagrantProjectDir } = await import("../lab/vagrant.js");
  const project = vagrantProjectDir();
  for (const dir of [...(project ? [project] : []), packageRoot()]) {
    const file = join(dir, "vagrant", "boxes.json");
    if (existsSync(file)) return readFileSync(file, "utf8");
  }
  return JSON.stringify({ debian13: { ip: "192.168.56.13" }, debian12: { ip: "192.168.56.12" } });
}
