/**
 * `provision host` as a user runs it: host hardening, rootless Docker and the stack, on a fresh lab
 * machine with the lab's image bundle (built once, cached). Opt-in (LOCKCLAW_BENCH_STACK=1): a first
 * deploy takes minutes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinPlaybooks } from "../src/cli/provision.js";
import { HostStateStore } from "../src/engine/state.js";
import { labDown, labUp, resolveLabTarget } from "../src/lab/machine.js";
import { stackLabImages } from "../src/stack/lab-bundle.js";
import { labRunOptions } from "./lab.js";
import { timed } from "./measure.js";

export async function benchStack(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root (systemd-nspawn, the image build)");
  const labDir =
    process.env.LOCKCLAW_BENCH_LAB_DIR ?? join(process.env.HOME ?? "/root", ".cache/lockclaw/lab-bench");
  const images = await stackLabImages((l) => console.log(l));
  const work = mkdtempSync(join(tmpdir(), "lc-bench-stack-"));
  const name = "bench2";
  await labDown(name, { labDir }).catch(() => undefined);
  await labUp({ name, labDir });
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
    await timed(scenario, "first provision", opts());
    for (let i = 0; i < 3; i++) await timed(scenario, "no-op re-run", opts());
    for (let i = 0; i < 3; i++) await timed(scenario, "--check", opts(true));
  } finally {
    await labDown(name, { labDir });
    rmSync(work, { recursive: true, force: true });
  }
}
