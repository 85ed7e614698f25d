/**
 * OpenSSH known_hosts: parse, look up, verify a server's host key, and record new hosts.
 *
 * ssh2 hands us the raw public key blob in `hostVerifier`; OpenSSH stores the same blob base64-encoded,
 * so comparing key type + blob is exact. Fingerprints are printed the way `ssh-keygen -l` prints them,
 * so a user can compare what lockclaw says with what their own tools say.
 */
import { createHash, createHmac } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { ConnectionError, HostKeyMismatchError } from "../core/errors.js";
import type { HostKeyPolicy } from "./types.js";

export interface KnownHostEntry {
  /** Host patterns as written (comma list split), or one hashed `|1|salt|hash` item. */
  patterns: string[];
  marker?: "cert-authority" | "revoked";
  keyType: string;
  key: Buffer;
  file: string;
  line: number;
}

/** `SHA256:` + unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -l` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type a public key blob declares (its first SSH string), e.g. `ssh-ed25519`. */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) throw new Error("public key blob is too short");
  const len = keyBlob.readUInt32BE(0);
  if (len > keyBlob.length - 4) throw new Error("public key blob has a bad type length");
  return keyBlob.subarray(4, 4 + len).toString("latin1");
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** Parse known_hosts text. Bad lines are skipped, as OpenSSH does; comments and blanks too. */
export function parseKnownHosts(text: string, file = "known_hosts"): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry["marker"];
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift();
      if (m === "@cert-authority") marker = "cert-authority";
      else if (m === "@revoked") marker = "revoked";
      else return;
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64) return;
    const key = Buffer.from(b64, "base64");
    // A truncated or mangled blob would never match anyway; skipping keeps lookups simple.
    try {
      if (keyTypeOf(key) !== keyType) return;
    } catch {
      return;
    }
    entries.push({ patterns: hosts.split(","), marker, keyType, key, file, line: i + 1 });
  });
  return entries;
}

/** OpenSSH-style glob: `*` and `?` only. */
function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i").test(name);
}

function hashedMatch(item: string, name: string): boolean {
  const parts = item.split("|"); // ["", "1", salt, hash]
  if (parts.length !== 4 || parts[1] !== "1" || !parts[2] || !parts[3]) return false;
  const salt = Buffer.from(parts[2], "base64");
  const want = Buffer.from(parts[3], "base64");
  const got = createHmac("sha1", salt).update(name).digest();
  return got.equals(want);
}

/** Does this entry's host field name `host:port`? Negated patterns (`!x`) exclude, as in OpenSSH. */
export function entryMatches(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  let matched = false;
  for (const p of entry.patterns) {
    if (p.startsWith("|")) {
      if (hashedMatch(p, name)) matched = true;
    } else if (p.startsWith("!")) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * Parsed files by path, valid while the file's inode, size and mtime stay the same: a fleet's hosts all
 * read the same known_hosts (one line per host), twice per connection, so parsing it every time made each
 * added host cost more than the last. An append (accept-new) changes size and mtime: read again.
 */
const parsedFiles = new Map<string, { stamp: string; entries: KnownHostEntry[] }>();

export function readKnownHosts(file: string): KnownHostEntry[] {
  if (!existsSync(file)) return [];
  try {
    const st = statSync(file);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    const cached = parsedFiles.get(file);
    if (cached?.stamp === stamp) return cached.entries;
    const entries = parseKnownHosts(readFileSync(file, "utf8"), file);
    parsedFiles.set(file, { stamp, entries });
    return entries;
  } catch (err) {
    throw new ConnectionError(`cannot read known_hosts file ${file}: ${(err as Error).message}`, "", 0, {
      cause: err,
    });
  }
}

/** Plain host keys (no markers) recorded for `host:port`. */
export function lookupHostKeys(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  return entries.filter((e) => e.marker === undefined && entryMatches(e, host, port));
}

/** Host key algorithms ssh2 should prefer so the server presents a key type we already know. */
export function preferredHostKeyAlgorithms(known: KnownHostEntry[]): string[] {
  const out: string[] = [];
  for (const e of known) {
    const algs = e.keyType === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [e.keyType];
    for (const a of algs) if (!out.includes(a)) out.push(a);
  }
  return out;
}

export type HostKeyVerdict = { ok: true; recorded: boolean } | { ok: false; error: ConnectionError };

export interface VerifyHostKeyInput {
  host: string;
  port: number;
  key: Buffer;
  policy: HostKeyPolicy;
  knownHostsFile: string;
  /**
   * Fingerprints the caller already verified (the engine pins the key it saw on the old port when it
   * proves a login on a new one; local state remembers the key of the login it proved). Such a key only
   * stands in for a host:port that known_hosts does not know: it is then accepted and recorded. It
   * never overrides a line of known_hosts, which is the user's own statement of trust.
   */
  trustedFingerprints?: string[];
}

/**
 * Decide whether to trust the key a server presented. Pure except for accept-new (and a pinned key for
 * an unknown host:port), which appends the new host to the file (before authentication, so a later auth
 * failure still leaves the host known, as OpenSSH does).
 *
 * Order matters: @revoked, then known_hosts (a match passes, any other key for the host:port is a
 * mismatch, whatever the caller pinned), and only then the caller's pins and the policy.
 */
export function verifyHostKey(input: VerifyHostKeyInput): HostKeyVerdict {
  const { host, port, key, policy, knownHostsFile } = input;
  if (policy === "off") return { ok: true, recorded: false };
  const entries = readKnownHosts(knownHostsFile);
  const actual = fingerprint(key);
  const matching = entries.filter((e) => entryMatches(e, host, port));
  if (matching.some((e) => e.marker === "revoked" && e.key.equals(key))) {
    return {
      ok: false,
      error: new ConnectionError(
        `host key ${actual} for ${host}:${port} is marked @revoked in ${knownHostsFile}; refusing to connect`,
        host,
        port,
      ),
    };
  }
  const known = matching.filter((e) => e.marker === undefined);
  if (known.some((e) => e.key.equals(key))) return { ok: true, recorded: false };
  if (known.length > 0) {
    const expected = known.map((e) => `${fingerprint(e.key)} (${e.keyType}, ${e.file}:${e.line})`);
    return {
      ok: false,
      error: new HostKeyMismatchError(host, port, expected, `${actual} (${keyTypeOf(key)})`, knownHostsFile),
    };
  }
  if (input.trustedFingerprints?.includes(actual)) {
    // Pinned by the caller for a host:port known_hosts does not know: record it so later strict
    // connections (and the user's own ssh) pass.
    appendKnownHost(knownHostsFile, host, port, key);
    return { ok: true, recorded: true };
  }
  if (policy === "strict") {
    return {
      ok: false,
      error: new ConnectionError(
        `host ${host}:${port} is not in ${knownHostsFile} (it presents ${keyTypeOf(key)} key ${actual})\n` +
          `  fix: check that fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), ` +
          `then run again with --accept-new-host-key to record it`,
        host,
        port,
      ),
    };
  }
  appendKnownHost(knownHostsFile, host, port, key);
  return { ok: true, recorded: true };
}

/** The known_hosts line OpenSSH itself would write (unhashed). */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${knownHostsName(host, port)} ${keyTypeOf(key)} ${key.toString("base64")}`;
}

/** Append a host, creating the directory 0700 and the file 0600 if they do not exist. */
export function appendKnownHost(file: string, host: string, port: number, key: Buffer): void {
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const isNew = !existsSync(file);
  let prefix = "";
  if (!isNew) {
    const current = readFileSync(file, "utf8");
    if (current.length > 0 && !current.endsWith("\n")) prefix = "\n";
  }
  appendFileSync(file, `${prefix}${knownHostsLine(host, port, key)}\n`, { mode: 0o600 });
  if (isNew) chmodSync(file, 0o600);
}
