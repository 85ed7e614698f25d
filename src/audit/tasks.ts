/**
 * The audit of every other task of the plays: a task whose module has no audit of its own (./host.ts
 * judges sshd, ufw, fail2ban and authorized_key; ./modules.ts lists the others that have one) passes when
 * its module's own probe and plan find nothing to change, i.e. when `provision --check` would report it ok.
 * So a play added to the playbook (sysctl, a package, a template) is audited from its specs as it is.
 */
import type { PreparedTask } from "../engine/prepare.js";
import { changesOf, extractWarnings, type ResourceContext } from "../engine/resource.js";
import type { Fragment, SectionResult } from "../engine/sections.js";
import type { AuditCheck } from "./host.js";

/** Section id of a task's probe in the audit exec. */
const sectionId = (t: PreparedTask) => `task-${t.id}`;

export function taskFragments(tasks: readonly PreparedTask[]): Fragment[] {
  return tasks.map((t) => ({ id: sectionId(t), script: t.kind.probe(t.spec).script }));
}

/** `sysctl.network-hardening-sysctls`: the module, then the task's name as a word. */
export function taskCheckId(t: PreparedTask): string {
  const slug = t.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return `${t.kind.name}.${slug || t.id}`;
}

export function evaluateTasks(
  sections: ReadonlyMap<string, SectionResult>,
  tasks: readonly PreparedTask[],
  ctx: Pick<ResourceContext, "login">,
): AuditCheck[] {
  return tasks.map((t) => {
    const id = taskCheckId(t);
    const title = `${t.name}: ${t.kind.describe(t.spec)} as declared`;
    const s = sections.get(sectionId(t));
    if (!s) return { id, title, pass: false, evidence: "not read (the audit script did not get this far)" };
    const { output, warnings } = extractWarnings(s.output);
    let changes: string[];
    try {
      const facts: unknown = t.kind.probe(t.spec).parse(output);
      const warn = (m: string) => warnings.push(m);
      changes = changesOf(t.kind, t.spec, facts, { check: true, login: ctx.login, warn }).map(
        (c) => c.summary,
      );
    } catch (err) {
      return {
        id,
        title,
        pass: false,
        evidence: `cannot read the probe's output: ${(err as Error).message}`,
      };
    }
    const note = warnings.length ? ` (${[...new Set(warnings)].join("; ")})` : "";
    return {
      id,
      title,
      pass: changes.length === 0,
      evidence: changes.length ? `drift: ${changes.join("; ")}` : `nothing to change${note}`,
    };
  });
}
