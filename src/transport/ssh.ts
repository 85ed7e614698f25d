/**
 * The ssh2-backed Transport: one connection per host, many exec channels on it.
 *
 * Authentication offers each identity file, then the agent, in that order (OpenSSH's MaxAuthTries is 6,
 * so the order matters: explicit keys first). Host keys are checked against known_hosts inside the
 * handshake, so a mismatch aborts before any authentication or command is sent.
 */
import { existsSync } from "node:fs";
import type ssh2 from "ssh2";
import type { AnyAuthMethod, ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";
import { ConfigError, ConnectionError, ConnectionLostError, ExecTimeoutError } from "../core/errors.js";
import { sh } from "../core/sh.js";

import { loadIdentity } from "./identity.js";
import { ssh2Parts } from "./ssh2-parts.js";
import {
  fingerprint,
  lookupHostKeys,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  verifyHostKey,
} from "./known-hosts.js";
import type { ConnectionTarget, ExecOptions, ExecResult, KeepaliveSettings, Transport } from "./types.js";

export { runScript, SCRIPT_WRAPPER } from "./script.js";

type Client = InstanceType<typeof ssh2.Client>;

/**
 * Sessions open at once on one connection: the host playbook sets sshd's MaxSessions to 2 (issue 12;
 * OpenSSH's default is 10), so more parallel execs queue here instead of being refused by sshd.
 */
export const MAX_CHANNELS = 2;
/** Retries of a refused channel open (see onOpen); about 2 s in all. */
const OPEN_RETRIES = 12;
const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
/**
 * A keepalive every 15 s, dead after 12 unanswered: a host may stall for 3 minutes (swapping, a TCG VM
 * busy with apt or a firewall reload) without its run being killed. The price: a host that vanished
 * silently is noticed after ~3 min, not seconds (a closed TCP connection is noticed at once anyway).
 */
export const DEFAULT_KEEPALIVE: KeepaliveSettings = { intervalMs: 15_000, countMax: 12 };
export { KEEPALIVE_ENV } from "./keepalive-env.js";
import { KEEPALIVE_ENV } from "./keepalive-env.js";
/** ssh2's default host key algorithm order (we reorder it, never extend it). */
const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/**
 * `SECONDS[,COUNT]` (`--ssh-keepalive`, $LOCKCLAW_SSH_KEEPALIVE): a keepalive every SECONDS, the
 * connection dead after COUNT unanswered (default 12). `source` names the flag or variable in errors.
 */
export function parseKeepalive(text: string, source: string): KeepaliveSettings {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:,\s*(\d+)\s*)?$/.exec(text);
  const seconds = m ? Number(m[1]) : NaN;
  const count = m?.[2] !== undefined ? Number(m[2]) : DEFAULT_KEEPALIVE.countMax;
  if (!m || !(seconds >= 0.1 && seconds <= 3600) || !(count >= 1 && count <= 1000)) {
    throw new ConfigError(
      `${source} ${JSON.stringify(text)} is not SECONDS[,COUNT]`,
      undefined,
      "e.g. 15,12: a keepalive every 15 s, the connection given up after 12 unanswered (3 min); " +
        "SECONDS 0.1-3600, COUNT 1-1000",
    );
  }
  return { intervalMs: Math.round(seconds * 1000), countMax: count };
}

/** The target's own settings, else $LOCKCLAW_SSH_KEEPALIVE, else DEFAULT_KEEPALIVE. */
export function keepaliveOf(
  target: ConnectionTarget,
  env: NodeJS.ProcessEnv = process.env,
): KeepaliveSettings {
  if (target.keepalive) return target.keepalive;
  const text = env[KEEPALIVE_ENV];
  return text ? parseKeepalive(text, KEEPALIVE_ENV) : DEFAULT_KEEPALIVE;
}

/** How long a server may stay silent before the connection is given up, in words. */
export function keepaliveBudget(k: KeepaliveSettings): string {
  return `${((k.countMax + 1) * k.intervalMs) / 1000} s (a keepalive every ${k.intervalMs / 1000} s, ${k.countMax} unanswered)`;
}

function where(t: ConnectionTarget): string {
  return `${t.user}@${t.host}:${t.port}`;
}

/** Wrap a command so it runs as root through sudo when the login user is not root. */
export function becomeCommand(command: string, loginUser: string, become: boolean | undefined): string {
  if (!become || loginUser === "root") return command;
  return String(sh`sudo -n sh -c ${command}`);
}

interface AuthPlan {
  /** `publicKey`: the `type base64` of a key file's public half. */
  methods: Array<{ label: string; method: AnyAuthMethod; publicKey?: string }>;
  /** Keys we could not use, and why (encrypted, unreadable, not a private key). */
  skipped: string[];
}

function planAuth(target: ConnectionTarget): AuthPlan {
  const methods: AuthPlan["methods"] = [];
  const skipped: string[] = [];
  for (const file of target.identityFiles) {
    const identity = loadIdentity(file);
    if (!identity.ok) {
      skipped.push(identity.reason);
      continue;
    }
    methods.push({
      label: `publickey ${file}`,
      method: { type: "publickey", username: target.user, key: identity.key },
      publicKey: identity.publicKey,
    });
  }
  if (target.agent) {
    if (existsSync(target.agent)) {
      methods.push({
        label: `agent ${target.agent}`,
        method: { type: "agent", username: target.user, agent: target.agent },
      });
    } else {
      skipped.push(`agent socket ${target.agent} does not exist`);
    }
  }
  return { methods, skipped };
}

interface Connected {
  client: Client;
  hostKeyFingerprint: string;
  /** Set once the connection is gone, whatever the reason. */
  closed: Promise<void>;
  /** Connections this one depends on (jump hosts), closed after it. */
  jumps: Connected[];
  /** See Transport.authKeys. */
  authKeys: string[];
  keepalive: KeepaliveSettings;
}

/** The identities an ssh-agent holds, as `type base64`; empty when it cannot tell. */
function agentKeys(socket: string): Promise<string[]> {
  return new Promise((resolve) => {
    try {
      new (ssh2Parts().OpenSSHAgent)(socket).getIdentities((err, keys) => {
        if (err || !keys) return resolve([]);
        const out: string[] = [];
        for (const k of keys) {
          // OpenSSHAgent hands back ParsedKeys; the typings also allow a wrapper entry
          const key = "getPublicSSH" in k ? k : undefined;
          if (key) out.push(`${key.type} ${key.getPublicSSH().toString("base64")}`);
        }
        resolve(out);
      });
    } catch {
      resolve([]);
    }
  });
}

/** Open (and authenticate) one ssh2 Client, through its jump host if it has one. */
async function openClient(target: ConnectionTarget): Promise<Connected> {
  const plan = planAuth(target);
  const tried: string[] = [];
  const authSummary = () => {
    const parts = [`tried: ${tried.length ? tried.join(", ") : "nothing"}`];
    if (plan.skipped.length) parts.push(`skipped: ${plan.skipped.join("; ")}`);
    return parts.join("; ");
  };
  if (plan.methods.length === 0) {
    throw new ConnectionError(
      `cannot authenticate to ${where(target)}: no usable key and no ssh-agent (${authSummary()})\n` +
        `  fix: pass a private key with -k, add IdentityFile to ~/.ssh/config, or start ssh-agent`,
      target.host,
      target.port,
    );
  }

  const jumps: Connected[] = [];
  let sock: ConnectConfig["sock"];
  if (target.proxyJump) {
    const jump = await openClient(target.proxyJump);
    jumps.push(jump, ...jump.jumps);
    try {
      sock = await new Promise<ClientChannel>((resolve, reject) => {
        jump.client.forwardOut("127.0.0.1", 0, target.host, target.port, (err, stream) =>
          err ? reject(err) : resolve(stream),
        );
      });
    } catch (err) {
      jump.client.end();
      throw new ConnectionError(
        `jump host ${where(target.proxyJump)} could not open a tunnel to ${target.host}:${target.port}: ` +
          `${(err as Error).message}\n  fix: the jump host's sshd must allow TCP forwarding (AllowTcpForwarding) ` +
          `and reach ${target.host}:${target.port}`,
        target.host,
        target.port,
        { cause: err },
      );
    }
  }

  const client = new (ssh2Parts().Client)();
  let hostKeyError: ConnectionError | undefined;
  let hostKeyFingerprint = "";
  let next = 0;
  let lastMethod: AuthPlan["methods"][number] | undefined;
  const known =
    target.hostKeyPolicy === "off"
      ? []
      : lookupHostKeys(readKnownHosts(target.knownHostsFile), target.host, target.port);
  const preferred = HOST_KEY_ALGORITHMS.filter((a) => preferredHostKeyAlgorithms(known).includes(a));
  const keepalive = keepaliveOf(target);
  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: target.user,
    sock,
    readyTimeout: target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    // ssh2 counts only answers to its keepalive requests, not channel data: a long exec that prints
    // nothing is fine as long as sshd answers, and sshd answers even while the command runs.
    keepaliveInterval: keepalive.intervalMs,
    keepaliveCountMax: keepalive.countMax,
    algorithms: {
      serverHostKey: [...preferred, ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))],
    },
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      let verdict;
      try {
        hostKeyFingerprint = fingerprint(key);
        verdict = verifyHostKey({
          host: target.host,
          port: target.port,
          key,
          policy: target.hostKeyPolicy,
          knownHostsFile: target.knownHostsFile,
          trustedFingerprints: target.trustedHostKeys,
        });
      } catch (err) {
        verdict = {
          ok: false as const,
          error:
            err instanceof ConnectionError
              ? err
              : new ConnectionError(
                  `cannot check the host key of ${target.host}:${target.port}: ${(err as Error).message}`,
                  target.host,
                  target.port,
                  { cause: err },
                ),
        };
      }
      if (!verdict.ok) hostKeyError = verdict.error;
      verify(verdict.ok);
    },
    authHandler: (_authsLeft, _partial, nextAuth) => {
      const m = plan.methods[next++];
      // `false` is ssh2's documented "no more methods" (the typings miss it): fail with client-authentication.
      if (!m) return nextAuth(false as unknown as AnyAuthMethod);
      tried.push(m.label);
      lastMethod = m;
      nextAuth(m.method);
    },
  };

  // An 'error' without a listener would crash the process (a jump host's link can reset at any time);
  // the handlers below and SshTransport's turn errors into rejections and ConnectionLostError instead.
  client.on("error", () => {});
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  client.once("close", () => resolveClosed());

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { level?: string }) => {
      client.removeListener("ready", onReady);
      client.end();
      for (const j of jumps) j.client.end();
      reject(mapConnectError(err, target, hostKeyError, authSummary));
    };
    const onReady = () => {
      client.removeListener("error", onError);
      // Many small request/response round trips: Nagle's algorithm would only add latency.
      client.setNoDelay(true);
      resolve();
    };
    client.once("error", onError);
    client.once("ready", onReady);
    try {
      client.connect(config);
      declineHostKeysProve(client);
    } catch (err) {
      onError(err as Error);
    }
  });
  // the method tried last is the one the server accepted
  let authKeys: string[] = [];
  if (lastMethod?.publicKey) authKeys = [lastMethod.publicKey];
  else if (lastMethod?.method.type === "agent" && target.agent) authKeys = await agentKeys(target.agent);
  return { client, closed, jumps, hostKeyFingerprint, authKeys, keepalive };
}

/**
 * After login, OpenSSH's sshd announces all its host keys (`hostkeys-00@openssh.com`, for clients that
 * update known_hosts) and ssh2 answers each time by asking the server to prove it holds them and
 * verifying the signatures, only to emit a 'hostkeys' event. lockclaw checks the one key of the
 * handshake against known_hosts and never reads the others: the proof cost every connection a round
 * trip, a signature per key on the host and a verification per key here (~5 ms of CPU a host, issue 14).
 * ssh2 has no option for it, so the announcement is acknowledged (when asked) and dropped one level
 * down, as OpenSSH's client does with UpdateHostKeys=no; every other global request still goes to ssh2.
 * Best effort, like sendSignal: if ssh2's internals ever change, ssh2 keeps its own behaviour.
 */
export function declineHostKeysProve(client: object): boolean {
  const protocol = (
    client as {
      _protocol?: {
        _handlers?: Record<string, unknown>;
        requestSuccess?: () => void;
      };
    }
  )._protocol;
  const handlers = protocol?._handlers;
  const original = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof original !== "function" || typeof protocol.requestSuccess !== "function")
    return false;
  const forward = original as (...args: unknown[]) => unknown;
  handlers.GLOBAL_REQUEST = (p: unknown, name: unknown, wantReply: unknown, data: unknown): unknown => {
    if (name !== HOSTKEYS_ANNOUNCEMENT) return forward(p, name, wantReply, data);
    // what ssh2 itself answers to it
    if (wantReply) protocol.requestSuccess!();
    return undefined;
  };
  return true;
}

const HOSTKEYS_ANNOUNCEMENT = "hostkeys-00@openssh.com";

function mapConnectError(
  err: Error & { level?: string; code?: unknown },
  target: ConnectionTarget,
  hostKeyError: ConnectionError | undefined,
  authSummary: () => string,
): ConnectionError {
  if (hostKeyError) return hostKeyError;
  const at = where(target);
  const via = target.proxyJump ? ` (via ${where(target.proxyJump)})` : "";
  switch (err.level) {
    case "client-authentication":
      return new ConnectionError(
        `authentication failed for ${at}${via} (${authSummary()})\n` +
          `  fix: make sure one of these keys is in ~${target.user}/.ssh/authorized_keys on the host, or pass another with -k`,
        target.host,
        target.port,
        { cause: err },
      );
    case "client-timeout":
      return new ConnectionError(
        `timed out connecting to ${at}${via} after ${target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms ` +
          `(${authSummary()})`,
        target.host,
        target.port,
        { cause: err },
      );
    case "client-socket": {
      const code = typeof err.code === "string" ? `${err.code}: ` : "";
      return new ConnectionError(
        `cannot connect to ${at}${via}: ${code}${err.message}` +
          (err.code === "ECONNREFUSED"
            ? "\n  fix: is sshd running on that port? check Port in ~/.ssh/config"
            : ""),
        target.host,
        target.port,
        { cause: err },
      );
    }
    default:
      return new ConnectionError(
        `SSH connection to ${at}${via} failed: ${err.message} (${authSummary()})`,
        target.host,
        target.port,
        {
          cause: err,
        },
      );
  }
}

/**
 * Ask sshd to kill the command's process group. OpenSSH honours "signal" requests only for non-root
 * logins (root sessions run without privilege separation, and sshd refuses), and a user's signal cannot
 * reach a command running under sudo; so a timed-out command may keep running on the host. ssh2's own
 * ClientChannel.signal() refuses once we have sent EOF on stdin, which we always do at once, so this
 * goes one level down; it is best effort and a no-op if ssh2's internals ever change.
 */
function sendSignal(ch: ClientChannel, name: string): void {
  const internals = ch as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal?: (id: number, name: string) => void } };
  };
  try {
    const id = internals.outgoing?.id;
    const protocol = internals._client?._protocol;
    const state = internals.outgoing?.state;
    if (id !== undefined && (state === "open" || state === "eof") && typeof protocol?.signal === "function") {
      protocol.signal(id, name);
    }
  } catch {
    /* the channel is already gone */
  }
}

interface Pending {
  reject: (err: Error) => void;
}

class SshTransport implements Transport {
  execCount = 0;
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private readonly pending = new Set<Pending>();
  private readonly listeners: Array<(err?: Error) => void> = [];
  private closing = false;
  private lostError: ConnectionLostError | undefined;
  private isClosed = false;

  readonly hostKeyFingerprint: string;
  readonly authKeys: string[];

  constructor(
    readonly target: ConnectionTarget,
    private readonly conn: Connected,
  ) {
    this.hostKeyFingerprint = conn.hostKeyFingerprint;
    this.authKeys = conn.authKeys;
    conn.client.on("error", (err: Error & { level?: string }) => {
      // After 'ready', errors are followed by 'close'; remember the cause for the report.
      if (this.closing) return;
      this.lostError =
        err.level === "client-timeout" && /keepalive/i.test(err.message)
          ? this.lost(
              `the host answered no keepalive for ${keepaliveBudget(conn.keepalive)}\n` +
                `  fix: if the host is only slow, allow it longer with --ssh-keepalive SECONDS,COUNT ` +
                `(or ${KEEPALIVE_ENV})`,
              err,
            )
          : this.lost(`connection error: ${err.message}`, err);
    });
    conn.client.once("close", () => {
      this.isClosed = true;
      const err = this.closing ? undefined : (this.lostError ?? this.lost("the connection closed"));
      for (const p of [...this.pending]) p.reject(err ?? this.lost("the connection was closed by lockclaw"));
      this.pending.clear();
      for (const j of conn.jumps) j.client.end();
      for (const l of this.listeners) l(err);
    });
  }

  private lost(why: string, cause?: unknown): ConnectionLostError {
    return new ConnectionLostError(
      `connection to ${where(this.target)} lost: ${why}`,
      this.target.host,
      this.target.port,
      { cause },
    );
  }

  onClose(listener: (err?: Error) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (!this.isClosed) {
      this.closing = true;
      this.conn.client.end();
    }
    await this.conn.closed;
    await Promise.all(this.conn.jumps.map((j) => j.closed));
  }

  private async slot(): Promise<void> {
    if (this.active < MAX_CHANNELS) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.queue.push(r));
  }

  private release(): void {
    const nextWaiter = this.queue.shift();
    if (nextWaiter) nextWaiter();
    else this.active--;
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.isClosed) throw this.lostError ?? this.lost("the connection is already closed");
    await this.slot();
    try {
      return await this.run(becomeCommand(command, this.target.user, options.become), command, options);
    } finally {
      this.release();
    }
  }

  private run(full: string, original: string, options: ExecOptions): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      if (this.isClosed) return reject(this.lostError ?? this.lost("the connection is already closed"));
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let stream: ClientChannel | undefined;
      const entry: Pending = {
        reject: (err) => finish(() => reject(err)),
      };
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        this.pending.delete(entry);
        fn();
      };
      this.pending.add(entry);
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          // Closing the channel makes sshd hang up the command's pipes; sending a signal is best effort.
          if (stream) sendSignal(stream, "KILL");
          stream?.close();
          finish(() => reject(new ExecTimeoutError(this.target.name, original, options.timeoutMs!)));
        }, options.timeoutMs);
      }
      let attempt = 0;
      const open = () => this.conn.client.exec(full, onOpen);
      const onOpen = (err: Error | undefined, ch: ClientChannel) => {
        if (err && !this.isClosed && !settled && attempt < OPEN_RETRIES && /open failed/i.test(err.message)) {
          // sshd frees a session slot a moment after we see the channel close, so a burst of execs can
          // briefly exceed MaxSessions; the refusal is transient.
          attempt++;
          setTimeout(open, 20 * attempt);
          return;
        }
        if (err) {
          return finish(() =>
            reject(
              this.isClosed
                ? (this.lostError ?? this.lost(err.message, err))
                : new ConnectionError(
                    `${where(this.target)}: could not open an exec channel: ${err.message}`,
                    this.target.host,
                    this.target.port,
                    { cause: err },
                  ),
            ),
          );
        }
        stream = ch;
        if (settled) {
          ch.close();
          return;
        }
        this.execCount++;
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code: number | null | undefined;
        let signal: string | undefined;
        ch.on("data", (d: Buffer) => {
          out.push(d);
          // a listener's failure is its own: it never breaks the exec
          try {
            options.onStdout?.(d);
          } catch {
            /* ignored */
          }
        });
        ch.stderr.on("data", (d: Buffer) => errOut.push(d));
        ch.on("exit", (c: number | null, sig?: string) => {
          code = c ?? null;
          if (sig) signal = sig;
        });
        ch.on("error", () => {
          /* surfaced through close below */
        });
        ch.on("close", () => {
          if (code === undefined) {
            // sshd always sends exit-status or exit-signal before closing a channel it ran to the end;
            // without one, the connection went away underneath us.
            setImmediate(() =>
              finish(() => reject(this.lostError ?? this.lost("the channel closed without an exit status"))),
            );
            return;
          }
          const result: ExecResult = {
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(errOut).toString("utf8"),
            code,
          };
          if (signal) result.signal = signal;
          finish(() => resolve(result));
        });
        // ssh2 buffers writes and respects the window, so one end() is fine for a string or Buffer; a
        // stream is piped with backpressure, and a read error fails the exec instead of hanging it
        const input = options.stdin;
        if (input === undefined) ch.end();
        else if (typeof input === "string" || Buffer.isBuffer(input)) ch.end(input);
        else {
          input.once("error", (err) => {
            ch.close();
            finish(() => reject(err));
          });
          input.pipe(ch);
        }
      };
      open();
    });
  }
}

/** Connect and authenticate (through ProxyJump if set); rejects with ConnectionError or HostKeyMismatchError. */
export async function connect(target: ConnectionTarget): Promise<Transport> {
  const conn = await openClient(target);
  return new SshTransport(target, conn);
}
