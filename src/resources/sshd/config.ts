/**
 * Pure sshd configuration logic: the managed settings table, `sshd -T` parsing, the drop-in text, and
 * the search for lines elsewhere that beat or widen ours.
 *
 * Why conflicts matter: for most keywords sshd keeps the FIRST value it reads, so a line in sshd_config
 * above the Include, an earlier drop-in (e.g. one sorted before 00-lockclaw.conf) or a Match block can
 * silently override the drop-in. A few keywords (Port, ListenAddress, AllowUsers) ACCUMULATE instead, so
 * a `Port 22` anywhere keeps port 22 open. Effective values always come from `sshd -T`, never from grep.
 */
import { posix } from "node:path";

export const SSHD_CONFIG = "/etc/ssh/sshd_config";
export const DROPIN_DIR = "/etc/ssh/sshd_config.d";
export const DEFAULT_DROPIN = `${DROPIN_DIR}/00-lockclaw.conf`;
export const SOCKET_OVERRIDE = "/etc/systemd/system/ssh.socket.d/00-lockclaw.conf";

export type SettingType = "bool" | "int" | "permitrootlogin" | "list" | "word";

/** Managed keywords, in the order the drop-in writes them. */
export const SETTINGS = {
  PermitRootLogin: "permitrootlogin",
  PasswordAuthentication: "bool",
  KbdInteractiveAuthentication: "bool",
  PermitEmptyPasswords: "bool",
  PubkeyAuthentication: "bool",
  AllowUsers: "list",
  MaxAuthTries: "int",
  ClientAliveInterval: "int",
  ClientAliveCountMax: "int",
  DisableForwarding: "bool",
  LoginGraceTime: "int",
  // issue 12: each directive DisableForwarding already covers, and the scanner-visible ones, written out
  // because scanners and CIS read each directive (set only when the playbook asks: EXPLICIT_SETTINGS)
  AllowTcpForwarding: "word",
  AllowAgentForwarding: "bool",
  AllowStreamLocalForwarding: "word",
  X11Forwarding: "bool",
  PermitTunnel: "word",
  Compression: "bool",
  TCPKeepAlive: "bool",
  MaxSessions: "int",
  LogLevel: "word",
  Banner: "word",
} as const satisfies Record<string, SettingType>;
export type SettingName = keyof typeof SETTINGS;

/**
 * The managed keywords sshd_config(5) allows inside a Match block. A Match block that applies to a
 * connection REPLACES the global value (OpenSSH re-reads the Match blocks per connection and copies what
 * they set over the global options), so the drop-in repeats these under its own `Match all`: being read
 * first, its Match values are the first ones every connection sees, and first wins inside Match too.
 * AllowUsers is left out: in a Match block it accumulates instead (a wider list elsewhere is a conflict).
 */
export const MATCH_SETTINGS: ReadonlySet<SettingName> = new Set<SettingName>([
  "PermitRootLogin",
  "PasswordAuthentication",
  "KbdInteractiveAuthentication",
  "PermitEmptyPasswords",
  "PubkeyAuthentication",
  "MaxAuthTries",
  "ClientAliveInterval",
  "ClientAliveCountMax",
  "DisableForwarding",
  "AllowTcpForwarding",
  "AllowAgentForwarding",
  "AllowStreamLocalForwarding",
  "X11Forwarding",
  "PermitTunnel",
  "MaxSessions",
  "LogLevel",
  "Banner",
]);
export type SettingValue = boolean | number | string | string[];
export type Settings = Partial<Record<SettingName, SettingValue>>;

/** lockclaw's hardened sshd values (docs/security-model.md). AllowUsers has no default: the playbook names the deploy user. */
export const DEFAULT_SETTINGS: Settings = {
  PermitRootLogin: "no",
  PasswordAuthentication: false,
  KbdInteractiveAuthentication: false,
  PermitEmptyPasswords: false,
  PubkeyAuthentication: true,
  MaxAuthTries: 3,
  ClientAliveInterval: 300,
  ClientAliveCountMax: 2,
  DisableForwarding: true,
  LoginGraceTime: 30,
};

/**
 * The sshd spec's `explicit: true` (host playbook: ssh_explicit): forwarding and tunnels off one by one
 * (DisableForwarding already is), no compression, no TCP keepalives (ClientAlive* detects dead peers
 * through the encrypted channel, and cannot be spoofed), VERBOSE logs (key fingerprints of each login),
 * a legal banner, and few sessions per connection. MaxSessions 2: lockclaw itself opens one exec at a
 * time per connection and never more than MAX_CHANNELS (src/transport/ssh.ts) at once.
 */
export const EXPLICIT_SETTINGS: Settings = {
  AllowTcpForwarding: "no",
  AllowAgentForwarding: false,
  AllowStreamLocalForwarding: "no",
  X11Forwarding: false,
  PermitTunnel: "no",
  Compression: false,
  TCPKeepAlive: false,
  MaxSessions: 2,
  LogLevel: "VERBOSE",
  Banner: "/etc/issue.net",
};

export const ALGORITHMS = {
  KexAlgorithms: "kex",
  Ciphers: "ciphers",
  MACs: "macs",
  HostKeyAlgorithms: "host_key_algorithms",
} as const;
export type AlgorithmName = keyof typeof ALGORITHMS;
export type AlgorithmField = (typeof ALGORITHMS)[AlgorithmName];

/**
 * lockclaw's hardened algorithm lists, strongest first (SPEC §2). Intersected with what the host's
 * OpenSSH supports.
 */
export const DEFAULT_ALGORITHMS: Record<AlgorithmField, string[]> = {
  kex: ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org"],
  ciphers: ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"],
  macs: ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com"],
  host_key_algorithms: ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"],
};

/**
 * The sshd spec's `legacy_clients: true` (host playbook: ssh_legacy_clients; on by default only for
 * vagrant:NAME targets): one kex and one cipher appended LAST, for clients without X25519 or AEAD
 * ciphers, such as Debian 12's Vagrant (net-ssh 7.0 without the x25519 gem: ecdh/DH kex, AES-CTR only),
 * which shares none of the hardened ones and so could not log in to a hardened box (`vagrant up` of a
 * halted one hangs). Both are in ssh-audit's hardened policies (its GEX test finds 3072-bit moduli);
 * a client that offers any algorithm before them never negotiates them. Off, a host has exactly the
 * hardened lists.
 */
export const LEGACY_CLIENT_ALGORITHMS: Partial<Record<AlgorithmField, string[]>> = {
  kex: ["diffie-hellman-group-exchange-sha256"],
  ciphers: ["aes256-ctr"],
};

/** The lists a task asks for: its own or the hardened ones, the legacy clients' ones appended when asked. */
export function wantedAlgorithms(
  own: Partial<Record<AlgorithmField, string[]>>,
  legacyClients: boolean,
): Record<AlgorithmField, string[]> {
  const out = {} as Record<AlgorithmField, string[]>;
  for (const field of Object.values(ALGORITHMS)) {
    const base = own[field] ?? DEFAULT_ALGORITHMS[field];
    const extra = legacyClients ? (LEGACY_CLIENT_ALGORITHMS[field] ?? []) : [];
    out[field] = [...base, ...extra.filter((a) => !base.includes(a))];
  }
  return out;
}

/** Which `ssh -Q` query lists the algorithms a field may use. */
export const QUERY_OF: Record<AlgorithmField, keyof SupportedAlgorithms> = {
  kex: "kex",
  ciphers: "cipher",
  macs: "mac",
  host_key_algorithms: "keySig",
};

export interface SupportedAlgorithms {
  kex: string[];
  cipher: string[];
  mac: string[];
  keySig: string[];
}

/** `sshd -T` output: lowercase keyword -> every value line (Port, AllowUsers, HostKey… repeat). */
export type EffectiveConfig = Map<string, string[]>;

export function parseSshdT(text: string): EffectiveConfig {
  const out: EffectiveConfig = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const sp = line.indexOf(" ");
    const key = (sp < 0 ? line : line.slice(0, sp)).toLowerCase();
    const value = sp < 0 ? "" : line.slice(sp + 1).trim();
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}

/** The value as `sshd -T` prints it. */
export function sshdTForm(name: SettingName, value: SettingValue): string[] {
  const type: SettingType = SETTINGS[name];
  if (type === "bool") return [value ? "yes" : "no"];
  if (type === "list") return (value as string[]).slice();
  if (type === "permitrootlogin") return [value === "prohibit-password" ? "without-password" : String(value)];
  return [String(value)];
}

/** The value as a config line writes it. */
export function configForm(name: SettingName, value: SettingValue): string {
  const type: SettingType = SETTINGS[name];
  if (type === "bool") return value ? "yes" : "no";
  if (type === "list") return (value as string[]).join(" ");
  return String(value);
}

/** Desired algorithms minus those the host lacks. Throws when nothing would be left. */
export function intersectAlgorithms(
  desired: Record<AlgorithmField, string[]>,
  supported: SupportedAlgorithms,
): Record<AlgorithmField, string[]> {
  const out = {} as Record<AlgorithmField, string[]>;
  for (const [name, field] of Object.entries(ALGORITHMS) as Array<[AlgorithmName, AlgorithmField]>) {
    const have = supported[QUERY_OF[field]];
    // an empty answer means `ssh -Q` could not tell; sshd -t still rejects an unknown name before reload
    if (have.length === 0) {
      out[field] = desired[field].slice();
      continue;
    }
    const kept = desired[field].filter((a) => have.includes(a));
    if (kept.length === 0) {
      throw new Error(
        `sshd: the host's OpenSSH supports none of the ${name} [${desired[field].join(", ")}]; ` +
          `set ${field} to some it supports (ssh -Q ${QUERY_OF[field] === "keySig" ? "key-sig" : QUERY_OF[field]}: ${have.join(", ")})`,
      );
    }
    out[field] = kept;
  }
  return out;
}

export interface DesiredConfig {
  port: number;
  settings: Settings;
  algorithms: Record<AlgorithmField, string[]>;
}

export function renderDropin(d: DesiredConfig): string {
  const lines = [
    "# Managed by lockclaw (sshd resource); local edits are reverted on the next run.",
    "# Named 00-… because sshd keeps the FIRST value it reads: this file must be read before any other.",
    `Port ${d.port}`,
  ];
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const v = d.settings[name];
    if (v !== undefined) lines.push(`${name} ${configForm(name, v)}`);
  }
  for (const [name, field] of Object.entries(ALGORITHMS) as Array<[AlgorithmName, AlgorithmField]>) {
    lines.push(`${name} ${d.algorithms[field].join(",")}`);
  }
  const inMatch = (Object.keys(SETTINGS) as SettingName[]).filter(
    (n) => MATCH_SETTINGS.has(n) && d.settings[n] !== undefined,
  );
  if (inMatch.length) {
    lines.push(
      "# A Match block elsewhere (sshd_config, a drop-in, a file one Includes) replaces global values for",
      "# the connections it matches; these come first among Match values, so no later block can loosen them.",
      "# The Match context ends with this file.",
      "Match all",
      ...inMatch.map((n) => `\t${n} ${configForm(n, d.settings[n]!)}`),
    );
  }
  return `${lines.join("\n")}\n`;
}

export function renderSocketOverride(port: number): string {
  return [
    "# Managed by lockclaw: a socket-activated sshd ignores Port in sshd_config; the port lives here.",
    "[Socket]",
    "ListenStream=",
    `ListenStream=${port}`,
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Read order and conflicting lines

export interface ConfigFile {
  path: string;
  content: string;
}

export interface ConfigLine {
  file: string;
  /** 1-based. */
  line: number;
  text: string;
  /** Keyword as written (case kept) and its lowercase form. */
  keyword: string;
  key: string;
  value: string;
  inMatch: boolean;
}

export interface ReadOrder {
  /** Every directive line sshd reads, in order (files not reachable through an Include are left out). */
  lines: ConfigLine[];
  /** Whether sshd_config includes the drop-in directory at all (if not, the drop-in is never read). */
  includesDropins: boolean;
  /** Index in `lines` where the drop-in's lines start (or would start). */
  dropinStart: number;
}

function splitDirective(raw: string): { keyword: string; value: string } | undefined {
  const s = raw.trim();
  if (s === "" || s.startsWith("#")) return undefined;
  const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$/.exec(s) ?? /^([A-Za-z][A-Za-z0-9]*)$/.exec(s);
  if (!m) return undefined;
  return { keyword: m[1]!, value: (m[2] ?? "").trim() };
}

/** glob(3) as sshd's Include uses it: `*`, `?` and `[...]`, none of them matching `/`. */
export function includeGlob(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        const body = pattern
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** The paths an Include line names, relative ones taken from /etc/ssh as sshd does. */
function includePatterns(value: string): string[] {
  return value
    .split(/\s+/)
    .filter(Boolean)
    .map((a) => posix.resolve("/etc/ssh", a.replace(/^"|"$/g, "")));
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** sshd gives up past this Include depth (READCONF_MAX_DEPTH); a loop stops here too. */
const MAX_INCLUDE_DEPTH = 16;

/**
 * Lines in the order sshd reads them: sshd_config top to bottom, each Include expanded where it stands,
 * at any depth (the files it matches, sorted bytewise like glob(3) in the C locale sshd runs in), among
 * the files the probe read. A Match block lasts to the end of the file it opens in (sshd restores the
 * context after an Include'd file); lines of a file Included inside a Match block are in that block.
 * Every Match opens a block, `Match all` included: its lines apply to every connection, and as Match
 * values they replace the global ones.
 */
export function readOrder(files: ConfigFile[], dropin: string): ReadOrder {
  const main = files.find((f) => f.path === SSHD_CONFIG);
  const known = files.some((f) => f.path === dropin) ? files : [...files, { path: dropin, content: "" }];
  const lines: ConfigLine[] = [];
  let includesDropins = false;
  let dropinStart = -1;
  const readFile = (f: ConfigFile, depth: number, outerMatch: boolean, stack: string[]) => {
    let inMatch = outerMatch;
    f.content.split("\n").forEach((text, i) => {
      const d = splitDirective(text);
      if (!d) return;
      const key = d.keyword.toLowerCase();
      if (key === "match") inMatch = true;
      if (key === "include") {
        if (depth >= MAX_INCLUDE_DEPTH) return;
        const res = includePatterns(d.value).map(includeGlob);
        const matched = known
          .filter((k) => k.path !== SSHD_CONFIG && res.some((r) => r.test(k.path)))
          .sort((a, b) => byteOrder(a.path, b.path));
        for (const inc of matched) {
          if (stack.includes(inc.path)) continue;
          if (inc.path === dropin && !inMatch && dropinStart < 0) {
            includesDropins = true;
            dropinStart = lines.length;
          }
          readFile(inc, depth + 1, inMatch, [...stack, inc.path]);
        }
        return;
      }
      lines.push({ file: f.path, line: i + 1, text, keyword: d.keyword, key, value: d.value, inMatch });
    });
  };
  if (main) readFile(main, 0, false, [SSHD_CONFIG]);
  if (dropinStart < 0) dropinStart = 0;
  return { lines, includesDropins, dropinStart };
}

export interface Conflict extends ConfigLine {
  reason: string;
}

const ACCUMULATING = new Set(["port", "listenaddress", "allowusers"]);

function norm(key: string, value: string): string {
  const v = value.trim().toLowerCase().replace(/^"|"$/g, "");
  if (key === "permitrootlogin" && v === "without-password") return "prohibit-password";
  return v;
}

/** Port in a ListenAddress value, if it names one (`1.2.3.4:22`, `[::]:22`, `host port`-less forms). */
function listenPort(value: string): number | undefined {
  const v = value.split(/\s+/)[0]!;
  const m = /^\[[^\]]*\]:(\d+)$/.exec(v) ?? /^[^:]+:(\d+)$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * Lines outside our drop-in that override or widen it:
 * - first-wins keywords we set, with a different value, read before the drop-in or inside a Match block;
 * - accumulating keywords anywhere: a Port other than ours, a ListenAddress with another port, an
 *   AllowUsers naming someone we do not allow.
 */
export function findConflicts(order: ReadOrder, dropin: string, desired: DesiredConfig): Conflict[] {
  const wanted = new Map<string, string>();
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const v = desired.settings[name];
    if (v !== undefined && name !== "AllowUsers") wanted.set(name.toLowerCase(), configForm(name, v));
  }
  for (const [name, field] of Object.entries(ALGORITHMS) as Array<[AlgorithmName, AlgorithmField]>) {
    wanted.set(name.toLowerCase(), desired.algorithms[field].join(","));
  }
  const allowed = desired.settings.AllowUsers as string[] | undefined;
  const out: Conflict[] = [];
  order.lines.forEach((l, i) => {
    if (l.file === dropin) return;
    const before = !order.includesDropins || i < order.dropinStart;
    let reason: string | undefined;
    if (l.key === "port") {
      if (Number(l.value) !== desired.port) reason = `adds port ${l.value}`;
    } else if (l.key === "listenaddress") {
      const p = listenPort(l.value);
      if (p !== undefined && p !== desired.port) reason = `listens on port ${p}`;
    } else if (l.key === "allowusers") {
      if (allowed) {
        const extra = l.value.split(/\s+/).filter((u) => !allowed.includes(u));
        if (extra.length) reason = `also allows ${extra.join(" ")}`;
      }
    } else if (wanted.has(l.key) && !ACCUMULATING.has(l.key)) {
      if (norm(l.key, l.value) !== norm(l.key, wanted.get(l.key)!) && (before || l.inMatch)) {
        reason = l.inMatch
          ? "overrides it inside a Match block"
          : "is read before lockclaw's drop-in and wins";
      }
    }
    if (reason) out.push({ ...l, reason });
  });
  return out;
}

export const DISABLED_PREFIX = "# lockclaw: disabled (conflicts with the lockclaw sshd drop-in): ";

/** The file's content with the given 1-based lines commented out. */
export function commentOutLines(content: string, lineNumbers: number[]): string {
  const set = new Set(lineNumbers);
  return content
    .split("\n")
    .map((text, i) => (set.has(i + 1) ? `${DISABLED_PREFIX}${text.trim()}` : text))
    .join("\n");
}

/** sshd_config with an Include of the drop-in directory added at the top (where it must be to win). */
export function addInclude(content: string): string {
  return `# Added by lockclaw: drop-ins in sshd_config.d must be read first (sshd keeps the first value).\nInclude ${DROPIN_DIR}/*.conf\n${content}`;
}
