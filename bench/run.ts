/**
 * `npm run bench`: wall time and SSH execs per host for lockclaw's runs, printed as a table.
 *   1. the example playbook against a real sshd on loopback (always);
 *   2. the host-hardening playbook on a fresh lab machine (when root and the lab can boot; skip with
 *      LOCKCLAW_BENCH_LAB=0): first provision, no-op re-run, --check after drift;
 *   3. with LOCKCLAW_BENCH_STACK=1: the whole `provision host` (host, rootless Docker, the stack from the
 *      lab's image bundle) on a fresh lab machine: first deploy, no-op re-run, --check.
 *   4. the fleet (bench/fleet.ts; skip with LOCKCLAW_BENCH_FLEET=0): 50, 100 and 200 simulated hosts on
 *      loopback sshd processes (no-op --check at --forks 50), and 10 lab machines beside one (with the lab,
 *      or alone with LOCKCLAW_BENCH_LAB=0 LOCKCLAW_BENCH_FLEET_LAB=1);
 *      wall time, the controller's CPU and peak RSS, with their targets.
 * Figures, not pass/fail: compare them with ../shared/BENCHMARKS.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunOptions } from "../src/engine/run.js";
import { HostStateStore } from "../src/engine/state.js";
import { parseVarArg } from "../src/engine/vars.js";
import { resourceKinds } from "../src/resources/index.js";
import { connect } from "../src/transport/ssh.js";
import { startSshd } from "../test/integration/fixtures/sshd.js";
import { benchLabFleet, benchLoopbackFleet, buildCli } from "./fleet.js";
import { benchLab } from "./lab.js";
import { benchProcess, benchStartup, printProcessFigures } from "./startup.js";
import { benchStack } from "./stack.js";
import { median, rows, timed, type Row } from "./measure.js";

async function benchLoopback(): Promise<void> {
  const sshd = await startSshd();
  const work = mkdtempSync(join(tmpdir(), "lc-bench-"));
  try {
    const root = join(work, "hello");
    const base = (): RunOptions => ({
      playbookFile: join(import.meta.dirname, "../examples/hello/playbook.yml"),
      kinds: resourceKinds,
      hosts: [{ target: sshd.target({ name: "loopback" }), vars: [] }],
      overrides: [parseVarArg(`root=${root}`)],
      builtins: {},
      connector: connect,
      state: new HostStateStore(join(work, "state.json")),
      onEvent: () => undefined,
    });
    await timed("example playbook, loopback sshd", "first run", base());
    for (let i = 0; i < 3; i++) await timed("example playbook, loopback sshd", "no-op re-run", base());
    writeFileSync(join(root, "app.conf"), "drift\n");
    for (let i = 0; i < 3; i++)
      await timed("example playbook, loopback sshd", "--check after drift", { ...base(), check: true });
    // the same no-op as a whole process, as an operator types it (start-up included)
    const t = sshd.target({ name: "loopback" });
    benchProcess(
      "lockclaw provision host (example playbook, loopback), no-op",
      [
        "provision",
        "host",
        `${t.user}@${t.host}:${t.port}`,
        "--playbook",
        join(import.meta.dirname, "../examples/hello/playbook.yml"),
        "--var",
        `root=${root}`,
        "--key",
        t.identityFiles[0]!,
        "--known-hosts",
        t.knownHostsFile,
      ],
      { ...process.env, XDG_STATE_HOME: join(work, "xdg"), SSH_AUTH_SOCK: "" },
    );
  } finally {
    await sshd.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function print(): void {
  printProcessFigures();
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.scenario}|${r.run}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  console.log(
    "\nscenario                                  run                         n  median s  SSH execs  changed  exit",
  );
  for (const [k, rs] of groups) {
    const [scenario, run] = k.split("|");
    console.log(
      `${scenario!.padEnd(42)}${run!.padEnd(28)}${String(rs.length).padEnd(3)}${median(
        rs.map((r) => r.seconds),
      )
        .toFixed(3)
        .padStart(
          8,
        )}  ${String(rs[0]!.execs).padStart(9)}  ${String(rs[0]!.changed).padStart(7)}  ${String(rs[0]!.exitCode).padStart(4)}`,
    );
  }
  // maxRSS is the peak (kilobytes), not the RSS at the end
  console.log(`\npeak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

benchStartup();
await benchLoopback();
const fleet = process.env.LOCKCLAW_BENCH_FLEET !== "0";
if (fleet) {
  await buildCli();
  await benchLoopbackFleet();
}
const lab = process.env.LOCKCLAW_BENCH_LAB !== "0";
if (lab) {
  try {
    await benchLab();
  } catch (err) {
    console.log(`lab benchmark skipped: ${(err as Error).message}`);
  }
}
// the lab fleet with the lab bench, or on its own with LOCKCLAW_BENCH_FLEET_LAB=1 (as bench/fleet.ts says)
if (fleet && (lab || process.env.LOCKCLAW_BENCH_FLEET_LAB === "1")) {
  try {
    await benchLabFleet();
  } catch (err) {
    console.log(`lab fleet benchmark skipped: ${(err as Error).message}`);
  }
}
if (process.env.LOCKCLAW_BENCH_STACK === "1") {
  try {
    await benchStack();
  } catch (err) {
    console.log(`stack benchmark skipped: ${(err as Error).message}`);
  }
}
print();
