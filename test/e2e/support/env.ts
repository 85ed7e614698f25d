/** What the e2e suite runs against, shared by the global setup and the tests. */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { defaultLabDir } from "../../../src/lab/paths.js";
import type { Distro } from "../../../src/lab/state.js";
import { defaultPlaybookFiles } from "../../../src/lab/store.js";

/**
 * lab: lab machines (default); vagrant: the user's Vagrant boxes; vagrant-libvirt: lab machines as for
 * lab, plus test/e2e/vagrant/libvirt.test.ts (a QEMU VM; opt-in, scripts/setup-libvirt.sh).
 */
export type E2eTargetKind = "lab" | "vagrant" | "vagrant-libvirt";

export interface E2eContext {
  kind: E2eTargetKind;
  labDir: string;
  playbooks: string[];
  distros: Distro[];
}

declare module "vitest" {
  export interface ProvidedContext {
    e2e: E2eContext;
  }
}

export function e2eTargetKind(env: NodeJS.ProcessEnv = process.env): E2eTargetKind {
  const v = env.LOCKCLAW_E2E_TARGET ?? "lab";
  if (v !== "lab" && v !== "vagrant" && v !== "vagrant-libvirt") {
    throw new Error(`LOCKCLAW_E2E_TARGET=${v}: expected "lab" (default), "vagrant" or "vagrant-libvirt"`);
  }
  return v;
}

/**
 * The suite's own lab directory, next to the user's (so sweeping it at start never stops a machine the
 * user started by hand with `lockclaw lab up`).
 */
export function e2eLabDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LOCKCLAW_E2E_LAB_DIR ?? join(dirname(defaultLabDir(env)), "lab-e2e");
}

/** Where the per-file lab dirs (support/lab.ts ownLabDir) live; the global setup sweeps them too. */
export function fileLabDirs(labDir: string): string {
  return join(labDir, "files");
}

/** The product's playbooks; until they exist, a fixture with the same package tasks. */
export function e2ePlaybooks(): string[] {
  const files = defaultPlaybookFiles();
  if (files.length > 0) return files;
  const fixture = join(import.meta.dirname, "..", "..", "unit", "lab", "fixtures", "host-playbook.yml");
  return existsSync(fixture) ? [fixture] : [];
}

export function e2eDistros(env: NodeJS.ProcessEnv = process.env): Distro[] {
  const list = (env.LOCKCLAW_E2E_DISTROS ?? "trixie").split(",").map((s) => s.trim());
  for (const d of list) {
    if (d !== "trixie" && d !== "bookworm") throw new Error(`LOCKCLAW_E2E_DISTROS: unknown distro ${d}`);
  }
  return list as Distro[];
}
