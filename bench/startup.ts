/**
 * Whole-process figures of the CLI (issue 11.12): start-up (`--version`, `--help`, beside a bare
 * `node -e ''`) and a whole no-op `provision` run as an operator types it, each the median of several
 * runs of the built binary (dist/: `npm run build` first), with the target beside it.
 */
import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { median } from "./measure.js";

const BIN = join(import.meta.dirname, "../bin/lockclaw.js");

export interface ProcessFigure {
  what: string;
  seconds: number;
  target?: string;
}
export const processFigures: ProcessFigure[] = [];

/** Median wall time of `node ARGS` over n runs; throws when a run fails. */
export function wallTime(args: string[], n: number, env: NodeJS.ProcessEnv = process.env): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { env, encoding: "utf8" });
    times.push((performance.now() - t0) / 1000);
    if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  }
  return median(times);
}

export function benchStartup(n = 9): void {
  processFigures.push({ what: "node -e '' (bare Node, for scale)", seconds: wallTime(["-e", ""], n) });
  processFigures.push({
    what: "lockclaw --version",
    seconds: wallTime([BIN, "--version"], n),
    target: "≤ 0.15 s",
  });
  processFigures.push({ what: "lockclaw --help", seconds: wallTime([BIN, "--help"], n) });
  processFigures.push({
    what: "lockclaw provision host --help",
    seconds: wallTime([BIN, "provision", "host", "--help"], n),
  });
  // as a command's first run (or with the cache off) starts: everything compiled from source
  processFigures.push({
    what: "lockclaw provision host --help, no compile cache",
    seconds: wallTime([BIN, "provision", "host", "--help"], n, {
      ...process.env,
      LOCKCLAW_NO_COMPILE_CACHE: "1",
    }),
  });
}

/** A whole-process run of the CLI (n times, median), e.g. a no-op `provision host`. */
export function benchProcess(
  what: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  target?: string,
  n = 3,
): void {
  processFigures.push({ what, seconds: wallTime([BIN, ...args], n, env), ...(target ? { target } : {}) });
}

export function printProcessFigures(): void {
  if (!processFigures.length) return;
  console.log("\nwhole process (built CLI)                                   median s  target");
  for (const f of processFigures) {
    console.log(`${f.what.padEnd(58)}${f.seconds.toFixed(3).padStart(8)}  ${f.target ?? ""}`);
  }
  // wall time on a loaded machine says little: the load is printed with the figures
  console.log(
    `load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} on ${cpus().length} CPUs`,
  );
}
