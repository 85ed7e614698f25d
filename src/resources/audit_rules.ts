/**
 * `audit_rules`: Linux audit rules, persisted in one rules.d file that this task owns (augenrules builds
 * /etc/audit/audit.rules from rules.d at boot), loaded live with `augenrules --load`, and auditd enabled
 * and running.
 *
 * The kernel refuses audit outside the initial PID and user namespaces, so in a container (systemd-nspawn,
 * LXC, an OpenVZ VPS) `auditctl -s` fails: as the sysctl kind does for a read-only key, the file is still
 * written (it takes effect on a host that allows audit), the apply prints `LOCKCLAW_WARNING: …` with the
 * kernel's answer and exits 0, and the diff compares only the file, so a refusing kernel is never drift.
 * Each rule carries a key (`-k NAME`): the live check is that every key is loaded (auditctl -l rewrites a
 * rule's text, e.g. `-k x` becomes `-F key=x`, so the keys are what can be compared).
 */
import { z } from "zod";
import { WARNING_PREFIX, planned, type Change, type ResourceKind } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { parsePathState, pathProbeScript, type PathState } from "./common/fileState.js";
import { absPath } from "./common/schema.js";
import { rootFileChange, rootFileWriteSh, type RootFile } from "./common/rootFile.js";

export const DEFAULT_AUDIT_RULES_FILE = "/etc/audit/rules.d/50-lockclaw.rules";

/** A rule as auditctl reads it from a file: `-w PATH …` or `-a LIST,ACTION …`, with a key. */
const RULE_RE = /^-(?:w|a) [A-Za-z0-9_./,=<>!-][A-Za-z0-9_./,=<>! -]*$/;
const KEY_RE = /(?:^| )(?:-k |-F key=)([A-Za-z0-9_-]{1,31})(?: |$)/;

export function ruleKey(rule: string): string | undefined {
  return KEY_RE.exec(rule)?.[1];
}

const rule = z
  .string({ error: "an audit rule must be a string" })
  .refine((r) => RULE_RE.test(r), {
    error:
      "an audit rule must be one line starting with -w or -a (letters, digits, _ . / , = < > ! - and spaces)",
  })
  .refine((r) => ruleKey(r) !== undefined, {
    error: "an audit rule must carry a key (-k NAME): the live check compares the keys auditctl -l lists",
  });

export const auditRulesSpec = z
  .strictObject({
    file: absPath
      .refine((p) => p.startsWith("/etc/audit/rules.d/") && p.endsWith(".rules"), {
        error: "file must be /etc/audit/rules.d/NAME.rules (augenrules reads only those)",
      })
      .default(DEFAULT_AUDIT_RULES_FILE)
      .describe("The rules.d file this task owns (written whole): /etc/audit/rules.d/NAME.rules."),
    rules: z
      .array(rule, { error: "rules must be a list of audit rules" })
      .min(1, {
        error: "rules must list at least one rule",
      })
      .describe(
        "auditctl rules, one a line (-w PATH -p PERMS or -a LIST,ACTION …), each with a key (-k NAME): the live check compares the keys auditctl -l lists.",
      ),
  })
  .meta({
    description:
      "Linux audit rules in one rules.d file, loaded live (augenrules --load) with auditd enabled and running; a kernel that refuses audit (a container) is a warning, and only the file is compared.",
    examples: [
      {
        file: "/etc/audit/rules.d/50-lockclaw.rules",
        rules: [
          "-w /etc/sudoers -p wa -k lockclaw-sudoers",
          "-w /etc/ssh/sshd_config -p wa -k lockclaw-sshd",
        ],
      },
    ],
  });
export type AuditRulesSpec = z.output<typeof auditRulesSpec>;

/** ok: the kernel answers audit requests; refused: it does not (the reason); absent: no auditctl yet. */
export type AuditKernel = { state: "ok" } | { state: "refused"; reason: string } | { state: "absent" };

export interface AuditRulesFacts {
  file: PathState;
  kernel: AuditKernel;
  /** The keys of the rules the kernel has loaded (auditctl -l). */
  loadedKeys: string[];
  /** `systemctl is-active auditd`. */
  active: string;
}

export function auditRulesContent(spec: AuditRulesSpec): string {
  return (
    "# Managed by lockclaw: changes here are overwritten on the next run.\n" + `${spec.rules.join("\n")}\n`
  );
}

/** The keys a spec's rules carry, in order, once each. */
export function specKeys(spec: AuditRulesSpec): string[] {
  return [...new Set(spec.rules.map((r) => ruleKey(r)!))];
}

/** sh that prints the kernel's audit state and the loaded rules' keys (shared with `lockclaw audit`). */
export function auditKernelProbeSh(): Sh {
  return raw(
    [
      `if ! command -v auditctl >/dev/null 2>&1; then echo kernel=absent`,
      `elif lc_as=$(auditctl -s 2>&1); then echo kernel=ok`,
      `else printf 'kernel=refused %s\\n' "$(printf '%s' "$lc_as" | tr '\\n' ' ' | cut -c1-200)"; fi`,
      // one line per loaded rule, its key only (the rest may name paths; the key is what is compared)
      `if command -v auditctl >/dev/null 2>&1; then auditctl -l 2>/dev/null | sed -n 's/.*\\(-k \\|key=\\)\\([A-Za-z0-9_-]*\\).*/loaded=\\2/p'; fi`,
      `echo "active=$(systemctl is-active auditd 2>/dev/null)"`,
    ].join("\n"),
  );
}

export function parseAuditKernel(stdout: string): {
  kernel: AuditKernel;
  loadedKeys: string[];
  active: string;
} {
  let kernel: AuditKernel | undefined;
  const loadedKeys: string[] = [];
  let active = "";
  for (const line of stdout.split("\n")) {
    if (line === "kernel=ok") kernel = { state: "ok" };
    else if (line === "kernel=absent") kernel = { state: "absent" };
    else if (line.startsWith("kernel=refused")) {
      kernel = { state: "refused", reason: line.slice("kernel=refused".length).trim() || "refused" };
    } else if (line.startsWith("loaded=")) loadedKeys.push(line.slice(7));
    else if (line.startsWith("active=")) active = line.slice(7).trim();
  }
  if (!kernel) throw new Error("audit_rules probe printed no kernel= line");
  return { kernel, loadedKeys: [...new Set(loadedKeys)], active };
}

const rulesFile = (spec: AuditRulesSpec): RootFile => ({
  path: spec.file,
  content: auditRulesContent(spec),
  mode: "0640",
});

function planAuditRules(
  spec: AuditRulesSpec,
  facts: AuditRulesFacts,
): { writeFile: boolean; changes: Change[] } {
  const changes: Change[] = [];
  const fileChange = rootFileChange(rulesFile(spec), facts.file);
  const writeFile = fileChange !== undefined;
  if (fileChange) changes.push(fileChange);
  // live state only where the kernel allows audit (see the header)
  if (facts.kernel.state === "ok") {
    const missing = specKeys(spec).filter((k) => !facts.loadedKeys.includes(k));
    if (missing.length) changes.push({ summary: `load audit rules (not loaded: ${missing.join(", ")})` });
    if (facts.active !== "active") changes.push({ summary: `start auditd (${facts.active || "unknown"})` });
  }
  return { writeFile, changes };
}

export const auditRulesKind: ResourceKind<AuditRulesSpec, AuditRulesFacts, { writeFile: boolean }> = {
  name: "audit_rules",
  spec: auditRulesSpec,
  verifiable: true,
  describe: (spec) => `audit_rules ${spec.file} (${spec.rules.length} rules)`,

  probe(spec) {
    return {
      script: shJoin([pathProbeScript(spec.file, "file.", { content: true }), auditKernelProbeSh()]),
      // the file, auditctl -s and -l, systemctl is-active
      cost: 30,
      parse(stdout) {
        const file = parsePathState(stdout, "file.");
        return { file, ...parseAuditKernel(stdout) };
      },
    };
  },

  plan: (spec, facts) => planned(planAuditRules(spec, facts)),

  apply(spec, p) {
    const out: Sh[] = [];
    if (p.writeFile) {
      out.push(rootFileWriteSh(rulesFile(spec), `audit_rules ${spec.file}`));
    }
    // the kernel is asked again: the probe may predate the auditd package this run installed
    out.push(
      raw(
        [
          `if ! command -v auditctl >/dev/null 2>&1; then echo 'audit_rules: auditctl not found (install auditd first)' >&2; exit 1; fi`,
          `if lc_as=$(auditctl -s 2>&1); then`,
          `  augenrules --load >/dev/null`,
          `  systemctl enable auditd >/dev/null 2>&1 || :`,
          `  systemctl is-active -q auditd || systemctl start auditd`,
          `else`,
          `  lc_as=$(printf '%s' "$lc_as" | tr '\\n' ' ' | cut -c1-200)`,
        ].join("\n"),
      ),
      sh`  printf '%s%s\\n' ${`${WARNING_PREFIX}the kernel refuses audit here (a container?); rules kept in ${spec.file}, auditd not started: `} "$lc_as"`,
      raw(`fi`),
    );
    return shJoin(out);
  },
};
