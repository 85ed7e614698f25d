/**
 * Inventories: named hosts with their login and variables, and groups of them. Three shapes:
 *
 * lockclaw's own:
 *   hosts:
 *     web1: { address: "deploy@203.0.113.10:2222", key: ~/.ssh/id_ed25519, vars: { ssh_port: 2200 } }
 *     lab1: { address: "lab:t1" }
 *   groups:
 *     prod: [web1]
 *
 * Ansible's YAML (groups of hosts, children and vars, `all` at the top; a host's keys are its vars):
 *   all:
 *     vars: { admin_cidrs: [203.0.113.7/32] }
 *     children:
 *       web:
 *         hosts:
 *           web1: { ansible_host: 203.0.113.10, ansible_user: root, ssh_port: 2200 }
 *
 * and Ansible's INI (`[web]`, `[web:vars]`, `[prod:children]`, `web1 ansible_host=… key=value`).
 *
 * Only the connection variables lockclaw can honour are read (ansible_host, ansible_port, ansible_user,
 * ansible_ssh_private_key_file), each checked narrowly; any other value becomes a play variable that the
 * play's declared type checks like a --var (vars.ts), so an inventory is as untrusted as the command line.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { z } from "zod";
import { ConfigError, type SourceLocation } from "../core/errors.js";
import { asWritten, type VarOverride } from "./vars.js";
import { YamlSource, type KeyPath } from "./yaml-source.js";
import type { Inventory, InventoryHost } from "./target-patterns.js";

// the patterns live apart so that a run without -i loads no zod and no yaml to read its targets
export { expandTargets, type Inventory, type InventoryHost } from "./target-patterns.js";

const NAME_RE = /^[A-Za-z0-9_.:-]+$/;
const name = z.string().regex(NAME_RE, "names are letters, digits and . _ - :");

const lockclawShape = z.strictObject({
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

interface AnsibleGroup {
  hosts?: Record<string, Record<string, unknown> | null> | null;
  children?: Record<string, AnsibleGroup | null> | null;
  vars?: Record<string, unknown> | null;
}
const ansibleGroup: z.ZodType<AnsibleGroup> = z.lazy(() =>
  z.strictObject({
    hosts: z.record(name, z.record(z.string(), z.unknown()).nullable()).nullable().optional(),
    children: z.record(name, ansibleGroup.nullable()).nullable().optional(),
    vars: z.record(z.string(), z.unknown()).nullable().optional(),
  }),
);
const ansibleShape = z.record(name, ansibleGroup.nullable());

export function loadInventory(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read inventory: ${(err as Error).message}`, { file }, "check the path", {
      cause: err,
    });
  }
  if (!/\.(ya?ml|json)$/i.test(file) && looksLikeIni(text)) return loadIni(file, text);
  const source = YamlSource.parse(text, file);
  const top = source.value;
  if (top && typeof top === "object" && !Array.isArray(top) && ("hosts" in top || "groups" in top)) {
    return loadLockclawShape(source);
  }
  return loadAnsibleYaml(source);
}

function loadLockclawShape(source: YamlSource): Inventory {
  const inv = source.validate(lockclawShape, source.value, []);
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
  return { file: source.file, hosts, groups };
}

/** A value of the inventory with where it is written. */
interface Entry {
  key: string;
  value: unknown;
  from: SourceLocation;
}

/** Groups as Ansible reads them, whatever the file's syntax: the common ground of YAML and INI. */
interface RawGroup {
  hosts: string[];
  children: string[];
  vars: Entry[];
  /** Where the group is declared, for a cycle or a dangling child. */
  from: SourceLocation;
}

interface RawInventory {
  file: string;
  groups: Map<string, RawGroup>;
  /** Each host's own entries (host vars), in order of appearance, and where the host first appears. */
  hostVars: Map<string, { entries: Entry[]; from: SourceLocation }>;
}

function loadAnsibleYaml(source: YamlSource): Inventory {
  if (source.value === null || source.value === undefined) {
    throw new ConfigError(
      "the inventory is empty",
      { file: source.file, line: 1 },
      "list hosts: `all: { hosts: { web1: { ansible_host: 203.0.113.10 } } }`",
    );
  }
  const top = source.validate(ansibleShape, source.value, []);
  const raw: RawInventory = { file: source.file, groups: new Map(), hostVars: new Map() };
  const walk = (gname: string, g: AnsibleGroup | null, path: KeyPath) => {
    const group = raw.groups.get(gname) ?? { hosts: [], children: [], vars: [], from: source.locate(path) };
    raw.groups.set(gname, group);
    for (const [k, v] of Object.entries(g?.vars ?? {})) {
      const p = [...path, "vars", k];
      group.vars.push({ key: k, value: asWritten(source, p, v), from: source.locate(p) });
    }
    for (const [h, hv] of Object.entries(g?.hosts ?? {})) {
      const hp = [...path, "hosts", h];
      if (!group.hosts.includes(h)) group.hosts.push(h);
      const host = raw.hostVars.get(h) ?? { entries: [], from: source.locate(hp) };
      raw.hostVars.set(h, host);
      for (const [k, v] of Object.entries(hv ?? {})) {
        const p = [...hp, k];
        host.entries.push({ key: k, value: asWritten(source, p, v), from: source.locate(p) });
      }
    }
    for (const [c, cg] of Object.entries(g?.children ?? {})) {
      if (!group.children.includes(c)) group.children.push(c);
      walk(c, cg, [...path, "children", c]);
    }
  };
  for (const [g, v] of Object.entries(top)) walk(g, v, [g]);
  return build(raw);
}

/** An Ansible INI inventory has `[section]` headers or bare host lines, never `key:` mappings. */
function looksLikeIni(text: string): boolean {
  const first = text.split("\n").find((l) => l.trim() && !/^\s*[#;]/.test(l));
  if (first === undefined) return false;
  return /^\s*\[[^\]]+\]\s*$/.test(first) || /^[^\s:#]+(\s+[A-Za-z_]\w*=\S*)*\s*$/.test(first);
}

function loadIni(file: string, text: string): Inventory {
  const raw: RawInventory = { file, groups: new Map(), hostVars: new Map() };
  const group = (g: string, from: SourceLocation) => {
    const found = raw.groups.get(g);
    if (found) return found;
    const made: RawGroup = { hosts: [], children: [], vars: [], from };
    raw.groups.set(g, made);
    return made;
  };
  let section: { group: string; kind: "hosts" | "vars" | "children" } = { group: "ungrouped", kind: "hosts" };
  text.split("\n").forEach((rawLine, i) => {
    const line = rawLine.trim();
    const at = (path?: string): SourceLocation => ({ file, line: i + 1, ...(path ? { path } : {}) });
    if (!line || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(line);
    if (header) {
      if (!NAME_RE.test(header[1]!) || header[1]!.includes(":")) {
        throw new ConfigError(`bad group name '${header[1]}'`, at(), "names are letters, digits and . _ -");
      }
      section = { group: header[1]!, kind: (header[2] as "vars" | "children" | undefined) ?? "hosts" };
      group(section.group, at());
      return;
    }
    if (line.startsWith("[")) {
      throw new ConfigError(
        `not a section header: ${JSON.stringify(line)}`,
        at(),
        "write [group], [group:vars] or [group:children]",
      );
    }
    const g = group(section.group, at());
    if (section.kind === "vars") {
      const m = /^([A-Za-z_]\w*)\s*=\s*(.*)$/.exec(line);
      if (!m) throw new ConfigError(`not key=value: ${JSON.stringify(line)}`, at(), "write name=value");
      g.vars.push({
        key: m[1]!,
        value: iniValue(m[2]!, at(m[1])),
        from: at(`[${section.group}:vars] ${m[1]}`),
      });
      return;
    }
    const [h, ...words] = iniWords(line, at());
    if (!NAME_RE.test(h!)) {
      throw new ConfigError(
        `bad ${section.kind === "children" ? "group" : "host"} name '${h}'`,
        at(),
        "names are letters, digits and . _ - : (host ranges like web[1:3] are not supported: list each host)",
      );
    }
    if (section.kind === "children") {
      if (words.length)
        throw new ConfigError("a [group:children] line names one group", at(), "one name per line");
      if (!g.children.includes(h!)) g.children.push(h!);
      return;
    }
    if (!g.hosts.includes(h!)) g.hosts.push(h!);
    const host = raw.hostVars.get(h!) ?? { entries: [], from: at(h) };
    raw.hostVars.set(h!, host);
    for (const w of words) {
      const m = /^([A-Za-z_]\w*)=(.*)$/s.exec(w);
      if (!m)
        throw new ConfigError(
          `not key=value: ${JSON.stringify(w)}`,
          at(h),
          "write the host's vars as name=value",
        );
      host.entries.push({ key: m[1]!, value: m[2]!, from: at(`${h}.${m[1]}`) });
    }
  });
  return build(raw);
}

/** Split a host line on blanks; '…' and "…" keep blanks and are unquoted. */
function iniWords(line: string, from: SourceLocation): string[] {
  const words: string[] = [];
  let cur = "";
  let quote: string | undefined;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (/\s/.test(ch)) {
      if (cur) words.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quote) throw new ConfigError(`unterminated ${quote} quote`, from, "close the quote");
  if (cur) words.push(cur);
  return words;
}

function iniValue(text: string, from: SourceLocation): string {
  const t = text.trim();
  if (/^(['"]).*\1$/s.test(t) && t.length >= 2) return t.slice(1, -1);
  if (/^['"]/.test(t)) throw new ConfigError("unterminated quote", from, "close the quote");
  return t;
}

/** The connection variables lockclaw honours; anything else named ansible_* is refused or ignored. */
const CONNECTION_KEYS = ["ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file"];
const ALIASES: Record<string, string> = {
  ansible_ssh_host: "ansible_host",
  ansible_ssh_port: "ansible_port",
  ansible_ssh_user: "ansible_user",
  ansible_private_key_file: "ansible_ssh_private_key_file",
};
/** Harmless here: lockclaw runs sh over its own SSH login and elevates with sudo itself. */
const IGNORED = /^ansible_(python_interpreter|become(_\w+)?|shell_type|shell_executable)$/;

/** Flatten groups (children's hosts included), and give each host its vars in Ansible's order. */
function build(raw: RawInventory): Inventory {
  const { file } = raw;
  const members = new Map<string, string[]>();
  const depth = new Map<string, number>();
  const expand = (g: string, stack: string[]): string[] => {
    const known = members.get(g);
    if (known) return known;
    const group = raw.groups.get(g)!;
    if (stack.includes(g)) {
      throw new ConfigError(
        `group '${g}' is its own child (${[...stack, g].join(" → ")})`,
        group.from,
        "remove one of the children: entries",
      );
    }
    const out = [...group.hosts];
    for (const c of group.children) {
      if (!raw.groups.has(c)) {
        throw new ConfigError(
          `group '${g}' has child '${c}', which is not a group`,
          group.from,
          "add the group or fix the name",
        );
      }
      for (const h of expand(c, [...stack, g])) if (!out.includes(h)) out.push(h);
    }
    members.set(g, out);
    return out;
  };
  // a group's depth below `all`: deeper groups' vars win over their parents', as in Ansible
  const setDepth = (g: string, d: number, stack: string[]) => {
    if (stack.includes(g) || (depth.get(g) ?? -1) >= d) return;
    depth.set(g, d);
    for (const c of raw.groups.get(g)?.children ?? []) setDepth(c, d + 1, [...stack, g]);
  };
  for (const g of raw.groups.keys()) expand(g, []);
  for (const g of raw.groups.keys()) setDepth(g, g === "all" ? 0 : 1, []);

  const hosts = new Map<string, InventoryHost>();
  for (const [h, own] of raw.hostVars) {
    const groups = [...raw.groups.keys()]
      .filter((g) => members.get(g)!.includes(h))
      .sort((a, b) => depth.get(a)! - depth.get(b)! || a.localeCompare(b));
    const entries = [...groups.flatMap((g) => raw.groups.get(g)!.vars), ...own.entries];
    const conn: Record<string, Entry> = {};
    const vars: VarOverride[] = [];
    for (const e of entries) {
      const key = ALIASES[e.key] ?? e.key;
      if (CONNECTION_KEYS.includes(key)) conn[key] = e;
      else if (IGNORED.test(key)) continue;
      else if (key === "ansible_connection") {
        if (e.value !== "ssh") {
          throw new ConfigError(
            `ansible_connection ${JSON.stringify(e.value)}: lockclaw only connects over SSH`,
            e.from,
            "remove it, or set it to ssh",
          );
        }
      } else if (key.startsWith("ansible_")) {
        throw new ConfigError(
          `lockclaw does not read '${e.key}'`,
          e.from,
          `remove it; the connection variables lockclaw honours are ${CONNECTION_KEYS.join(", ")} (and an ssh config alias for the rest)`,
        );
      } else vars.push({ name: key, value: e.value, from: e.from });
    }
    hosts.set(h, { name: h, ...connection(h, conn, own.from, own.entries), vars });
  }
  const groups = new Map<string, string[]>();
  for (const [g, m] of members) if (g !== "all") groups.set(g, m);
  if (!hosts.size) {
    throw new ConfigError(
      "the inventory lists no host",
      { file, line: 1 },
      "add hosts: under a group (all: { hosts: { web1: } })",
    );
  }
  return { file, hosts, groups };
}

/** ansible_host (a host name, an IP, or lab:NAME / vagrant:NAME), ansible_port, ansible_user, the key. */
function connection(
  h: string,
  conn: Record<string, Entry>,
  from: SourceLocation,
  own: Entry[],
): Pick<InventoryHost, "address" | "key" | "user" | "port"> {
  const str = (e: Entry, what: string, fix: string): string => {
    if (typeof e.value !== "string" || e.value === "") {
      throw new ConfigError(`${e.key} must be ${what}, got ${JSON.stringify(e.value)}`, e.from, fix);
    }
    return e.value;
  };
  const hostE = conn.ansible_host;
  const address = hostE
    ? str(hostE, "a host name or an IP address", "for example ansible_host: 203.0.113.10")
    : h;
  // a host name, an IPv4/IPv6 address, or a lockclaw prefix target; never user@, a port, a blank or a leading -
  if (
    !/^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*)|[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|(?:lab|vagrant):[A-Za-z0-9_.-]+)$/.test(
      address,
    )
  ) {
    throw new ConfigError(
      `${hostE ? "ansible_host" : "host name"} ${JSON.stringify(address)} is not a host name, an IP address, lab:NAME or vagrant:NAME`,
      hostE?.from ?? from,
      "set the login with ansible_user and ansible_port, not in ansible_host",
    );
  }
  const out: Pick<InventoryHost, "address" | "key" | "user" | "port"> = { address };
  const prefixed = /^(lab|vagrant):/.test(address);
  // a group's login (all: vars: ansible_user) is for its SSH hosts; a lab machine's is the lab's
  if (prefixed) {
    for (const k of ["ansible_user", "ansible_port"]) if (conn[k] && !own.includes(conn[k])) delete conn[k];
  }
  if (conn.ansible_user) {
    const u = str(conn.ansible_user, "a user name", "for example ansible_user: root");
    if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(u)) {
      throw new ConfigError(
        `ansible_user ${JSON.stringify(u)} is not a user name`,
        conn.ansible_user.from,
        "for example ansible_user: root",
      );
    }
    out.user = u;
  }
  if (conn.ansible_port) {
    const p = String(conn.ansible_port.value);
    const n = Number(p);
    if (!/^[0-9]{1,5}$/.test(p) || n < 1 || n > 65535) {
      throw new ConfigError(
        `ansible_port ${JSON.stringify(p)} is not a port (1-65535, in decimal)`,
        conn.ansible_port.from,
        "for example ansible_port: 22",
      );
    }
    out.port = n;
  }
  if (prefixed && (out.user || out.port)) {
    throw new ConfigError(
      `${h}: a ${address.split(":")[0]}:NAME target logs in as the lab recorded it`,
      (conn.ansible_user ?? conn.ansible_port)!.from,
      "remove ansible_user / ansible_port for this host",
    );
  }
  const keyE = conn.ansible_ssh_private_key_file;
  if (keyE) {
    const k = str(keyE, "a key file's path", "for example ansible_ssh_private_key_file: ~/.ssh/id_ed25519");
    out.key = k === "~" || k.startsWith("~/") ? homedir() + k.slice(1) : k;
  }
  return out;
}
