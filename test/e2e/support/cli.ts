/** Runs `lockclaw ARGS` as a separate process, the way a user would. */
import { execFile } from "node:child_process";
import { join } from "node:path";

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

const ENTRY = join(import.meta.dirname, "lockclaw-cli.ts");

export function lockclaw(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  return new Promise<CliResult>((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", ENTRY, ...args],
      {
        encoding: "utf8",
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 600_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ stdout, stderr, code });
      },
    );
  });
}
