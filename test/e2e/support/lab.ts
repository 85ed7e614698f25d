/**
 * Machines for e2e tests. Every machine a helper starts is stopped in a finally/afterAll, also when the
 * test fails; the global setup sweeps whatever a killed run still left.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, inject } from "vitest";
import { labDown, labUp, resolveLabTarget, type LabMachine } from "../../../src/lab/machine.js";
import { rootfsDir } from "../../../src/lab/paths.js";
import { machineNames } from "../../../src/lab/state.js";
import type { Distro, LabUser } from "../../../src/lab/state.js";
import { resolveVagrantTarget } from "../../../src/lab/vagrant.js";
import type { ConnectionTarget } from "../../../src/transport/types.js";
import { fileLabDirs, type E2eContext } from "./env.js";

export interface MachineOptions {
  /** Default: the suite's lab dir. */
  labDir?: string;
  distro?: Distro;
  sshSocket?: boolean;
  user?: LabUser;
}

export interface TestMachine {
  name: string;
  /** What lockclaw connects with (strict host-key checking against the lab's known_hosts). */
  target: ConnectionTarget;
  /** The lab machine; undefined when the suite runs against Vagrant boxes. */
  lab?: LabMachine;
  labDir?: string;
  /** Runs a command with the system ssh client: an outside check independent of lockclaw's transport. */
  ssh(command: string, options?: { port?: number; user?: string; timeoutMs?: number }): Promise<SshResult>;
}

export interface SshResult {
  stdout: string;
  stderr: string;
  code: number;
}

export function e2eContext(): E2eContext {
  return inject("e2e");
}

/**
 * A machine name for this checkout: LOCKCLAW_E2E_NAME_PREFIX keeps two suites run at once on one host
 * (two checkouts) from sharing machine names, which nspawn and the veth links make host-wide.
 */
export function e2eMachineName(base: string): string {
  return `${process.env.LOCKCLAW_E2E_NAME_PREFIX ?? ""}${base}`;
}

/**
 * A lab dir of the calling test file's own, sharing the suite's rootfs cache (a symlink): a file that
 * asserts on a whole lab (`down --all`, `ls`, the machines dir) never sees another file's machines, such
 * as one a failed teardown left, and its own sweep never stops theirs.
 */
export async function ownLabDir(file: string): Promise<string> {
  const ctx = e2eContext();
  const dir = join(fileLabDirs(ctx.labDir), file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(rootfsDir(ctx.labDir), { recursive: true, mode: 0o700 });
  if (!existsSync(rootfsDir(dir))) await symlink(rootfsDir(ctx.labDir), rootfsDir(dir));
  return dir;
}

/** Vagrant box names per distro (see Vagrantfile). */
const VAGRANT_BOX: Record<Distro, string> = { trixie: "debian13", bookworm: "debian12" };

/** Arguments for the system `ssh` client that check the host key strictly, never prompting. */
export function sshArgs(target: ConnectionTarget, options: { port?: number; user?: string } = {}): string[] {
  const strict = target.hostKeyPolicy === "off" ? "no" : "yes";
  return [
    "-F",
    "/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `StrictHostKeyChecking=${strict}`,
    "-o",
    `UserKnownHostsFile=${target.knownHostsFile}`,
    "-o",
    "ConnectTimeout=10",
    ...target.identityFiles.flatMap((f) => ["-i", f]),
    "-p",
    String(options.port ?? target.port),
    `${options.user ?? target.user}@${target.host}`,
  ];
}

export function runSsh(
  target: ConnectionTarget,
  command: string,
  options: { port?: number; user?: string; timeoutMs?: number } = {},
): Promise<SshResult> {
  return new Promise((resolve) => {
    execFile(
      "ssh",
      [...sshArgs(target, options), command],
      { encoding: "utf8", timeout: options.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 255) : 0;
        resolve({ stdout, stderr, code });
      },
    );
  });
}

async function start(name: string, options: MachineOptions): Promise<TestMachine> {
  const ctx = e2eContext();
  if (ctx.kind === "vagrant") {
    const box = VAGRANT_BOX[options.distro ?? "trixie"];
    const target = await resolveVagrantTarget(box);
    return { name: box, target, ssh: (cmd, o) => runSsh(target, cmd, o) };
  }
  const labDir = options.labDir ?? ctx.labDir;
  // The suite owns its lab dir: a same-named leftover from an earlier failed test is stopped first.
  if ((await machineNames(labDir)).includes(name)) await labDown(name, { labDir });
  const lab = await labUp({
    name,
    labDir,
    distro: options.distro ?? "trixie",
    sshSocket: options.sshSocket,
    user: options.user,
    playbooks: ctx.playbooks,
  });
  const target = await resolveLabTarget(name, labDir);
  return { name, target, lab, labDir, ssh: (cmd, o) => runSsh(target, cmd, o) };
}

async function stop(m: TestMachine): Promise<void> {
  const ctx = e2eContext();
  if (ctx.kind === "vagrant" || !m.lab) return; // boxes are the user's; lockclaw does not destroy them
  await labDown(m.name, { labDir: m.labDir ?? ctx.labDir });
}

/** Boots `name`, runs `fn` with it, and always stops it afterwards. */
export async function withMachine<T>(
  name: string,
  fn: (m: TestMachine) => Promise<T>,
  options: MachineOptions = {},
): Promise<T> {
  const m = await start(name, options);
  try {
    return await fn(m);
  } finally {
    await stop(m);
  }
}

/** Boots several machines at once (in parallel); stops every one that started, even if others failed. */
export async function startMachines(names: string[], options: MachineOptions = {}): Promise<TestMachine[]> {
  const results = await Promise.allSettled(names.map((n) => start(n, options)));
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stopMachines(started);
    throw failed.reason;
  }
  return started;
}

export async function stopMachines(machines: TestMachine[]): Promise<void> {
  const results = await Promise.allSettled(machines.map(stop));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/**
 * Registers beforeAll/afterAll in the calling describe: `n` machines named `${prefix}1..n`, started in
 * parallel. Read them from the returned array inside tests (it is filled in beforeAll).
 */
export function useMachines(n: number, options: MachineOptions & { prefix?: string } = {}): TestMachine[] {
  const machines: TestMachine[] = [];
  const names = Array.from({ length: n }, (_, i) => e2eMachineName(`${options.prefix ?? "m"}${i + 1}`));
  beforeAll(async () => {
    machines.push(...(await startMachines(names, options)));
  });
  afterAll(async () => {
    await stopMachines(machines.splice(0));
  });
  return machines;
}
