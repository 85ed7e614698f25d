/**
 * Fleet figures, each run as a whole `lockclaw` process (start-up included) whose own CPU time (user +
 * system) and peak RSS are read at its exit (bench/rusage.mjs):
 *   1. a simulated fleet on loopback: real sshd processes on 127.0.0.2…, many hosts each (own target
 *      name, own directory, own state entry), the example playbook applied once, then a no-op --check at
 *      --forks 50 for 50, 100 and 200 hosts;
 *   2. LOCKCLAW_BENCH_FLEET_LAB=1: 10 lab machines, `provision host --no-stack`, first run and no-op,
 *      beside one machine's. The machines are named LOCKCLAW_BENCH_NAME_PREFIX (default `fl`) and 1…10:
 *      machine names are global to this machine, so benches of two lab directories must differ there.
 *      LOCKCLAW_BENCH_FLEET_KEEP=1 uses the machines of that prefix already up (and leaves them up);
 *      LOCKCLAW_BENCH_FLEET_ROUNDS=N (default 7) runs the no-op of 1 and of all N times, alternating, and reports
 *      medians (CPU time is noisy on a shared machine).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { labDown, labList, labUp } from "../src/lab/machine.js";
import { startSshd, type SshdFixture } from "../test/integration/fixtures/sshd.js";

const ROOT = join(import.meta.dirname, "..");

/**
 * The fleet runs use the built CLI (bin/lockclaw.js → dist/), as a user runs it: the whole build (tsc and
 * the esbuild bundle), since bin/lockclaw.js runs the bundle only when it is not older than tsc's
 * main.js — tsc alone left a stale bundle and the bench silently measured the slower module build.
 */
export async function buildCli(): Promise<void> {
  const child = spawn("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" });
  const code = await new Promise<number | null>((r) => child.on("close", r));
  if (code !== 0) throw new Error(`npm run build failed (exit ${code})`);
}

export interface ProcessFigures {
  wallS: number;
  cpuMs: number;
  rssMb: number;
  exitCode: number | null;
  execs: number;
  changed: number;
  failed: number;
  hosts: number;
}

/** Run `lockclaw ARGS --json` as its own process; its recap and its rusage. */
export async function lockclawProcess(args: string[], env: NodeJS.ProcessEnv): Promise<ProcessFigures> {
  const work = mkdtempSync(join(tmpdir(), "lc-rusage-"));
  const usage = join(work, "rusage.json");
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.LOCKCLAW_BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? []),
      "--import",
      join(ROOT, "bench/rusage.mjs"),
      join(ROOT, "bin/lockclaw.js"),
      ...args,
      "--json",
    ],
    { env: { ...process.env, ...env, LOCKCLAW_BENCH_RUSAGE: usage }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exitCode = await new Promise<number | null>((r) => child.on("close", r));
  const wallS = (performance.now() - t0) / 1000;
  const u = JSON.parse(readFileSync(usage, "utf8")) as { userUs: number; systemUs: number; maxRssKb: number };
  rmSync(work, { recursive: true, force: true });
  const recap = stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { type: string; hosts?: Array<Record<string, number>> })
    .find((e) => e.type === "recap");
  if (!recap?.hosts) throw new Error(`lockclaw ${args.join(" ")}: no recap (exit ${exitCode}): ${stderr}`);
  const sum = (k: string) => recap.hosts!.reduce((a, h) => a + Number(h[k] ?? 0), 0);
  return {
    wallS,
    cpuMs: (u.userUs + u.systemUs) / 1000,
    rssMb: u.maxRssKb / 1024,
    exitCode,
    execs: sum("execs"),
    changed: sum("changed"),
    failed: sum("failed") + sum("unreachable"),
    hosts: recap.hosts.length,
  };
}

const f1 = (x: number) => x.toFixed(1);

export async function benchLoopbackFleet(sizes = [50, 100, 200]): Promise<void> {
  const max = Math.max(...sizes);
  const servers = Number(process.env.LOCKCLAW_BENCH_FLEET_SSHD ?? 8);
  const work = mkdtempSync(join(tmpdir(), "lc-bench-fleet-"));
  const sshds: SshdFixture[] = [];
  try {
    // one sshd per address, 127.0.0.2 upwards; the hosts are spread over them
    for (let i = 0; i < servers; i++) {
      sshds.push(await startSshd({ address: `127.0.0.${i + 2}`, extraConfig: ["MaxStartups 200"] }));
    }
    writeFileSync(
      join(work, "known_hosts"),
      sshds.map((s) => readFileSync(s.knownHostsFile, "utf8")).join(""),
    );
    const names = Array.from({ length: max }, (_, i) => `sim${String(i + 1).padStart(3, "0")}`);
    const hosts = Object.fromEntries(
      names.map((n, i) => {
        const s = sshds[i % servers]!;
        return [
          n,
          {
            address: `root@${s.host}:${s.port}`,
            key: s.clientKeyPath,
            vars: { root: join(work, "hosts", n) },
          },
        ];
      }),
    );
    // a group per fleet size: the first N hosts
    const groups = Object.fromEntries(sizes.map((n) => [`first${n}`, names.slice(0, n)]));
    writeFileSync(join(work, "inventory.yml"), stringify({ hosts, groups }));
    const env = { XDG_STATE_HOME: join(work, "state"), SSH_AUTH_SOCK: "" };
    const run = (n: number, check: boolean) =>
      lockclawProcess(
        [
          "provision",
          "host",
          n === max ? "all" : `first${n}`,
          "-i",
          join(work, "inventory.yml"),
          "--playbook",
          join(ROOT, "examples/hello/playbook.yml"),
          "--known-hosts",
          join(work, "known_hosts"),
          "--forks",
          "50",
          ...(check ? ["--check"] : []),
        ],
        env,
      );
    const first = await run(max, false);
    if (first.failed) throw new Error(`the first run of ${max} loopback hosts failed on ${first.failed}`);
    console.log(
      `\nsimulated fleet: ${max} hosts on ${servers} sshd processes (127.0.0.2-${servers + 1}), example playbook, --forks 50`,
    );
    console.log(`  first apply of ${max}: ${f1(first.wallS)} s wall, ${first.changed} changes`);
    console.log(
      "  no-op --check   hosts  wall s  (≤ 10 s for 200)  peak RSS MB (≤ 400)  CPU ms  CPU ms/host  execs",
    );
    const figures: Array<[number, ProcessFigures]> = [];
    for (const n of sizes) {
      const r = await run(n, true);
      if (r.failed || r.changed || r.exitCode !== 0) {
        throw new Error(
          `the no-op check of ${n} hosts was not one (exit ${r.exitCode}, ${r.changed} changed, ${r.failed} failed)`,
        );
      }
      figures.push([n, r]);
      console.log(
        `  ${"".padEnd(14)}${String(n).padStart(5)}  ${f1(r.wallS).padStart(6)}  ${"".padEnd(16)}  ${f1(r.rssMb).padStart(11)}${"".padEnd(8)}  ${r.cpuMs.toFixed(0).padStart(6)}  ${(r.cpuMs / n).toFixed(1).padStart(11)}  ${String(r.execs).padStart(5)}`,
      );
    }
    // what one more host costs: the slope between the smallest and the largest fleet
    const [[n0, a], [n1, b]] = [figures[0]!, figures.at(-1)!];
    if (n1 > n0) {
      console.log(
        `  CPU per added host (${n0} → ${n1}): ${((b.cpuMs - a.cpuMs) / (n1 - n0)).toFixed(1)} ms (target ≤ 15 ms); ` +
          `wall for ${n1}: ${f1(b.wallS)} s (target ≤ 10 s); peak RSS ${f1(b.rssMb)} MB (target ≤ 400 MB)`,
      );
    }
  } finally {
    for (const s of sshds) await s.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** 10 lab machines, `provision host --no-stack`: first run and no-op, beside one machine's. */
export async function benchLabFleet(count = 10): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root (systemd-nspawn)");
  const labDir =
    process.env.LOCKCLAW_BENCH_LAB_DIR ?? join(process.env.HOME ?? "/root", ".cache/lockclaw/lab-bench");
  const work = mkdtempSync(join(tmpdir(), "lc-bench-labfleet-"));
  const prefix = process.env.LOCKCLAW_BENCH_NAME_PREFIX ?? "fl";
  const names = Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
  const keep = process.env.LOCKCLAW_BENCH_FLEET_KEEP === "1";
  // a single round's CPU difference swung 10-21 ms per added host on this shared machine: 7 by default
  const rounds = Math.max(1, Number(process.env.LOCKCLAW_BENCH_FLEET_ROUNDS ?? 7) || 1);
  if (!keep) await labDown({ all: true }, { labDir });
  try {
    const running = new Set(
      keep ? (await labList({ labDir })).filter((m) => m.status === "running").map((m) => m.name) : [],
    );
    for (const name of names) if (!running.has(name)) await labUp({ name, labDir });
    const env = { XDG_STATE_HOME: join(work, "state"), LOCKCLAW_LAB_DIR: labDir, SSH_AUTH_SOCK: "" };
    const run = (targets: string[]) =>
      lockclawProcess(
        ["provision", "host", "--no-stack", ...targets.map((n) => `lab:${n}`), "--forks", String(count)],
        env,
      );
    const first = await run([names[0]!]);
    const rest = names.slice(1);
    // the other nine get their first run together; then the no-ops of one and of all ten, alternating
    const firstFleet = await run(rest);
    const noops: Array<[ProcessFigures, ProcessFigures]> = [];
    for (let i = 0; i < rounds; i++) noops.push([await run([names[0]!]), await run(names)]);
    for (const r of [first, firstFleet, ...noops.flat()]) {
      if (r.failed) throw new Error(`a lab fleet run failed on ${r.failed} hosts`);
    }
    const one = { first, noop: medianRun(noops.map(([a]) => a)) };
    const noopFleet = medianRun(noops.map(([, b]) => b));
    console.log(`\nlab fleet: provision host --no-stack (Debian 13 lab machines on this machine's cores)`);
    console.log(`  ${"run".padEnd(26)}hosts  wall s  controller CPU ms  CPU ms/host  execs`);
    const line = (what: string, r: ProcessFigures) =>
      console.log(
        `  ${what.padEnd(26)}${String(r.hosts).padStart(5)}  ${f1(r.wallS).padStart(6)}  ${r.cpuMs.toFixed(0).padStart(17)}  ${(r.cpuMs / r.hosts).toFixed(1).padStart(11)}  ${String(r.execs).padStart(5)}`,
      );
    line("first run, 1", one.first);
    line(`first run, ${rest.length}`, firstFleet);
    const median = rounds > 1 ? ` (median of ${rounds})` : "";
    line(`no-op, 1${median}`, one.noop);
    line(`no-op, ${count}${median}`, noopFleet);
    console.log(
      `  CPU per added host, no-op: ${((noopFleet.cpuMs - one.noop.cpuMs) / (count - 1)).toFixed(1)} ms (target ≤ 15 ms); ` +
        `the controller's CPU is ${((noopFleet.cpuMs / 1000 / noopFleet.wallS) * 100).toFixed(0)}% of the no-op's wall time ` +
        "(the rest is the machines' own work and the SSH round trips, on the same 2 cores)",
    );
  } finally {
    if (!keep) await labDown({ all: true }, { labDir }).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

/** The runs' median wall time and CPU time (each taken on its own), with the first run's counts. */
export function medianRun(runs: ProcessFigures[]): ProcessFigures {
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  return { ...runs[0]!, wallS: median(runs.map((r) => r.wallS)), cpuMs: median(runs.map((r) => r.cpuMs)) };
}
