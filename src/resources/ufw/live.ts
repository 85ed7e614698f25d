/**
 * The live packet filter, judged against what UFW should produce (issue 10, case 6). ufw's status and
 * user.rules say what ufw was told; the kernel does what the loaded rules say. An ACCEPT added to
 * /etc/ufw/before.rules (loaded on the next reload) or inserted by hand (`iptables -I INPUT … -j ACCEPT`)
 * opens a port while both stay clean, so this reads the filter table of the backend ufw drives
 * (`iptables-save`/`ip6tables-save`: the `iptables` alternative ufw runs, nf_tables or legacy) and
 * checks that every ACCEPT reachable from INPUT is one ufw's own stock files or the declared rules put
 * there.
 *
 * What is not an opening, and so is left alone:
 * - a ban: fail2ban's chains (`f2b-sshd` with its iptables actions) only REJECT, DROP or RETURN, and its
 *   nftables action (lockclaw's default) lives in its own `inet f2b-table`; a packet must pass every base
 *   chain on the input hook, so no other table or backend can accept what ufw's chain drops;
 * iptables-nft-save shows native nft rules in ufw's tables as far as it can translate them: `tcp dport
 * { 445, 446 } accept` comes out wider (`-p tcp -j ACCEPT`: still caught), a verdict map without its
 * verdict (`-p tcp`: judged as a possible ACCEPT); a table it cannot show at all is a failure.
 *
 * - chains nothing in INPUT's tree jumps to, and the FORWARD/OUTPUT/nat chains (Docker's among them):
 *   they never see a packet for a local port. Rootless Docker's rules live in rootlesskit's namespace.
 *
 * Layout of ufw 0.36 (Debian 12 and 13, checked on the lab): INPUT jumps to ufw-before-logging-input,
 * ufw-before-input, ufw-after-input, ufw-after-logging-input, ufw-reject-input, ufw-track-input;
 * ufw-before-input holds before.rules and ends with a jump to ufw-user-input (user.rules).
 */
import { parseCidr } from "../../core/cidr.js";
import { raw, sh, type Sh } from "../../core/sh.js";
import type { Marks } from "../../core/marks.js";

export interface LiveRule {
  chain: string;
  /** The rule as iptables-save printed it (`-A chain …`): what a report quotes. */
  line: string;
  /** -j / -g target, if any. */
  target?: string;
  /** Order-insensitive normal form, to compare with the rules ufw's files and the spec produce. */
  canon: string;
}

export interface LiveTable {
  /** Chain name → policy (`DROP`, `ACCEPT`; `-` for a user chain). */
  chains: Map<string, string>;
  rules: LiveRule[];
  /** iptables-save could not show the table (`# Table 'filter' is incompatible, use 'nft' tool.`). */
  incompatible: boolean;
}

/** Split an iptables rule into words, honouring the double quotes iptables-save writes. */
export function ruleWords(line: string): string[] {
  // most lines quote nothing: one split instead of a character loop (hundreds of lines a host)
  if (!line.includes('"')) {
    const t = line.trim();
    return t === "" ? [] : t.split(/\s+/);
  }
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

// iptables-save prints ICMP types as numbers; ufw's files name them
const ICMP4: Record<string, string> = {
  "echo-reply": "0",
  "destination-unreachable": "3",
  "source-quench": "4",
  "echo-request": "8",
  "time-exceeded": "11",
  "parameter-problem": "12",
};
const ICMP6: Record<string, string> = {
  "destination-unreachable": "1",
  "packet-too-big": "2",
  "time-exceeded": "3",
  "parameter-problem": "4",
  "echo-request": "128",
  "echo-reply": "129",
  "router-solicitation": "133",
  "router-advertisement": "134",
  "neighbor-solicitation": "135",
  "neighbour-solicitation": "135",
  "neighbor-advertisement": "136",
  "neighbour-advertisement": "136",
};
/** Match modules iptables adds by itself for `-p tcp --dport` and the like, and comments. */
const IMPLICIT = new Set(["tcp", "udp", "icmp", "icmp6", "ipv6-icmp", "comment"]);
const LONG: Record<string, string> = {
  "--source": "-s",
  "--destination": "-d",
  "--protocol": "-p",
  "--in-interface": "-i",
  "--out-interface": "-o",
  "--jump": "-j",
  "--goto": "-g",
  "--destination-port": "--dport",
  "--source-port": "--sport",
};

function address(a: string): string {
  try {
    return parseCidr(a).text;
  } catch {
    return a;
  }
}

/**
 * Normal form of one rule (the words after `-A chain`): option groups sorted, implicit match modules and
 * comments dropped, addresses with their prefix, ICMP types as numbers. `-p tcp --dport 443 -s 1.2.3.4`
 * from a rules file and `-s 1.2.3.4/32 -p tcp -m tcp --dport 443` from iptables-save are the same rule.
 */
export function canonicalRule(chain: string, words: string[], v6: boolean): string {
  const groups: string[][] = [];
  let neg = false;
  for (const w of words) {
    if (w === "!") {
      neg = true;
      continue;
    }
    if (w.startsWith("-") && !/^-\d/.test(w)) {
      groups.push(neg ? ["!", LONG[w] ?? w] : [LONG[w] ?? w]);
    } else if (groups.length) {
      if (neg) groups[groups.length - 1]!.push("!");
      groups[groups.length - 1]!.push(w);
    } else {
      groups.push([w]);
    }
    neg = false;
  }
  const out: string[] = [];
  for (const g of groups) {
    const opt = g[0] === "!" ? g[1]! : g[0]!;
    const args = g.slice(g[0] === "!" ? 2 : 1);
    if (opt === "-m" && args.length === 1 && IMPLICIT.has(args[0]!)) continue;
    if (opt === "--comment") continue;
    let vals = args;
    if (opt === "-s" || opt === "-d") vals = args.map(address);
    else if (opt === "-p") vals = args.map((p) => (p === "icmpv6" || p === "58" ? "ipv6-icmp" : p));
    else if (opt === "--icmp-type" || opt === "--icmpv6-type") {
      const map = v6 ? ICMP6 : ICMP4;
      vals = args.map((t) => map[t] ?? t);
    }
    out.push([...(g[0] === "!" ? ["!"] : []), opt, ...vals].join(" "));
  }
  return `${chain} ${out.sort().join(" ")}`;
}

function targetOf(words: string[]): string | undefined {
  for (let i = 0; i < words.length - 1; i++)
    if (words[i] === "-j" || words[i] === "-g" || words[i] === "--jump" || words[i] === "--goto")
      return words[i + 1];
  return undefined;
}

/** One `-A chain …` line read: its chain, normal form and target. */
interface ReadRule {
  chain: string;
  canon: string;
  target?: string;
}

/**
 * Lines already read, by family and text. Reading one is a pure function of its text, and a fleet's
 * hosts (and the two ufw tasks of the host playbook, and ufw's stock files read for each) show the same
 * few hundred lines again and again: each is split and normalised once per process (issue 14). Bounded,
 * so a long-lived process reading ever new rules does not grow without end.
 */
const readRules = new Map<string, ReadRule>();
const READ_RULES_MAX = 20_000;

/** A `-A chain …` line, split and normalised (see canonicalRule). */
export function readRule(line: string, v6: boolean): ReadRule {
  const key = `${v6 ? "6" : "4"}${line}`;
  const known = readRules.get(key);
  if (known) return known;
  const words = ruleWords(line);
  const chain = words[1]!;
  const rest = words.slice(2);
  const t = targetOf(rest);
  const rule: ReadRule = Object.freeze({
    chain,
    canon: canonicalRule(chain, rest, v6),
    ...(t !== undefined ? { target: t } : {}),
  });
  if (readRules.size >= READ_RULES_MAX) readRules.clear();
  readRules.set(key, rule);
  return rule;
}

/** The `*filter` table of iptables-save (or ip6tables-save) output. */
export function parseIptablesSave(text: string, v6: boolean): LiveTable {
  const table: LiveTable = { chains: new Map(), rules: [], incompatible: false };
  let inFilter = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (/^# Table `filter' is incompatible/.test(line)) table.incompatible = true;
    if (line.startsWith("*")) {
      inFilter = line === "*filter";
      continue;
    }
    if (!inFilter) continue;
    if (line === "COMMIT") {
      inFilter = false;
      continue;
    }
    const chain = /^:(\S+)\s+(\S+)/.exec(line);
    if (chain) {
      table.chains.set(chain[1]!, chain[2]!);
      continue;
    }
    if (!line.startsWith("-A ")) continue;
    const r = readRule(line, v6);
    const rule: LiveRule = { chain: r.chain, line, canon: r.canon };
    if (r.target !== undefined) rule.target = r.target;
    table.rules.push(rule);
  }
  return table;
}

/** Normal forms of the `-A` rules of the `*filter` section of a ufw rules file (before.rules, …). */
export function fileRules(
  text: string,
  v6: boolean,
): Array<{ canon: string; target?: string; line: string }> {
  const out: Array<{ canon: string; target?: string; line: string }> = [];
  let inFilter = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) inFilter = line === "*filter";
    else if (line === "COMMIT") inFilter = false;
    else if (inFilter && line.startsWith("-A ")) {
      const r = readRule(line, v6);
      out.push({ canon: r.canon, line, ...(r.target ? { target: r.target } : {}) });
    }
  }
  return out;
}

/** Chains a packet arriving for this host can pass through: INPUT and every chain jumped to from there. */
export function reachableFromInput(t: LiveTable): Set<string> {
  const seen = new Set<string>(["INPUT"]);
  const todo = ["INPUT"];
  while (todo.length) {
    const c = todo.pop()!;
    for (const r of t.rules)
      if (r.chain === c && r.target && t.chains.has(r.target) && !seen.has(r.target)) {
        seen.add(r.target);
        todo.push(r.target);
      }
  }
  return seen;
}

export interface LiveExpectation {
  /** Canonical ACCEPT rules ufw's stock before/after files produce (the package's copy, not /etc's). */
  stock: Set<string>;
  /** Canonical ACCEPT rules of the declared ufw rules. */
  declared: Set<string>;
  /** Canonical rules of those files without a verdict (ufw ships none; kept for another release's). */
  stockNoTarget?: Set<string>;
  /** The incoming policy asked for (deny/reject: INPUT must not ACCEPT by policy). */
  incomingAllowed: boolean;
}

export interface LiveProblem {
  v6: boolean;
  /** What a report says; quotes the rule. */
  text: string;
  /** Set for a rule outside ufw's chains: a reload leaves it, so a run deletes it explicitly. */
  deleteLine?: string;
}

/** The chains ufw owns (flushed and rebuilt by `ufw reload`). */
export function isUfwChain(name: string): boolean {
  return /^ufw6?-/.test(name);
}

/** ufw's built-in jumps from INPUT and ufw-before-input, which no file holds. */
function builtinAccepting(v6: boolean): string[] {
  const p = v6 ? "ufw6" : "ufw";
  return [
    ...[
      "before-logging-input",
      "before-input",
      "after-input",
      "after-logging-input",
      "reject-input",
      "track-input",
    ].map((c) => `INPUT -j ${p}-${c}`),
    `${p}-before-input -j ${p}-user-input`,
    `${p}-user-limit-accept -j ACCEPT`,
  ];
}

/**
 * Every ACCEPT a packet for this host can reach that neither ufw's stock files nor the declared rules
 * explain, plus an accepting INPUT policy the spec does not ask for. Jumps into ufw-user-limit-accept
 * (ufw's `limit` rules) count as ACCEPTs: lockclaw never declares them.
 */
export function judgeLive(t: LiveTable, v6: boolean, exp: LiveExpectation): LiveProblem[] {
  const fam = v6 ? "ip6tables" : "iptables";
  if (t.incompatible)
    return [{ v6, text: `${fam}-save cannot show the filter table (rules added with nft into ufw's table)` }];
  if (!t.chains.has("INPUT")) return [];
  const problems: LiveProblem[] = [];
  const policy = t.chains.get("INPUT");
  if (policy === "ACCEPT" && !exp.incomingAllowed)
    problems.push({ v6, text: `${fam}: INPUT policy ACCEPT (default incoming deny expected)` });
  const builtin = new Set(builtinAccepting(v6));
  const reach = reachableFromInput(t);
  const limitAccept = v6 ? "ufw6-user-limit-accept" : "ufw-user-limit-accept";
  for (const r of t.rules) {
    if (!reach.has(r.chain)) continue;
    if (r.target === undefined && !exp.stockNoTarget?.has(r.canon)) {
      // iptables-nft shows a native nft rule it cannot translate without the part it cannot express:
      // `tcp dport vmap { 447 : accept }` comes out as `-A INPUT -p tcp`. ufw never writes a rule
      // without a verdict, so such a line is judged as the ACCEPT it may hide.
      problems.push({
        v6,
        text: `${fam}: ${r.line} (no verdict shown: a native nft rule iptables cannot display, e.g. a verdict map)`,
        ...(isUfwChain(r.chain) ? {} : { deleteLine: r.line.replace(/^-A /, "-D ") }),
      });
      continue;
    }
    if (r.target !== "ACCEPT" && r.target !== limitAccept) continue;
    if (exp.stock.has(r.canon) || exp.declared.has(r.canon) || builtin.has(r.canon)) continue;
    problems.push({
      v6,
      text: `${fam}: ${r.line}`,
      ...(isUfwChain(r.chain) ? {} : { deleteLine: r.line.replace(/^-A /, "-D ") }),
    });
  }
  return problems;
}

/** Canonical ACCEPT rules of ufw's stock rule files (before.rules and after.rules of one family). */
export function stockAccepts(files: string[], v6: boolean): Set<string> {
  const out = new Set<string>();
  for (const f of files) for (const r of fileRules(f, v6)) if (r.target === "ACCEPT") out.add(r.canon);
  return out;
}

/** Canonical ACCEPT rules of rendered rule blocks (the iptables lines under each tuple). */
export function blockAccepts(blocks: string[][], v6: boolean): Set<string> {
  const out = new Set<string>();
  for (const b of blocks)
    for (const line of b)
      if (line.startsWith("-A ")) {
        const r = readRule(line, v6);
        if (r.target === "ACCEPT") out.add(r.canon);
      }
  return out;
}

/** Lines of `have` that `stock` lacks, and the reverse (a multiset difference, order ignored). */
export function lineDiff(stock: string, have: string): { added: string[]; removed: string[] } {
  const count = new Map<string, number>();
  const norm = (s: string) =>
    s
      .split("\n")
      .map((l) => l.trimEnd())
      .filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
  for (const l of norm(stock)) count.set(l, (count.get(l) ?? 0) + 1);
  const added: string[] = [];
  for (const l of norm(have)) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else added.push(l);
  }
  const removed = [...count.entries()].flatMap(([l, n]) => Array<string>(n).fill(l));
  return { added, removed };
}

// ---------------------------------------------------------------------------------------------------
// Probe (shared by the ufw resource and the audit: one more section of the same batched script)

export const STOCK_DIR = "/usr/share/ufw/iptables";
/** ufw's own rule files beside user.rules; the package keeps its pristine copy in STOCK_DIR. */
export const STOCK_FILES = ["before", "after", "before6", "after6"] as const;
export type StockFile = (typeof STOCK_FILES)[number];

/** sed arguments dropping iptables-save's `# Generated …`/`# Completed …` lines and chain counters. */
const SAVE_NOISE = [
  "-e",
  "/^# Generated by /d",
  "-e",
  "/^# Completed on /d",
  "-e",
  "s/ \\[[0-9]*:[0-9]*\\]$//",
];

/** sh lines printing the live filter and ufw's stock files, each section headed `<marker> fw-…`. */
export function liveProbeLines(marks: Marks): Sh[] {
  const m = marks.sh;
  return [
    sh`${marks.open("fw-backend")}; iptables -V 2>&1`,
    // without the timestamp comments and the packet counters: the same rules then give the same text on
    // every host and every run (the plan memo keys on it), and a fleet's probe output is smaller
    sh`${marks.open("fw-save4")}; lc_s=$(iptables-save 2>/dev/null); lc_r=$?; printf '%s\\n' "$lc_s" | sed ${SAVE_NOISE}; echo "${m} fw-save4-rc $lc_r"`,
    sh`${marks.open("fw-save6")}; lc_s=$(ip6tables-save 2>/dev/null); lc_r=$?; printf '%s\\n' "$lc_s" | sed ${SAVE_NOISE}; echo "${m} fw-save6-rc $lc_r"`,
    sh`for lc_f in ${[...STOCK_FILES]}; do`,
    sh`  if [ -f ${raw(STOCK_DIR)}/$lc_f.rules ]; then echo "${m} fw-stock $lc_f"; base64 -w0 < ${raw(STOCK_DIR)}/$lc_f.rules; echo; fi`,
    // /etc's copy only where it differs from the package's (cmp missing counts as differing): most
    // hosts have it unchanged, and it is a third of the probe's output
    sh`  if [ -f ${raw(STOCK_DIR)}/$lc_f.rules ] && [ -f /etc/ufw/$lc_f.rules ] && cmp -s ${raw(STOCK_DIR)}/$lc_f.rules /etc/ufw/$lc_f.rules; then echo "${m} fw-etc-same $lc_f"`,
    sh`  elif [ -f /etc/ufw/$lc_f.rules ]; then echo "${m} fw-etc $lc_f"; base64 -w0 < /etc/ufw/$lc_f.rules; echo; fi`,
    sh`done`,
  ];
}

export interface LiveFacts {
  /** `iptables v1.8.11 (nf_tables)`: the backend ufw drives. */
  backend: string;
  v4?: LiveTable;
  v6?: LiveTable;
  /** Why a family could not be read. */
  errors: string[];
  stock: Partial<Record<StockFile, string>>;
  etc: Partial<Record<StockFile, string>>;
}

/** The `fw-…` sections of a probe's output (heads without the marker); undefined when absent. */
export function parseLiveSections(sections: Array<{ head: string; body: string }>): LiveFacts | undefined {
  const find = (h: string) => sections.find((s) => s.head === h);
  const backend = find("fw-backend");
  if (!backend) return undefined;
  const facts: LiveFacts = {
    backend: backend.body.trim().split("\n")[0] ?? "",
    errors: [],
    stock: {},
    etc: {},
  };
  for (const [fam, v6] of [
    ["4", false],
    ["6", true],
  ] as const) {
    const body = find(`fw-save${fam}`)?.body;
    const rc = sections.find((s) => s.head.startsWith(`fw-save${fam}-rc `))?.head.split(" ")[1];
    if (body === undefined || rc !== "0")
      facts.errors.push(`${v6 ? "ip6tables" : "iptables"}-save failed (exit ${rc ?? "?"})`);
    else facts[v6 ? "v6" : "v4"] = parseIptablesSave(body, v6);
  }
  for (const s of sections) {
    const m = /^fw-(stock|etc|etc-same) (\S+)$/.exec(s.head);
    if (!m || !(STOCK_FILES as readonly string[]).includes(m[2]!)) continue;
    const file = m[2] as StockFile;
    if (m[1] === "etc-same") facts.etc[file] = facts.stock[file];
    else facts[m[1] as "stock" | "etc"][file] = Buffer.from(s.body.trim(), "base64").toString("utf8");
  }
  return facts;
}

export interface LiveVerdict {
  problems: LiveProblem[];
  /** ufw rule files that differ from the package's copy, with the lines that differ. */
  files: Array<{ file: StockFile; added: string[]; removed: string[]; missing?: boolean }>;
}

/**
 * Judge the live filter and ufw's own files. `declared`: the rule blocks the spec renders, per family.
 * A family is judged only where ufw has loaded its chains (inactive ufw is ufw.active's failure).
 */
export function evaluateLive(
  live: LiveFacts,
  declared: { v4: string[][]; v6: string[][] },
  incomingAllowed: boolean,
): LiveVerdict {
  const verdict: LiveVerdict = { problems: [], files: [] };
  for (const e of live.errors) verdict.problems.push({ v6: e.startsWith("ip6"), text: e });
  for (const f of STOCK_FILES) {
    const stock = live.stock[f];
    if (stock === undefined) continue;
    const etc = live.etc[f];
    if (etc === undefined) verdict.files.push({ file: f, added: [], removed: [], missing: true });
    else {
      const d = lineDiff(stock, etc);
      if (d.added.length || d.removed.length) verdict.files.push({ file: f, ...d });
    }
  }
  for (const [t, v6] of [
    [live.v4, false],
    [live.v6, true],
  ] as const) {
    if (!t || !(t.chains.has(v6 ? "ufw6-before-input" : "ufw-before-input") || t.incompatible)) continue;
    const files = (v6 ? ["before6", "after6"] : ["before", "after"]) as StockFile[];
    // without the package's copy (another packaging), /etc's files stand in: a hand-inserted rule is still
    // caught, an edit of before.rules is not
    const stockText = files
      .map((f) => live.stock[f] ?? live.etc[f])
      .filter((x): x is string => x !== undefined);
    verdict.problems.push(
      ...judgeLive(t, v6, {
        stock: stockAccepts(stockText, v6),
        declared: blockAccepts(v6 ? declared.v6 : declared.v4, v6),
        stockNoTarget: new Set(
          stockText.flatMap((f) =>
            fileRules(f, v6)
              .filter((r) => r.target === undefined)
              .map((r) => r.canon),
          ),
        ),
        incomingAllowed,
      }),
    );
  }
  return verdict;
}

/** One line per finding, quoting the rule or the file line. */
export function describeVerdict(v: LiveVerdict): string[] {
  return [
    ...v.problems.map((p) =>
      p.text.includes("-A ")
        ? `live ${p.text.includes("no verdict") ? "rule" : "ACCEPT"} not from ufw: ${p.text}`
        : p.text,
    ),
    ...v.files.map((f) =>
      f.missing
        ? `/etc/ufw/${f.file}.rules is missing`
        : `/etc/ufw/${f.file}.rules differs from ufw's stock file: ${[
            ...f.added.map((l) => `+ ${l}`),
            ...f.removed.map((l) => `- ${l}`),
          ]
            .slice(0, 6)
            .join("; ")}`,
    ),
  ];
}
