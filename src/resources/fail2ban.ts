/**
 * `fail2ban`: one jail (the host playbook's `[sshd]` jail) in a lockclaw-owned jail.d file, proven running by
 * the server's answer to `status JAIL` (./fail2ban/jail-status.ts: its socket, without fail2ban-client's
 * start-up).
 *
 * Choices, and why:
 * - backend systemd: Debian 12+/Ubuntu have no /var/log/auth.log by default, so a file backend sees nothing.
 * - journalmatch covers ssh.service (Debian/Ubuntu's unit name; fail2ban's filter only names
 *   sshd.service) and sshd-session (OpenSSH ≥ 9.8 logs authentication from that process).
 * - banaction nftables by default: bans live in fail2ban's own nft table, so the UFW rule set stays exactly
 *   what the ufw task declares (the ufw action would add and remove UFW rules behind its back).
 */
import { z } from "zod";
import { wholeNumber } from "./common/schema.js";
import type { Change, Planned, ResourceKind } from "../engine/resource.js";
import { sh, shJoin, type Sh } from "../core/sh.js";
import { contentDiff } from "./common/diffText.js";
import { atomicWriteSh, dirOf } from "../core/atomic-write.js";
import { base64Body, Marks } from "../core/marks.js";
import { jailStatusSh } from "./fail2ban/jail-status.js";

export const DEFAULT_JAIL_FILE = "/etc/fail2ban/jail.d/lockclaw.local";
export const DEFAULT_JOURNALMATCH =
  "_SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service + _COMM=sshd + _COMM=sshd-session";

const word = (what: string) =>
  z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: `${what} must be a single word (letters, digits, _ . -)` });

export const fail2banSpec = z
  .strictObject({
    jail: word("jail").default("sshd").describe("The jail's name (its filter of the same name)."),
    port: wholeNumber("port", 1, 65535).describe("The port its bans block (the SSH port)."),
    backend: z
      .enum(["systemd", "auto", "pyinotify", "polling"], {
        error: "backend must be systemd, auto, pyinotify or polling",
      })
      .default("systemd")
      .describe("Where fail2ban reads the log: systemd (the journal) on Debian 12 and later."),
    journalmatch: z
      .string()
      .regex(/^[A-Za-z0-9_=.+@ -]+$/, { error: "journalmatch must be FIELD=value terms joined by +" })
      .default(DEFAULT_JOURNALMATCH)
      .describe("With backend systemd: the journal entries the jail reads."),
    maxretry: wholeNumber("maxretry", 1, 100).default(3).describe("Failures that get an address banned."),
    findtime: wholeNumber("findtime", 1, 604800)
      .default(600)
      .describe("Seconds in which maxretry failures count."),
    bantime: wholeNumber("bantime", 1, 31536000).default(3600).describe("Seconds a ban lasts."),
    banaction: word("banaction")
      .default("nftables-multiport")
      .describe("The action that bans (nftables: in fail2ban's own table, never in ufw's rule set)."),
    banaction_allports: word("banaction_allports")
      .default("nftables-allports")
      .describe("The action for bans on every port."),
    ignoreip: z
      .array(z.string().regex(/^[0-9A-Fa-f.:/]+$/, { error: "ignoreip entries must be addresses or CIDRs" }))
      .default(["127.0.0.1/8", "::1"])
      .describe("Addresses and CIDRs never banned."),
    path: z
      .string()
      .regex(/^\/etc\/fail2ban\/jail\.d\/[A-Za-z0-9._-]+\.local$/, {
        error: "path must be /etc/fail2ban/jail.d/NAME.local",
      })
      .default(DEFAULT_JAIL_FILE)
      .describe("The jail.d file lockclaw writes."),
    /** How long apply waits for the jail to answer after the restart. */
    wait_seconds: wholeNumber("wait_seconds", 1, 300)
      .default(30)
      .describe("Seconds apply waits for the jail to answer after the restart."),
  })
  .meta({
    description: "One fail2ban jail in a lockclaw-owned jail.d file, proven running with fail2ban-client.",
    examples: [{ jail: "sshd", port: "{{ssh_port}}", ignoreip: ["127.0.0.1/8", "::1", "{{admin_cidrs}}"] }],
  });
export type Fail2banSpec = z.output<typeof fail2banSpec>;

export function renderJail(spec: Fail2banSpec): string {
  const lines = [
    "# Managed by lockclaw (fail2ban resource); local edits are reverted on the next run.",
    `[${spec.jail}]`,
    "enabled = true",
    `port = ${spec.port}`,
    `backend = ${spec.backend}`,
  ];
  if (spec.backend === "systemd") lines.push(`journalmatch = ${spec.journalmatch}`);
  lines.push(
    `maxretry = ${spec.maxretry}`,
    `findtime = ${spec.findtime}`,
    `bantime = ${spec.bantime}`,
    `banaction = ${spec.banaction}`,
    `banaction_allports = ${spec.banaction_allports}`,
    `ignoreip = ${spec.ignoreip.join(" ")}`,
  );
  return `${lines.join("\n")}\n`;
}

export interface Fail2banFacts {
  installed: boolean;
  /** `systemctl is-active fail2ban` (or "unknown" without systemd). */
  active: string;
  enabled: string;
  file?: string;
  /** Exit status of the server's answer to `status JAIL` (as fail2ban-client gives it) and the answer. */
  jailRc: number;
  jailStatus: string;
}

const MARKS = new Marks("@@lockclaw-fail2ban");

export function fail2banProbeScript(spec: Fail2banSpec): Sh {
  const m = MARKS.sh;
  return shJoin([
    sh`if command -v fail2ban-client >/dev/null 2>&1; then ${MARKS.open("installed")}; fi`,
    sh`echo "${m} active $(systemctl is-active fail2ban 2>/dev/null || true)"`,
    sh`echo "${m} enabled $(systemctl is-enabled fail2ban 2>/dev/null || true)"`,
    sh`if [ -f ${spec.path} ]; then ${MARKS.open("file")}; base64 -w0 < ${spec.path}; echo; fi`,
    sh`${MARKS.open("jail")}`,
    jailStatusSh(spec.jail),
    sh`printf '%s\\n' "$lc_o"`,
    sh`echo "${m} jail-rc $lc_rc"`,
    MARKS.open("end"),
  ]);
}

export function parseFail2banProbe(stdout: string): Fail2banFacts {
  const list = MARKS.splitComplete(stdout, "fail2ban");
  const last = (name: string) => [...list].reverse().find((x) => x.name === name);
  const file = last("file");
  return {
    installed: list.some((x) => x.name === "installed"),
    active: last("active")?.arg.trim() ?? "",
    enabled: last("enabled")?.arg.trim() ?? "",
    jailRc: last("jail-rc") ? Number(last("jail-rc")!.arg.split(" ")[0]) : -1,
    jailStatus: (last("jail")?.body ?? "").trim(),
    ...(file ? { file: base64Body(file) } : {}),
  };
}

/** The server answered `status JAIL` with the jail's figures: it runs. */
export function jailRunning(f: Fail2banFacts, jail: string): boolean {
  return f.jailRc === 0 && f.jailStatus.includes(`Status for the jail: ${jail}`);
}

export interface Fail2banPlan {
  content: string;
  write: boolean;
  restart: boolean;
  enable: boolean;
}

export function planFail2ban(spec: Fail2banSpec, facts: Fail2banFacts): Planned<Fail2banPlan> {
  const content = renderJail(spec);
  const changes: Change[] = [];
  if (!facts.installed)
    changes.push({ summary: "fail2ban is not installed (a package task must install it first)" });
  const write = facts.file !== content;
  if (write) {
    changes.push({
      summary: `${facts.file === undefined ? "create" : "update"} ${spec.path}`,
      diff: contentDiff(spec.path, facts.file, content),
    });
  }
  const running = facts.active === "active" && jailRunning(facts, spec.jail);
  if (facts.active !== "active")
    changes.push({ summary: `fail2ban service ${facts.active || "unknown"} → active` });
  else if (!jailRunning(facts, spec.jail))
    changes.push({ summary: `jail ${spec.jail} not running → running` });
  const enable = facts.enabled !== "enabled";
  if (enable) changes.push({ summary: `fail2ban service ${facts.enabled || "unknown"} at boot → enabled` });
  return { changes, plan: { content, write, restart: write || !running, enable } };
}

export function applyFail2ban(spec: Fail2banSpec, plan: Fail2banPlan): Sh {
  const p = spec.path;
  const lines: Sh[] = [
    sh`command -v fail2ban-client >/dev/null 2>&1 || { echo 'fail2ban: not installed; add a package task for fail2ban before this one' >&2; exit 1; }`,
  ];
  if (plan.write) {
    lines.push(
      sh`lc_old=$(mktemp /run/lockclaw-f2b.XXXXXXXX); lc_had=0; if [ -f ${p} ]; then cp -a ${p} "$lc_old"; lc_had=1; fi`,
      atomicWriteSh({
        target: sh`${p}`,
        dir: sh`${dirOf(p)}`,
        source: { content: plan.content },
        mode: "0644",
        keepOwner: false,
        label: `fail2ban ${p}`,
      }),
      // a config fail2ban cannot read would stop the service on restart: test first, put the old file back
      sh`if ! lc_err=$(fail2ban-client -t 2>&1); then`,
      sh`  if [ "$lc_had" = 1 ]; then cp -a "$lc_old" ${p}; else rm -f ${p}; fi; rm -f "$lc_old"`,
      sh`  echo 'fail2ban: fail2ban-client -t rejected the configuration; the previous file is back:' >&2`,
      sh`  printf '%s\\n' "$lc_err" | tail -n 5 >&2; exit 1`,
      sh`fi`,
      sh`rm -f "$lc_old"`,
    );
  }
  if (plan.enable) lines.push(sh`systemctl enable -q fail2ban`);
  if (plan.restart) {
    lines.push(
      sh`systemctl restart fail2ban`,
      // the server answers on its socket only after reading every jail: poll until the jail is up
      sh`lc_i=0; until fail2ban-client status ${spec.jail} >/dev/null 2>&1; do`,
      sh`  lc_i=$((lc_i + 1)); if [ "$lc_i" -gt ${spec.wait_seconds * 5} ]; then`,
      sh`    echo ${`fail2ban: jail ${spec.jail} did not come up within ${spec.wait_seconds}s after the restart:`} >&2`,
      sh`    journalctl -u fail2ban -n 10 --no-pager >&2 2>/dev/null || true; exit 1`,
      sh`  fi; sleep 0.2`,
      sh`done`,
    );
  }
  return shJoin(lines);
}

export const fail2banKind: ResourceKind<Fail2banSpec, Fail2banFacts, Fail2banPlan> = {
  name: "fail2ban",
  spec: fail2banSpec,
  describe: (spec) => `fail2ban jail ${spec.jail} (port ${spec.port})`,
  // python3 asking the server, two systemctl: ~80 ms on a lab machine
  probe: (spec) => ({ script: fail2banProbeScript(spec), parse: parseFail2banProbe, cost: 80 }),
  plan: (spec, facts) => planFail2ban(spec, facts),
  apply: applyFail2ban,
  verifiable: true,
};
