/**
 * Turn what the user typed (`user@host[:port]`, `host`, `[v6addr]:port`) into a ConnectionTarget,
 * applying ~/.ssh/config the way OpenSSH does for the options lockclaw honours.
 *
 * Precedence: explicit values (CLI options, then the spec's own user/port) > ssh config > defaults.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import SSHConfig from "ssh-config";
import { ConfigError } from "../core/errors.js";
import type { ConnectionTarget, HostKeyPolicy } from "./types.js";

export interface ResolveTargetOptions {
  /** Name used in reports; defaults to the spec. */
  name?: string;
  /** -k/--key: offered first, also to jump hosts. Must exist. */
  keyFiles?: string[];
  /** Overrides the spec and ssh config. */
  port?: number;
  user?: string;
  /** -u: the login for a target whose spec names none; wins over the ssh config's User. */
  defaultUser?: string;
  /** Default ~/.ssh/config; a missing file is fine. */
  sshConfigPath?: string;
  /** Default: ssh config's UserKnownHostsFile, else ~/.ssh/known_hosts. */
  knownHostsFile?: string;
  /** Default strict. */
  hostKeyPolicy?: HostKeyPolicy;
  /** Agent socket; `false` disables the agent. Default: ssh config's IdentityAgent, else $SSH_AUTH_SOCK. */
  agent?: string | false;
  connectTimeoutMs?: number;
  /** For tests: the home directory `~` expands to. */
  homeDir?: string;
  /** For tests: the environment ($SSH_AUTH_SOCK, $USER). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface ParsedSpec {
  user?: string;
  host: string;
  port?: number;
}

const MAX_JUMP_DEPTH = 5;

/** `user@host:port`, `host`, `[::1]:2222`, `user@[fe80::1]`, a bare `::1`, or `ssh://user@host:port`. */
export function parseSpec(spec: string): ParsedSpec {
  let s = spec.trim();
  const bad = (why: string) =>
    new ConfigError(
      `invalid SSH target "${spec}": ${why}`,
      undefined,
      "write it as user@host, user@host:port or user@[ipv6]:port",
    );
  if (s === "") throw bad("it is empty");
  if (/\s/.test(s)) throw bad("it contains whitespace");
  if (s.startsWith("ssh://")) s = s.slice("ssh://".length).replace(/\/$/, "");
  let user: string | undefined;
  const at = s.lastIndexOf("@");
  if (at >= 0) {
    user = s.slice(0, at);
    s = s.slice(at + 1);
    if (user === "") throw bad("the user before @ is empty");
  }
  let host: string;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw bad("missing ] after an IPv6 address");
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw bad(`unexpected "${rest}" after ]`);
      portText = rest.slice(1);
    }
  } else if ((s.match(/:/g) ?? []).length > 1) {
    host = s; // a bare IPv6 address; a port needs the [addr]:port form
  } else {
    const colon = s.indexOf(":");
    host = colon >= 0 ? s.slice(0, colon) : s;
    portText = colon >= 0 ? s.slice(colon + 1) : undefined;
  }
  if (host === "") throw bad("the host is empty");
  const port = portText === undefined ? undefined : parsePort(portText, () => bad(`bad port "${portText}"`));
  return { user, host, port };
}

function parsePort(text: string, fail: () => Error): number {
  if (!/^\d{1,5}$/.test(text)) throw fail();
  const n = Number(text);
  if (n < 1 || n > 65535) throw fail();
  return n;
}

function first(v: string | string[] | undefined): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? undefined : unquote(x);
}

function all(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(unquote);
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

interface Tokens {
  home: string;
  alias: string;
  host: string;
  port: number;
  user: string;
  localUser: string;
}

/** OpenSSH's ~ and %-tokens for paths (IdentityFile, UserKnownHostsFile, IdentityAgent). */
function expandPath(p: string, t: Tokens, base: string): string {
  let out = p.replace(/%([%dhnprul])/g, (_m, c: string) => {
    switch (c) {
      case "%":
        return "%";
      case "d":
        return t.home;
      case "h":
        return t.host;
      case "n":
        return t.alias;
      case "p":
        return String(t.port);
      case "r":
        return t.user;
      case "u":
        return t.localUser;
      default:
        return `%${c}`;
    }
  });
  if (out === "~") out = t.home;
  else if (out.startsWith("~/")) out = join(t.home, out.slice(2));
  return isAbsolute(out) ? out : resolve(base, out);
}

function loadSshConfig(path: string): SSHConfig | undefined {
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ssh config: ${(err as Error).message}`, { file: path }, undefined, {
      cause: err,
    });
  }
  try {
    return SSHConfig.parse(text);
  } catch (err) {
    throw new ConfigError(
      `cannot parse ssh config: ${(err as Error).message}`,
      { file: path },
      "fix the file or point --ssh-config at another one",
      { cause: err },
    );
  }
}

/** Resolve a target spec into everything connect() needs. Throws ConfigError on bad input. */
export function resolveTarget(spec: string, options: ResolveTargetOptions = {}): ConnectionTarget {
  const env = options.env ?? process.env;
  const home = options.homeDir ?? homedir();
  const sshConfigPath = options.sshConfigPath ?? join(home, ".ssh", "config");
  const config = loadSshConfig(sshConfigPath);
  return resolveOne(spec, options, { env, home, sshConfigPath, config }, 0, true);
}

interface Ctx {
  env: NodeJS.ProcessEnv;
  home: string;
  sshConfigPath: string;
  config: SSHConfig | undefined;
}

function resolveOne(
  spec: string,
  options: ResolveTargetOptions,
  ctx: Ctx,
  depth: number,
  isFinal: boolean,
  explicitJump?: ConnectionTarget,
): ConnectionTarget {
  if (depth > MAX_JUMP_DEPTH) {
    throw new ConfigError(
      `ProxyJump chain for "${spec}" is deeper than ${MAX_JUMP_DEPTH} hops (a loop in the ssh config?)`,
      { file: ctx.sshConfigPath },
      "exclude the jump host from the Host pattern that sets ProxyJump (e.g. `Host * !bastion`)",
    );
  }
  const parsed = parseSpec(spec);
  const alias = parsed.host;
  const localUser = safeLocalUser(ctx.env);
  // matchExec off: resolving a target must never run shell commands from a config file.
  const cfg: Record<string, string | string[]> = ctx.config
    ? ctx.config.compute(parsed.user ? { Host: alias, User: parsed.user } : { Host: alias }, {
        ignoreCase: true,
        matchExec: false,
      })
    : {};

  const user =
    (isFinal ? options.user : undefined) ??
    parsed.user ??
    (isFinal ? options.defaultUser : undefined) ??
    first(cfg.user) ??
    localUser;
  let port: number;
  const explicitPort = (isFinal ? options.port : undefined) ?? parsed.port;
  if (explicitPort !== undefined) {
    if (!Number.isInteger(explicitPort) || explicitPort < 1 || explicitPort > 65535) {
      throw new ConfigError(`invalid SSH port ${explicitPort} for "${spec}"`, undefined, "use 1-65535");
    }
    port = explicitPort;
  } else if (cfg.port !== undefined) {
    const text = first(cfg.port) ?? "";
    port = parsePort(
      text,
      () =>
        new ConfigError(
          `invalid Port "${text}" for host "${alias}"`,
          { file: ctx.sshConfigPath },
          "use 1-65535",
        ),
    );
  } else {
    port = 22;
  }
  const hostNameRaw = first(cfg.hostname);
  const host = hostNameRaw ? hostNameRaw.replace(/%h/g, alias).replace(/%%/g, "%") : alias;
  const tokens: Tokens = { home: ctx.home, alias, host, port, user, localUser };
  const cwd = process.cwd();

  const explicitKeys = (options.keyFiles ?? []).map((k) => expandPath(k, tokens, cwd));
  for (const k of explicitKeys) {
    if (!existsSync(k)) {
      throw new ConfigError(
        `key file ${k} does not exist`,
        undefined,
        "pass an existing private key with -k",
      );
    }
  }
  // OpenSSH silently skips IdentityFile entries that do not exist; so do we.
  const configKeys = all(cfg.identityfile)
    .map((k) => expandPath(k, tokens, ctx.home))
    .filter((k) => existsSync(k));
  let identityFiles = dedupe([...explicitKeys, ...configKeys]);
  if (identityFiles.length === 0) {
    identityFiles = ["id_ed25519", "id_ecdsa", "id_rsa"]
      .map((f) => join(ctx.home, ".ssh", f))
      .filter((f) => existsSync(f));
  }

  let agent: string | undefined;
  if (options.agent === false) agent = undefined;
  else if (options.agent !== undefined) agent = options.agent;
  else {
    const ia = first(cfg.identityagent);
    if (ia === undefined) agent = ctx.env.SSH_AUTH_SOCK || undefined;
    else if (ia.toLowerCase() === "none") agent = undefined;
    else if (ia === "SSH_AUTH_SOCK" || ia === "$SSH_AUTH_SOCK") agent = ctx.env.SSH_AUTH_SOCK || undefined;
    else agent = expandPath(ia, tokens, ctx.home);
  }

  const configKnownHosts = first(cfg.userknownhostsfile)?.split(/\s+/)[0];
  const knownHostsFile =
    options.knownHostsFile ??
    (configKnownHosts && configKnownHosts.toLowerCase() !== "none"
      ? expandPath(configKnownHosts, tokens, ctx.home)
      : join(ctx.home, ".ssh", "known_hosts"));

  let connectTimeoutMs = options.connectTimeoutMs;
  if (connectTimeoutMs === undefined && cfg.connecttimeout !== undefined) {
    const secs = Number(first(cfg.connecttimeout));
    if (Number.isFinite(secs) && secs > 0) connectTimeoutMs = secs * 1000;
  }

  let proxyJump = explicitJump;
  if (!proxyJump) {
    const pj = first(cfg.proxyjump);
    if (pj && pj.toLowerCase() !== "none") {
      // A chain `a,b` means: reach a, through it reach b, through b reach the target.
      const hops = pj.split(",").map((h) => h.trim());
      const jumpOptions: ResolveTargetOptions = { ...options, name: undefined };
      let prev: ConnectionTarget | undefined;
      for (const hop of hops) {
        if (hop === "") {
          throw new ConfigError(
            `empty hop in ProxyJump "${pj}" for host "${alias}"`,
            {
              file: ctx.sshConfigPath,
            },
            "write ProxyJump as user@host:port[,user@host:port]",
          );
        }
        prev = resolveOne(hop, { ...jumpOptions, name: hop }, ctx, depth + 1, false, prev);
      }
      proxyJump = prev;
    }
  }

  const target: ConnectionTarget = {
    name: options.name ?? spec,
    host,
    port,
    user,
    identityFiles,
    hostKeyPolicy: options.hostKeyPolicy ?? "strict",
    knownHostsFile,
  };
  if (agent) target.agent = agent;
  if (proxyJump) target.proxyJump = proxyJump;
  if (connectTimeoutMs !== undefined) target.connectTimeoutMs = connectTimeoutMs;
  return target;
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

function safeLocalUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? "root";
  }
}
