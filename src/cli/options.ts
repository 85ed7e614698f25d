/**
 * Options shared by the commands that talk to hosts (provision, audit), and turning them into targets.
 * Only commander is loaded to declare the options (`--help`, `--version` stay fast): the engine, ssh2,
 * zod and yaml are imported when a command runs.
 */
import { readFileSync, existsSync } from "node:fs";
import { Option, type Command } from "commander";
import type ssh2Module from "ssh2";
import { ConfigError } from "../core/errors.js";
import type { HostEntry } from "../engine/run.js";
import type { TargetResolution } from "../engine/targets.js";
import { defaultLabDir } from "../lab/paths.js";
import { vagrantTargetDefaults } from "../lab/vagrant-defaults.js";
import { KEEPALIVE_ENV } from "../transport/keepalive-env.js";
import { ssh2Parts } from "../transport/ssh2-parts.js";
import type { ConnectionTarget } from "../transport/types.js";

export interface ConnectionOptions {
  inventory?: string;
  limit?: string;
  key: string[];
  /** --private-key (Ansible's name): more keys, as --key. */
  privateKey: string[];
  /** -u: the login for targets that name none. */
  user?: string;
  /** -k: Ansible's --ask-pass, refused (lockclaw logs in with keys only). */
  askPass?: boolean;
  acceptNewHostKey?: boolean;
  sshConfig?: string;
  knownHosts?: string;
  labDir?: string;
  sshKeepalive?: string;
  json?: boolean;
  /** -v, -vv, -vvv */
  verbose?: number;
  /** --allow-world: a CIDR list variable (admin_cidrs) may hold 0.0.0.0/0 or ::/0. */
  allowWorld?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];
const increase = (_: string, previous: number) => previous + 1;

export function addConnectionOptions(cmd: Command): Command {
  return (
    cmd
      .option(
        "-i, --inventory <file>",
        "inventory (lockclaw's or Ansible's YAML, or Ansible's INI) naming hosts and groups; no target: all its hosts",
      )
      .option(
        "-l, --limit <pattern>",
        "only the targets matching these names, groups or globs (comma-separated)",
      )
      .option(
        "--key <file>",
        "private key to log in with (repeatable; ssh-agent and ~/.ssh/config are used too)",
        collect,
        [],
      )
      .option("--private-key <file>", "the same as --key (Ansible's name)", collect, [])
      .option("-u, --user <user>", "log in as USER where the target names no user (user@host wins)")
      // Ansible's -k asks for a password: taking a value here would swallow the next target as a key file
      .addOption(new Option("-k, --ask-pass", "refused: lockclaw logs in with keys only").hideHelp())
      .option(
        "--accept-new-host-key",
        "trust and record the host key of a host seen for the first time (strict otherwise)",
      )
      .option("--ssh-config <file>", "ssh config file to honour (default ~/.ssh/config)")
      .option("--known-hosts <file>", "known_hosts file (default ~/.ssh/known_hosts)")
      .addOption(
        new Option("--lab-dir <dir>", "lab state directory for lab:NAME targets").env("LOCKCLAW_LAB_DIR"),
      )
      .option(
        "--allow-world",
        "let admin_cidrs hold 0.0.0.0/0 or ::/0 (opens SSH and 443 to everyone; fail2ban then ignores everyone)",
      )
      .addOption(
        new Option(
          "--ssh-keepalive <seconds[,count]>",
          "a keepalive every SECONDS; give a host up after COUNT unanswered (default 15,12: 3 min)",
        ).env(KEEPALIVE_ENV),
      )
      .option("--json", "print an NDJSON event stream on stdout instead of the human view")
      .option(
        "-v, --verbose",
        "also show SSH execs and login attempts; -vv each exec's output; -vvv each exec's generated sh (secrets masked)",
        increase,
        0,
      )
  );
}

export function targetResolution(o: ConnectionOptions): TargetResolution {
  const labDir = o.labDir ?? defaultLabDir();
  return {
    prefixes: {
      lab: async (name) => (await import("../lab/target.js")).resolveLabTarget(name, labDir),
      vagrant: async (name) => (await import("../lab/vagrant.js")).resolveVagrantTarget(name),
    },
    ssh: {
      keyFiles: [...o.key, ...(o.privateKey ?? [])],
      ...(o.user ? { defaultUser: o.user } : {}),
      sshConfigPath: o.sshConfig,
      knownHostsFile: o.knownHosts,
      hostKeyPolicy: o.acceptNewHostKey ? "accept-new" : "strict",
    },
  };
}

export async function resolveHosts(targets: string[], o: ConnectionOptions): Promise<HostEntry[]> {
  if (o.askPass) {
    throw new ConfigError(
      "-k: lockclaw logs in with SSH keys only (Ansible's -k asks for a password)",
      { file: "-k" },
      "give the key with --key FILE (or --private-key FILE), or load it into ssh-agent",
    );
  }
  if (o.user !== undefined && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(o.user)) {
    throw new ConfigError(
      `-u ${JSON.stringify(o.user)} is not a user name`,
      { file: "-u" },
      "for example -u root",
    );
  }
  if (!targets.length && !o.inventory) {
    throw new ConfigError(
      "no target given",
      undefined,
      "name a target: user@host[:port], an inventory host or group, lab:NAME or vagrant:NAME (or -i FILE for all its hosts)",
    );
  }
  const [{ expandTargets }, { resolveHost }, { parseKeepalive }, inventoryModule] = await Promise.all([
    import("../engine/target-patterns.js"),
    import("../engine/targets.js"),
    import("../transport/ssh.js"),
    // zod and yaml read an inventory: without -i they are not loaded before the logins start
    o.inventory ? import("../engine/inventory.js") : undefined,
  ]);
  const keepalive =
    o.sshKeepalive === undefined
      ? undefined
      : parseKeepalive(o.sshKeepalive, `--ssh-keepalive (or ${KEEPALIVE_ENV})`);
  const inventory = inventoryModule && o.inventory ? inventoryModule.loadInventory(o.inventory) : undefined;
  const res = targetResolution(o);
  const entries: HostEntry[] = [];
  // -i with no target: all of the inventory's hosts, as Ansible's `all`
  for (const h of expandTargets(targets.length ? targets : ["all"], inventory, o.limit)) {
    const target = await resolveHost(h, res);
    // every hop of the way: a stalled jump host drops the connection just the same
    if (keepalive)
      for (let t: ConnectionTarget | undefined = target; t; t = t.proxyJump) t.keepalive = keepalive;
    // lockclaw's defaults for the kind of target first: the inventory's own vars and --var win
    entries.push({ target, vars: [...vagrantTargetDefaults(h.address), ...h.vars] });
  }
  return entries;
}

/** Public key lines for the private keys used to log in (KEY.pub when present, else derived). */
export function publicKeysOf(identityFiles: string[]): string[] {
  const { parseKey } = ssh2Parts();
  const keys: string[] = [];
  for (const file of identityFiles) {
    if (existsSync(`${file}.pub`)) {
      keys.push(readFileSync(`${file}.pub`, "utf8").trim());
      continue;
    }
    if (!existsSync(file)) continue;
    const parsed = parseKey(readFileSync(file));
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key && !(key instanceof Error)) keys.push(`${key.type} ${key.getPublicSSH().toString("base64")}`);
  }
  return [...new Set(keys)];
}

/**
 * The public keys of the ssh-agent's identities (as ssh-copy-id takes them when no key file is given);
 * none when there is no agent or it cannot be asked.
 */
export async function agentPublicKeys(socket: string | undefined): Promise<string[]> {
  if (!socket) return [];
  const agent = new (ssh2Parts().OpenSSHAgent)(socket);
  const keys = await new Promise<ssh2Module.ParsedKey[]>((resolve) => {
    const timer = setTimeout(() => resolve([]), 5_000);
    agent.getIdentities((err, ids) => {
      clearTimeout(timer);
      resolve(err || !ids ? [] : ids.filter((k): k is ssh2Module.ParsedKey => "getPublicSSH" in k));
    });
  });
  return [...new Set(keys.map((k) => `${k.type} ${k.getPublicSSH().toString("base64")}`))];
}
