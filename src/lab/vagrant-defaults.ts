/**
 * The host variables a `vagrant:NAME` target gets from lockclaw, below the inventory's and --var's
 * (`-e ssh_legacy_clients=false` wins). A Vagrant box is a local development machine, and Vagrant must
 * keep logging in to it after it is hardened (`vagrant up` of a halted box, `vagrant ssh`): Debian 12's
 * Vagrant 2.3 uses net-ssh 7.0, with no X25519 kex and no AEAD cipher, so it shares no kex and no cipher
 * with the hardened lists. No other target gets this: a VPS keeps exactly the hardened lists.
 */
import type { VarOverride } from "../engine/vars.js";

export const VAGRANT_LEGACY_NOTICE =
  "sshd also allows diffie-hellman-group-exchange-sha256 and aes256-ctr, last in its lists " +
  "(ssh_legacy_clients, on by default for a Vagrant box: Vagrant's net-ssh has no X25519 kex and no AEAD cipher); " +
  "-e ssh_legacy_clients=false keeps only the hardened lists";

/** The defaults of a target by its address (`vagrant:NAME`, an inventory host's ansible_host too). */
export function vagrantTargetDefaults(address: string): VarOverride[] {
  if (!address.startsWith("vagrant:")) return [];
  return [
    {
      name: "ssh_legacy_clients",
      value: true,
      from: { file: "(vagrant target)" },
      // plays that do not declare it (docker.yml, stack.yml, a custom playbook) ignore it
      implicit: true,
      notice: VAGRANT_LEGACY_NOTICE,
    },
  ];
}
