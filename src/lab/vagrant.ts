/**
 * Vagrant boxes as targets (`vagrant:NAME`): address, user, port and key come from `vagrant ssh-config`,
 * the same data `vagrant ssh` uses, so a user's laptop runs the e2e suite against real VMs.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { ConnectionTarget } from "../transport/types.js";
import { LabError } from "./errors.js";

export interface VagrantSshConfig {
  /** The `Host` alias: the Vagrant machine name. */
  host: string;
  hostName: string;
  user: string;
  port: number;
  identityFiles: string[];
  strictHostKeyChecking?: string;
  userKnownHostsFile?: string;
  proxyCommand?: string;
}

/** One config value; `IdentityFile "/path with spaces"` is quoted by Vagrant when needed. */
function unquote(value: string): string {
  const v = value.trim();
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** Parses `vagrant ssh-config [NAME]` output: one entry per `Host` block, in order. */
export function parseVagrantSshConfig(text: string): VagrantSshConfig[] {
  const out: VagrantSshConfig[] = [];
  let cur: VagrantSshConfig | undefined;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = unquote(m[2]!);
    if (key === "host") {
      cur = { host: value, hostName: value, user: "vagrant", port: 22, identityFiles: [] };
      out.push(cur);
      continue;
    }
    if (!cur) throw new LabError(`vagrant ssh-config line ${i + 1}: "${line}" before any Host line`);
    switch (key) {
      case "hostname":
        cur.hostName = value;
        break;
      case "user":
        cur.user = value;
        break;
      case "port": {
        const port = Number(value);
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          throw new LabError(`vagrant ssh-config line ${i + 1}: bad Port ${JSON.stringify(value)}`);
        }
        cur.port = port;
        break;
      }
      case "identityfile":
        cur.identityFiles.push(value);
        break;
      case "stricthostkeychecking":
        cur.strictHostKeyChecking = value;
        break;
      case "userknownhostsfile":
        cur.userKnownHostsFile = value;
        break;
      case "proxycommand":
        cur.proxyCommand = value;
        break;
      default:
        // LogLevel, IdentitiesOnly, PubkeyAcceptedKeyTypes, ...: nothing lockclaw needs
        break;
    }
  }
  return out;
}

/** Turns a parsed block into a target. Vagrant says how to check the host key; we follow it. */
export function vagrantTarget(name: string, cfg: VagrantSshConfig): ConnectionTarget {
  if (cfg.proxyCommand) {
    throw new LabError(
      `vagrant machine ${name} is reached through a ProxyCommand, which lockclaw does not run\n` +
        "  fix: use a provider that gives the VM a reachable address or a forwarded port",
    );
  }
  // Boxes get new host keys on every `vagrant up` and share 127.0.0.1:222x, so Vagrant itself turns
  // host-key checking off; pinning would only fail on the next recreated box.
  const off = cfg.strictHostKeyChecking?.toLowerCase() === "no";
  return {
    name: `vagrant:${name}`,
    host: cfg.hostName,
    port: cfg.port,
    user: cfg.user,
    identityFiles: cfg.identityFiles,
    hostKeyPolicy: off ? "off" : "strict",
    knownHostsFile: cfg.userKnownHostsFile ?? "/dev/null",
  };
}

/** Runs `vagrant ssh-config NAME` (in `cwd`, where the Vagrantfile is) and returns the target. */
export async function resolveVagrantTarget(
  name: string,
  options: { cwd?: string; vagrant?: string } = {},
): Promise<ConnectionTarget> {
  // the name comes from a target or an inventory: one starting with - would reach vagrant as an option
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name)) {
    throw new LabError(
      `${JSON.stringify(name)} is not a Vagrant machine name (letters, digits, _ . -, not starting with -)\n` +
        "  fix: give the name `vagrant status` lists, as vagrant:NAME",
    );
  }
  const text = await new Promise<string>((resolve, reject) => {
    execFile(
      options.vagrant ?? "vagrant",
      ["ssh-config", name],
      { cwd: options.cwd, encoding: "utf8", timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new LabError(
              `vagrant ssh-config ${name} failed: ${(stderr || err.message).trim()}\n` +
                `  fix: start it with \`vagrant up ${name}\` in the directory holding the Vagrantfile`,
              { cause: err },
            ),
          );
        } else resolve(stdout);
      },
    );
  });
  const blocks = parseVagrantSshConfig(text);
  const cfg = blocks.find((b) => b.host === name) ?? (blocks.length === 1 ? blocks[0] : undefined);
  if (!cfg) throw new LabError(`vagrant ssh-config ${name} printed no Host ${name} block`);
  const target = vagrantTarget(name, cfg);
  // boxes share 127.0.0.1:222x: the local state knows the box by its project, name and index_uuid, so a
  // re-created box (or another project's box on the port) is never sent the old box's login
  const dir = vagrantProjectDir(options.cwd);
  const uuid = dir ? vagrantBoxId(dir, name) : undefined;
  return uuid ? { ...target, stateKey: `vagrant:${dir}/${name}@${uuid}` } : target;
}

/** Vagrant's index_uuid of box `name` of the project in `dir`, when Vagrant has created it. */
export function vagrantBoxId(dir: string, name: string): string | undefined {
  const machine = join(dir, ".vagrant", "machines", name);
  return existsSync(machine)
    ? readdirSync(machine)
        .map((p) => join(machine, p, "index_uuid"))
        .filter((f) => existsSync(f))
        .map((f) => readFileSync(f, "utf8").trim())[0]
    : undefined;
}

/** The directory of the Vagrantfile `vagrant` uses from `cwd`: VAGRANT_CWD, else `cwd` or a parent. */
export function vagrantProjectDir(
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  let dir = resolve(env.VAGRANT_CWD ?? cwd);
  for (;;) {
    if (existsSync(join(dir, env.VAGRANT_VAGRANTFILE ?? "Vagrantfile"))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** What the Vagrantfile reads to log in after lockclaw moved sshd and the login user. */
export interface VagrantLogin {
  user: string;
  port: number;
  /** the keys lockclaw proved the fresh login with */
  keys: string[];
  /** the box this holds for (Vagrant's index_uuid): a destroyed and re-created box starts fresh */
  index_uuid: string;
}

export function vagrantLoginFile(projectDir: string, name: string): string {
  return join(projectDir, ".vagrant", "lockclaw", `${name}.json`);
}

/**
 * Writes `.vagrant/lockclaw/NAME.json` next to the Vagrantfile once lockclaw has proven a login on a box
 * (user, port, keys), so `vagrant ssh`, `vagrant up` and `vagrant halt` keep working on a hardened box.
 * Returns the file, or undefined when there is no Vagrantfile or no created box of that name.
 */
export async function recordVagrantLogin(
  name: string,
  login: { user: string; port: number; keys: string[] },
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string | undefined> {
  const dir = vagrantProjectDir(options.cwd, options.env);
  if (!dir || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name)) return undefined;
  const uuid = vagrantBoxId(dir, name);
  if (!uuid) return undefined;
  const file = vagrantLoginFile(dir, name);
  const body: VagrantLogin = { user: login.user, port: login.port, keys: login.keys, index_uuid: uuid };
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(body, null, 2) + "\n", { mode: 0o644 });
  await rename(tmp, file);
  return file;
}
