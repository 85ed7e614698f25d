/**
 * Inventories: named hosts with their login and variables, and groups of them.
 *
 *   hosts:
 *     web1: { address: "deploy@203.0.113.10:2222", key: ~/.ssh/id_ed25519, vars: { ssh_port: 2200 } }
 *     lab1: { address: "lab:t1" }
 *   groups:
 *     prod: [web1]
 */
import { z } from "zod";
import { ConfigError } from "../core/errors.js";
import { asWritten, type VarOverride } from "./vars.js";
import { YamlSource } from "./yaml-source.js";

const name = z.string().regex(/^[A-Za-z0-9_.:-]+$/, "names are letters, digits and . _ - :");

const inventoryShape = z.strictObject({
  hosts: z.record(
    name,
    z.strictObject({
      /** Anything a command-line target can be: user@host[:port], an ssh config alias, lab:NAME, vagrant:NAME. */
      address: z.string().min(1),
      key: z.string().min(1).optional(),
      vars: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
  groups: z.record(name, z.array(name)).optional(),
});

export interface InventoryHost {
  name: string;
  address: string;
  key?: string;
  vars: VarOverride[];
}

export interface Inventory {
  file: string;
  hosts: Map<string, InventoryHost>;
  groups: Map<string, string[]>;
}

export function loadInventory(file: string): Inventory {
  const source = YamlSource.readFile(file, "inventory");
  const inv = source.validate(inventoryShape, source.value, []);
  const hosts = new Map<string, InventoryHost>();
  for (const [n, h] of Object.entries(inv.hosts)) {
    hosts.set(n, {
      name: n,
      address: h.address,
      key: h.key,
      vars: Object.entries(h.vars ?? {}).map(([k, v]) => ({
        name: k,
        value: asWritten(source, ["hosts", n, "vars", k], v),
        from: source.locate(["hosts", n, "vars", k]),
      })),
    });
  }
  const groups = new Map<string, string[]>();
  for (const [g, members] of Object.entries(inv.groups ?? {})) {
    members.forEach((m, i) => {
      if (!hosts.has(m)) {
        throw new ConfigError(
          `group '${g}' lists '${m}', which is not under hosts:`,
          source.locate(["groups", g, i]),
          "add the host or fix the name",
        );
      }
    });
    groups.set(g, members);
  }
  return { file, hosts, groups };
}

/**
 * Expand command-line targets: inventory host names and group names become their hosts (`all` is
 * every host); anything else is a literal target. `--limit` keeps only hosts matching one of its
 * comma-separated names or globs.
 */
export function expandTargets(
  args: string[],
  inventory: Inventory | undefined,
  limit?: string,
): InventoryHost[] {
  const out = new Map<string, InventoryHost>();
  for (const arg of args) {
    const group = arg === "all" && inventory ? [...inventory.hosts.keys()] : inventory?.groups.get(arg);
    if (group) group.forEach((h) => out.set(h, inventory!.hosts.get(h)!));
    else if (inventory?.hosts.has(arg)) out.set(arg, inventory.hosts.get(arg)!);
    else out.set(arg, { name: arg, address: arg, vars: [] });
  }
  let hosts = [...out.values()];
  if (limit) {
    const patterns = limit.split(",").map((p) => globToRegExp(p.trim()));
    hosts = hosts.filter((h) => patterns.some((re) => re.test(h.name)));
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

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
}
