/**
 * `sshd`: the SSH daemon's effective configuration (root login off, keys only, hardened algorithms), through one drop-in that is read first,
 * proven with `sshd -T`. Also handles socket-activated sshd (the port lives in ssh.socket) and lines
 * elsewhere that would override or widen the drop-in (commented out, `# lockclaw: disabled …`).
 *
 * Apply validates with `sshd -t` before any reload and puts the previous files back if it fails, so a bad
 * value can never reach the running daemon. Lock-out safety beyond that (the fresh-login proof and the
 * armed rollback) is the engine's, through guard().
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { planned, type Change, type LockoutGuard, type ResourceKind } from "../engine/resource.js";
import { raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";
import { contentDiff } from "./common/diffText.js";
import { atomicWriteSh, dirOf } from "../core/atomic-write.js";
import { base64Body } from "../core/marks.js";
import { bool, wholeNumber } from "./common/schema.js";
import {
  ALGORITHMS,
  DEFAULT_DROPIN,
  DEFAULT_SETTINGS,
  DROPIN_DIR,
  EXPLICIT_SETTINGS,
  SETTINGS,
  SOCKET_OVERRIDE,
  SSHD_CONFIG,
  addInclude,
  commentOutLines,
  findConflicts,
  intersectAlgorithms,
  parseSshdT,
  readOrder,
  renderDropin,
  renderSocketOverride,
  sshdTForm,
  wantedAlgorithms,
  type AlgorithmField,
  type AlgorithmName,
  type ConfigFile,
  type Conflict,
  type DesiredConfig,
  type EffectiveConfig,
  type SettingName,
  type Settings,
  type SupportedAlgorithms,
} from "./sshd/config.js";
import { GUARD_RESTORE, GUARD_SAVE, MARKS, RELOAD_SH, SSHD_BIN, probeScript } from "./sshd/scripts.js";

// ---------------------------------------------------------------------------------------------------
// Spec

/** One sshd token: no whitespace (a space would start a second argument), no newline (a second directive). */
const token = (what: string) =>
  z.string({ error: `${what} must be a string` }).regex(/^[A-Za-z0-9@._,:*?!%/+\-[\]]+$/, {
    error: `${what} must be a single word (letters, digits, @ . _ - , : * ? ! % / +; no spaces or newlines)`,
  });

/** A keyword whose values are words (as sshd -T prints them); true/false stand for yes/no. */
const yesNoWord = <T extends string>(what: string, values: readonly [T, ...T[]]) =>
  z.preprocess(
    (v) => (v === true ? "yes" : v === false ? "no" : v),
    z.enum(values, { error: `${what} must be one of ${values.join(", ")}` }),
  );

const algList = (what: string) =>
  z.array(token(what), { error: `${what} must be a list of algorithm names` }).min(1, {
    error: `${what} must not be empty (leave it out to use lockclaw's defaults)`,
  });

const settingsSpec = z.strictObject(
  {
    PermitRootLogin: z
      .enum(["no", "yes", "prohibit-password", "forced-commands-only"], {
        error: "PermitRootLogin must be no, prohibit-password, forced-commands-only or yes",
      })
      .optional()
      .describe("Whether root may log in (lockclaw's default: no)."),
    PasswordAuthentication: bool("PasswordAuthentication")
      .optional()
      .describe("Password logins (default: false)."),
    KbdInteractiveAuthentication: bool("KbdInteractiveAuthentication")
      .optional()
      .describe("Keyboard-interactive logins (default: false)."),
    PermitEmptyPasswords: bool("PermitEmptyPasswords")
      .optional()
      .describe("Logins with an empty password (default: false)."),
    PubkeyAuthentication: bool("PubkeyAuthentication")
      .optional()
      .describe("Public key logins (default: true)."),
    AllowUsers: z
      .preprocess(
        (v) => (typeof v === "string" ? [v] : v),
        z.array(token("AllowUsers entry"), { error: "AllowUsers must be a list of user names" }).min(1, {
          error: "AllowUsers must name at least one user (leave it out to allow every user)",
        }),
      )
      .optional()
      .describe("The only users who may log in (a name or a list)."),
    MaxAuthTries: wholeNumber("MaxAuthTries", 1, 100)
      .optional()
      .describe("Authentication attempts per connection (default: 3)."),
    ClientAliveInterval: wholeNumber("ClientAliveInterval", 0, 86400)
      .optional()
      .describe("Seconds of silence before sshd checks the client is alive (default: 300)."),
    ClientAliveCountMax: wholeNumber("ClientAliveCountMax", 0, 100)
      .optional()
      .describe("Unanswered checks before sshd drops the client (default: 2)."),
    DisableForwarding: bool("DisableForwarding")
      .optional()
      .describe("No agent, X11, TCP or stream-local forwarding (default: true)."),
    LoginGraceTime: wholeNumber("LoginGraceTime", 0, 3600)
      .optional()
      .describe("Seconds to authenticate before sshd drops the connection (default: 30)."),
    AllowTcpForwarding: yesNoWord("AllowTcpForwarding", ["yes", "no", "local", "remote"])
      .optional()
      .describe("TCP port forwarding (explicit: no)."),
    AllowAgentForwarding: bool("AllowAgentForwarding")
      .optional()
      .describe("ssh-agent forwarding (explicit: false)."),
    AllowStreamLocalForwarding: yesNoWord("AllowStreamLocalForwarding", ["yes", "no", "local", "remote"])
      .optional()
      .describe("Unix-domain socket forwarding (explicit: no)."),
    X11Forwarding: bool("X11Forwarding").optional().describe("X11 forwarding (explicit: false)."),
    PermitTunnel: yesNoWord("PermitTunnel", ["yes", "no", "point-to-point", "ethernet"])
      .optional()
      .describe("tun device forwarding (explicit: no)."),
    Compression: bool("Compression")
      .optional()
      .describe("Compression after authentication (explicit: false; not allowed in a Match block)."),
    TCPKeepAlive: bool("TCPKeepAlive")
      .optional()
      .describe(
        "TCP keepalives (explicit: false; ClientAliveInterval checks the client inside the encrypted channel instead).",
      ),
    MaxSessions: wholeNumber("MaxSessions", 1, 64)
      .optional()
      .describe("Sessions (shells, execs, subsystems) per connection (explicit: 2)."),
    // as sshd -T prints them (upper case)
    LogLevel: z
      .enum(["QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG1", "DEBUG2", "DEBUG3"], {
        error: "LogLevel must be one of QUIET, FATAL, ERROR, INFO, VERBOSE, DEBUG1-3 (upper case)",
      })
      .optional()
      .describe("sshd's log level, as sshd -T prints it (explicit: VERBOSE, which logs key fingerprints)."),
    Banner: z
      .string()
      .regex(/^(none|\/[A-Za-z0-9._/-]+)$/, { error: "Banner must be none or an absolute path" })
      .optional()
      .describe("A file shown before login, or none (explicit: /etc/issue.net)."),
  },
  {
    error: (i) =>
      i.code === "unrecognized_keys"
        ? `unknown sshd setting(s): ${i.keys.join(", ")} (managed: ${Object.keys(SETTINGS).join(", ")})`
        : undefined,
  },
);

export const sshdSpec = z
  .strictObject({
    port: wholeNumber("port", 1, 65535).describe(
      "The one port sshd listens on (ssh.socket too when sshd is socket-activated).",
    ),
    settings: settingsSpec
      .default({})
      .describe("sshd settings over lockclaw's hardened defaults (the ones listed here)."),
    explicit: bool("explicit")
      .default(false)
      .describe(
        "Also write each directive scanners read (every forwarding directive, Compression, TCPKeepAlive, MaxSessions, LogLevel VERBOSE, Banner /etc/issue.net), even where it is sshd's default; settings win over these.",
      ),
    legacy_clients: bool("legacy_clients")
      .default(false)
      .describe(
        "Also allow one kex (diffie-hellman-group-exchange-sha256) and one cipher (aes256-ctr), last in their lists, for SSH clients without X25519 or AEAD ciphers such as Debian 12's Vagrant (net-ssh 7.0); off, the lists are exactly the hardened ones.",
      ),
    kex: algList("kex")
      .optional()
      .describe(
        "Key exchange algorithms allowed (default: lockclaw's hardened list, as the host's OpenSSH supports).",
      ),
    ciphers: algList("ciphers").optional().describe("Ciphers allowed (default: the hardened list)."),
    macs: algList("macs").optional().describe("MACs allowed (default: the hardened list)."),
    host_key_algorithms: algList("host_key_algorithms")
      .optional()
      .describe("Host key signature algorithms allowed (default: the hardened list)."),
    dropin: z
      .string()
      .regex(new RegExp(`^${DROPIN_DIR.replace(/[./]/g, "\\$&")}/[A-Za-z0-9._-]+\\.conf$`), {
        error: `dropin must be a file ${DROPIN_DIR}/NAME.conf (sshd_config includes only that directory)`,
      })
      .default(DEFAULT_DROPIN)
      .describe("The drop-in file that holds lockclaw's settings, read before any other."),
  })
  .meta({
    description:
      "The SSH daemon's effective configuration, through one drop-in read first, proven with sshd -T (for real logins too, Match blocks applied); lines elsewhere that would override it are commented out.",
    examples: [{ port: "{{ssh_port}}", settings: { AllowUsers: ["{{deploy_user}}"] } }],
  });
export type SshdSpec = z.output<typeof sshdSpec>;

// ---------------------------------------------------------------------------------------------------
// Facts

export interface UnitState {
  loadState?: string;
  activeState?: string;
  unitFileState?: string;
  id?: string;
  listen: string[];
}

export interface SshdFacts {
  /** Exit status of `sshd -T`; its output only means something when 0. */
  sshdTRc: number;
  sshdTError?: string;
  effective: EffectiveConfig;
  /** `sshd -T -C <spec>` per connection spec: the values a real login gets, Match blocks applied. */
  perConnection: Array<{ connection: string; rc: number; effective: EffectiveConfig }>;
  supported: SupportedAlgorithms;
  /** sshd_config and every sshd_config.d/*.conf, as read. */
  files: ConfigFile[];
  socketOverride?: string;
  systemd: boolean;
  socket?: UnitState;
  /** ssh on Debian/Ubuntu, sshd elsewhere. */
  serviceName: string;
}

function parseUnit(lines: string[]): UnitState {
  const u: UnitState = { listen: [] };
  for (const l of lines) {
    const i = l.indexOf("=");
    if (i < 0) continue;
    const k = l.slice(0, i);
    const v = l.slice(i + 1);
    if (k === "LoadState") u.loadState = v;
    else if (k === "ActiveState") u.activeState = v;
    else if (k === "UnitFileState") u.unitFileState = v;
    else if (k === "Id") u.id = v;
    else if (k === "Listen" && v) u.listen.push(...v.split(/(?<=\))\s+/).filter(Boolean));
  }
  return u;
}

export function parseSshdProbe(stdout: string): SshdFacts {
  const sections = MARKS.splitComplete(stdout, "sshd");
  const facts: SshdFacts = {
    sshdTRc: -1,
    effective: new Map(),
    perConnection: [],
    supported: { kex: [], cipher: [], mac: [], keySig: [] },
    files: [],
    systemd: false,
    serviceName: "ssh",
  };
  const units = new Map<string, UnitState>();
  for (const s of sections) {
    const [what, arg, text] = [s.name, s.arg, s.body];
    if (what === "sshd-T") facts.effective = parseSshdT(text);
    else if (what === "sshd-T-rc") facts.sshdTRc = Number(arg);
    else if (what === "sshd-TC") {
      facts.perConnection.push({ connection: arg, rc: -1, effective: parseSshdT(text) });
    } else if (what === "sshd-TC-rc" && facts.perConnection.length) {
      facts.perConnection[facts.perConnection.length - 1]!.rc = Number(arg);
    } else if (what === "sshd-t-error") facts.sshdTError = base64Body(s).trim();
    else if (what === "q" && arg in facts.supported) {
      facts.supported[arg as keyof SupportedAlgorithms] = text
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
    } else if (what === "file") facts.files.push({ path: arg, content: base64Body(s) });
    else if (what === "socket-override") facts.socketOverride = base64Body(s);
    else if (what === "unit") {
      facts.systemd = true;
      units.set(arg, parseUnit(text.split("\n")));
    }
  }
  if (facts.sshdTRc === 0 && !facts.effective.has("port")) {
    throw new Error("sshd -T printed no port line; is this OpenSSH's sshd?");
  }
  facts.socket = units.get("ssh.socket");
  const ssh = units.get("ssh.service");
  facts.serviceName =
    ssh?.loadState === "loaded" ? "ssh" : units.get("sshd.service")?.loadState === "loaded" ? "sshd" : "ssh";
  return facts;
}

/** Socket activation is in charge of the port when ssh.socket is enabled or running. */
export function socketMode(f: SshdFacts): boolean {
  const s = f.socket;
  if (!s || s.loadState !== "loaded") return false;
  return s.activeState === "active" || s.unitFileState === "enabled" || s.unitFileState === "enabled-runtime";
}

/** Ports a systemd Listen= entry such as `[::]:2222 (Stream)` or `0.0.0.0:22 (Stream)` names. */
export function socketPorts(listen: string[]): number[] {
  const out = new Set<number>();
  for (const l of listen) {
    const m = /:(\d+)\s*\(Stream\)/.exec(l) ?? /^(\d+)\s*\(Stream\)/.exec(l);
    if (m) out.add(Number(m[1]));
  }
  return [...out].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------------
// Plan (pure)

/** An address no admin network is (TEST-NET-3, RFC 5737): a login from anywhere else. */
export const OUTSIDER_ADDR = "203.0.113.7";

/**
 * The logins whose effective values are checked with `sshd -T -C`: each user AllowUsers lets in (the
 * deploy user), and root, from an outside address, on the managed port. Match blocks for other
 * criteria are still found in the files (every Match block's conflicting line is commented out).
 */
export function connectionSpecs(spec: SshdSpec): string[] {
  const users = [...((spec.settings.AllowUsers as string[] | undefined) ?? []), "root"];
  return [...new Set(users)]
    .filter((u) => /^[A-Za-z0-9._-]+$/.test(u))
    .map((u) => `user=${u},host=lockclaw-check.invalid,addr=${OUTSIDER_ADDR},lport=${spec.port}`);
}

/** Differences between an effective config and the desired settings, as `Name have → want`. */
function settingDrift(e: EffectiveConfig, desired: DesiredConfig, only?: ReadonlySet<SettingName>): string[] {
  const out: string[] = [];
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    if (only && !only.has(name)) continue;
    const v = desired.settings[name];
    if (v === undefined) continue;
    const want = sshdTForm(name, v);
    const have = e.get(name.toLowerCase()) ?? [];
    const same = SETTINGS[name] === "list" ? sameSet(have, want) : have.join(" ") === want.join(" ");
    if (!same) out.push(`${name} ${have.join(" ") || "(unset)"} → ${want.join(" ")}`);
  }
  return out;
}

/** The settings a task declares: lockclaw's defaults, EXPLICIT_SETTINGS with `explicit`, then its own. */
export function desiredSettings(spec: SshdSpec): Settings {
  return {
    ...DEFAULT_SETTINGS,
    ...(spec.explicit ? EXPLICIT_SETTINGS : {}),
    ...(spec.settings as Settings),
  };
}

/** The algorithm lists a task declares: its own or the hardened ones, plus the legacy clients' with `legacy_clients`. */
export function desiredAlgorithms(spec: SshdSpec): Record<AlgorithmField, string[]> {
  return wantedAlgorithms(spec, spec.legacy_clients);
}

export function desiredConfig(spec: SshdSpec, supported: SupportedAlgorithms): DesiredConfig {
  const settings = desiredSettings(spec);
  return { port: spec.port, settings, algorithms: intersectAlgorithms(desiredAlgorithms(spec), supported) };
}

export interface SshdPlan {
  desired: DesiredConfig;
  dropin: string;
  writeDropin: boolean;
  addInclude: boolean;
  conflicts: Conflict[];
  socket: boolean;
  socketOverride: string;
  writeSocketOverride: boolean;
  /** Every file apply rewrites: its new content, and the content the probe saw (checked again on the host). */
  writes: Map<string, FileWrite>;
}

interface FileWrite {
  content: string;
  before?: string;
  mode: string;
}

function sameSet(a: string[], b: string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export function planSshd(spec: SshdSpec, facts: SshdFacts): SshdPlan & { changes: Change[] } {
  const desired = desiredConfig(spec, facts.supported);
  const dropin = renderDropin(desired);
  const current = facts.files.find((f) => f.path === spec.dropin)?.content;
  const order = readOrder(facts.files, spec.dropin);
  const conflicts = findConflicts(order, spec.dropin, desired);
  const socket = socketMode(facts);
  const socketOverride = renderSocketOverride(spec.port);
  const changes: Change[] = [];

  // effective values first: they are what the user cares about
  if (facts.sshdTRc !== 0) {
    changes.push({
      summary: `sshd -T fails on the current configuration (${facts.sshdTError ?? `exit ${facts.sshdTRc}`})`,
    });
  } else {
    const e = facts.effective;
    const ports = e.get("port") ?? [];
    if (!sameSet(ports, [String(spec.port)]))
      changes.push({ summary: `Port ${ports.join(",") || "(none)"} → ${spec.port}` });
    for (const d of settingDrift(e, desired)) changes.push({ summary: d });
    for (const [name, field] of Object.entries(ALGORITHMS) as Array<[AlgorithmName, AlgorithmField]>) {
      const want = desired.algorithms[field].join(",");
      const have = (e.get(name.toLowerCase()) ?? []).join(",");
      if (have !== want) changes.push({ summary: `${name} ${have || "(unset)"} → ${want}` });
    }
  }
  // what a real login gets: a Match block (however deeply Included) may differ from the global values
  const globalDrift = new Set(changes.map((c) => c.summary));
  for (const pc of facts.sshdTRc === 0 ? facts.perConnection : []) {
    if (pc.rc !== 0) {
      changes.push({ summary: `sshd -T -C ${pc.connection} fails (exit ${pc.rc})` });
      continue;
    }
    const who = pc.connection
      .split(",")
      .filter((kv) => !kv.startsWith("host="))
      .join(",");
    for (const d of settingDrift(pc.effective, desired)) {
      if (!globalDrift.has(d)) changes.push({ summary: `${d} for a login ${who} (a Match block)` });
    }
  }
  if (socket) {
    const ports = socketPorts(facts.socket?.listen ?? []);
    if (!sameSet(ports.map(String), [String(spec.port)])) {
      changes.push({ summary: `ssh.socket listens on ${ports.join(",") || "(nothing)"} → ${spec.port}` });
    }
  }

  // then the files that produce them
  const writeDropin = current !== dropin;
  if (writeDropin) {
    changes.push({
      summary: `${current === undefined ? "create" : "update"} ${spec.dropin}`,
      diff: contentDiff(spec.dropin, current, dropin),
    });
  }
  const needInclude = !order.includesDropins;
  if (needInclude)
    changes.push({
      summary: `add "Include ${DROPIN_DIR}/*.conf" at the top of ${SSHD_CONFIG} (the drop-in is not read)`,
    });
  for (const c of conflicts) {
    changes.push({ summary: `comment out ${c.file}:${c.line} "${c.text.trim()}" (${c.reason})` });
  }
  const writeSocketOverride = socket && facts.socketOverride !== socketOverride;
  if (writeSocketOverride) {
    changes.push({
      summary: `${facts.socketOverride === undefined ? "create" : "update"} ${SOCKET_OVERRIDE}`,
      diff: contentDiff(SOCKET_OVERRIDE, facts.socketOverride, socketOverride),
    });
  }
  // effective values that drifted with every file already right (a daemon-level cause we cannot see)
  // still get a rewrite + reload; verification then tells whether that converged
  const fileWork = writeDropin || needInclude || conflicts.length > 0 || writeSocketOverride;
  const plan = {
    desired,
    dropin,
    writeDropin: writeDropin || (!fileWork && changes.length > 0),
    addInclude: needInclude,
    conflicts,
    socket,
    socketOverride,
    writeSocketOverride,
  };
  return { ...plan, writes: plannedWrites(spec, facts, plan), changes };
}

/** The files the plan rewrites, from the contents the probe read. */
function plannedWrites(
  spec: SshdSpec,
  facts: SshdFacts,
  plan: Omit<SshdPlan, "writes">,
): Map<string, FileWrite> {
  const writes = new Map<string, FileWrite>();
  if (plan.writeDropin) {
    writes.set(spec.dropin, {
      content: plan.dropin,
      before: facts.files.find((f) => f.path === spec.dropin)?.content,
      mode: "0644",
    });
  }
  const byFile = new Map<string, number[]>();
  for (const c of plan.conflicts) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c.line]);
  const mainBefore = facts.files.find((f) => f.path === SSHD_CONFIG)?.content;
  for (const [file, lines] of byFile) {
    const before = facts.files.find((f) => f.path === file)!.content;
    let content = commentOutLines(before, lines);
    if (file === SSHD_CONFIG && plan.addInclude) content = addInclude(content);
    writes.set(file, { content, before, mode: "0644" });
  }
  if (plan.addInclude && !writes.has(SSHD_CONFIG) && mainBefore !== undefined) {
    writes.set(SSHD_CONFIG, { content: addInclude(mainBefore), before: mainBefore, mode: "0644" });
  }
  if (plan.writeSocketOverride)
    writes.set(SOCKET_OVERRIDE, { content: plan.socketOverride, before: facts.socketOverride, mode: "0644" });
  return writes;
}

// ---------------------------------------------------------------------------------------------------
// Apply

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/** sh: atomically replace `path` with `content` (root's, `mode`; the directory made when missing). */
function writeFileSh(path: string, content: string, mode: string): Sh {
  return atomicWriteSh({
    target: sh`${path}`,
    dir: sh`${dirOf(path)}`,
    source: { content },
    mode,
    keepOwner: false,
    makeDir: "public",
    label: `sshd ${path}`,
  });
}

export function applySshd(_spec: SshdSpec, plan: SshdPlan): Sh {
  const { writes } = plan;
  const paths = [...writes.keys()];
  const lines: Sh[] = [
    SSHD_BIN,
    // a private backup of exactly what we change, so a rejected config is undone before any reload
    sh`lc_bk=$(mktemp -d /run/lockclaw-sshd.XXXXXXXX)`,
  ];
  paths.forEach((p, i) => {
    const w = writes.get(p)!;
    if (w.before !== undefined) {
      // refuse to overwrite a file someone changed since the probe (we would lose their edit)
      lines.push(
        sh`if ! printf '%s  %s\\n' ${sha256(w.before)} ${p} | sha256sum -c --status -; then rm -rf "$lc_bk"; echo ${`sshd: ${p} changed since it was read; run again`} >&2; exit 1; fi`,
        sh`cp -a ${p} "$lc_bk/${safeWord(i)}"`,
      );
    }
  });
  const restore = paths.map((p, i) =>
    writes.get(p)!.before !== undefined ? sh`cp -a "$lc_bk/${safeWord(i)}" ${p}` : sh`rm -f ${p}`,
  );
  for (const p of paths) lines.push(writeFileSh(p, writes.get(p)!.content, writes.get(p)!.mode));
  lines.push(
    sh`if ! lc_err=$("$lc_sshd" -t 2>&1); then`,
    sh`  ${restore.length ? shJoin(restore, "; ") : raw(":")}`,
    sh`  rm -rf "$lc_bk"`,
    sh`  echo 'sshd: sshd -t rejected the new configuration; the previous files are back and sshd was NOT reloaded:' >&2`,
    sh`  printf '%s\\n' "$lc_err" >&2`,
    sh`  exit 1`,
    sh`fi`,
    sh`rm -rf "$lc_bk"`,
    RELOAD_SH,
  );
  return shJoin(lines);
}

// ---------------------------------------------------------------------------------------------------

export const sshdKind: ResourceKind<SshdSpec, SshdFacts, SshdPlan> = {
  name: "sshd",
  spec: sshdSpec,
  describe: (spec) => `sshd port ${spec.port}`,
  // three sshd -T, four ssh -Q and a systemctl show, the -T and -Q at once: ~70 ms on a lab machine
  probe: (spec) => ({ script: probeScript(connectionSpecs(spec)), parse: parseSshdProbe, cost: 70 }),
  plan: (spec, facts) => planned(planSshd(spec, facts)),
  apply: applySshd,
  guard: (): LockoutGuard => ({ save: GUARD_SAVE, restore: GUARD_RESTORE }),
  verifiable: true,
};
