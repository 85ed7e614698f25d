/**
 * `authorized_key`: public keys in ~USER/.ssh/authorized_keys (directory 0700, file 0600, owned by the
 * user). Default: make sure these keys are present and leave others alone; `exclusive: true`: exactly
 * these keys, every other one removed and named (fingerprint and comment: an added key is the first
 * thing an intruder leaves behind). Keys are compared by type + blob, so a changed comment or options do
 * not duplicate a key.
 *
 * Never the key of the login in use: when the run works through this user, an undeclared key it may
 * have authenticated with stays (with a warning) until a run logs in with a declared one.
 *
 * The user may be created by an earlier task of the same run, after the probe ran: apply therefore
 * resolves the home directory on the host at apply time (getent), and the diff still plans the write.
 */
import { z } from "zod";
import type { Change, Planned, ResourceContext, ResourceKind } from "../engine/resource.js";
import { fingerprint } from "../transport/known-hosts.js";
import { base64Heredoc, raw, sh, shJoin, type Sh } from "../core/sh.js";
import { contentDiff } from "./common/diffText.js";
import { parsePathState, pathProbeScript, type PathState } from "./common/fileState.js";
import { atomicWriteSh } from "../core/atomic-write.js";
import { bool, userName } from "./common/schema.js";

const KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
];

export interface ParsedKey {
  type: string;
  blob: string;
  /** What follows the blob (usually user@host), trimmed; "" when none. */
  comment?: string;
}

/** `SHA256:…` as ssh-keygen -l prints it, plus the comment: how a key is named to the user. */
export function describeKey(k: ParsedKey): string {
  const fp = fingerprint(Buffer.from(k.blob, "base64"));
  return k.comment ? `${fp} (${k.comment})` : `${fp} (no comment)`;
}

/**
 * Finds `type blob` in an authorized_keys line (options may come first). Returns undefined when there is
 * no known key type followed by a base64 blob whose embedded type name matches.
 */
export function parseKeyLine(line: string): ParsedKey | undefined {
  const words = line.trim().split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    const type = words[i]!;
    const blob = words[i + 1]!;
    if (!KEY_TYPES.includes(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) continue;
    // the blob starts with the length-prefixed key type: catches a truncated or mismatched paste
    const raw = Buffer.from(blob, "base64");
    if (raw.length < 4) continue;
    const n = raw.readUInt32BE(0);
    if (raw.subarray(4, 4 + n).toString("latin1") !== type) continue;
    return { type, blob, comment: words.slice(i + 2).join(" ") };
  }
  return undefined;
}

const keyLine = z
  .string({ error: "each key must be a string (one public key line)" })
  .transform((s) => s.trim())
  .refine((s) => !/[\n\r\0]/.test(s), {
    error: "a key must be a single line: give each public key as its own list item",
  })
  .refine((s) => parseKeyLine(s) !== undefined, {
    error: `not an SSH public key line: expected "TYPE BASE64 [comment]" with TYPE one of ${KEY_TYPES.join(", ")} (paste the .pub file, not the private key)`,
  });

export const authorizedKeySpec = z
  .strictObject({
    user: userName("user").describe("The account whose ~/.ssh/authorized_keys is managed (it must exist)."),
    keys: z
      .array(keyLine, { error: "keys must be a list of public key lines" })
      .describe("Public key lines (TYPE BASE64 [comment], options allowed), as in a .pub file."),
    exclusive: bool("exclusive")
      .default(false)
      .describe(
        "true: these are the ONLY keys (any other is removed and named; the key of the login in use is never removed); false: they are added.",
      ),
  })
  .refine((s) => s.keys.length > 0, {
    // exclusive with no key would empty the file: a user nobody can log in as
    error: "keys is empty: list at least one key",
    path: ["keys"],
  })
  .meta({
    description:
      "The SSH public keys a user accepts, added to (or, exclusive, replacing) its authorized_keys.",
    examples: [{ user: "deploy", keys: ["{{authorized_keys}}"], exclusive: true }],
  });
export type AuthorizedKeySpec = z.output<typeof authorizedKeySpec>;

export interface AuthorizedKeyFacts {
  userExists: boolean;
  home?: string;
  sshDir?: PathState;
  file?: PathState;
}

function hasKey(content: string, key: ParsedKey): boolean {
  return content.split("\n").some((l) => {
    const k = parseKeyLine(l);
    return k !== undefined && k.type === key.type && k.blob === key.blob;
  });
}

const sameKey = (a: ParsedKey, b: ParsedKey) => a.type === b.type && a.blob === b.blob;

/** The keys of the current file an exclusive spec drops, and the login's own it must keep. */
export function undeclaredKeys(
  spec: AuthorizedKeySpec,
  current: string,
  ctx?: Pick<ResourceContext, "login">,
): { removed: ParsedKey[]; kept: Array<{ key: ParsedKey; line: string }> } {
  const declared = spec.keys.map((k) => parseKeyLine(k)!);
  const login =
    ctx?.login && ctx.login.user === spec.user
      ? ctx.login.keys.map((k) => parseKeyLine(k)).filter((k): k is ParsedKey => k !== undefined)
      : [];
  const removed: ParsedKey[] = [];
  const kept: Array<{ key: ParsedKey; line: string }> = [];
  for (const line of current.split("\n")) {
    const k = parseKeyLine(line);
    if (!k || declared.some((d) => sameKey(d, k))) continue;
    if (login.some((l) => sameKey(l, k))) {
      if (!kept.some((x) => sameKey(x.key, k))) kept.push({ key: k, line: line.trim() });
    } else if (!removed.some((x) => sameKey(x, k))) removed.push(k);
  }
  return { removed, kept };
}

/** The file content the spec asks for, given what is there now (and, exclusive, the login's keys kept). */
export function desiredContent(
  spec: AuthorizedKeySpec,
  current: string,
  ctx?: Pick<ResourceContext, "login">,
): string {
  if (spec.exclusive) {
    const kept = undeclaredKeys(spec, current, ctx).kept.map((k) => k.line);
    return [...spec.keys, ...kept].map((k) => `${k}\n`).join("");
  }
  let out = current;
  for (const k of spec.keys) {
    if (hasKey(out, parseKeyLine(k)!)) continue;
    if (out !== "" && !out.endsWith("\n")) out += "\n";
    out += `${k}\n`;
  }
  return out;
}

/** Whether to write the file, and the content a write puts there (exclusive) or appends to. */
export interface AuthorizedKeyPlan {
  write: boolean;
  content: string;
}

function planAuthorizedKey(
  spec: AuthorizedKeySpec,
  facts: AuthorizedKeyFacts,
  ctx?: ResourceContext,
): Planned<AuthorizedKeyPlan> {
  const changes: Change[] = [];
  const label = facts.home ? `${facts.home}/.ssh/authorized_keys` : `~${spec.user}/.ssh/authorized_keys`;
  if (!facts.userExists) {
    // created by an earlier task of this run; apply checks again on the host
    changes.push({
      summary: `write ${label} with ${spec.keys.length} key(s) (user ${spec.user} does not exist yet)`,
      diff: contentDiff(label, undefined, desiredContent(spec, "")),
    });
    return { changes, plan: { write: true, content: desiredContent(spec, "") } };
  }
  const dir = facts.sshDir!;
  const file = facts.file!;
  if (dir.type !== "absent" && dir.type !== "directory") {
    throw new Error(`${facts.home}/.ssh is a ${dir.type}, not a directory; fix it by hand`);
  }
  if (file.type !== "absent" && file.type !== "file") {
    throw new Error(`${label} is a ${file.type}, not a regular file; fix it by hand`);
  }
  if (dir.type === "absent") changes.push({ summary: `create ${facts.home}/.ssh (0700)` });
  else if (dir.mode !== "0700" || dir.owner !== spec.user) {
    changes.push({ summary: `${facts.home}/.ssh mode/owner ${dir.mode} ${dir.owner} → 0700 ${spec.user}` });
  }
  const current = file.type === "file" ? (file.content ?? "") : "";
  const want = desiredContent(spec, current, ctx);
  const { removed, kept } = spec.exclusive ? undeclaredKeys(spec, current, ctx) : { removed: [], kept: [] };
  for (const k of kept) {
    ctx?.warn?.(
      `keeping undeclared key ${describeKey(k.key)} in ${label}: this run logged in with it; ` +
        `it is removed by the first run that logs in with a declared key`,
    );
  }
  let write = false;
  if (file.type === "absent" || want !== current) {
    write = true;
    const added = spec.keys.filter((k) => !hasKey(current, parseKeyLine(k)!)).length;
    const parts = [added && `add ${added} key(s)`, removed.length > 0 && `remove ${removed.length} key(s)`];
    const said = parts.filter(Boolean);
    changes.push({
      summary: `${file.type === "absent" ? "create" : "update"} ${label}${said.length ? `: ${said.join(", ")}` : ""}`,
      diff: contentDiff(label, file.type === "absent" ? undefined : current, want),
    });
    for (const k of removed) {
      changes.push({ summary: `remove undeclared key ${describeKey(k)} from ${label}` });
    }
  } else if (file.mode !== "0600" || file.owner !== spec.user) {
    changes.push({ summary: `${label} mode/owner ${file.mode} ${file.owner} → 0600 ${spec.user}` });
  }
  return { changes, plan: { write, content: want } };
}

export const authorizedKeyKind: ResourceKind<AuthorizedKeySpec, AuthorizedKeyFacts, AuthorizedKeyPlan> = {
  name: "authorized_key",
  spec: authorizedKeySpec,
  verifiable: true,
  describe: (spec) => `authorized_key ${spec.user}`,

  probe(spec) {
    const u = spec.user;
    const script = shJoin([
      sh`if lc_home=$(getent passwd ${u} | cut -d: -f6) && [ -n "$lc_home" ]; then`,
      raw(`  echo "home=$lc_home"`),
      // probe the two paths through a variable: the home is only known on the host
      pathProbeScript("~/.ssh", "dir.", { shWord: raw(`"$lc_home/.ssh"`) }),
      pathProbeScript("~/.ssh/authorized_keys", "file.", {
        content: true,
        shWord: raw(`"$lc_home/.ssh/authorized_keys"`),
      }),
      raw(`else echo home=; fi`),
    ]);
    return {
      script,
      // getent and two paths' stat, sha256sum, base64
      cost: 10,
      parse(stdout) {
        const kv = new Map<string, string>();
        for (const line of stdout.split("\n")) {
          const i = line.indexOf("=");
          if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
        }
        const home = kv.get("home");
        if (home === undefined)
          throw new Error(`authorized_key probe for ${spec.user} printed no home= line`);
        if (home === "") return { userExists: false };
        return {
          userExists: true,
          home,
          sshDir: parsePathState(kv, "dir."),
          file: parsePathState(kv, "file."),
        };
      },
    };
  },

  plan: planAuthorizedKey,

  apply(spec, { write, content }) {
    const u = spec.user;
    const out: Sh[] = [
      sh`lc_home=$(getent passwd ${u} | cut -d: -f6)`,
      sh`[ -n "$lc_home" ] || { echo ${`authorized_key: user ${spec.user} does not exist`} >&2; exit 1; }`,
      sh`lc_grp=$(id -gn -- ${u})`,
      raw(`[ -d "$lc_home/.ssh" ] || mkdir -m 0700 -- "$lc_home/.ssh"`),
      raw(`chmod 0700 "$lc_home/.ssh"`),
      sh`chown -- ${u}:"$lc_grp" "$lc_home/.ssh"`,
    ];
    const f = raw(`"$lc_home/.ssh/authorized_keys"`);
    if (write && spec.exclusive) {
      out.push(
        atomicWriteSh({
          target: f,
          dir: raw(`"$lc_home/.ssh"`),
          source: { content },
          mode: "0600",
          defaultMode: "0600",
          owner: spec.user,
          label: `authorized_key ${spec.user}`,
        }),
      );
    } else if (write) {
      // append what is missing, judged on the host now (the file may have changed since the probe)
      out.push(sh`[ -e ${f} ] || (umask 077 && : > ${f})`);
      out.push(sh`if [ -s ${f} ] && [ -n "$(tail -c1 ${f})" ]; then echo >> ${f}; fi`);
      for (const k of spec.keys) {
        const { type, blob } = parseKeyLine(k)!;
        out.push(
          sh`if ! grep -qF -- ${`${type} ${blob}`} ${f}; then\n${base64Heredoc(sh`cat >> ${f}`, `${k}\n`)}\nfi`,
        );
      }
    }
    out.push(sh`chmod 0600 ${f}`, sh`chown -- ${u}:"$lc_grp" ${f}`);
    return shJoin(out);
  },
};
