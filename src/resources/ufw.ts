/**
 * `ufw`: the host firewall. Two modes:
 * - `exact`: the user rule set becomes exactly the listed rules (stale and foreign rules removed),
 *   policies and enablement as specified;
 * - `ensure`: only adds missing rules, never removes, never changes policies or enablement. The host
 *   playbook uses it to open the new SSH port BEFORE sshd moves, while the old port stays open.
 *
 * Speed (measured by `npm run bench`, bench/): the probe reads ufw's rule files and the kernel's filter
 * table once (no ufw process: its Python start-up cost ~0.1 s); apply rewrites the rules section of
 * user.rules/user6.rules in ufw's own format and reloads ONCE, instead of one `ufw` process per rule.
 * Rules fail2ban's ufw action adds (comment "by Fail2Ban…", action deny or reject) are bans, not
 * configuration: kept as they are. An ALLOW with that comment is no ban, whoever wrote it: removed.
 *
 * Exact mode also holds the live packet filter to what ufw should produce (./ufw/live.ts): ufw's own
 * before/after rule files must equal the package's stock copies, and every ACCEPT reachable from INPUT must
 * come from them or from the declared rules. A run restores the stock files, reloads ufw (which rebuilds
 * every ufw-* chain from the files) and deletes the stray ACCEPTs a reload leaves, i.e. those in INPUT or a
 * foreign chain. It removes nothing else: fail2ban's bans (its nft table, its f2b-* chains: REJECT/DROP),
 * Docker's chains (FORWARD, nat) and chains nothing jumps to from INPUT stay as they are.
 */
import { z } from "zod";
import { parseCidr, CidrError } from "../core/cidr.js";
import { planned, type Change, type LockoutGuard, type ResourceKind } from "../engine/resource.js";
import { base64Heredoc, raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";
import { atomicWriteSh, dirOf } from "../core/atomic-write.js";
import { base64Body, Marks } from "../core/marks.js";
import {
  parseRulesFile,
  renderRule,
  renderRulesSection,
  ruleKey,
  type DesiredRule,
  type RulesFile,
  type TupleRule,
} from "./ufw/rules.js";
import {
  STOCK_DIR,
  describeVerdict,
  evaluateLive,
  liveProbeLines,
  parseLiveSections,
  type LiveFacts,
  type StockFile,
} from "./ufw/live.js";

export const USER_RULES = "/etc/ufw/user.rules";
export const USER6_RULES = "/etc/ufw/user6.rules";
export const DEFAULTS_FILE = "/etc/default/ufw";
export const UFW_CONF = "/etc/ufw/ufw.conf";

// ---------------------------------------------------------------------------------------------------
// Spec

const port = z.preprocess(
  (v) => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
  z
    .number({ error: "port must be a number 1-65535" })
    .int({ error: "port must be a whole number" })
    .min(1, { error: "port must be 1-65535" })
    .max(65535, { error: "port must be 1-65535" }),
);

const source = z.string({ error: "from must be a CIDR, an address or any" }).superRefine((s, ctx) => {
  if (s === "any") return;
  try {
    parseCidr(s);
  } catch (e) {
    if (e instanceof CidrError) ctx.addIssue({ code: "custom", message: `from: ${e.message}` });
    else throw e;
  }
});

const ruleSpec = z.strictObject({
  port: port.describe("The port to allow."),
  proto: z.enum(["tcp", "udp"], { error: "proto must be tcp or udp" }).default("tcp").describe("tcp or udp."),
  /** Absent: from anywhere. A list: one rule per entry; an EMPTY list means no rule (see if_empty). */
  from: z
    .union([source, z.array(source, { error: "from must be a list of CIDRs" })])
    .optional()
    .describe("A CIDR, an address or any, or a list (one rule per entry); not given: from anywhere."),
  /** What an empty `from` list means: `none` (no rule) or `any` (open to everyone). */
  if_empty: z
    .enum(["none", "any"], { error: "if_empty must be none or any" })
    .default("none")
    .describe("What an empty from list means: none (no rule) or any (open to everyone)."),
  comment: z
    .string()
    .max(64, { error: "comment must be at most 64 characters" })
    .regex(/^[^\n\r\0]*$/, { error: "comment must be a single line" })
    .optional()
    .describe("ufw's comment on the rule (at most 64 characters)."),
});
export type UfwRuleSpec = z.output<typeof ruleSpec>;

const policy = (what: string) =>
  z.enum(["deny", "reject", "allow"], { error: `${what} must be deny, reject or allow` });

export const ufwSpec = z
  .strictObject({
    mode: z
      .enum(["exact", "ensure"], { error: "mode must be exact or ensure" })
      .default("exact")
      .describe(
        "exact: the rule set becomes exactly these rules (others removed), policies and state as given; ensure: the rules are added, nothing else changes.",
      ),
    state: z
      .enum(["enabled", "disabled"], { error: "state must be enabled or disabled" })
      .default("enabled")
      .describe("enabled or disabled (exact mode)."),
    default_incoming: policy("default_incoming")
      .default("deny")
      .describe("Policy for incoming traffic no rule allows (exact mode)."),
    default_outgoing: policy("default_outgoing")
      .default("allow")
      .describe("Policy for outgoing traffic (exact mode)."),
    logging: z
      .enum(["off", "low", "medium", "high", "full"], {
        error: "logging must be off, low, medium, high or full",
      })
      .optional()
      .describe("ufw's log level; not given: left as it is."),
    rules: z.array(ruleSpec, { error: "rules must be a list" }).default([]).describe("The allow rules."),
  })
  .meta({
    description:
      "The host firewall: ufw's rule set (exact, or rules ensured), its policies, and a live packet filter holding only what ufw's files and these rules allow.",
    examples: [
      {
        mode: "exact",
        default_incoming: "deny",
        rules: [
          {
            port: "{{ssh_port}}",
            proto: "tcp",
            from: "{{admin_cidrs}}",
            if_empty: "any",
            comment: "lockclaw ssh",
          },
          { port: 443, proto: "tcp", from: ["{{cloudflare_ranges.ipv4}}", "{{cloudflare_ranges.ipv6}}"] },
        ],
      },
    ],
  });
export type UfwSpec = z.output<typeof ufwSpec>;

// ---------------------------------------------------------------------------------------------------
// Facts

export interface UfwFacts {
  installed: boolean;
  /**
   * ufw is loaded in the kernel: the test `ufw status` makes (`iptables -L ufw-user-input|output|forward`,
   * and the ufw6-user-* chains with IPv6 on), read from the probe's iptables-save instead of starting
   * ufw's Python (about 0.1 s per probe, twice in the host playbook). See ufwLoaded.
   */
  active: boolean;
  v4: RulesFile;
  v6: RulesFile;
  /** From /etc/default/ufw: DROP / REJECT / ACCEPT. */
  inputPolicy?: string;
  outputPolicy?: string;
  ipv6: boolean;
  /** From /etc/ufw/ufw.conf. */
  enabledAtBoot: boolean;
  loglevel?: string;
  /** Raw rule files, so apply can refuse to overwrite a file changed since the probe. */
  rawV4?: string;
  rawV6?: string;
  /** The live filter table and ufw's stock files (absent from a probe that did not read them). */
  live?: LiveFacts;
}

export const M = "@@lockclaw-ufw";
export const MARKS = new Marks(M);

export function ufwProbeScript(): Sh {
  const m = MARKS.sh;
  return shJoin([
    sh`if command -v ufw >/dev/null 2>&1; then`,
    sh`  for lc_f in ${[USER_RULES, USER6_RULES, DEFAULTS_FILE, UFW_CONF]}; do`,
    sh`    [ -f "$lc_f" ] || continue; echo "${m} file $lc_f"; base64 -w0 < "$lc_f"; echo`,
    sh`  done`,
    ...liveProbeLines(MARKS).map((l) => sh`  ${l}`),
    sh`else ${MARKS.open("missing")}; fi`,
    sh`${MARKS.open("end")}`,
  ]);
}

/** `KEY=value` / `KEY="value"` lines of a shell-style config file. */
function shellVars(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z_0-9]+)=(.*)$/.exec(line);
    if (m)
      out.set(
        m[1]!,
        m[2]!
          .trim()
          .replace(/^"(.*)"$/, "$1")
          .replace(/^'(.*)'$/, "$1"),
      );
  }
  return out;
}

export function parseUfwProbe(stdout: string): UfwFacts {
  const sections = MARKS.splitComplete(stdout, "ufw");
  const empty: RulesFile = { fullFormat: false, rules: [] };
  const facts: UfwFacts = {
    installed: !sections.some((s) => s.head === "missing"),
    active: false,
    v4: empty,
    v6: empty,
    ipv6: true,
    enabledAtBoot: false,
  };
  for (const s of sections) {
    if (s.head.startsWith("file ")) {
      const path = s.head.slice(5);
      const text = base64Body(s);
      if (path === USER_RULES) {
        facts.v4 = parseRulesFile(text, false);
        facts.rawV4 = text;
      } else if (path === USER6_RULES) {
        facts.v6 = parseRulesFile(text, true);
        facts.rawV6 = text;
      } else if (path === DEFAULTS_FILE) {
        const v = shellVars(text);
        facts.inputPolicy = v.get("DEFAULT_INPUT_POLICY");
        facts.outputPolicy = v.get("DEFAULT_OUTPUT_POLICY");
        facts.ipv6 = (v.get("IPV6") ?? "yes").toLowerCase() === "yes";
      } else if (path === UFW_CONF) {
        const v = shellVars(text);
        facts.enabledAtBoot = (v.get("ENABLED") ?? "no").toLowerCase() === "yes";
        facts.loglevel = v.get("LOGLEVEL");
      }
    }
  }
  const live = parseLiveSections(sections);
  if (live) facts.live = live;
  facts.active = facts.installed && ufwLoaded(live, facts.ipv6);
  return facts;
}

const USER_CHAINS = ["input", "output", "forward"] as const;

/**
 * What `ufw status` answers "active" on (ufw 0.36 backend_iptables.get_status): the kernel's filter table
 * has ufw-user-input, -output and -forward, and with IPV6=yes the ufw6-user-* chains too (without them
 * ufw status fails). The rules and policies it prints come from the files this probe reads itself.
 */
export function ufwLoaded(live: LiveFacts | undefined, ipv6: boolean): boolean {
  const has = (t: LiveFacts["v4"], p: string) =>
    !!t && USER_CHAINS.every((d) => t.chains.has(`${p}-user-${d}`));
  return has(live?.v4, "ufw") && (!ipv6 || has(live?.v6, "ufw6"));
}

// ---------------------------------------------------------------------------------------------------
// Plan (pure)

/** Expand the spec's rules into one rule per source and family, deduplicated, in spec order. */
export function desiredRules(spec: UfwSpec, ipv6 = true): DesiredRule[] {
  const out = new Map<string, DesiredRule>();
  for (const r of spec.rules) {
    let sources: string[];
    if (r.from === undefined || r.from === "any") sources = ["any"];
    else if (typeof r.from === "string") sources = [r.from];
    else sources = r.from.length === 0 ? (r.if_empty === "any" ? ["any"] : []) : r.from;
    for (const s of sources) {
      const families: Array<{ v6: boolean; source: string }> =
        s === "any"
          ? [
              { v6: false, source: "any" },
              { v6: true, source: "any" },
            ]
          : [{ v6: parseCidr(s).family === 6, source: parseCidr(s).text }];
      for (const f of families) {
        if (f.v6 && !ipv6) continue;
        const key = ruleKey(r.proto, r.port, f.source, f.v6);
        if (!out.has(key))
          out.set(key, { proto: r.proto, port: r.port, source: f.source, v6: f.v6, comment: r.comment, key });
      }
    }
  }
  return [...out.values()];
}

const POLICY: Record<string, string> = { deny: "DROP", reject: "REJECT", allow: "ACCEPT" };
const POLICY_NAME: Record<string, string> = { DROP: "deny", REJECT: "reject", ACCEPT: "allow" };

/** A ban fail2ban's ufw action added: its comment, and an action that shuts out (never an allow). */
export function isFail2banBan(r: TupleRule): boolean {
  return (r.comment ?? "").startsWith("by Fail2Ban") && (r.action === "deny" || r.action === "reject");
}

function describeDesired(r: DesiredRule): string {
  return `allow ${r.port}/${r.proto} from ${r.source}${r.source === "any" ? ` (v${r.v6 ? 6 : 4})` : ""}`;
}

export function describeTuple(r: TupleRule): string {
  const src = r.src === "0.0.0.0/0" || r.src === "::/0" ? `any (v${r.v6 ? 6 : 4})` : r.src;
  const comment = r.comment ? ` # ${r.comment}` : "";
  return `${r.action} ${r.dport}/${r.proto} from ${src}${r.direction !== "in" ? ` ${r.direction}` : ""}${comment}`;
}

export interface UfwPlan {
  add: DesiredRule[];
  remove: TupleRule[];
  /** Managed rules whose only difference is the comment (rewritten in exact mode). */
  recomment: DesiredRule[];
  /** New content of the rules sections, when a file changes. */
  v4Section?: string;
  v6Section?: string;
  policies: Array<{ direction: "incoming" | "outgoing"; value: string }>;
  logging?: string;
  enable: boolean;
  disable: boolean;
  /** ufw rule files put back from the package's stock copy. */
  restoreFiles: StockFile[];
  /** Stray live rules a reload leaves (outside ufw's chains), as `-D chain …` for iptables-restore. */
  deleteLive: Array<{ v6: boolean; line: string }>;
  /** The live filter differs from what ufw's files say: reload even when no file changes. */
  reload: boolean;
  /** The logging level ufw's first command keeps (the wanted one, else the host's, else ufw's default). */
  level: string;
  changes: Change[];
}

export function planUfw(spec: UfwSpec, facts: UfwFacts): UfwPlan {
  const desired = desiredRules(spec, facts.ipv6);
  const existing = [...facts.v4.rules, ...facts.v6.rules];
  const byKey = new Map<string, TupleRule>();
  for (const r of existing) if (r.key && !byKey.has(r.key)) byKey.set(r.key, r);
  const wanted = new Set(desired.map((d) => d.key));
  const plan: UfwPlan = {
    add: [],
    remove: [],
    recomment: [],
    policies: [],
    enable: false,
    disable: false,
    restoreFiles: [],
    deleteLive: [],
    reload: false,
    level: "low",
    changes: [],
  };

  if (!facts.installed)
    plan.changes.push({ summary: "ufw is not installed (a package task must install it first)" });

  plan.add = desired.filter((d) => !byKey.has(d.key));
  if (spec.mode === "exact") {
    const seen = new Set<string>();
    plan.remove = existing.filter((r) => {
      if (isFail2banBan(r)) return false;
      if (!r.key || !wanted.has(r.key)) return true;
      if (seen.has(r.key)) return true; // a duplicate of a rule we keep
      seen.add(r.key);
      return false;
    });
    plan.recomment = desired.filter(
      (d) => byKey.has(d.key) && (byKey.get(d.key)!.comment ?? "") !== (d.comment ?? ""),
    );
  }
  for (const r of plan.add) plan.changes.push({ summary: `add rule ${describeDesired(r)}` });
  for (const r of plan.remove) plan.changes.push({ summary: `remove rule ${describeTuple(r)}` });
  for (const r of plan.recomment)
    plan.changes.push({ summary: `set comment of ${describeDesired(r)} to "${r.comment ?? ""}"` });

  const rulesChange = plan.add.length + plan.remove.length + plan.recomment.length > 0;
  if (rulesChange) {
    const build = (v6: boolean, file: RulesFile): string => {
      let blocks: string[][];
      if (spec.mode === "exact") {
        // the bans fail2ban owns first, where its ufw action prepends them (after the allows they would
        // never match: the SSH allow accepts the banned address first), then the declared rules in order
        blocks = file.rules.filter(isFail2banBan).map((r) => r.block);
        blocks.push(...desired.filter((d) => d.v6 === v6).map(renderRule));
      } else {
        blocks = file.rules.map((r) => r.block).concat(plan.add.filter((d) => d.v6 === v6).map(renderRule));
      }
      return renderRulesSection(blocks);
    };
    plan.v4Section = build(false, facts.v4);
    if (facts.ipv6) plan.v6Section = build(true, facts.v6);
  }

  if (spec.mode === "exact") {
    for (const [direction, want, have] of [
      ["incoming", spec.default_incoming, facts.inputPolicy],
      ["outgoing", spec.default_outgoing, facts.outputPolicy],
    ] as const) {
      if (POLICY[want] !== have) {
        plan.policies.push({ direction, value: want });
        plan.changes.push({
          summary: `default ${direction} ${have ? (POLICY_NAME[have] ?? have) : "(unset)"} → ${want}`,
        });
      }
    }
    if (spec.logging !== undefined && (facts.loglevel ?? "") !== spec.logging) {
      plan.logging = spec.logging;
      plan.changes.push({ summary: `logging ${facts.loglevel ?? "(unset)"} → ${spec.logging}` });
    }
    if (spec.state === "enabled" && (!facts.active || !facts.enabledAtBoot)) {
      plan.enable = true;
      plan.changes.push({ summary: facts.active ? "enable ufw at boot" : "enable ufw (inactive → active)" });
    }
    if (spec.state === "disabled" && (facts.active || facts.enabledAtBoot)) {
      plan.disable = true;
      plan.changes.push({ summary: "disable ufw" });
    }
    if (spec.state === "enabled" && facts.live) planLive(spec, facts, facts.live, desired, plan);
  }
  plan.level = plan.logging ?? facts.loglevel ?? "low";
  return plan;
}

/** Exact mode: the live filter and ufw's own files, against what ufw should load (see the header). */
function planLive(
  spec: UfwSpec,
  facts: UfwFacts,
  live: LiveFacts,
  desired: DesiredRule[],
  plan: UfwPlan,
): void {
  const verdict = evaluateLive(
    live,
    {
      v4: desired.filter((d) => !d.v6).map(renderRule),
      v6: desired.filter((d) => d.v6).map(renderRule),
    },
    spec.default_incoming === "allow",
  );
  // a file restored is loaded by the reload; until then the live rules it produced are its symptom
  plan.restoreFiles = verdict.files.map((f) => f.file);
  if (!facts.active) {
    // enable loads the files: only the files matter, the live table is ufw's to build
    for (const line of describeVerdict({ problems: [], files: verdict.files }))
      plan.changes.push({ summary: line });
    return;
  }
  for (const p of verdict.problems) if (p.deleteLine) plan.deleteLive.push({ v6: p.v6, line: p.deleteLine });
  for (const line of describeVerdict(verdict)) plan.changes.push({ summary: line });
  if (verdict.problems.length || verdict.files.length) plan.reload = true;
}

// ---------------------------------------------------------------------------------------------------
// Apply

/**
 * sh replacing the rules section of `file` with the text in the here-document. awk keeps everything
 * outside `### RULES ###`…`### END RULES ###` (chains, logging, rate limiting) exactly as ufw wrote it.
 */
function spliceSh(file: string, section: string): Sh {
  return atomicWriteSh({
    target: sh`${file}`,
    dir: sh`${dirOf(file)}`,
    source: {
      content: section,
      through: sh`awk -v sect=- '/^### RULES ###$/ { print; while ((getline l < sect) > 0) print l; skip = 1; next } /^### END RULES ###$/ { skip = 0 } !skip { print }' ${file}`,
    },
    check: {
      test: sh`grep -q '^### END RULES ###$' "$lc_t"`,
      message: `${file} has no END RULES marker after rewriting`,
    },
    mode: "0640",
    keepOwner: false,
    label: "ufw",
  });
}

export function applyUfw(_spec: UfwSpec, plan: Omit<UfwPlan, "changes">): Sh {
  const lines: Sh[] = [
    sh`command -v ufw >/dev/null 2>&1 || { echo 'ufw: not installed; add a package task for ufw before this one' >&2; exit 1; }`,
  ];
  const level = plan.level;
  if (plan.v4Section !== undefined || plan.v6Section !== undefined) {
    // The package ships minimal rule files; ufw writes its full layout (with the logging chains that
    // the loader expects) on its first command. `ufw logging` is that command and changes nothing else.
    lines.push(
      sh`if ! grep -q '^### END RULES ###$' ${USER_RULES} || ! grep -q '^### END RULES ###$' ${USER6_RULES}; then ufw logging ${level} >/dev/null; fi`,
    );
    if (plan.v4Section !== undefined) lines.push(spliceSh(USER_RULES, plan.v4Section));
    if (plan.v6Section !== undefined) lines.push(spliceSh(USER6_RULES, plan.v6Section));
  }
  if (plan.logging !== undefined) lines.push(sh`ufw logging ${plan.logging} >/dev/null`);
  for (const p of plan.policies) lines.push(sh`ufw default ${p.value} ${raw(p.direction)} >/dev/null`);
  for (const f of plan.restoreFiles)
    lines.push(
      atomicWriteSh({
        target: sh`/etc/ufw/${f}.rules`,
        dir: raw("/etc/ufw"),
        source: { command: sh`cat -- ${STOCK_DIR}/${f}.rules` },
        mode: "0640",
        keepOwner: false,
        label: "ufw",
      }),
    );
  const rulesChanged = plan.v4Section !== undefined || plan.v6Section !== undefined || plan.reload;
  if (plan.enable) {
    // loads the files just written; established sessions pass (before.rules accepts ESTABLISHED first)
    lines.push(sh`ufw --force enable >/dev/null`);
  } else if (plan.disable) {
    lines.push(sh`ufw disable >/dev/null`);
  } else if (rulesChanged) {
    lines.push(sh`if LC_ALL=C ufw status | grep -q '^Status: active$'; then ufw reload >/dev/null; fi`);
  }
  // after the reload (which would not touch them): the stray ACCEPTs in INPUT or a foreign chain, each on
  // its own so one already gone does not keep the others; iptables-restore parses the rule, no sh word does
  for (const d of plan.deleteLive)
    lines.push(
      base64Heredoc(
        sh`${raw(d.v6 ? "ip6tables" : "iptables")}-restore --noflush || echo ${`ufw: could not delete live rule ${d.line}`} >&2`,
        `*filter\n${d.line}\nCOMMIT\n`,
      ),
    );
  return shJoin(lines);
}

const GUARD_FILES = [
  USER_RULES,
  USER6_RULES,
  DEFAULTS_FILE,
  UFW_CONF,
  ...(["before", "after", "before6", "after6"] as const).map((f) => `/etc/ufw/${f}.rules`),
];

/**
 * Only exact mode can cut access (it closes ports and enables the firewall); ensure only adds allow rules,
 * so it needs no rollback (and must not get one: it runs BEFORE sshd answers on the new port).
 */
export function ufwGuard(spec: UfwSpec): LockoutGuard | undefined {
  if (spec.mode === "ensure") return undefined;
  return {
    save: shJoin([
      sh`mkdir -p "$LOCKCLAW_BACKUP/ufw"`,
      ...GUARD_FILES.map(
        (f, i) => sh`if [ -f ${f} ]; then cp -a ${f} "$LOCKCLAW_BACKUP/ufw/${safeWord(i)}"; fi`,
      ),
      sh`if command -v ufw >/dev/null 2>&1 && LC_ALL=C ufw status | grep -q '^Status: active$'; then echo active; else echo inactive; fi > "$LOCKCLAW_BACKUP/ufw/state"`,
    ]),
    restore: shJoin([
      sh`if [ -f "$LOCKCLAW_BACKUP/ufw/state" ] && command -v ufw >/dev/null 2>&1; then`,
      ...GUARD_FILES.map(
        (f, i) =>
          sh`  if [ -f "$LOCKCLAW_BACKUP/ufw/${safeWord(i)}" ]; then cp -a "$LOCKCLAW_BACKUP/ufw/${safeWord(i)}" ${f}; fi`,
      ),
      sh`  if [ "$(cat "$LOCKCLAW_BACKUP/ufw/state")" = active ]; then ufw reload || ufw --force enable; else ufw disable; fi`,
      sh`fi`,
    ]),
  };
}

export const ufwKind: ResourceKind<UfwSpec, UfwFacts, Omit<UfwPlan, "changes">> = {
  name: "ufw",
  spec: ufwSpec,
  describe: (spec) => `ufw (${spec.mode}, ${spec.rules.length} rule${spec.rules.length === 1 ? "" : "s"})`,
  // iptables -V, iptables-save, ip6tables-save, the stock rule files read: ~50 ms on a lab machine
  probe: () => ({ script: ufwProbeScript(), parse: parseUfwProbe, cost: 50 }),
  plan: (spec, facts) => planned(planUfw(spec, facts)),
  apply: applyUfw,
  guard: ufwGuard,
  verifiable: true,
};
