import { runScript } from "../transport/script.js";
import type { Transport } from "../transport/types.js";
import { dockerAuditScript, evaluateDockerAudit, type DockerAuditExpected } from "./docker.js";
import { auditProbeScript, evaluateAudit, type AuditCheck, type HostAuditExpected } from "./host.js";

export * from "./host.js";
export * from "./docker.js";

/** Host and Docker checks from ONE read-only exec on the host. */
export async function auditAll(
  transport: Transport,
  host: HostAuditExpected,
  docker: DockerAuditExpected,
): Promise<AuditCheck[]> {
  const script = `${auditProbeScript({ fail2banJail: host.fail2banJail })}\n${dockerAuditScript(docker)}`;
  const r = await runScript(transport, script, { become: true, errexit: false });
  return [...evaluateAudit(r.stdout, host), ...evaluateDockerAudit(r.stdout, docker)];
}
