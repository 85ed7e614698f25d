import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  disabledModules,
  evaluateHardeningAudit,
  hardeningAuditScript,
  hardeningExpectedFromPlays,
  parseSudoDefaults,
  type HardeningExpected,
} from "../../../src/audit/hardening.js";
import type { AuditCheck } from "../../../src/audit/host.js";
import { desiredSettings, type SshdSpec } from "../../../src/resources/sshd.js";
import { prepared } from "./support.js";

// Samples captured on a Debian 13 lab machine (systemd-nspawn) after `provision host`.
const M = "@@lockclaw-hardening";
const root = join(__dirname, "../../..");
const hostYml = parse(readFileSync(join(root, "playbooks/host.yml"), "utf8")) as {
  vars: Record<string, unknown>;
  tasks: Array<Record<string, unknown> & { name: string }>;
};
/** The host playbook's kernel sysctls task, as the audit derives it from the prepared plays. */
const KERNEL_SYSCTLS = hardeningExpectedFromPlays(prepared()).kernel!;
const SUDO_L = `Matching Defaults entries for deploy on hx1:
    env_reset, mail_badpass, secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin, use_pty, use_pty, logfile=/var/log/sudo.log, timestamp_timeout=5

User deploy may run the following commands on hx1:
    (ALL : ALL) ALL
    (ALL : ALL) NOPASSWD: ALL`;
const SYSCTL_FILE = `# Managed by lockclaw\n${Object.entries(KERNEL_SYSCTLS)
  .map(([k, v]) => `${k} = ${v}`)
  .join("\n")}\n`;
const MODULES = ["dccp", "sctp", "usb-storage"];
const modprobeLines = (mods: string[]) => mods.flatMap((m) => [`blacklist ${m}`, `install ${m} /bin/false`]);

interface Parts {
  sudoL?: string;
  visudoRc?: number;
  sysctlFile?: string;
  /** key -> "ro 0" / "rw 1" / "missing" */
  sysctl?: Record<string, string>;
  modprobe?: string[];
  modprobeHead?: string;
  loginDefs?: string;
  root?: string;
  journald?: string;
  journalFiles?: number;
  f2bLocal?: string;
  f2bMd5?: string;
  banner?: number;
}

function output(p: Parts = {}): string {
  const sysctl =
    p.sysctl ?? Object.fromEntries(Object.entries(KERNEL_SYSCTLS).map(([k, v]) => [k, `rw ${v}`]));
  return [
    `${M} visudo`,
    `${M} visudo-rc ${p.visudoRc ?? 0}`,
    `${M} sudo-l`,
    p.sudoL ?? SUDO_L,
    `${M} sysctl-file`,
    Buffer.from(p.sysctlFile ?? SYSCTL_FILE).toString("base64"),
    ...Object.entries(sysctl).map(([k, v]) => `${M} sysctl ${k} ${v}`),
    `${M} ${p.modprobeHead ?? "modprobe-files"}`,
    ...(p.modprobe ?? modprobeLines(MODULES)),
    `${M} login-defs`,
    p.loginDefs ?? "ENCRYPT_METHOD YESCRYPT\nUMASK 027",
    `${M} root-password ${p.root ?? "locked"}`,
    `${M} journald-conf`,
    p.journald ?? "Storage=persistent\nSystemMaxUse=500M",
    `${M} journald-files ${p.journalFiles ?? 1}`,
    `${M} f2b-local ${p.f2bLocal ?? "present"}`,
    `${M} f2b-conf-md5 ${p.f2bMd5 ?? "0123abcd 0123abcd"}`,
    `${M} banner ${p.banner ?? 224}`,
    `${M} end`,
  ].join("\n");
}

const EXPECTED: HardeningExpected = {
  deployUser: "deploy",
  sudo: { timestampTimeout: 5 },
  kernel: KERNEL_SYSCTLS,
  modules: MODULES,
  loginDefs: true,
  rootLocked: true,
  journald: { maxUse: "500M" },
  fail2banLocal: true,
  banner: "/etc/issue.net",
};
const failed = (checks: AuditCheck[]) => checks.filter((c) => !c.pass).map((c) => `${c.id}: ${c.evidence}`);
const byId = (checks: AuditCheck[], id: string) => checks.find((c) => c.id === id)!;

describe("deeper hardening audit (issue 12)", () => {
  it("passes the state a provisioned host has", () => {
    const checks = evaluateHardeningAudit(output(), EXPECTED);
    expect(failed(checks)).toEqual([]);
    expect(checks.filter((c) => c.skipped)).toEqual([]);
    expect(checks.length).toBe(1 + 3 + Object.keys(KERNEL_SYSCTLS).length + 1 + 2 + 1 + 2 + 1 + 1);
  });

  it("sudo: the effective Defaults (sudo -l), the last setting of a key winning", () => {
    expect(parseSudoDefaults(SUDO_L)).toContain("timestamp_timeout=5");
    expect(parseSudoDefaults(SUDO_L)).toContain(
      "secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin",
    );
    const noPty = SUDO_L.replace("use_pty, use_pty, ", "");
    expect(failed(evaluateHardeningAudit(output({ sudoL: noPty }), EXPECTED))).toEqual([
      expect.stringMatching(/^sudo\.use_pty: not set/),
    ]);
    const undone = SUDO_L.replace(
      "timestamp_timeout=5",
      "timestamp_timeout=5, !use_pty, timestamp_timeout=60",
    );
    expect(failed(evaluateHardeningAudit(output({ sudoL: undone }), EXPECTED))).toEqual([
      "sudo.use_pty: effective: use_pty, use_pty, !use_pty",
      "sudo.timestamp_timeout: effective: timestamp_timeout=5, timestamp_timeout=60",
    ]);
    expect(failed(evaluateHardeningAudit(output({ visudoRc: 1 }), EXPECTED))).toEqual([
      "sudo.syntax: visudo -c exit 1",
    ]);
  });

  it("kernel: a read-only or absent key is SKIP with the reason; a wrong drop-in or a writable wrong value fails", () => {
    const sysctl = Object.fromEntries(Object.keys(KERNEL_SYSCTLS).map((k) => [k, `rw ${KERNEL_SYSCTLS[k]}`]));
    const container = { ...sysctl, "kernel.kptr_restrict": "ro 0", "net.core.bpf_jit_harden": "missing" };
    const checks = evaluateHardeningAudit(output({ sysctl: container }), EXPECTED);
    expect(failed(checks)).toEqual([]);
    expect(byId(checks, "kernel.kernel.kptr_restrict")).toMatchObject({ skipped: true });
    expect(byId(checks, "kernel.kernel.kptr_restrict").evidence).toMatch(/read-only here .*live 0/);
    expect(byId(checks, "kernel.net.core.bpf_jit_harden").evidence).toMatch(/not present/);
    // a VM: the key is writable and someone set it back
    expect(
      failed(evaluateHardeningAudit(output({ sysctl: { ...sysctl, "kernel.sysrq": "rw 1" } }), EXPECTED)),
    ).toEqual(["kernel.kernel.sysrq: live 1 (the drop-in says 0: not applied)"]);
    // the drop-in edited: fails even where the kernel key cannot be written
    const edited = SYSCTL_FILE.replace("kernel.kptr_restrict = 2", "kernel.kptr_restrict = 0");
    expect(
      failed(evaluateHardeningAudit(output({ sysctl: container, sysctlFile: edited }), EXPECTED)),
    ).toEqual(["kernel.kernel.kptr_restrict: /etc/sysctl.d/60-lockclaw-kernel.conf sets 0; live 0"]);
  });

  it("modules: blacklisted AND their install disabled, - and _ alike; another install command fails", () => {
    expect(disabledModules(["blacklist usb_storage", "install usb_storage /bin/false"]).installOff).toContain(
      "usb_storage",
    );
    const onlyBlacklist = [
      "blacklist dccp",
      "blacklist sctp",
      "install sctp /bin/false",
      ...modprobeLines(["usb-storage"]),
    ];
    expect(failed(evaluateHardeningAudit(output({ modprobe: onlyBlacklist }), EXPECTED))).toEqual([
      "kernel.modules: not disabled: dccp",
    ]);
    const reEnabled = [...modprobeLines(MODULES), "install sctp /sbin/modprobe --ignore-install sctp"];
    expect(
      failed(evaluateHardeningAudit(output({ modprobe: reEnabled, modprobeHead: "modprobe-c" }), EXPECTED)),
    ).toEqual(["kernel.modules: not disabled: sctp"]);
  });

  it("login.defs (the last line wins), root password, journald, fail2ban files, banner", () => {
    const out = output({
      loginDefs: "UMASK 027\nENCRYPT_METHOD SHA512\nUMASK\t\t022",
      root: "usable",
      journald: "Storage=persistent\nSystemMaxUse=500M\nStorage=volatile",
      journalFiles: 0,
      f2bMd5: "aaaa bbbb",
      banner: 0,
    });
    expect(failed(evaluateHardeningAudit(out, EXPECTED))).toEqual([
      "accounts.UMASK: UMASK 022",
      "accounts.ENCRYPT_METHOD: ENCRYPT_METHOD SHA512",
      "accounts.root_password: root has a usable password hash",
      "journald.persistent: Storage=volatile; 0 system journal file(s) in /var/log/journal",
      "fail2ban.local_files: jail.local present; jail.conf EDITED (differs from the package)",
      "sshd.banner_file: 0 bytes",
    ]);
  });

  it("a part turned off by its variable is neither probed nor judged", () => {
    const off = hardeningExpectedFromPlays(
      prepared(undefined, { kernel_hardening: false, sudo_hardening: false }),
    );
    // the kernel sysctls task is skipped by its when: nothing to expect from it
    expect(off.kernel).toBeUndefined();
    expect(off.modules).toBeUndefined();
    expect(off.sudo).toBeUndefined();
    const script = String(hardeningAuditScript(off));
    expect(script).not.toContain("sudo -n -l");
    expect(script).not.toContain("/proc/sys/kernel");
    const checks = evaluateHardeningAudit(output(), off);
    expect(checks.some((c) => c.id.startsWith("kernel.") || c.id.startsWith("sudo."))).toBe(false);
  });

  it("the sshd directives and the banner come from the sshd task's spec (explicit:)", () => {
    const sshdOf = (vars: Record<string, unknown>) =>
      desiredSettings(
        prepared(undefined, vars)[0]!.tasks.find((t) => t.kind.name === "sshd")!.spec as SshdSpec,
      );
    expect(sshdOf({ ssh_explicit: false, ssh_max_sessions: 4 })).toMatchObject({ MaxSessions: 4 });
    expect(sshdOf({ ssh_explicit: false, ssh_max_sessions: 4 }).AllowTcpForwarding).toBeUndefined();
    expect(sshdOf({})).toMatchObject({
      AllowTcpForwarding: "no",
      TCPKeepAlive: false,
      LogLevel: "VERBOSE",
      MaxSessions: 2,
    });
    expect(hardeningExpectedFromPlays(prepared()).banner).toBe("/etc/issue.net");
    expect(hardeningExpectedFromPlays(prepared(undefined, { ssh_explicit: false })).banner).toBeUndefined();
  });

  it("the script never prints root's hash and refuses names it would have to quote", () => {
    const script = String(hardeningAuditScript(hardeningExpectedFromPlays(prepared())));
    expect(script).toMatch(/print "locked"/);
    const shadow = script.split("\n").filter((l) => l.includes("/etc/shadow"));
    expect(shadow).toHaveLength(1);
    expect(shadow[0]).not.toMatch(/print \$2|print \$0|print;|print \}/);
    expect(() => hardeningAuditScript({ ...EXPECTED, modules: ["dccp; reboot"] })).toThrow(/bad module/);
    expect(() => hardeningAuditScript({ ...EXPECTED, deployUser: "x'y" })).toThrow(/bad user/);
  });

  it("values reach the script as quoted words: a hostile key or banner path runs nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-hard-"));
    const pwned = join(dir, "pwned");
    const evil = `x'$(touch ${pwned})'"; touch ${pwned}; #`;
    const script = hardeningAuditScript({
      deployUser: "deploy",
      kernel: { [`kernel.${evil}`]: "1" },
      banner: `/nonexistent/${evil}`,
    });
    const r = spawnSync("sh", ["-c", String(script)], { encoding: "utf8" });
    expect(existsSync(pwned)).toBe(false);
    const checks = evaluateHardeningAudit(r.stdout, {
      deployUser: "deploy",
      kernel: { [`kernel.${evil}`]: "1" },
      banner: `/nonexistent/${evil}`,
    });
    // the script ran to its end mark and each part was read back under its own (hostile) name
    expect(checks.find((c) => c.id === "hardening.complete")).toBeUndefined();
    expect(checks.find((c) => c.id === "sshd.banner_file")).toMatchObject({
      pass: false,
      evidence: "0 bytes",
    });
    expect(checks.find((c) => c.id === `kernel.kernel.${evil}`)?.evidence).toMatch(/does not set it/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("its sysctl list is the host playbook's kernel sysctls task", () => {
    const task = hostYml.tasks.find((t) => t.name === "Kernel hardening sysctls")!.sysctl as {
      file: string;
      settings: Record<string, number>;
    };
    expect(task.file).toBe("/etc/sysctl.d/60-lockclaw-kernel.conf");
    expect(Object.fromEntries(Object.entries(task.settings).map(([k, v]) => [k, String(v)]))).toEqual(
      KERNEL_SYSCTLS,
    );
  });
});
