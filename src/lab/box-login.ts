/** What every lockclaw Vagrant box has, whatever its provider: Vagrant's first login and host keys of its own. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LabError } from "./errors.js";
import { run } from "./run.js";

/** Vagrant's well-known insecure public key (shipped with Vagrant); Vagrant replaces it on first up. */
export function vagrantInsecureKey(gemsDir = "/usr/share/rubygems-integration/all/gems"): string {
  const gem = existsSync(gemsDir)
    ? readdirSync(gemsDir).find(
        (d) => /^vagrant-\d/.test(d) && existsSync(join(gemsDir, d, "keys", "vagrant.pub")),
      )
    : undefined;
  if (!gem) {
    throw new LabError(
      `Vagrant's insecure key (keys/vagrant.pub) not found under ${gemsDir}\n` +
        "  fix: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends vagrant vagrant-lxc lxc",
    );
  }
  return readFileSync(join(gemsDir, gem, "keys", "vagrant.pub"), "utf8").trim();
}

const HOSTKEYS_UNIT = `[Unit]
Description=Generate SSH host keys on first boot
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service ssh.socket
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target ssh.service
`;

/**
 * What every Vagrant box has: a vagrant user with passwordless sudo and Vagrant's insecure key, and
 * host keys made on first boot (the pristine tree has none, so no two boxes share them).
 */
export async function addVagrantLogin(r: string, insecureKey: string, units: string[] = []): Promise<void> {
  await run("chroot", [r, "useradd", "-m", "-s", "/bin/bash", "-G", "sudo", "vagrant"]);
  await writeFile(join(r, "etc/sudoers.d/vagrant"), "vagrant ALL=(ALL) NOPASSWD:ALL\n", { mode: 0o440 });
  await mkdir(join(r, "home/vagrant/.ssh"), { recursive: true, mode: 0o700 });
  await writeFile(join(r, "home/vagrant/.ssh/authorized_keys"), `${insecureKey}\n`, { mode: 0o600 });
  await run("chroot", [r, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh"]);
  await writeFile(join(r, "etc/systemd/system/ssh-hostkeys.service"), HOSTKEYS_UNIT);
  await run("chroot", [r, "systemctl", "enable", "ssh-hostkeys.service", "ssh.service", ...units]);
}
