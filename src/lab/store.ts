/** Which packages go into the lab's package store: those of the product's playbooks, plus the lab's own. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LAB_EXTRA_PACKAGES, packagesFromPlaybooks } from "./packages.js";

/** The lockclaw package root, found upward from this file (works from src/ under tsx and from dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "lockclaw") return dir;
      } catch {
        // not ours; keep looking upward
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new Error("cannot find lockclaw's package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

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
