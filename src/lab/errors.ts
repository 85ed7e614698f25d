/** The lab's own failure: a machine would not build, boot or stop. Carries what the user needs to act. */
import { ExitCode, LockclawError } from "../core/errors.js";

export class LabError extends LockclawError {
  readonly code = "E_LAB";
  readonly exitCode = ExitCode.Failed;
}
