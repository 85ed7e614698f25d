import type { PreparedTask } from "../engine/prepare.js";
import { SectionWriter } from "../engine/sections.js";
import { runScript } from "../transport/script.js";
import type { Transport } from "../transport/types.js";
import { coverageOf, foldCovered, type AuditExpected } from "./derive.js";
import { dockerAuditScript, evaluateDockerAudit, type DockerAuditExpected } from "./docker.js";
import { evaluateHardeningAudit, hardeningAuditScript } from "./hardening.js";
import { evaluateAudit, hostAuditFragments, type AuditCheck } from "./host.js";
import { evaluateOpenclawAudit, openclawAuditScript } from "./openclaw.js";
import { evaluatePackagesAudit, packagesAuditScript } from "./packages.js";
import { evaluateTasks, taskFragments } from "./tasks.js";

export * from "./host.js";
export * from "./derive.js";
export * from "./tasks.js";
export * from "./docker.js";
export * from "./openclaw.js";
export * from "./hardening.js";
export * from "./packages.js";

/**
 * Host, task, hardening, update/auditd/AIDE, Docker and OpenClaw checks from ONE read-only exec on the
 * host, each part in its own section. The OpenClaw part runs in the stack's gateway (project
 * `docker.project`, service `gateway`) and skips itself when there is none.
 */
export async function auditAll(
  transport: Transport,
  expected: AuditExpected,
  docker: DockerAuditExpected,
): Promise<AuditCheck[]> {
  const openclaw = { user: docker.user, project: docker.project };
  const w = new SectionWriter();
  const fragments = [
    ...hostAuditFragments(expected.host),
    ...taskFragments(expected.tasks),
    ...expected.modules.flatMap((m) => m.audit.fragments(m.tasks)),
    { id: "hardening", script: hardeningAuditScript(expected.hardening) },
    { id: "packages", script: packagesAuditScript(expected.packages) },
    { id: "docker", script: dockerAuditScript(docker) },
    { id: "openclaw", script: openclawAuditScript(openclaw) },
  ];
  const r = await runScript(transport, String(w.script(fragments.map((f) => w.probe(f)))), {
    become: true,
    errexit: false,
  });
  const sections = w.parse(r.stdout);
  const out = (id: string) => sections.get(id)?.output ?? "";
  // the login this audit works through: a module's plan never counts its key as drift (authorized_key)
  const ctx = { login: { user: transport.target.user, keys: transport.authKeys ?? [] } };
  const checks = [
    ...evaluateAudit(sections, expected.host),
    ...evaluateTasks(sections, expected.tasks, ctx),
    ...expected.modules.flatMap((m) => m.audit.evaluate(sections, m.tasks as PreparedTask[], ctx)),
    ...evaluateHardeningAudit(out("hardening"), expected.hardening),
    ...evaluatePackagesAudit(out("packages"), expected.packages),
    ...evaluateDockerAudit(out("docker"), docker),
    ...evaluateOpenclawAudit(out("openclaw"), openclaw),
  ];
  return foldCovered(checks, expected.tasks, coverageOf(expected));
}
