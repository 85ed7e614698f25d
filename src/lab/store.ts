/** Which packages go into the lab's package store: those of the product's playbooks, plus the lab's own. */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../engine/paths.js";
import { LAB_EXTRA_PACKAGES, packagesFromPlaybooks } from "./packages.js";

/** `playbooks/*.yml` shipped with lockclaw. */
export function defaultPlaybookFiles(): string[] {
  const dir = join(packageRoot(), "playbooks");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f));
}

export function storePackages(playbooks: string[] = defaultPlaybookFiles()): string[] {
  return [...new Set([...packagesFromPlaybooks(playbooks), ...LAB_EXTRA_PACKAGES])].sort();
}
