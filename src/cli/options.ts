/** Options shared by the commands that talk to hosts (provision, audit), and turning them into targets. */
import { readFileSync, existsSync } from "node:fs";
import { Option, type Command } from "commander";
import ssh2 from "ssh2";
import { ConfigError } from "../core/errors.js";
import { expandTargets, loadInventory } from "../engine/inventory.js";
import type { HostEntry } from "../engine/run.js";
import { resolveHost, type TargetResolution } from "../engine/targets.js";
import { defaultLabDir } from "../lab/paths.js";
import { resolveLabTarget } from "../lab/machine.js";
import { resolveVagrantTarget } from "../lab/vagrant.js";
import { KEEPALIVE_ENV, parseKeepalive } from "../transport/ssh.js";
import type { ConnectionTarget } from "../transport/types.js";

export interface ConnectionOptions {
  inventory?: string;
  limit?: string;
  key: string[];
  acceptNewHostKey?: boolean;
  sshConfig?: string;
  knownHosts?: string;
  labDir?: string;
  sshKeepalive?: string;
  json?: boolean;
  verbose?: boolean;
  /** --allow-world: a CIDR list variable (admin_cidrs) may hold 0.0.0.0/0 or ::/0. */
  allowWorld?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option("-i, --inventory <file>", "inventory file (YAML) naming hosts and groups")
    .option("-l, --limit <pattern>", "only the targets matching these names or globs (comma-separated)")
    .option(
      "-k, --key <file>",
      "private key to log in with (repeatable; ssh-agent and ~/.ssh/config are used too)",
      collect,
      [],
    )
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
    .option("-v, --verbose", "also show SSH execs and login attempts");
}

export function targetResolution(o: ConnectionOptions): TargetResolution {
  const labDir = o.labDir ?? defaultLabDir();
  return {
    prefixes: {
      lab: (name) => resolveLabTarget(name, labDir),
      vagrant: (name) => resolveVagrantTarget(name),
    },
    ssh: {
      keyFiles: o.key,
      sshConfigPath: o.sshConfig,
      knownHostsFile: o.knownHosts,
      hostKeyPolicy: o.acceptNewHostKey ? "accept-new" : "strict",
    },
  };
}

export async function resolveHosts(targets: string[], o: ConnectionOptions): Promise<HostEntry[]> {
  if (!targets.length) {
    throw new ConfigError(
      "no target given",
      undefined,
      "name a target: user@host[:port], an inventory host or group, lab:NAME or vagrant:NAME",
    );
  }
  const keepalive =
    o.sshKeepalive === undefined
      ? undefined
      : parseKeepalive(o.sshKeepalive, `--ssh-keepalive (or ${KEEPALIVE_ENV})`);
  const inventory = o.inventory ? loadInventory(o.inventory) : undefined;
  const res = targetResolution(o);
  const entries: HostEntry[] = [];
  for (const h of expandTargets(targets, inventory, o.limit)) {
    const target = await resolveHost(h, res);
    // every hop of the way: a stalled jump host drops the connection just the same
    if (keepalive)
      for (let t: ConnectionTarget | undefined = target; t; t = t.proxyJump) t.keepalive = keepalive;
    entries.push({ target, vars: h.vars });
  }
  return entries;
}

/** Public key lines for the private keys used to log in (KEY.pub when present, else derived). */
export function publicKeysOf(identityFiles: string[]): string[] {
  const keys: string[] = [];
  for (const file of identityFiles) {
    if (existsSync(`${file}.pub`)) {
      keys.push(readFileSync(`${file}.pub`, "utf8").trim());
      continue;
    }
    if (!existsSync(file)) continue;
    const parsed = ssh2.utils.parseKey(readFileSync(file));
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key && !(key instanceof Error)) keys.push(`${key.type} ${key.getPublicSSH().toString("base64")}`);
  }
  return [...new Set(keys)];
}
