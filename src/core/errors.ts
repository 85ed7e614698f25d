/**
 * Typed errors. Every error lockclaw raises is a LockclawError with a stable `code` and the exit
 * code it maps to, and carries its `cause` so a caller (or `-v`) can see the underlying failure.
 */

/** Exit codes, documented in the README. */
export const ExitCode = {
  /** Success: applied (changed or not), nothing would change under --check, or every audit check passed. */
  Ok: 0,
  /** A task failed, the input was invalid, or an audit check failed. */
  Failed: 1,
  /** Something would change under --check (or changed, with --detailed-exitcode). */
  Changed: 2,
  /** A host could not be reached or authenticated. */
  Unreachable: 4,
  /** Interrupted (Ctrl-C): 128 + SIGINT, as a shell reports it. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class LockclawError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where in an input file a problem is. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
  /** key path inside the document, e.g. `plays[0].tasks[3].file.mode` */
  path?: string;
}

/** Bad playbook, inventory, variable or template. Raised before any host is contacted. */
export class ConfigError extends LockclawError {
  readonly code = "E_CONFIG";
  readonly exitCode = ExitCode.Failed;
  constructor(
    readonly problem: string,
    readonly location: SourceLocation | undefined,
    readonly fix: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(ConfigError.format(problem, location, fix), options);
  }
  static format(problem: string, loc?: SourceLocation, fix?: string): string {
    let where = "";
    if (loc) {
      where = loc.file;
      if (loc.line !== undefined) where += `:${loc.line}`;
      if (loc.column !== undefined) where += `:${loc.column}`;
      if (loc.path) where += ` (at ${loc.path})`;
      where += ": ";
    }
    return `${where}${problem}${fix ? `\n  fix: ${fix}` : ""}`;
  }
}

/** Could not connect or authenticate; includes host-key mismatches. */
export class ConnectionError extends LockclawError {
  readonly code: string = "E_CONNECT";
  readonly exitCode = ExitCode.Unreachable;
  constructor(
    message: string,
    readonly host: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server's host key does not match known_hosts. Nothing was sent to the host. */
export class HostKeyMismatchError extends ConnectionError {
  override readonly code = "E_HOSTKEY";
  constructor(
    host: string,
    port: number,
    readonly expected: string[],
    readonly actual: string,
    readonly knownHostsFile: string,
  ) {
    super(
      `host key for ${host}:${port} does not match ${knownHostsFile}\n` +
        `  expected: ${expected.join(", ")}\n  actual:   ${actual}\n` +
        `  fix: if the host was really reinstalled, remove its line (ssh-keygen -R '[${host}]:${port}' -f ${knownHostsFile}) and run again with --accept-new-host-key`,
      host,
      port,
    );
  }
}

/** The connection dropped while a command was running. */
export class ConnectionLostError extends ConnectionError {
  override readonly code = "E_CONNECTION_LOST";
}

/** A command ran longer than its timeoutMs; its channel was closed. The connection stays usable. */
export class ExecTimeoutError extends LockclawError {
  readonly code = "E_TIMEOUT";
  readonly exitCode = ExitCode.Failed;
  constructor(
    readonly host: string,
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(`${host}: command did not finish within ${timeoutMs} ms: ${firstLine(command)}`);
  }
}

/** First line, cut short: batched scripts are long and not meant for humans. */
export function firstLine(command: string, max = 120): string {
  const line = command.split("\n", 1)[0] ?? "";
  return line.length > max || command.includes("\n") ? `${line.slice(0, max)}…` : line;
}

/** A command on the host failed. */
export class ApplyError extends LockclawError {
  readonly code = "E_APPLY";
  readonly exitCode = ExitCode.Failed;
  constructor(
    readonly resource: string,
    readonly command: string,
    readonly exitStatus: number | null,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${resource}: ${command} failed (exit ${exitStatus ?? "signal"})${stderr ? `\n  ${excerpt(stderr)}` : ""}`,
      options,
    );
  }
}

/** A change that could cut access was undone because a fresh login failed afterwards. */
export class LockoutPreventedError extends LockclawError {
  readonly code = "E_LOCKOUT_PREVENTED";
  readonly exitCode = ExitCode.Failed;
  constructor(
    readonly resource: string,
    readonly rolledBack: string[],
    options?: { cause?: unknown },
  ) {
    super(
      `${resource}: a fresh login after the change failed, so the change was rolled back ` +
        `(${rolledBack.join(", ")}); the host is reachable as before`,
      options,
    );
  }
}

/** Probe output could not be understood; names the resource whose section was bad. */
export class ProbeParseError extends LockclawError {
  readonly code = "E_PROBE";
  readonly exitCode = ExitCode.Failed;
}

export function excerpt(text: string, maxLines = 8): string {
  const lines = text.trimEnd().split("\n");
  const tail = lines.slice(-maxLines).join("\n  ");
  return lines.length > maxLines ? `…\n  ${tail}` : tail;
}

export function exitCodeOf(err: unknown): ExitCode {
  return err instanceof LockclawError ? err.exitCode : ExitCode.Failed;
}
