/**
 * `user`: a local account (useradd/usermod/userdel). Supplementary groups are appended by default
 * (`append: false` makes the list exact). The probe never prints password hashes: only whether the
 * password is locked (`!` prefix) and whether a hash exists behind it.
 */
import { z } from "zod";
import { planned, type Change, type ResourceKind } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { absPath, bool, presentAbsent, userName } from "./common/schema.js";

export const userSpec = z
  .strictObject({
    name: userName("name").describe("The account's name."),
    shell: absPath
      .optional()
      .describe("Login shell, e.g. /bin/bash or /usr/sbin/nologin; left as it is when not given."),
    groups: z
      .array(userName("group"), { error: "groups must be a list of group names" })
      .optional()
      .describe("Supplementary groups the user is in."),
    append: bool("append")
      .default(true)
      .describe("true: add the groups to those the user has; false: the user is in exactly these groups."),
    home: absPath
      .optional()
      .describe("Home directory (created with the account); left as it is when not given."),
    system: bool("system").default(false).describe("Create a system account (uid below 1000, no aging)."),
    state: presentAbsent
      .default("present")
      .describe("present: the account exists; absent: it is removed (its home directory is kept)."),
    password_locked: bool("password_locked")
      .optional()
      .describe(
        "true: no password can log in (the hash is locked with !); false: unlocked; not given: left as it is.",
      ),
  })
  .meta({
    description: "A local user account: shell, home, groups and whether its password is locked.",
    examples: [{ name: "deploy", shell: "/bin/bash", groups: ["sudo"] }],
  });
export type UserSpec = z.output<typeof userSpec>;

export interface UserFacts {
  exists: boolean;
  uid?: string;
  home?: string;
  shell?: string;
  primaryGroup?: string;
  /** Supplementary groups (primary group removed). */
  groups?: string[];
  /** Shadow password field starts with `!`. */
  locked?: boolean;
  /** A password hash exists behind the lock (unlocking would not leave the account passwordless). */
  hasHash?: boolean;
}

interface UserPlan {
  create: boolean;
  remove: boolean;
  usermod: string[];
  lock?: boolean;
  changes: Change[];
}

function planUser(spec: UserSpec, facts: UserFacts): UserPlan {
  const p: UserPlan = { create: false, remove: false, usermod: [], changes: [] };
  if (spec.state === "absent") {
    if (facts.exists) {
      p.remove = true;
      p.changes.push({ summary: `remove user ${spec.name} (home directory kept)` });
    }
    return p;
  }
  if (!facts.exists) {
    p.create = true;
    const attrs = [
      spec.system && "system",
      spec.shell && `shell ${spec.shell}`,
      spec.home && `home ${spec.home}`,
      spec.groups?.length && `groups ${spec.groups.join(",")}`,
    ]
      .filter(Boolean)
      .join(", ");
    p.changes.push({ summary: `create user ${spec.name}${attrs ? ` (${attrs})` : ""}` });
    // useradd leaves the password locked ("!"): nothing more to do for password_locked: true
    return p;
  }
  if (spec.shell !== undefined && spec.shell !== facts.shell) {
    p.usermod.push("-s", spec.shell);
    p.changes.push({ summary: `user ${spec.name} shell ${facts.shell} → ${spec.shell}` });
  }
  if (spec.home !== undefined && spec.home !== facts.home) {
    p.usermod.push("-d", spec.home);
    p.changes.push({ summary: `user ${spec.name} home ${facts.home} → ${spec.home} (content not moved)` });
  }
  if (spec.groups !== undefined) {
    const have = new Set(facts.groups ?? []);
    const want = spec.groups.filter((g) => g !== facts.primaryGroup);
    const missing = want.filter((g) => !have.has(g));
    if (spec.append) {
      if (missing.length) {
        p.usermod.push("-a", "-G", missing.join(","));
        p.changes.push({ summary: `add user ${spec.name} to ${missing.join(", ")}` });
      }
    } else {
      const extra = [...have].filter((g) => !want.includes(g));
      if (missing.length || extra.length) {
        p.usermod.push("-G", want.join(","));
        const parts = [missing.length && `+${missing.join(",")}`, extra.length && `-${extra.join(",")}`];
        p.changes.push({ summary: `user ${spec.name} groups ${parts.filter(Boolean).join(" ")}` });
      }
    }
  }
  if (spec.password_locked === true && !facts.locked) {
    p.lock = true;
    p.changes.push({ summary: `lock the password of ${spec.name}` });
  } else if (spec.password_locked === false && facts.locked && facts.hasHash) {
    // without a hash behind the "!" unlocking would create a passwordless account: leave it locked
    p.lock = false;
    p.changes.push({ summary: `unlock the password of ${spec.name}` });
  }
  return p;
}

/** sh that fails with a clear message when one of `groups` does not exist (it may come from a package). */
function groupsExistSh(name: string, groups: string[]): Sh {
  return shJoin(
    groups.map(
      (g) =>
        sh`getent group ${g} >/dev/null || { echo ${`user ${name}: group ${g} does not exist (create it or install the package that does)`} >&2; exit 1; }`,
    ),
  );
}

export const userKind: ResourceKind<UserSpec, UserFacts, Omit<UserPlan, "changes">> = {
  name: "user",
  spec: userSpec,
  verifiable: true,
  describe: (spec) => `user ${spec.name}`,

  probe(spec) {
    const u = spec.name;
    const script = shJoin([
      sh`if lc_pw=$(getent passwd ${u}); then`,
      raw(`  echo "passwd=$lc_pw"`),
      sh`  echo "primary=$(id -gn -- ${u})"`,
      sh`  echo "groups=$(id -nG -- ${u})"`,
      // only the first character class of the shadow field leaves the host, never the hash
      sh`  case "$(getent shadow ${u} | cut -d: -f2)" in`,
      raw(`    '!'|'!!'|'!*'|'') echo locked=1; echo hash=0 ;;`),
      raw(`    '!'*) echo locked=1; echo hash=1 ;;`),
      raw(`    '*') echo locked=0; echo hash=0 ;;`),
      raw(`    *) echo locked=0; echo hash=1 ;;`),
      raw(`  esac`),
      raw(`else echo passwd=; fi`),
    ]);
    return { script, parse: (stdout) => parseUserFacts(stdout, spec.name) };
  },

  plan: (spec, facts) => planned(planUser(spec, facts)),

  apply(spec, p) {
    const u = spec.name;
    if (p.remove) return sh`userdel -- ${u}`;
    const out: Sh[] = [];
    if (p.create) {
      if (spec.groups?.length) out.push(groupsExistSh(spec.name, spec.groups));
      const args: string[] = [];
      if (spec.system) args.push("-r");
      // system users get no home unless one is asked for; people get theirs from /etc/skel
      if (!spec.system || spec.home) args.push("-m");
      if (spec.home) args.push("-d", spec.home);
      if (spec.shell) args.push("-s", spec.shell);
      if (spec.groups?.length) args.push("-G", spec.groups.join(","));
      out.push(sh`useradd ${[...args, "--", u]}`);
      if (spec.password_locked) out.push(sh`usermod -L -- ${u}`);
      return shJoin(out);
    }
    if (p.usermod.length) {
      const gi = p.usermod.indexOf("-G");
      if (gi >= 0 && p.usermod[gi + 1]) out.push(groupsExistSh(spec.name, p.usermod[gi + 1]!.split(",")));
      out.push(sh`usermod ${p.usermod} -- ${u}`);
    }
    if (p.lock === true) out.push(sh`usermod -L -- ${u}`);
    if (p.lock === false) out.push(sh`usermod -U -- ${u}`);
    return shJoin(out);
  },
};

export function parseUserFacts(stdout: string, name: string): UserFacts {
  const kv = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const pw = kv.get("passwd");
  if (pw === undefined) throw new Error(`user probe for ${name} printed no passwd= line`);
  if (pw === "") return { exists: false };
  const f = pw.split(":");
  if (f.length !== 7 || f[0] !== name)
    throw new Error(`user probe for ${name}: unexpected passwd line ${JSON.stringify(pw)}`);
  const primary = kv.get("primary") ?? "";
  const groups = (kv.get("groups") ?? "").split(/\s+/).filter((g) => g && g !== primary);
  return {
    exists: true,
    uid: f[2],
    home: f[5],
    shell: f[6],
    primaryGroup: primary,
    groups,
    locked: kv.get("locked") === "1",
    hasHash: kv.get("hash") === "1",
  };
}
