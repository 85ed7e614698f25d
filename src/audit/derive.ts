/**
 * What the audit expects, from the prepared plays: the playbook the host was provisioned with, its
 * variables rendered and every task's spec checked by its module's schema, exactly as `provision` sees
 * it. Nothing here restates a playbook: a custom `--playbook` that opens another port is audited
 * against that port.
 *
 * - sshd, ufw, fail2ban and authorized_key tasks give the host audit's expectation (./host.ts), which
 *   adds what only an audit looks at (listeners, every login user's keys, the jail's live values);
 * - a module with an audit of its own is judged by it (`moduleAudits` below; add an entry there, in a
 *   file of its own under src/audit/, for a module whose state needs more than its plan's changes);
 * - every other task whose module can verify itself is judged by its module's probe and plan
 *   (./tasks.ts): in the declared state, or drift named. A new play needs no audit code to be audited;
 * - the deeper host hardening (./hardening.ts) and the updates/auditd/AIDE part (./packages.ts) read the
 *   effective state of what some of those tasks write (sudo -l, the kernel, apt-config). Such a task is
 *   still judged by its plan, but one drift is one failure: when a check of the part that covers it
 *   fails, the task's own check says where its drift is reported instead of failing a second time
 *   (`foldCovered`); drift the part does not see (a line added to the sudoers file) fails the task.
 */
import type { PreparedPlay, PreparedTask } from "../engine/prepare.js";
import { verifies, type ResourceContext } from "../engine/resource.js";
import type { Fragment, SectionResult } from "../engine/sections.js";
import type { AuthorizedKeySpec } from "../resources/authorized_key.js";
import type { Fail2banSpec } from "../resources/fail2ban.js";
import type { SshdSpec } from "../resources/sshd.js";
import type { UfwSpec } from "../resources/ufw.js";
import type { Coverage } from "./coverage.js";
import { hardeningCoverage, hardeningExpectedFromPlays, type HardeningExpected } from "./hardening.js";
import type { AuditCheck, HostAuditExpected } from "./host.js";
import { packagesCoverage, packagesExpectedFromPlays, type PackagesAuditExpected } from "./packages.js";
import { taskCheckId } from "./tasks.js";

/** An audit for the tasks of one module, beyond (or instead of) its plan's changes. */
export interface ModuleAudit {
  fragments(tasks: readonly PreparedTask[]): Fragment[];
  evaluate(
    sections: ReadonlyMap<string, SectionResult>,
    tasks: readonly PreparedTask[],
    ctx: Pick<ResourceContext, "login">,
  ): AuditCheck[];
}

/** Modules with an audit of their own, by module name (the host audit's four are handled below). */
export const moduleAudits: Record<string, ModuleAudit> = {};

/** The modules ./host.ts judges (its checks need them together: the listeners need the ufw and SSH ports). */
export const HOST_MODULES = ["sshd", "ufw", "fail2ban", "authorized_key"] as const;

export interface AuditExpected {
  host: HostAuditExpected;
  /** Tasks judged by their module's probe and plan. */
  tasks: PreparedTask[];
  /** Tasks of modules with an audit of their own. */
  modules: Array<{ audit: ModuleAudit; tasks: PreparedTask[] }>;
  hardening: HardeningExpected;
  packages: PackagesAuditExpected;
}

export type { Coverage } from "./coverage.js";

/** Whether a part covers the task (by the path, package or service its spec names). */
export function covers(c: Coverage, t: PreparedTask): boolean {
  const spec = t.spec as { path?: unknown; file?: unknown; name?: unknown };
  switch (t.kind.name) {
    case "package":
      return (spec.name as string[]).some((n) => c.packages?.includes(n.replace(/:.*/, "")));
    case "service":
      return !!c.services?.includes(String(spec.name));
    default: {
      const path = typeof spec.path === "string" ? spec.path : spec.file;
      return typeof path === "string" && !!c.paths?.includes(path);
    }
  }
}

const claims = (c: Coverage, id: string) =>
  c.checks.some((x) => (x.endsWith(".") ? id.startsWith(x) : id === x));

/**
 * One drift, one failure: a failing task check whose task a part covers, while a check of that part
 * fails too, becomes a SKIP that names the part's failing check and keeps the task's drift as evidence.
 */
export function foldCovered(
  checks: readonly AuditCheck[],
  tasks: readonly PreparedTask[],
  coverage: readonly Coverage[],
): AuditCheck[] {
  const byId = new Map(tasks.map((t) => [taskCheckId(t), t]));
  return checks.map((c) => {
    const t = byId.get(c.id);
    if (c.pass || !t) return c;
    const failing = coverage
      .filter((cov) => covers(cov, t))
      .flatMap((cov) => checks.filter((o) => o !== c && !o.pass && claims(cov, o.id)).map((o) => o.id));
    if (!failing.length) return c;
    return {
      ...c,
      pass: true,
      skipped: true,
      evidence: `reported by ${[...new Set(failing)].join(", ")} (${c.evidence})`,
    };
  });
}

/** Every part's coverage of the plays' tasks. */
export function coverageOf(e: Pick<AuditExpected, "hardening" | "packages">): Coverage[] {
  return [...hardeningCoverage(e.hardening), ...packagesCoverage(e.packages)];
}

export function expectedFromPlays(
  plays: readonly PreparedPlay[],
  registry: Readonly<Record<string, ModuleAudit>> = moduleAudits,
): AuditExpected {
  const host: HostAuditExpected = { fail2ban: [], authorizedKeys: [] };
  const tasks: PreparedTask[] = [];
  const byModule = new Map<string, PreparedTask[]>();
  const jails = new Map<string, Fail2banSpec>();
  for (const t of plays.flatMap((p) => p.tasks)) {
    if (t.skippedByWhen) continue;
    switch (t.kind.name) {
      case "sshd":
        host.sshd = t.spec as SshdSpec; // the last one is what the play leaves
        break;
      case "ufw": {
        const spec = t.spec as UfwSpec;
        // an exact task sets the whole rule set; an ensure task after it only adds
        if (spec.mode === "exact" || !host.ufw) host.ufw = { ...spec, rules: [...spec.rules] };
        else host.ufw.rules.push(...spec.rules);
        break;
      }
      case "fail2ban": {
        const spec = t.spec as Fail2banSpec;
        jails.set(spec.jail, spec);
        break;
      }
      case "authorized_key":
        host.authorizedKeys!.push(...(t.spec as AuthorizedKeySpec).keys);
        break;
      default:
        if (registry[t.kind.name]) byModule.set(t.kind.name, [...(byModule.get(t.kind.name) ?? []), t]);
        else if (verifies(t.kind, t.spec)) tasks.push(t);
    }
  }
  host.fail2ban = [...jails.values()];
  return {
    host,
    tasks,
    modules: [...byModule].map(([name, ts]) => ({ audit: registry[name]!, tasks: ts })),
    hardening: hardeningExpectedFromPlays(plays),
    packages: packagesExpectedFromPlays(plays),
  };
}
