/** Runs host commands for the lab (debootstrap, ip, ssh-keygen, …) without a shell, so no quoting bugs. */
import { execFile } from "node:child_process";
import { excerpt } from "../core/errors.js";
import { LabError } from "./errors.js";

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command; resolves with its output even when it fails (the caller decides). */
export function runRaw(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 0,
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === "string") {
          // ENOENT and friends: the tool itself is missing, not a failing command.
          reject(new LabError(`cannot run ${cmd}: ${err.message}`, { cause: err }));
          return;
        }
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ stdout, stderr, code: typeof code === "number" ? code : 1 });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Runs a command and throws a LabError naming it and its stderr when it fails. */
export async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<string> {
  const res = await runRaw(cmd, args, options);
  if (res.code !== 0) {
    throw new LabError(
      `${cmd} ${args.join(" ")} failed (exit ${res.code})\n  ${excerpt(res.stderr || res.stdout, 15)}`,
    );
  }
  return res.stdout;
}
