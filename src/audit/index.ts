import { runScript } from "../transport/script.js";
import type { Transport } from "../transport/types.js";
import { shJoin } from "../core/sh.js";
import { dockerAuditScript, evaluateDockerAudit, type DockerAuditExpected } from "./docker.js";
import {
  auditProbeScript,
  evaluateAudit,
  sshConnections,
  type AuditCheck,
  type HostAuditExpected,
} from "./host.js";
import { evaluateOpenclawAudit, openclawAuditScript } from "./openclaw.js";
import { evaluateHardeningAudit, hardeningAuditScript, type HardeningExpected } from "./hardening.js";
import { evaluatePackagesAudit, packagesAuditScript, type PackagesAuditExpected } from "./packages.js";

export * from "./host.js";
export * from "./docker.js";
export * from "./openclaw.js";
export * from "./hardening.js";
export * from "./packages.js";

/**
 * Host, Docker and OpenClaw checks from ONE read-only exec on the host. The OpenClaw part runs in the
 * stack's gateway (project `docker.project`, service `gateway`) and skips itself when there is none.
 */
export async function auditAll(
  transport: Transport,
  host: HostAuditExpected,
  docker: DockerAuditExpected,
  hardening?: HardeningExpected,
  packages?: PackagesAuditExpected,
): Promise<AuditCheck[]> {
  const openclaw = { user: docker.user, project: docker.project };
  const script = shJoin([
    auditProbeScript({ fail2banJail: host.fail2banJail, sshConnections: sshConnections(host) }),
    dockerAuditScript(docker),
    openclawAuditScript(openclaw),
    ...(hardening ? [hardeningAuditScript(hardening)] : []),
    ...(packages ? [packagesAuditScript(packages)] : []),
  ]);
  const r = await runScript(transport, String(script), { become: true, errexit: false });
  return [
    ...evaluateAudit(r.stdout, host),
    ...evaluateDockerAudit(r.stdout, docker),
    ...evaluateOpenclawAudit(r.stdout, openclaw),
    ...(hardening ? evaluateHardeningAudit(r.stdout, hardening) : []),
    ...(packages ? evaluatePackagesAudit(r.stdout, packages) : []),
  ];
}
