/**
 * `provision host` as a user runs it: host hardening, rootless Docker and the stack, on a fresh lab
 * machine with the lab's image bundle (built once, cached). Opt-in (LOCKCLAW_BENCH_STACK=1): a first
 * deploy takes minutes. Bytes sent are the lab veth's transmit counter (host → machine, SSH framing
 * included): what a VPS would receive over its link.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinPlaybooks } from "../src/cli/provision.js";
import { HostStateStore } from "../src/engine/state.js";
import { labDown, labUp, resolveLabTarget } from "../src/lab/machine.js";
import { stackLabImages } from "../src/stack/lab-bundle.js";
import { labRunOptions } from "./lab.js";
import { median, timed } from "./measure.js";

const txBytes = (veth: string) => Number(readFileSync(`/sys/class/net/${veth}/statistics/tx_bytes`, "utf8"));
const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

export async function benchStack(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root (systemd-nspawn, the image build)");
  const labDir =
    process.env.LOCKCLAW_BENCH_LAB_DIR ?? join(process.env.HOME ?? "/root", ".cache/lockclaw/lab-bench");
  const images = await stackLabImages((l) => console.log(l));
  const bundleBytes = readdirSync(images.dir).reduce((n, f) => n + statSync(join(images.dir, f)).size, 0);
  const work = mkdtempSync(join(tmpdir(), "lc-bench-stack-"));
  // a prefix keeps two benches (or a bench and an e2e run) on one machine apart
  const name = `${process.env.LOCKCLAW_BENCH_NAME_PREFIX ?? ""}bench2`;
  await labDown(name, { labDir }).catch(() => undefined);
  const m = await labUp({ name, labDir });
  const lines: string[] = [];
  try {
    const target = await resolveLabTarget(name, labDir);
    const state = new HostStateStore(join(work, "hosts.json"));
    const vars = Object.entries({ ...images.vars, bundle_src: images.dir }).map(([name, value]) => ({
      name,
      value,
      from: { file: "(bench)" },
    }));
    const opts = labRunOptions(target, state, builtinPlaybooks("host", true), vars);
    const scenario = "provision host + stack, lab (--bundle)";
    let tx = txBytes(m.veth);
    const t0 = performance.now();
    // where the first deploy's time goes: each exec with its duration (debug events)
    const execs: string[] = [];
    await timed(scenario, "first provision", {
      ...opts(),
      onEvent: (e) => {
        // with the time it ended, since the start: an upload's line carries no duration of its own
        if (e.type === "debug" && /^exec #|upload/.test(e.message))
          execs.push(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${e.message}`);
      },
    });
    const first = (performance.now() - t0) / 1000;
    const sentFirst = txBytes(m.veth) - tx;
    tx = txBytes(m.veth);
    const noop: Array<{ seconds: number; execs: number }> = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const h = await timed(scenario, "no-op re-run", opts());
      noop.push({ seconds: (performance.now() - t) / 1000, execs: h.execs });
    }
    const sentNoop = (txBytes(m.veth) - tx) / 3;
    for (let i = 0; i < 3; i++) await timed(scenario, "--check", opts(true));
    lines.push(
      "first deploy, its execs:",
      ...execs.map((l) => `  ${l}`),
      `stack bundle: ${mb(bundleBytes)} of image tarballs on the control machine`,
      `first deploy from the bundle: ${first.toFixed(1)} s (target ≤ 60 s), ${mb(sentFirst)} sent to the machine`,
      `no-op re-run: ${(sentNoop / 1e3).toFixed(0)} kB sent per run (the host has every image: none sent)`,
      // issue 14: the three plays' probes in one batched exec
      `no-op re-run: ${median(noop.map((n) => n.seconds)).toFixed(3)} s run time (target ≤ 0.8 s), ${Math.max(...noop.map((n) => n.execs))} SSH exec(s) (target 1)`,
    );
  } finally {
    for (const l of lines) console.log(l);
    await labDown(name, { labDir });
    rmSync(work, { recursive: true, force: true });
  }
}
