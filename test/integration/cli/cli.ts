/**
 * Running the built `lockclaw` binary the ways an operator does: directly (stdout a pipe), under a
 * pseudo-terminal (`script -qc`, so stdout is a TTY and the live view is used), and through a real
 * shell pipeline (`… | head -1`).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import { quoteWord as shq } from "../../../src/core/sh.js";

export const ROOT = join(__dirname, "../../..");
export const BIN = join(ROOT, "bin/lockclaw.js");

/**
 * The CLI runs from dist/: build when a developer runs a file alone. Asynchronous, so a slow build on a
 * loaded machine does not block the test worker (give the hook BUILD_TIMEOUT_MS).
 */
export async function buildCli(): Promise<void> {
  // tsc and the one-file bundle bin/lockclaw.js runs (scripts/bundle-cli.mjs), as npm run build does
  const child = spawn("npm", ["run", "--silent", "build"], {
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

/**
 * Run a program to its end, asynchronously: a synchronous spawn blocks the test worker, which then
 * misses vitest's RPC deadline on a loaded machine.
 */
export function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 180_000,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function lockclaw(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return run(process.execPath, [BIN, ...args], env);
}

/** A shell command line running lockclaw with these arguments, each quoted. */
export function commandLine(args: string[]): string {
  return [process.execPath, BIN, ...args].map((a) => shq(a)).join(" ");
}

/** Through `bash -c`, e.g. with a pipe after it (`set -o pipefail` to get lockclaw's status). */
export function shell(line: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return run("bash", ["-c", line], env);
}

/**
 * Under a pseudo-terminal (util-linux `script`): lockclaw's stdout and stderr are the terminal, whose
 * output (with the terminal's \r\n) comes back as stdout; the exit status is lockclaw's.
 */
export async function lockclawTty(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const r = await run("script", ["-qec", commandLine(args), "/dev/null"], ttyEnv(env));
  return { ...r, stdout: r.stdout.replace(/\r/g, "") };
}

const ttyEnv = (env: NodeJS.ProcessEnv) => ({ ...env, TERM: "xterm-256color", COLUMNS: "120", LINES: "40" });

/** Like lockclawTty, but started in the background, with keys to type on its terminal. */
export function startTty(
  args: string[],
  env: NodeJS.ProcessEnv,
): { output: () => string; write: (keys: string) => void; wait: () => Promise<number | null> } {
  const child = spawn("script", ["-qec", commandLine(args), "/dev/null"], {
    env: ttyEnv(env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    output: () => out.replace(/\r/g, ""),
    // what is typed on the terminal (script passes it to the pty: "\x03" is Ctrl-C)
    write: (keys) => child.stdin.write(keys),
    wait: () => exited,
  };
}

export async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
