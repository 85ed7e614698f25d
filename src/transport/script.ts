/**
 * Run a (possibly large, possibly secret-bearing) sh script on a host.
 *
 * The script never appears in argv: the exec command is a FIXED wrapper and the script travels on
 * stdin. The wrapper first copies stdin to a private temp file and only then runs it with stdin from
 * /dev/null, so a command inside the script that reads stdin (cat, apt, ssh-keygen…) cannot swallow the
 * rest of the script. A trailer line proves the whole script arrived: if the connection drops while the
 * script is being uploaded, a truncated script is never run.
 */
import type { ExecResult, Transport } from "./types.js";

/** Must be the script's last line; its absence means the upload was cut short. */
export const SCRIPT_TRAILER = "#lockclaw-script-end";

/** Exit status the wrapper uses for its own failures (temp file, short upload), distinct from sh's 1/2/127. */
export const WRAPPER_FAILED = 125;

/**
 * The fixed exec command. `trap … EXIT` removes the temp file however the shell ends (also on
 * HUP/INT/TERM, turned into a normal exit so the EXIT trap runs); POSIX keeps the exit status of the
 * script through the trap. `sh -e` gives the script errexit semantics; `sh` (no -e) when the caller asked
 * for `errexit: false`.
 */
function wrapper(errexit: boolean): string {
  return [
    "umask 077",
    `f=$(mktemp) || exit ${WRAPPER_FAILED}`,
    `trap 'rm -f "$f"' EXIT`,
    "trap 'exit 129' HUP",
    "trap 'exit 130' INT",
    "trap 'exit 143' TERM",
    `cat >"$f" || exit ${WRAPPER_FAILED}`,
    `if [ "$(tail -n 1 "$f")" != '${SCRIPT_TRAILER}' ]; then echo 'lockclaw: the script arrived incomplete; not running it' >&2; exit ${WRAPPER_FAILED}; fi`,
    `sh ${errexit ? "-e " : ""}"$f" </dev/null`,
  ].join("; ");
}

export const SCRIPT_WRAPPER = wrapper(true);
const SCRIPT_WRAPPER_NO_ERREXIT = wrapper(false);

export interface RunScriptOptions {
  /** Run as root (through `sudo -n` when the login user is not root). */
  become?: boolean;
  /** Stop at the first failing command (sh -e). Default true. */
  errexit?: boolean;
  timeoutMs?: number;
  /** The script's stdout as it arrives (see ExecOptions.onStdout). */
  onStdout?: (chunk: Buffer) => void;
}

/** Run `script` with sh on the host; the result is the script's own stdout/stderr/exit status. */
export function runScript(
  transport: Transport,
  script: string,
  options: RunScriptOptions = {},
): Promise<ExecResult> {
  const body = script.endsWith("\n") ? script : `${script}\n`;
  return transport.exec(options.errexit === false ? SCRIPT_WRAPPER_NO_ERREXIT : SCRIPT_WRAPPER, {
    stdin: `${body}${SCRIPT_TRAILER}\n`,
    become: options.become,
    timeoutMs: options.timeoutMs,
    onStdout: options.onStdout,
  });
}
