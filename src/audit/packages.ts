/**
 * `lockclaw audit`, the package-based hardening of issue 12 (playbooks/host.yml, "updates, audit,
 * integrity"): automatic security updates as apt itself resolves them (`apt-config dump`, every file of
 * apt.conf.d merged), needrestart's effective mode, the audit rules in their file and in the kernel, and
 * AIDE's check against its baseline. One read-only sh section per part; a pure function judges them.
 * A part turned off by its variable is one SKIP naming the variable; a kernel that refuses audit (a
 * container) is a SKIP with the kernel's answer, never a failure.
 */
import type { PreparedPlay } from "../engine/prepare.js";
import {
  DEFAULT_AUDIT_RULES_FILE,
  auditKernelProbeSh,
  parseAuditKernel,
  ruleKey,
  type AuditRulesSpec,
} from "../resources/audit_rules.js";
import type { Coverage } from "./coverage.js";
import type { AuditCheck } from "./host.js";
import { Marks } from "../core/marks.js";
import { safeWord, sh, shJoin, type Sh } from "../core/sh.js";

const MARKS = new Marks("@@lockclaw-pkgaudit");

export interface PackagesAuditExpected {
  autoUpdates: boolean;
  autoReboot: boolean;
  autoRebootTime: string;
  auditd: boolean;
  /** The audit rules the playbook's audit_rules task writes (empty: not known, only the kernel is read). */
  auditRules: string[];
  auditRulesFile: string;
  fileIntegrity: boolean;
  /** Why a part is not checked: `auto_updates: false`, or the playbook has no such variable. */
  off?: Partial<Record<"auto_updates" | "auditd" | "file_integrity", string>>;
}

/**
 * The expectation from the prepared plays: the host play's variables and its audit_rules task's spec
 * (rules and file as provision renders them); a task skipped by its `when:` is not expected.
 */
export function packagesExpectedFromPlays(plays: readonly PreparedPlay[]): PackagesAuditExpected {
  const vars: Record<string, unknown> = plays[0]?.vars ?? {};
  const task = plays.flatMap((p) => p.tasks).find((t) => t.kind.name === "audit_rules" && !t.skippedByWhen);
  const spec = task?.spec as AuditRulesSpec | undefined;
  // a playbook without the variable (a custom --playbook) does not manage that part: nothing to expect
  const off: NonNullable<PackagesAuditExpected["off"]> = {};
  for (const v of ["auto_updates", "auditd", "file_integrity"] as const) {
    if (vars[v] !== true)
      off[v] = v in vars ? `turned off (${v}: false)` : `not in the playbook (no ${v} variable)`;
  }
  return {
    off,
    autoUpdates: vars.auto_updates === true,
    autoReboot: vars.auto_reboot === true,
    autoRebootTime: typeof vars.auto_reboot_time === "string" ? vars.auto_reboot_time : "03:30",
    auditd: vars.auditd === true,
    auditRules: spec?.rules ?? [],
    auditRulesFile: spec?.file ?? DEFAULT_AUDIT_RULES_FILE,
    fileIntegrity: vars.file_integrity === true,
  };
}

/**
 * The tasks each part judges more deeply than their module's plan (the files, packages and services it
 * reads): ./derive.ts reports a covered task's drift once, under this part's failing check.
 */
export function packagesCoverage(e: PackagesAuditExpected): Coverage[] {
  return [
    ...(e.autoUpdates
      ? [
          {
            checks: ["updates."],
            paths: [
              "/etc/apt/apt.conf.d/50unattended-upgrades",
              "/etc/apt/apt.conf.d/52lockclaw-reboot",
              "/etc/apt/apt.conf.d/20auto-upgrades",
              "/etc/needrestart/conf.d/50-lockclaw.conf",
            ],
            packages: ["unattended-upgrades", "needrestart"],
            services: ["apt-daily-upgrade.timer"],
          },
        ]
      : []),
    ...(e.auditd ? [{ checks: ["auditd."], paths: [e.auditRulesFile], packages: ["auditd"] }] : []),
    ...(e.fileIntegrity
      ? [{ checks: ["integrity."], paths: ["/etc/aide/aide.conf"], packages: ["aide"] }]
      : []),
  ];
}

/** The read-only script; its path arguments are lockclaw's own constants or the validated rules file. */
export function packagesAuditScript(expected: PackagesAuditExpected): Sh {
  const rulesFile = expected.auditRulesFile;
  if (!/^\/etc\/audit\/rules\.d\/[A-Za-z0-9_.-]+\.rules$/.test(rulesFile)) {
    throw new Error(`bad audit rules file ${rulesFile}`);
  }
  const m = MARKS.sh;
  return shJoin([
    MARKS.open("apt-config"),
    sh`if command -v apt-config >/dev/null 2>&1; then apt-config dump 2>&1 | grep -E '^(APT::Periodic|Unattended-Upgrade::(Allowed-Origins|Origins-Pattern|Automatic-Reboot))'; fi`,
    sh`echo "${m} uu-installed $(command -v unattended-upgrade >/dev/null 2>&1 && echo yes || echo no)"`,
    sh`echo "${m} uu-timer $(systemctl is-active apt-daily-upgrade.timer 2>/dev/null)"`,
    // needrestart reads needrestart.conf, then conf.d/*.conf in name order: the last assignment wins
    MARKS.open("needrestart"),
    sh`cat /etc/needrestart/needrestart.conf /etc/needrestart/conf.d/*.conf 2>/dev/null | grep -E '^[[:space:]]*\\$nrconf\\{restart\\}' | tail -n 1`,
    MARKS.open("audit-kernel"),
    auditKernelProbeSh(),
    MARKS.open("audit-file"),
    sh`if [ -f '${safeWord(rulesFile)}' ]; then base64 -w0 < '${safeWord(rulesFile)}'; echo; else echo absent; fi`,
    MARKS.open("aide"),
    sh`if ! command -v aide >/dev/null 2>&1; then echo state=not-installed`,
    sh`elif [ ! -f /etc/aide/aide.conf ]; then echo state=no-config`,
    sh`elif [ ! -f /var/lib/aide/aide.db ]; then echo state=no-database`,
    // AIDE's exit code: bit 1 added, 2 removed, 4 changed entries; 14 and up are errors
    sh`else lc_aide=$(nice -n 10 aide --check --config=/etc/aide/aide.conf 2>&1); echo "state=checked $?"`,
    sh`  printf '%s\\n' "$lc_aide" | grep -E '^[[:space:]]*(Number of entries|Total number of entries|Added entries|Removed entries|Changed entries):[[:space:]]*[0-9]|^[a-z][^:]{0,40}: /' | head -n 80`,
    sh`fi`,
    MARKS.open("end"),
  ]);
}

/** Sections by name (the head's first word), the last of a name winning. */
function sections(stdout: string): Map<string, { arg: string; body: string }> {
  return new Map(MARKS.split(stdout).map((x) => [x.name, { arg: x.arg, body: x.body }]));
}

/** `apt-config dump` lines: `Key "value";` (list items as `Key:: "value";`), values by key. */
export function parseAptConfig(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^(\S+?)(::)? "(.*)";$/.exec(line.trim());
    if (!m) continue;
    const key = m[1]!;
    const list = out.get(key) ?? [];
    // a list's head prints as `Key "";`: an empty value is no value
    if (m[3] !== "") list.push(m[3]!);
    out.set(key, list);
  }
  return out;
}

const check = (id: string, title: string, pass: boolean, evidence: string): AuditCheck => ({
  id,
  title,
  pass,
  evidence,
});
const skip = (id: string, title: string, evidence: string): AuditCheck => ({
  id,
  title,
  pass: true,
  skipped: true,
  evidence,
});

/** An origin unattended-upgrades may take on its own: a security one. */
export function isSecurityOrigin(entry: string): boolean {
  return /security/i.test(entry);
}

export function evaluatePackagesAudit(stdout: string, expected: PackagesAuditExpected): AuditCheck[] {
  const s = sections(stdout);
  const checks: AuditCheck[] = [];
  if (!s.has("end")) {
    return [check("audit.packages", "update/audit/integrity part ran", false, "output incomplete")];
  }

  // automatic security updates -----------------------------------------------------------------------
  if (!expected.autoUpdates) {
    checks.push(
      skip(
        "updates",
        "automatic security updates",
        expected.off?.auto_updates ?? "turned off (auto_updates: false)",
      ),
    );
  } else {
    const apt = parseAptConfig(s.get("apt-config")?.body ?? "");
    const one = (k: string) => apt.get(k)?.at(-1) ?? "";
    const lists = one("APT::Periodic::Update-Package-Lists");
    const upgrade = one("APT::Periodic::Unattended-Upgrade");
    const installed = s.get("uu-installed")?.arg === "yes";
    const timer = s.get("uu-timer")?.arg ?? "";
    const on = (v: string) => /^[1-9][0-9]*$/.test(v) || v === "always";
    checks.push(
      check(
        "updates.periodic",
        "unattended-upgrades runs daily (APT::Periodic, apt-daily-upgrade.timer)",
        installed && on(lists) && on(upgrade) && timer === "active",
        `unattended-upgrade ${installed ? "installed" : "not installed"}; Update-Package-Lists "${lists}", ` +
          `Unattended-Upgrade "${upgrade}"; apt-daily-upgrade.timer ${timer || "unknown"}`,
      ),
    );
    const origins = [
      ...(apt.get("Unattended-Upgrade::Allowed-Origins") ?? []),
      ...(apt.get("Unattended-Upgrade::Origins-Pattern") ?? []),
    ].filter((o) => o !== "");
    const other = origins.filter((o) => !isSecurityOrigin(o));
    checks.push(
      check(
        "updates.origins",
        "unattended-upgrades takes the security origin only",
        origins.length > 0 && other.length === 0,
        origins.length === 0
          ? "no origin allowed (nothing would be upgraded)"
          : other.length
            ? `not a security origin: ${other.join("; ")}`
            : origins.join("; "),
      ),
    );
    const reboot = one("Unattended-Upgrade::Automatic-Reboot") || "false";
    const time = one("Unattended-Upgrade::Automatic-Reboot-Time");
    const rebootOn = /^(true|1|yes|on)$/i.test(reboot);
    const rebootOk =
      rebootOn === expected.autoReboot && (!expected.autoReboot || time === expected.autoRebootTime);
    checks.push(
      check(
        "updates.reboot",
        expected.autoReboot
          ? `automatic reboot at ${expected.autoRebootTime}`
          : "no automatic reboot (auto_reboot: false)",
        rebootOk,
        `Automatic-Reboot "${reboot}"${time ? `, Automatic-Reboot-Time "${time}"` : ""}`,
      ),
    );
    const nr = (s.get("needrestart")?.body ?? "").trim();
    const mode = /=\s*['"]([a-z])['"]/.exec(nr)?.[1];
    checks.push(
      check(
        "updates.needrestart",
        "needrestart lists services to restart, restarts none",
        mode === "l",
        nr ? `${nr.replace(/\s+/g, " ")}` : "needrestart not configured (its default asks or restarts)",
      ),
    );
  }

  // auditd -------------------------------------------------------------------------------------------
  if (!expected.auditd) {
    checks.push(
      skip("auditd", "auditd with lockclaw's rules", expected.off?.auditd ?? "turned off (auditd: false)"),
    );
  } else {
    const fileBody = (s.get("audit-file")?.body ?? "").trim();
    const file =
      fileBody === "absent" || fileBody === "" ? undefined : Buffer.from(fileBody, "base64").toString("utf8");
    const lines = new Set((file ?? "").split("\n").map((l) => l.trim()));
    const missing = expected.auditRules.filter((r) => !lines.has(r));
    checks.push(
      check(
        "auditd.rules",
        `${expected.auditRulesFile} holds lockclaw's ${expected.auditRules.length} audit rules`,
        file !== undefined && missing.length === 0,
        file === undefined
          ? "file missing"
          : missing.length
            ? `missing: ${missing.join("; ")}`
            : `${expected.auditRules.length} rules present`,
      ),
    );
    let k: ReturnType<typeof parseAuditKernel> | undefined;
    try {
      k = parseAuditKernel(s.get("audit-kernel")?.body ?? "");
    } catch {
      k = undefined;
    }
    const keys = [...new Set(expected.auditRules.map((r) => ruleKey(r)).filter((x): x is string => !!x))];
    if (!k || k.kernel.state === "absent") {
      checks.push(
        check("auditd.live", "auditd runs with lockclaw's rules loaded", false, "auditctl not installed"),
      );
    } else if (k.kernel.state === "refused") {
      checks.push(
        skip(
          "auditd.live",
          "auditd runs with lockclaw's rules loaded",
          `the kernel refuses audit here (a container?): ${k.kernel.reason}`,
        ),
      );
    } else {
      const notLoaded = keys.filter((key) => !k.loadedKeys.includes(key));
      checks.push(
        check(
          "auditd.live",
          "auditd runs with lockclaw's rules loaded",
          k.active === "active" && notLoaded.length === 0,
          `auditd ${k.active || "unknown"}; ${notLoaded.length ? `keys not loaded: ${notLoaded.join(", ")}` : `keys loaded: ${keys.join(", ")}`}`,
        ),
      );
    }
  }

  // AIDE ---------------------------------------------------------------------------------------------
  if (!expected.fileIntegrity) {
    checks.push(
      skip(
        "integrity",
        "AIDE file integrity",
        expected.off?.file_integrity ?? "turned off (file_integrity: false)",
      ),
    );
  } else {
    checks.push(evaluateAide(s.get("aide")?.body ?? ""));
  }
  return checks;
}

/** AIDE's `--check` result, with the first changed paths as evidence. */
export function evaluateAide(body: string): AuditCheck {
  const title = "AIDE finds no change since lockclaw's baseline";
  const state = /^state=(\S+)(?: (\d+))?$/m.exec(body);
  if (!state) return check("integrity.aide", title, false, "no answer");
  if (state[1] === "not-installed") return check("integrity.aide", title, false, "aide is not installed");
  if (state[1] === "no-config") return check("integrity.aide", title, false, "/etc/aide/aide.conf missing");
  if (state[1] === "no-database")
    return check("integrity.aide", title, false, "no baseline (/var/lib/aide/aide.db missing)");
  const rc = Number(state[2] ?? "-1");
  const count = (label: string) => new RegExp(`^\\s*${label}:\\s*(\\d+)`, "m").exec(body)?.[1];
  const entries = count("(?:Total number|Number) of entries");
  if (rc === 0) return check("integrity.aide", title, true, `no differences (${entries ?? "?"} entries)`);
  if (rc < 1 || rc > 7) {
    return check(
      "integrity.aide",
      title,
      false,
      `aide --check failed (exit ${rc}): ${body.split("\n").slice(-2).join(" ")}`,
    );
  }
  const paths = [...body.matchAll(/^[a-z][^:\n]{0,40}: (\/.*)$/gm)].map((m) => m[1]!);
  const summary = [
    ["added", count("Added entries")],
    ["removed", count("Removed entries")],
    ["changed", count("Changed entries")],
  ]
    .filter(([, n]) => n !== undefined && n !== "0")
    .map(([w, n]) => `${n} ${w}`)
    .join(", ");
  const shown = [...new Set(paths)].slice(0, 12);
  return check(
    "integrity.aide",
    title,
    false,
    `${summary || `exit ${rc}`}: ${shown.join(", ")}${paths.length > shown.length ? ", …" : ""}`,
  );
}
