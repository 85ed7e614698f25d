/** Timing a run and keeping its figures for the table. */
import type { HostRecap } from "../src/engine/events.js";
import { runPlaybook, type RunOptions } from "../src/engine/run.js";

export interface Row {
  scenario: string;
  run: string;
  seconds: number;
  execs: number;
  changed: number;
  exitCode: number;
}

export const rows: Row[] = [];

export async function timed(scenario: string, run: string, opts: RunOptions): Promise<HostRecap> {
  const t0 = performance.now();
  const r = await runPlaybook(opts);
  const seconds = (performance.now() - t0) / 1000;
  const h = r.hosts[0]!;
  if (h.failed || h.unreachable) throw new Error(`${scenario} ${run} failed: ${h.error}`);
  rows.push({ scenario, run, seconds, execs: h.execs, changed: h.changed, exitCode: r.exitCode });
  return h;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
