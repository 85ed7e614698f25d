/** Where lockclaw's own files (playbooks, templates, data) and the user's local state live. */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The package root: works from src/ (tsx, vitest) and from dist/src/ (built). */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "playbooks"))) {
    const up = dirname(dir);
    if (up === dir)
      throw new Error("lockclaw: cannot find the package root (playbooks/ next to package.json)");
    dir = up;
  }
  root = dir;
  return dir;
}

export function builtinPlaybook(name: string): string {
  return join(packageRoot(), "playbooks", `${name}.yml`);
}

/** $XDG_STATE_HOME/lockclaw (default ~/.local/state/lockclaw): remembers how each host is reached. */
export function stateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "lockclaw");
}
