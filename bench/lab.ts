/**
 * The host-hardening playbook on a fresh lab machine (systemd-nspawn Debian 13): first provision,
 * no-op re-runs, and --check after drift, with SSH execs per host — the figures BENCHMARKS.md compares.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publicKeysOf } from "../src/cli/options.js";
import { builtinVars } from "../src/cli/builtins.js";
import { builtinPlaybook } from "../src/engine/paths.js";
import type { RunOptions } from "../src/engine/run.js";
import { HostStateStore } from "../src/engine/state.js";
import { labDown, labUp, resolveLabTarget } from "../src/lab/machine.js";
import { resourceKinds } from "../src/resources/index.js";
import { connect } from "../src/transport/ssh.js";
import type { ConnectionTarget } from "../src/transport/types.js";
import type { VarOverride } from "../src/engine/vars.js";
import { timed } from "./measure.js";
import { benchProcess, wallTime } from "./startup.js";

/** Options for a run against a lab machine as the CLI would make them: its login key becomes deploy's. */
export function labRunOptions(
  target: ConnectionTarget,
  state: HostStateStore,
  playbookFile: string | string[],
  overrides: VarOverride[] = [],
): (check?: boolean) => RunOptions {
  return (check = false) => ({
    playbookFile,
    kinds: resourceKinds,
    hosts: [
      {
        target,
        vars: [
          { name: "authorized_keys", value: publicKeysOf(target.identityFiles), from: { file: "(bench)" } },
        ],
      },
    ],
    overrides,
    builtins: builtinVars(),
    connector: connect,
    state,
    check,
    onEvent: () => undefined,
  });
}

export async function benchLab(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root (systemd-nspawn)");
  const labDir =
    process.env.LOCKCLAW_BENCH_LAB_DIR ?? join(process.env.HOME ?? "/root", ".cache/lockclaw/lab-bench");
  const work = mkdtempSync(join(tmpdir(), "lc-bench-lab-"));
  const name = "bench1";
  await labDown({ all: true }, { labDir });
  const t0 = performance.now();
  const m = await labUp({ name, labDir });
  console.log(
    `lab machine up in ${((performance.now() - t0) / 1000).toFixed(1)} s (rootfs cached after the first build)`,
  );
  try {
    const target = await resolveLabTarget(name, labDir);
    const state = new HostStateStore(join(work, "hosts.json"));
    const opts = labRunOptions(target, state, builtinPlaybook("host"));
    const scenario = "host playbook, lab machine (Debian 13)";
    await timed(scenario, "first provision", opts());
    for (let i = 0; i < 3; i++) await timed(scenario, "no-op re-run", opts());
    // the same no-op as a whole process, as an operator types it (start-up included); its first run saves
    // the login in the state file, so it is not measured (issue 11.12: median of the runs after it)
    const args = ["provision", "host", `lab:${name}`, "--no-stack", "--lab-dir", labDir];
    const env = { ...process.env, XDG_STATE_HOME: join(work, "xdg"), SSH_AUTH_SOCK: "" };
    wallTime([join(import.meta.dirname, "../bin/lockclaw.js"), ...args], 1, env);
    benchProcess("lockclaw provision host --no-stack (lab machine), no-op", args, env, "≤ 0.6 s", 5);
    // drift as in the e2e test: an extra firewall rule and a stopped fail2ban
    const ssh = [
      "-F",
      "/dev/null",
      "-i",
      m.keyFile,
      "-o",
      `UserKnownHostsFile=${m.knownHostsFile}`,
      "-p",
      "2222",
      `deploy@${m.address}`,
    ];
    execFileSync("ssh", [...ssh, "sudo -n ufw allow 8080 >/dev/null && sudo -n systemctl stop fail2ban"]);
    for (let i = 0; i < 3; i++) await timed(scenario, "--check --diff after drift", opts(true));
  } finally {
    await labDown(name, { labDir });
    rmSync(work, { recursive: true, force: true });
  }
}
