/**
 * e2e global setup: checks that this host can run the lab, sweeps machines a crashed run left in the
 * suite's lab dir, and builds the pristine rootfs once (printing the time) so tests only copy it.
 */
import { execFileSync } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { labDown } from "../../src/lab/machine.js";
import { ensureRootfs } from "../../src/lab/rootfs.js";
import { storePackages } from "../../src/lab/store.js";
import {
  e2eDistros,
  e2eLabDir,
  fileLabDirs,
  e2ePlaybooks,
  e2eTargetKind,
  type E2eContext,
} from "./support/env.js";

/** Host tools the lab uses, and the Debian package that provides each. */
const TOOLS: Array<[string, string]> = [
  ["systemd-nspawn", "systemd-container"],
  ["debootstrap", "debootstrap"],
  ["apt-ftparchive", "apt-utils"],
  ["ssh", "openssh-client"],
  ["ssh-keygen", "openssh-client"],
  ["ip", "iproute2"],
  ["chroot", "coreutils"],
];

function hasTool(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** `lab down --all` of the suite's lab dir and of every test file's own one. */
async function sweep(labDir: string): Promise<string[]> {
  const files = await readdir(fileLabDirs(labDir)).catch(() => [] as string[]);
  const dirs = [labDir, ...files.map((f) => join(fileLabDirs(labDir), f))];
  const swept: string[] = [];
  for (const dir of dirs) swept.push(...(await labDown({ all: true }, { labDir: dir, log })));
  return swept;
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const kind = e2eTargetKind();
  const labDir = e2eLabDir();
  const playbooks = e2ePlaybooks();
  const distros = e2eDistros();
  const ctx: E2eContext = { kind, labDir, playbooks, distros };
  project.provide("e2e", ctx);
  if (kind === "vagrant") return;

  if (process.getuid?.() !== 0) {
    throw new Error("the e2e lab needs root (systemd-nspawn, veth links): run the e2e tests as root");
  }
  const missing = TOOLS.filter(([tool]) => !hasTool(tool));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, pkg]) => pkg))].join(" ");
    throw new Error(
      `the e2e lab needs ${missing.map(([t]) => t).join(", ")}\n` +
        `  fix: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs}`,
    );
  }

  const swept = await sweep(labDir);
  if (swept.length > 0) log(`e2e: swept stale lab machines: ${swept.join(" ")}`);

  const packages = storePackages(playbooks);
  for (const distro of distros) {
    const started = Date.now();
    const rootfs = await ensureRootfs({ labDir, distro, storePackages: packages, log });
    log(
      `e2e: ${distro} rootfs ${rootfs.built ? "built" : "reused from cache"} in ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s (${packages.length} packages in the store)`,
    );
  }

  // A teardown sweep too: a test whose own teardown failed must not leave a machine running.
  return async () => {
    const left = await sweep(labDir);
    if (left.length > 0) log(`e2e: teardown swept lab machines: ${left.join(" ")}`);
  };
}
