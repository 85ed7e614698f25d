/**
 * Transport-specific errors that src/engine/errors.ts does not have yet. They extend the shared
 * LockclawError so exit-code mapping keeps working; the lead may move them into errors.ts.
 */
import { ExitCode, LockclawError } from "../engine/errors.js";

/** A command ran longer than its timeoutMs; its channel was closed. The connection stays usable. */
export class ExecTimeoutError extends LockclawError {
  readonly code = "E_TIMEOUT";
  readonly exitCode = ExitCode.Failed;
  constructor(
    readonly host: string,
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(`${host}: command did not finish within ${timeoutMs} ms: ${summarize(command)}`);
  }
}

/** First line, cut short: batched probe scripts are long and not meant for humans. */
export function summarize(command: string, max = 120): string {
  const line = command.split("\n", 1)[0] ?? "";
  return line.length > max || command.includes("\n") ? `${line.slice(0, max)}…` : line;
}
