/**
 * `lockclaw audit`, the deeper host hardening of issue 12 (the host playbook's block "deeper hardening:
 * kernel, sudo, accounts, logs"): sudo's effective Defaults, the kernel sysctls and module blacklist,
 * login.defs, the root password, journald, fail2ban's .local files and the login banner. The sshd
 * directives of that block are the sshd task's (`explicit:`), judged with the rest of sshd (host.ts).
 *
 * Each check reads the effective state where the host can tell it (`sudo -l`, /proc/sys, `modprobe -c`,
 * `systemd-analyze cat-config`), not lockclaw's own files. A kernel key a container cannot change is SKIP
 * with the reason, never a failure: the drop-in is still checked, it takes effect on a VM's next boot.
 */
import type { Coverage } from "./coverage.js";
import type { AuditCheck } from "./host.js";
import type { PreparedPlay } from "../engine/prepare.js";
import { desiredSettings, type SshdSpec } from "../resources/sshd.js";
import { procPath, type SysctlSpec } from "../resources/sysctl.js";
import { Marks } from "../core/marks.js";
import { sh, shJoin, type Sh } from "../core/sh.js";

export const KERNEL_SYSCTL_FILE = "/etc/sysctl.d/60-lockclaw-kernel.conf";
export const LOGIN_DEFS_WANT: Record<string, string> = { UMASK: "027", ENCRYPT_METHOD: "YESCRYPT" };
export const SUDO_LOGFILE = "/var/log/sudo.log";

/** What the deeper hardening should have produced; an absent part was turned off by its variable. */
export interface HardeningExpected {
  deployUser: string;
  sudo?: { timestampTimeout: number };
  /** The kernel sysctls task's settings (the sysctl task that writes KERNEL_SYSCTL_FILE). */
  kernel?: Record<string, string>;
  modules?: string[];
  loginDefs?: boolean;
  rootLocked?: boolean;
  journald?: { maxUse: string };
  fail2banLocal?: boolean;
  /** The sshd task's Banner file (explicit: or settings.Banner). */
  banner?: string;
}

/**
 * From the prepared plays: the kernel sysctls and the banner from the tasks that set them (the sysctl task
 * writing KERNEL_SYSCTL_FILE, the sshd task's Banner), the rest from the host play's variables (the
 * values its templates and commands were rendered with); a task skipped by its `when:` is not expected.
 */
export function hardeningExpectedFromPlays(plays: readonly PreparedPlay[]): HardeningExpected {
  const vars: Record<string, unknown> = plays[0]?.vars ?? {};
  const tasks = plays.flatMap((p) => p.tasks).filter((t) => !t.skippedByWhen);
  const on = (name: string) => vars[name] === true;
  const kernelTask = tasks.find(
    (t) => t.kind.name === "sysctl" && (t.spec as SysctlSpec).file === KERNEL_SYSCTL_FILE,
  );
  const sshd = tasks.filter((t) => t.kind.name === "sshd").at(-1);
  const banner = sshd ? desiredSettings(sshd.spec as SshdSpec).Banner : undefined;
  return {
    deployUser: String(vars.deploy_user),
    ...(on("sudo_hardening") ? { sudo: { timestampTimeout: Number(vars.sudo_timestamp_timeout) } } : {}),
    ...(kernelTask
      ? {
          kernel: Object.fromEntries(
            Object.entries((kernelTask.spec as SysctlSpec).settings).map(([k, v]) => [k, String(v)]),
          ),
        }
      : {}),
    ...(on("kernel_hardening")
      ? { modules: ((vars.blacklisted_modules as string[] | undefined) ?? []).map(String) }
      : {}),
    ...(on("login_defs_hardening") ? { loginDefs: true } : {}),
    ...(on("lock_root_password") ? { rootLocked: true } : {}),
    ...(on("journald_persistent") ? { journald: { maxUse: String(vars.journald_max_use) } } : {}),
    ...(on("fail2ban_jail_local") ? { fail2banLocal: true } : {}),
    ...(typeof banner === "string" && banner !== "none" ? { banner } : {}),
  };
}

/**
 * The tasks each part judges more deeply than their module's plan (by the files, packages and services
 * they manage): ./derive.ts reports a covered task's drift once, under this part's failing check.
 */
export function hardeningCoverage(exp: HardeningExpected): Coverage[] {
  return [
    ...(exp.sudo ? [{ checks: ["sudo."], paths: [`/etc/sudoers.d/${exp.deployUser}`, "/etc/sudoers"] }] : []),
    ...(exp.kernel
      ? [{ checks: Object.keys(exp.kernel).map((k) => `kernel.${k}`), paths: [KERNEL_SYSCTL_FILE] }]
      : []),
    ...(exp.modules?.length ? [{ checks: ["kernel.modules"], paths: [MODULES_FILE] }] : []),
    ...(exp.journald ? [{ checks: ["journald."], paths: [JOURNALD_DROPIN] }] : []),
    ...(exp.fail2banLocal ? [{ checks: ["fail2ban.local_files"], paths: ["/etc/fail2ban/jail.local"] }] : []),
    ...(exp.banner ? [{ checks: ["sshd.banner_file"], paths: [exp.banner] }] : []),
  ];
}

const MARKS = new Marks("@@lockclaw-hardening");
const MODULE_RE = /^[A-Za-z0-9_-]+$/;
const MODULES_FILE = "/etc/modprobe.d/lockclaw-blacklist.conf";
const JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/60-lockclaw.conf";
const USER_RE = /^[a-z_][a-z0-9_.-]*$/;

/**
 * One read-only sh script (run as root); each part heads its output with a mark line. Values (the user,
 * the sysctl paths, the banner file) go in as quoted words; the name checks keep the evidence readable.
 */
export function hardeningAuditScript(exp: HardeningExpected): Sh {
  if (exp.sudo && !USER_RE.test(exp.deployUser)) throw new Error(`bad user name ${exp.deployUser}`);
  for (const m of exp.modules ?? []) if (!MODULE_RE.test(m)) throw new Error(`bad module name ${m}`);
  const m = MARKS.sh;
  const out: Sh[] = [];
  if (exp.sudo) {
    out.push(
      MARKS.open("visudo"),
      sh`visudo -c >/dev/null 2>&1; echo "${m} visudo-rc $?"`,
      MARKS.open("sudo-l"),
      sh`LC_ALL=C sudo -n -l -U ${exp.deployUser} 2>&1`,
    );
  }
  if (exp.kernel) {
    out.push(MARKS.open("sysctl-file"), sh`base64 -w0 < ${KERNEL_SYSCTL_FILE} 2>/dev/null; echo`);
    for (const key of Object.keys(exp.kernel)) {
      const p = procPath(key);
      out.push(
        shJoin(
          [
            sh`if [ ! -e ${p} ]; then echo ${MARKS.line(`sysctl ${key} missing`)}; `,
            sh`elif [ -w ${p} ]; then echo ${MARKS.line(`sysctl ${key} rw`)} "$(tr '\\t\\n' '  ' < ${p})"; `,
            sh`else echo ${MARKS.line(`sysctl ${key} ro`)} "$(tr '\\t\\n' '  ' < ${p})"; fi`,
          ],
          "",
        ),
      );
    }
  }
  if (exp.modules?.length) {
    out.push(
      sh`if command -v modprobe >/dev/null 2>&1; then ${MARKS.open("modprobe-c")}; modprobe -c 2>/dev/null | grep -E '^(blacklist|install) '`,
      // without kmod nothing can load a module; read the files modprobe would
      sh`else ${MARKS.open("modprobe-files")}; cat /etc/modprobe.d/*.conf /run/modprobe.d/*.conf /lib/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf 2>/dev/null | grep -E '^[[:space:]]*(blacklist|install)[[:space:]]'; fi`,
    );
  }
  if (exp.loginDefs) {
    out.push(
      MARKS.open("login-defs"),
      sh`grep -E '^[[:space:]]*(UMASK|ENCRYPT_METHOD)[[:space:]]' /etc/login.defs 2>&1`,
    );
  }
  if (exp.rootLocked) {
    // only the verdict leaves the host: the hash itself never is printed
    out.push(
      sh`echo "${m} root-password $(awk -F: '$1 == "root" { f = 1; if ($2 ~ /^[!*]/) print "locked"; else if ($2 == "") print "empty"; else print "usable" } END { if (!f) print "no-entry" }' /etc/shadow 2>/dev/null)"`,
    );
  }
  if (exp.journald) {
    out.push(
      MARKS.open("journald-conf"),
      sh`if command -v systemd-analyze >/dev/null 2>&1; then systemd-analyze cat-config systemd/journald.conf 2>/dev/null; else cat /etc/systemd/journald.conf /etc/systemd/journald.conf.d/*.conf 2>/dev/null; fi | grep -E '^[[:space:]]*(Storage|SystemMaxUse)='`,
      sh`echo "${m} journald-files $(ls /var/log/journal/"$(cat /etc/machine-id 2>/dev/null)"/ 2>/dev/null | grep -c '^system.*\\.journal')"`,
    );
  }
  if (exp.fail2banLocal) {
    out.push(
      sh`echo "${m} f2b-local $([ -s /etc/fail2ban/jail.local ] && echo present || echo absent)"`,
      sh`echo "${m} f2b-conf-md5 $(md5sum /etc/fail2ban/jail.conf 2>/dev/null | cut -d' ' -f1) $(dpkg-query -W -f='\${Conffiles}\\n' fail2ban 2>/dev/null | awk '$1 == "/etc/fail2ban/jail.conf" { print $2 }')"`,
    );
  }
  if (exp.banner) {
    out.push(sh`echo "${m} banner $(wc -c < ${exp.banner} 2>/dev/null || echo 0)"`);
  }
  out.push(MARKS.open("end"));
  return shJoin(out);
}

/** Sections in order; a section's head is its whole mark line after the marker. */
function sections(stdout: string): Array<{ head: string; body: string[] }> {
  return MARKS.split(stdout).map((x) => ({ head: x.head, body: x.body === "" ? [] : x.body.split("\n") }));
}

const check = (id: string, title: string, pass: boolean, evidence: string, skipped = false): AuditCheck =>
  skipped ? { id, title, pass: true, evidence, skipped: true } : { id, title, pass, evidence };

/** `Matching Defaults entries for U on H:` followed by indented, comma-separated entries. */
export function parseSudoDefaults(text: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /^Matching Defaults entries for /.test(l));
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!/^\s+\S/.test(l)) break;
    // a value may itself hold commas inside quotes (secure_path="…"): split outside them only
    out.push(...(l.trim().match(/(?:[^,"]|"[^"]*")+/g) ?? []).map((e) => e.trim()).filter(Boolean));
  }
  return out;
}

/** The modules (normalised: `-` as `_`) that are blacklisted and whose install runs /bin/false or /bin/true. */
export function disabledModules(lines: string[]): { blacklisted: Set<string>; installOff: Set<string> } {
  const norm = (m: string) => m.replace(/-/g, "_");
  const blacklisted = new Set<string>();
  const installs = new Map<string, string[]>();
  for (const raw of lines) {
    const f = raw.trim().split(/\s+/);
    if (f[0] === "blacklist" && f[1]) blacklisted.add(norm(f[1]));
    if (f[0] === "install" && f[1]) {
      const m = norm(f[1]);
      installs.set(m, [...(installs.get(m) ?? []), f.slice(2).join(" ")]);
    }
  }
  const installOff = new Set(
    [...installs]
      .filter(([, cmds]) => cmds.every((c) => /^\/(usr\/)?bin\/(false|true)$/.test(c)))
      .map(([m]) => m),
  );
  return { blacklisted, installOff };
}

/** The last value each key gets (login.defs and journald.conf: a later line wins). */
function lastValues(lines: string[], sep: RegExp): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of lines) {
    const m = sep.exec(l.trim());
    if (m) out.set(m[1]!, m[2]!.trim());
  }
  return out;
}

export function evaluateHardeningAudit(stdout: string, exp: HardeningExpected): AuditCheck[] {
  const list = sections(stdout);
  const get = (name: string) => list.find((s) => s.head === name || s.head.startsWith(`${name} `));
  const arg = (name: string) => {
    const s = get(name);
    return s && s.head !== name ? s.head.slice(name.length + 1) : undefined;
  };
  const checks: AuditCheck[] = [];
  if (!get("end")) {
    checks.push(check("hardening.complete", "hardening audit ran to the end", false, "output incomplete"));
  }

  if (exp.sudo) {
    const visudo = arg("visudo-rc");
    checks.push(
      check(
        "sudo.syntax",
        "visudo -c accepts every sudoers file",
        visudo === "0",
        `visudo -c exit ${visudo ?? "?"}`,
      ),
    );
    const defaults = parseSudoDefaults((get("sudo-l")?.body ?? []).join("\n"));
    const want = ["use_pty", `logfile=${SUDO_LOGFILE}`, `timestamp_timeout=${exp.sudo.timestampTimeout}`];
    for (const w of want) {
      const key = w.split("=")[0]!;
      // sudo applies the last setting of a key; `!use_pty` after use_pty turns it off again
      const seen = defaults.filter((d) => d.replace(/^!/, "").split("=")[0] === key);
      const last = seen[seen.length - 1];
      checks.push(
        check(
          `sudo.${key}`,
          `sudo Defaults ${w} for ${exp.deployUser}`,
          last === w,
          last
            ? `effective: ${seen.join(", ")}`
            : `not set (sudo -l -U ${exp.deployUser} lists: ${defaults.join(", ") || "nothing"})`,
        ),
      );
    }
  }

  if (exp.kernel) {
    const file = Buffer.from((get("sysctl-file")?.body ?? []).join("").trim(), "base64").toString("utf8");
    const inFile = lastValues(file.split("\n"), /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/);
    for (const [key, want] of Object.entries(exp.kernel)) {
      const m = /^(rw|ro|missing) ?(.*)$/.exec(arg(`sysctl ${key}`) ?? "");
      const status = m?.[1];
      const live = (m?.[2] ?? "").trim().split(/\s+/).join(" ");
      const fileOk = inFile.get(key) === want;
      const title = `sysctl ${key} = ${want}`;
      if (!fileOk) {
        checks.push(
          check(
            `kernel.${key}`,
            title,
            false,
            `${KERNEL_SYSCTL_FILE} ${inFile.has(key) ? `sets ${inFile.get(key)}` : "does not set it"}${status && status !== "missing" ? `; live ${live}` : ""}`,
          ),
        );
      } else if (!status) {
        checks.push(check(`kernel.${key}`, title, false, "not read"));
      } else if (live === want) {
        checks.push(check(`kernel.${key}`, title, true, `live ${live}`));
      } else if (status === "rw") {
        checks.push(
          check(`kernel.${key}`, title, false, `live ${live} (the drop-in says ${want}: not applied)`),
        );
      } else {
        checks.push(
          check(
            `kernel.${key}`,
            title,
            true,
            status === "missing"
              ? `not present on this kernel or in this namespace; ${KERNEL_SYSCTL_FILE} sets it for a kernel that has it`
              : `read-only here (a container shares the host's kernel): live ${live}; ${KERNEL_SYSCTL_FILE} sets ${want} for a VM's next boot`,
            true,
          ),
        );
      }
    }
  }

  if (exp.modules?.length) {
    const s = get("modprobe-c") ?? get("modprobe-files");
    const { blacklisted, installOff } = disabledModules(s?.body ?? []);
    const bad = exp.modules.filter((m) => {
      const n = m.replace(/-/g, "_");
      return !blacklisted.has(n) || !installOff.has(n);
    });
    checks.push(
      check(
        "kernel.modules",
        `modules ${exp.modules.join(", ")} blacklisted and their install disabled`,
        !!s && bad.length === 0,
        !s
          ? "modprobe configuration not read"
          : bad.length
            ? `not disabled: ${bad.join(", ")}`
            : `${exp.modules.length} modules (${s.head === "modprobe-c" ? "modprobe -c" : "modprobe.d files; no modprobe here"})`,
      ),
    );
  }

  if (exp.loginDefs) {
    const have = lastValues(get("login-defs")?.body ?? [], /^(UMASK|ENCRYPT_METHOD)\s+(\S+)/);
    for (const [key, want] of Object.entries(LOGIN_DEFS_WANT)) {
      checks.push(
        check(
          `accounts.${key}`,
          `/etc/login.defs ${key} ${want}`,
          have.get(key) === want,
          `${key} ${have.get(key) ?? "(unset)"}`,
        ),
      );
    }
  }

  if (exp.rootLocked) {
    const v = arg("root-password") ?? "";
    checks.push(
      check(
        "accounts.root_password",
        "root has no usable password (locked)",
        v === "locked",
        v === "locked"
          ? "locked in /etc/shadow"
          : v === "usable"
            ? "root has a usable password hash"
            : v === "empty"
              ? "root's password is EMPTY"
              : `not read (${v || "no answer"})`,
      ),
    );
  }

  if (exp.journald) {
    const conf = lastValues(get("journald-conf")?.body ?? [], /^(Storage|SystemMaxUse)=(.*)$/);
    const files = Number(arg("journald-files") ?? "0");
    const storage = conf.get("Storage") ?? "auto";
    checks.push(
      check(
        "journald.persistent",
        "journald keeps logs on disk (/var/log/journal)",
        (storage === "persistent" || storage === "auto") && files > 0,
        `Storage=${storage}; ${files} system journal file(s) in /var/log/journal`,
      ),
    );
    checks.push(
      check(
        "journald.max_use",
        `journald SystemMaxUse=${exp.journald.maxUse}`,
        conf.get("SystemMaxUse") === exp.journald.maxUse,
        `SystemMaxUse=${conf.get("SystemMaxUse") ?? "(unset: 10% of the file system)"}`,
      ),
    );
  }

  if (exp.fail2banLocal) {
    const local = arg("f2b-local");
    const [have, pkg] = (arg("f2b-conf-md5") ?? "").split(" ");
    const pristine = !!have && (!pkg || have === pkg);
    checks.push(
      check(
        "fail2ban.local_files",
        "fail2ban settings in .local files only (jail.local present, jail.conf as packaged)",
        local === "present" && pristine,
        [
          `jail.local ${local ?? "?"}`,
          !have
            ? "jail.conf not found"
            : !pkg
              ? "jail.conf (no package checksum to compare)"
              : have === pkg
                ? "jail.conf as packaged"
                : "jail.conf EDITED (differs from the package)",
        ].join("; "),
      ),
    );
  }

  if (exp.banner) {
    const bytes = Number(arg("banner") ?? "0");
    checks.push(
      check("sshd.banner_file", `the login banner ${exp.banner} has text`, bytes > 0, `${bytes} bytes`),
    );
  }
  return checks;
}
