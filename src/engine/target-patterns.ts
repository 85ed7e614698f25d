/**
 * Command-line targets and the inventory's hosts and groups: which hosts a pattern names. Apart from
 * inventory.ts (which reads inventory files with zod and yaml) so that a run without -i, the common
 * case, resolves its targets, and starts its logins, without loading either.
 */
import { ConfigError } from "../core/errors.js";
import type { VarOverride } from "./vars.js";

export interface InventoryHost {
  name: string;
  /** What resolves to the connection: a command-line target (user@host:port, alias, lab:NAME…). */
  address: string;
  key?: string;
  /** ansible_user / ansible_port: win over the address and the ssh config. */
  user?: string;
  port?: number;
  vars: VarOverride[];
}

export interface Inventory {
  file: string;
  hosts: Map<string, InventoryHost>;
  /** Every group with all its hosts (children's included), in inventory order. */
  groups: Map<string, string[]>;
}

/**
 * Expand command-line targets: inventory host names, group names and globs over both become their hosts
 * (`all` is every host); anything else is a literal target. `--limit` keeps only hosts matching one of
 * its comma-separated names, groups or globs.
 */
export function expandTargets(
  args: string[],
  inventory: Inventory | undefined,
  limit?: string,
): InventoryHost[] {
  const out = new Map<string, InventoryHost>();
  for (const arg of args) {
    const matched = inventory ? matchPattern(arg, inventory) : undefined;
    if (matched?.length) matched.forEach((h) => out.set(h, inventory!.hosts.get(h)!));
    else if (isGlob(arg)) {
      throw new ConfigError(
        `target '${arg}' matches no ${inventory ? "host or group of the inventory" : "host: a pattern needs an inventory"}`,
        inventory ? { file: inventory.file } : { file: "target" },
        inventory
          ? `the inventory's hosts are: ${[...inventory.hosts.keys()].join(", ")}`
          : "give -i inventory.yml",
      );
    } else out.set(arg, { name: arg, address: arg, vars: [] });
  }
  let hosts = [...out.values()];
  if (limit) {
    const keep = new Set<string>();
    for (const p of limit.split(",").map((s) => s.trim())) {
      const fromInventory = inventory ? matchPattern(p, inventory) : [];
      fromInventory.forEach((h) => keep.add(h));
      const re = globToRegExp(p);
      hosts.filter((h) => re.test(h.name)).forEach((h) => keep.add(h.name));
    }
    hosts = hosts.filter((h) => keep.has(h.name));
    if (!hosts.length) {
      throw new ConfigError(
        `--limit ${limit} matches none of the targets`,
        undefined,
        `targets are: ${[...out.keys()].join(", ")}`,
      );
    }
  }
  return hosts;
}

/** The hosts a name, a group or a glob (`web*`, `db?`) names in the inventory, in inventory order. */
function matchPattern(p: string, inventory: Inventory): string[] {
  if (p === "all" || p === "*") return [...inventory.hosts.keys()];
  const re = globToRegExp(p);
  const out = new Set<string>();
  for (const [g, m] of inventory.groups) if (re.test(g)) m.forEach((h) => out.add(h));
  for (const h of inventory.hosts.keys()) if (re.test(h)) out.add(h);
  return [...inventory.hosts.keys()].filter((h) => out.has(h));
}

const isGlob = (p: string) => /[*?]/.test(p);

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
}
