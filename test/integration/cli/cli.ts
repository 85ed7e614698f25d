/**
 * Running the built `lockclaw` binary the ways an operator does: directly (stdout a pipe), under a
 * pseudo-terminal (`script -qc`, so stdout is a TTY and the live view is used), and through a real
 * shell pipeline (`… | head -1`).
 */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import { shq } from "../../../src/engine/shell.js";

export const ROOT = join(__dirname, "../../..");
export const BIN = join(ROOT, "bin/lockclaw.js");

/**
 * The CLI runs from dist/: build when a developer runs a file alone. Asynchronous, so a slow build on a
 * loaded machine does not block the test worker (give the hook BUILD_TIMEOUT_MS).
 */
export async function buildCli(): Promise<void> {
  const child = spawn("npx", ["tsc", "-p", "tsconfig.json"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect(code, out).toBe(0);
}
export const BUILD_TIMEOUT_MS = 300_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(stateDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: stateDir, SSH_AUTH_SOCK: "", ...extra };
  // the tests decide about colour themselves
  delete env.FORCE_COLOR;
  return env;
}

export function lockclaw(args: string[], env: NodeJS.ProcessEnv): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A shell command line running lockclaw with these arguments, each quoted. */
export function commandLine(args: string[]): string {
  return [process.execPath, BIN, ...args].map(shq).join(" ");
}

/** Through `sh -c`, e.g. with a pipe after it; the pipeline's status is the last command's. */
export function shell(line: string, env: NodeJS.ProcessEnv): CliResult {
  const r = spawnSync("sh", ["-c", line], { encoding: "utf8", env, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Under a pseudo-terminal (util-linux `script`): lockclaw's stdout and stderr are the terminal, whose
 * output (with the terminal's \r\n) comes back as stdout; the exit status is lockclaw's.
 */
export function lockclawTty(args: string[], env: NodeJS.ProcessEnv): CliResult {
  const r = spawnSync("script", ["-qec", commandLine(args), "/dev/null"], {
    encoding: "utf8",
    env: { ...env, TERM: "xterm-256color", COLUMNS: "120", LINES: "40" },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout.replace(/\r/g, ""), stderr: r.stderr };
}

/** Like lockclawTty, but started in the background: `until` sees the terminal output so far. */
export function startTty(
  args: string[],
  env: NodeJS.ProcessEnv,
): { output: () => string; wait: () => Promise<number | null>; pid: number } {
  const child = spawn("script", ["-qec", commandLine(args), "/dev/null"], {
    env: { ...env, TERM: "xterm-256color", COLUMNS: "120", LINES: "40" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { output: () => out.replace(/\r/g, ""), wait: () => exited, pid: child.pid! };
}

export async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
