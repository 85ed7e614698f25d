import type { PreparedTask } from "../engine/prepare.js";
import { SectionWriter } from "../engine/sections.js";
import { runScript } from "../transport/script.js";
import type { Transport } from "../transport/types.js";
import type { AuditExpected } from "./derive.js";
import { dockerAuditScript, evaluateDockerAudit, type DockerAuditExpected } from "./docker.js";
import { evaluateAudit, hostAuditFragments, type AuditCheck } from "./host.js";
import { evaluateOpenclawAudit, openclawAuditScript } from "./openclaw.js";
import { evaluateTasks, taskFragments } from "./tasks.js";

export * from "./host.js";
export * from "./derive.js";
export * from "./tasks.js";
export * from "./docker.js";
export * from "./openclaw.js";

/**
 * Host, task, Docker and OpenClaw checks from ONE read-only exec on the host, each part in its own
 * section. The OpenClaw part runs in the stack's gateway (project `docker.project`, service `gateway`)
 * and skips itself when there is none.
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
    { id: "docker", script: dockerAuditScript(docker) },
    { id: "openclaw", script: openclawAuditScript(openclaw) },
  ];
  const r = await runScript(transport, w.script(fragments.map((f) => w.probe(f))), {
    become: true,
    errexit: false,
  });
  const sections = w.parse(r.stdout);
  // the login this audit works through: a kind's diff never counts its key as drift (authorized_key)
  const ctx = { login: { user: transport.target.user, keys: transport.authKeys ?? [] } };
  return [
    ...evaluateAudit(sections, expected.host),
    ...evaluateTasks(sections, expected.tasks, ctx),
    ...expected.modules.flatMap((m) => m.audit.evaluate(sections, m.tasks as PreparedTask[], ctx)),
    ...evaluateDockerAudit(sections.get("docker")?.output ?? "", docker),
    ...evaluateOpenclawAudit(sections.get("openclaw")?.output ?? "", openclaw),
  ];
}
