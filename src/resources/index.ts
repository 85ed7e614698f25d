/**
 * The registry: every resource kind a playbook task may name, by its key. The engine looks kinds up
 * here; a task key not in this record is an "unknown module" config error.
 */
import type { AnyResourceKind } from "../engine/resource.js";
import { authorizedKeyKind } from "./authorized_key.js";
import { commandKind } from "./command.js";
import { copyKind } from "./copy.js";
import { directoryKind } from "./directory.js";
import { fileKind } from "./file.js";
import { packageKind } from "./package.js";
import { serviceKind } from "./service.js";
import { sysctlKind } from "./sysctl.js";
import { templateKind } from "./template.js";
import { userKind } from "./user.js";
import { fail2banKind } from "./fail2ban.js";
import { sshdKind } from "./sshd.js";
import { ufwKind } from "./ufw.js";
import { auditRulesKind } from "./audit_rules.js";
// -- stack kinds (docker_rootless, compose_stack, image_bundle, secret_file) --
import { composeStackKind } from "./compose_stack.js";
import { dockerRootlessKind } from "./docker_rootless.js";
import { imageBundleKind } from "./image_bundle.js";
import { secretFileKind } from "./secret_file.js";

export const resourceKinds: Record<string, AnyResourceKind> = {
  // basic kinds
  file: fileKind,
  template: templateKind,
  directory: directoryKind,
  user: userKind,
  authorized_key: authorizedKeyKind,
  package: packageKind,
  service: serviceKind,
  sysctl: sysctlKind,
  command: commandKind,
  copy: copyKind,
  // hardening kinds
  sshd: sshdKind,
  ufw: ufwKind,
  fail2ban: fail2banKind,
  audit_rules: auditRulesKind,
  // -- stack kinds --
  docker_rootless: dockerRootlessKind,
  compose_stack: composeStackKind,
  image_bundle: imageBundleKind,
  secret_file: secretFileKind,
};
