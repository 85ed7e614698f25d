/**
 * `package`: Debian/Ubuntu packages through apt. Installs never ask questions (noninteractive, keep
 * existing conffiles), wait for the dpkg lock that cloud-init's first-boot upgrades hold, and refresh the
 * package lists once when an install fails on a fresh image whose lists are empty.
 */
import { z } from "zod";
import { planned, type Change, type ResourceKind } from "../engine/resource.js";
import { APT_GET } from "../core/apt.js";
import { raw, sh, type Sh } from "../core/sh.js";
import { bool } from "./common/schema.js";

/** Debian policy: lowercase letters, digits, + - . ; at least two characters, starting alphanumeric. */
const PKG_RE = /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?$/;
const pkgName = z.string({ error: "a package name must be a string" }).regex(PKG_RE, {
  error: "not a Debian package name (lowercase letters, digits, + - . ; optional :arch), e.g. fail2ban",
});

export const packageSpec = z
  .strictObject({
    name: z
      .union([pkgName, z.array(pkgName).min(1, { error: "name must list at least one package" })], {
        error: "name must be a package name or a list of them",
      })
      .transform((n) => (Array.isArray(n) ? n : [n]))
      .describe("A Debian package name, or a list of them (name:arch allowed)."),
    state: z
      .enum(["present", "absent"], { error: 'state must be "present" or "absent"' })
      .default("present")
      .describe("present: installed (apt-get install); absent: removed."),
    /** Run `apt-get update` before installing. */
    update_cache: bool("update_cache").default(false).describe("Run apt-get update before installing."),
    /** With state absent: purge (remove config files too) instead of remove. */
    purge: bool("purge")
      .default(false)
      .describe("With state absent: purge (remove the configuration files too)."),
  })
  .meta({
    description: "Debian packages installed or removed with apt, non-interactively.",
    examples: [{ name: ["ufw", "fail2ban"] }],
  });
export type PackageSpec = z.output<typeof packageSpec>;

/** dpkg's `db:Status-Status` per package (`not-installed` when dpkg does not know it). */
export type PackageFacts = Record<string, string>;

const bare = (name: string) => name.replace(/:.*/, "");
const INSTALLED = new Set(["installed"]);
/** States in which something of the package is on disk and `apt-get remove` has work to do. */
const PARTLY = new Set([
  "installed",
  "half-installed",
  "unpacked",
  "half-configured",
  "triggers-awaited",
  "triggers-pending",
]);

function plan(
  spec: PackageSpec,
  facts: PackageFacts,
): { install: string[]; remove: string[]; changes: Change[] } {
  const status = (n: string) => facts[bare(n)] ?? "not-installed";
  if (spec.state === "present") {
    const install = spec.name.filter((n) => !INSTALLED.has(status(n)));
    return {
      install,
      remove: [],
      changes: install.length ? [{ summary: `install ${install.join(" ")}` }] : [],
    };
  }
  const remove = spec.name.filter(
    (n) => PARTLY.has(status(n)) || (spec.purge && status(n) === "config-files"),
  );
  return {
    install: [],
    remove,
    changes: remove.length ? [{ summary: `${spec.purge ? "purge" : "remove"} ${remove.join(" ")}` }] : [],
  };
}

function installSh(names: string[], updateFirst: boolean): Sh {
  const install: Sh = sh`${APT_GET} install --no-install-recommends ${names}`;
  const update: Sh = sh`${APT_GET} update`;
  if (updateFirst) return sh`${update}\n${install}`;
  // a fresh cloud image ships without package lists: refresh once, then try again
  return sh`if ! ${install}; then\n  ${update}\n  ${install}\nfi`;
}

export const packageKind: ResourceKind<PackageSpec, PackageFacts, { install: string[]; remove: string[] }> = {
  name: "package",
  spec: packageSpec,
  verifiable: true,
  describe: (spec) => `package ${spec.name.join(" ")}`,

  probe(spec) {
    return {
      // unknown packages make dpkg-query complain on stderr and exit 1: both expected, both ignored
      script: sh`dpkg-query -W -f '\${Package} \${db:Status-Status}\\n' -- ${spec.name.map(bare)} 2>/dev/null || :`,
      parse(stdout) {
        const facts: PackageFacts = {};
        for (const line of stdout.split("\n")) {
          if (!line.trim()) continue;
          const m = /^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)? ([a-z-]+)$/.exec(line.trim());
          if (!m) throw new Error(`package probe: unexpected dpkg-query line ${JSON.stringify(line)}`);
          // multi-arch packages list once per architecture: any installed one counts
          const [, name, st] = m as unknown as [string, string, string];
          if (facts[name] !== "installed") facts[name] = st;
        }
        return facts;
      },
    };
  },

  plan: (spec, facts) => planned(plan(spec, facts)),

  apply(spec, p) {
    if (p.install.length) return installSh(p.install, spec.update_cache);
    if (p.remove.length) return sh`${APT_GET} ${raw(spec.purge ? "purge" : "remove")} ${p.remove}`;
    return raw("");
  },

  // several package tasks in a row (the host play's base, updates, auditd and AIDE packages) install in
  // one apt-get run: each run costs seconds of fixed work (package lists, dpkg's database, triggers)
  applyTogether(items) {
    if (items.some((i) => i.plan.remove.length)) return undefined;
    const install = [...new Set(items.flatMap((i) => i.plan.install))];
    return install.length
      ? installSh(
          install,
          items.some((i) => i.spec.update_cache),
        )
      : undefined;
  },
};
