/**
 * `lockclaw audit --lynis`: Lynis, the outside judge, run on the host itself. The distribution's package
 * is installed when missing (the one change this flag makes); Lynis runs with its default profile, whose
 * `upload=no` and `skip-upgrade-test=yes` keep everything on the host, its report goes to a temp file
 * that is read back and removed, and the hardening index, warnings and suggestions land in the audit's
 * JSON. Suggestions are split into those a lockclaw setting addresses (LOCKCLAW_LYNIS_TESTS: the setting
 * is off, or the host differs from it) and the rest, which lockclaw leaves to the operator. Installing
 * Lynis runs the host's after-change hooks, as a provisioning run that changed the host does.
 */
import { afterChangeHooksSh } from "../engine/host-run.js";
import { APT_GET } from "../core/apt.js";
import { sh, shJoin, type Sh } from "../core/sh.js";
import { Marks } from "../core/marks.js";
import { runScript } from "../transport/script.js";
import type { Transport } from "../transport/types.js";
import type { AuditCheck } from "./host.js";

const MARKS = new Marks("@@lockclaw-lynis");

export interface LynisFinding {
  id: string;
  text: string;
  details?: string;
  /** The lockclaw setting that addresses it, when one does. */
  lockclaw?: string;
}

export interface LynisResult {
  version?: string;
  hardeningIndex?: number;
  testsPerformed?: number;
  warnings: LynisFinding[];
  suggestions: LynisFinding[];
  /** Lynis was installed by this audit (it was missing). */
  installed?: boolean;
  error?: string;
}

/** Lynis tests that a lockclaw setting addresses: a suggestion among these is one lockclaw can act on. */
export const LOCKCLAW_LYNIS_TESTS: Readonly<Record<string, string>> = {
  "PKGS-7420": "auto_updates (unattended-upgrades)",
  "DEB-0811": "auto_updates (apt-listchanges)",
  "DEB-0831": "auto_updates (needrestart)",
  "ACCT-9628": "auditd",
  "ACCT-9630": "auditd (lockclaw's rules)",
  "FINT-4350": "file_integrity (AIDE)",
  "FINT-4315": "file_integrity (/etc/aide/aide.conf)",
  "FINT-4316": "file_integrity (AIDE baseline)",
  "SSH-7408": "the sshd task",
  "SSH-7440": "the sshd task (AllowUsers)",
  "DEB-0880": "the fail2ban task",
  "FIRE-4512": "the ufw task",
  "FIRE-4513": "the ufw task",
  "KRNL-6000": "the sysctl tasks",
  "NETW-3200": "the kernel module blacklist",
  "USB-1000": "the kernel module blacklist",
  "STRG-1846": "the kernel module blacklist",
  "AUTH-9230": "login.defs",
  "AUTH-9328": "login.defs (UMASK)",
  "AUTH-9283": "the root password lock",
  "BANN-7126": "the legal banner",
  "BANN-7130": "the legal banner",
  "LOGG-2138": "journald",
  "LOGG-2190": "journald",
};

/** sh: install Lynis when missing, run it, print its report between markers, remove the temp files. */
export function lynisScript(): Sh {
  const apt = APT_GET;
  const m = MARKS.sh;
  return shJoin([
    sh`lc_ld=$(mktemp -d) || exit 1`,
    sh`trap 'rm -rf "$lc_ld"' EXIT`,
    sh`if ! command -v lynis >/dev/null 2>&1; then`,
    sh`  ${MARKS.open("installing")}`,
    sh`  if ! ${apt} install --no-install-recommends lynis >"$lc_ld/apt.log" 2>&1; then`,
    sh`    ${apt} update >>"$lc_ld/apt.log" 2>&1 || :`,
    sh`    ${apt} install --no-install-recommends lynis >>"$lc_ld/apt.log" 2>&1 || { ${MARKS.open("install-failed")}; tail -n 5 "$lc_ld/apt.log"; exit 0; }`,
    sh`  fi`,
    // this audit changed the host: the after-change hooks (AIDE's baseline) take in the new package, so
    // a later audit does not report Lynis' own files as an intruder's
    sh`  ${MARKS.open("hooks")}`,
    afterChangeHooksSh(),
    sh`fi`,
    sh`lynis audit system --quick --no-colors --no-log --report-file "$lc_ld/report.dat" >"$lc_ld/out.txt" 2>&1`,
    sh`echo "${m} rc $?"`,
    MARKS.open("report"),
    sh`cat "$lc_ld/report.dat" 2>/dev/null`,
    MARKS.open("tail"),
    sh`tail -n 5 "$lc_ld/out.txt"`,
    MARKS.open("end"),
  ]);
}

function finding(value: string): LynisFinding {
  // ID|text|details|solution|
  const [id = "", text = "", details = ""] = value.split("|");
  const f: LynisFinding = { id, text };
  if (details && details !== "-") f.details = details;
  const lockclaw = LOCKCLAW_LYNIS_TESTS[id];
  if (lockclaw) f.lockclaw = lockclaw;
  return f;
}

export function parseLynisOutput(stdout: string): LynisResult {
  const result: LynisResult = { warnings: [], suggestions: [] };
  const report: string[] = [];
  const tail: string[] = [];
  for (const x of MARKS.split(stdout)) {
    const arg = x.arg.split(" ")[0];
    if (x.name === "installing") result.installed = true;
    if (x.name === "install-failed") result.error = "lynis is not installed and could not be installed";
    if (x.name === "rc" && arg !== "0") result.error = `lynis exited ${arg}`;
    const lines = x.body.split("\n");
    if (x.name === "report") report.push(...lines);
    else if (x.name === "tail" || x.name === "install-failed") tail.push(...lines);
  }
  for (const line of report) {
    const i = line.indexOf("=");
    if (i < 0) continue;
    const key = line.slice(0, i);
    const value = line.slice(i + 1);
    if (key === "hardening_index" && /^\d+$/.test(value)) result.hardeningIndex = Number(value);
    else if (key === "lynis_version") result.version = value;
    else if (key === "lynis_tests_done" && /^\d+$/.test(value)) result.testsPerformed = Number(value);
    else if (key === "warning[]") result.warnings.push(finding(value));
    else if (key === "suggestion[]") result.suggestions.push(finding(value));
  }
  if (result.hardeningIndex === undefined && !result.error)
    result.error = "no hardening index in Lynis' report";
  if (result.error && tail.some((l) => l.trim()))
    result.error += `: ${tail.filter((l) => l.trim()).join(" | ")}`;
  return result;
}

export async function runLynis(transport: Transport): Promise<LynisResult> {
  const r = await runScript(transport, String(lynisScript()), { become: true, errexit: false });
  return parseLynisOutput(r.stdout);
}

/** One audit check: Lynis ran. Its findings are reported, not judged (the operator weighs them). */
export function lynisCheck(r: LynisResult): AuditCheck {
  if (r.error || r.hardeningIndex === undefined) {
    return { id: "lynis.run", title: "Lynis ran on the host", pass: false, evidence: r.error ?? "no index" };
  }
  const acts = r.suggestions.filter((s) => s.lockclaw).length;
  return {
    id: "lynis.run",
    title: "Lynis ran on the host",
    pass: true,
    evidence:
      `Lynis ${r.version ?? "?"}${r.installed ? " (installed now)" : ""}: hardening index ${r.hardeningIndex}, ` +
      `${r.warnings.length} warning(s), ${r.suggestions.length} suggestion(s), ${acts} of them for a lockclaw setting`,
  };
}

/** The plain-text block under the checks. */
export function formatLynis(r: LynisResult): string {
  const lines: string[] = [];
  if (r.hardeningIndex === undefined) return "";
  lines.push(
    `  LYNIS hardening index ${r.hardeningIndex}${r.testsPerformed ? ` (${r.testsPerformed} tests)` : ""}`,
  );
  for (const w of r.warnings)
    lines.push(`    warning ${w.id}: ${w.text}${w.lockclaw ? ` [lockclaw: ${w.lockclaw}]` : ""}`);
  const acts = r.suggestions.filter((s) => s.lockclaw);
  if (acts.length) {
    lines.push("    suggestions a lockclaw setting addresses:");
    for (const s of acts)
      lines.push(`      ${s.id}: ${s.text}${s.details ? ` (${s.details})` : ""} [${s.lockclaw}]`);
  }
  const rest = r.suggestions.length - acts.length;
  if (rest) lines.push(`    ${rest} other suggestion(s) (in --json)`);
  return `${lines.join("\n")}\n`;
}
