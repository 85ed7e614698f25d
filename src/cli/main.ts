/** The `lockclaw` program: a thin shell over the engine. Each command lives in its own file. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError, Help, Option } from "commander";
import { packageRoot } from "../engine/paths.js";
import { ExitCode, LockclawError } from "../core/errors.js";
import { registerProvisionCommands } from "./provision.js";
import { registerLabCommands } from "./lab.js";
import { registerAuditCommand } from "./audit.js";
import { registerCloudflareCommands } from "./cloudflare.js";
import { registerImageCommands } from "./image.js";
import { registerDocCommand } from "./doc.js";

import type { CommandResult } from "./result.js";
export type { CommandResult };

const EXIT_CODES_HELP = `
Exit codes:
  0  success: the run applied what it had to (changed or not); --check: nothing would change;
     audit: every check passed
  1  a task failed, the input was invalid, or an audit check failed
  2  --check: something would change (a drift alarm); with --detailed-exitcode: the apply changed something
  4  a host could not be reached or authenticated
130  interrupted (Ctrl-C)`;

export function buildProgram(done: (r: Promise<CommandResult>) => void): Command {
  const program = new Command("lockclaw")
    .description(
      "Turn a fresh Linux VM into a hardened host for self-hosted AI agents, over SSH, and keep it that way.",
    )
    .version(packageVersion())
    .addHelpText("after", EXIT_CODES_HELP)
    .exitOverride();
  registerProvisionCommands(program, done);
  registerAuditCommand(program, done);
  registerLabCommands(program);
  registerCloudflareCommands(program, done);
  registerImageCommands(program);
  registerDocCommand(program, done);
  forEachCommand(program, (cmd) => {
    // a usage error is one line and where to look, not the error buried above 40 lines of help
    cmd.showHelpAfterError(`see: ${commandPath(cmd)} --help`);
    cmd.configureHelp({ optionDescription });
  });
  return program;
}

/** The version in package.json (npm_package_version is only set under `npm run`). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

function forEachCommand(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd);
  cmd.commands.forEach((c) => forEachCommand(c, fn));
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

const plainHelp = new Help();
/** A repeatable option's empty list is no default worth showing (`(default: [])`). */
function optionDescription(option: Option): string {
  if (Array.isArray(option.defaultValue) && option.defaultValue.length === 0) {
    return plainHelp.optionDescription(
      Object.assign(new Option(option.flags), option, { defaultValue: undefined }),
    );
  }
  return plainHelp.optionDescription(option);
}

/** `lockclaw help provision host` is `lockclaw provision host --help` (commander's help takes one word). */
function helpArgv(argv: string[]): string[] {
  const [node, script, first, ...rest] = argv;
  if (first === "help" && rest.length > 0) return [node!, script!, ...rest, "--help"];
  return argv;
}

/**
 * A reader that goes away (`| head`, a pager closed) must not crash the run halfway with EPIPE: the
 * output is dropped from then on and the run goes on to its end, so the hosts are never left half-applied.
 */
function tolerateClosedStdout(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") return;
    throw err;
  });
}

export async function main(argv: string[]): Promise<number> {
  tolerateClosedStdout();
  let pending: Promise<CommandResult> | undefined;
  const program = buildProgram((p) => (pending = p));
  try {
    await program.parseAsync(helpArgv(argv));
    if (pending) return (await pending).exitCode;
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version are "errors" to commander; they already printed
    return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Failed;
  }
  if (err instanceof LockclawError) {
    process.stderr.write(`lockclaw: ${err.message}\n`);
    if (process.env.LOCKCLAW_DEBUG && err.cause) process.stderr.write(`  cause: ${String(err.cause)}\n`);
    return err.exitCode;
  }
  process.stderr.write(
    `lockclaw: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return ExitCode.Failed;
}
