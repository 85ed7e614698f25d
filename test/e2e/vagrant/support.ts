/** What the Vagrant e2e files (lxc and libvirt) share: running a command, and timing each step. */
import { execFile } from "node:child_process";
import type { CliResult } from "../support/cli.js";

export interface Step {
  step: string;
  seconds: number;
}

/** Each step's time, printed as one table at the end of a file (the README quotes these figures). */
export function stepTimer(): {
  figures: Step[];
  timed: <T>(step: string, fn: () => Promise<T>) => Promise<T>;
} {
  const figures: Step[] = [];
  async function timed<T>(step: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      figures.push({ step, seconds: (Date.now() - t0) / 1000 });
    }
  }
  return { figures, timed };
}

/** A command's output and exit code, never a throw (a failed vagrant step is asserted with its output). */
export function run(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        encoding: "utf8",
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 180_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ stdout, stderr, code });
      },
    );
  });
}
