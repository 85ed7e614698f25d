/**
 * `lockclaw audit`, host part (SPEC §8): one read-only script collects the live state (sshd -T, every
 * listening socket, ufw's status and rule files, the fail2ban jail); a pure function judges it. Each check
 * carries its evidence, and a failing check names the offender (the rogue listener, the setting's actual
 * value, the extra rule), so the report says what to fix without a second look at the host.
 */
import { parseCidr } from "../core/cidr.js";
import type { Transport } from "../transport/types.js";
import { runScript } from "../transport/script.js";
import {
  ALGORITHMS,
  DEFAULT_ALGORITHMS,
  DEFAULT_SETTINGS,
  SETTINGS,
  parseSshdT,
  sshdTForm,
  type AlgorithmField,
  type AlgorithmName,
  type SettingName,
  type Settings,
} from "../resources/sshd/config.js";
import { connectionSpecs, sshdSpec } from "../resources/sshd.js";
import { authorizedKeyChecks, authorizedKeysScript } from "./keys.js";
import { desiredRules, describeTuple, isFail2banBan, ufwSpec, type UfwRuleSpec } from "../resources/ufw.js";
import { describeVerdict, evaluateLive, liveProbeLines, parseLiveSections } from "../resources/ufw/live.js";
import { Marks, type Marked } from "../core/marks.js";
import { safeWord, sh, shJoin, type Sh } from "../core/sh.js";
import { parseRulesFile, renderRule, type TupleRule } from "../resources/ufw/rules.js";

import type { AuditCheck } from "./check.js";
export type { AuditCheck };

export interface HostAuditExpected {
  sshPort: number;
  deployUser: string;
  /** Public ports anything may listen on (default: the SSH port and 443). */
  allowedPorts?: number[];
  /**
   * UDP client ports a DHCP client binds on the wildcard address (68, 546): they are not services and
   * ufw's before.rules only lets in replies to the host's own requests.
   */
  allowedUdpClientPorts?: number[];
  /**
   * Every public key line allowed to log in (the operator's, extra_authorized_keys); any other key of
   * root or of a login user fails. Undefined: keys are listed, not judged.
   */
  authorizedKeys?: string[];
  /** sshd settings beyond SPEC §2's (same keys as the sshd resource). */
  sshdSettings?: Settings;
  /** The algorithm lists the sshd task asked for (effective lists must be non-empty subsets). */
  algorithms?: Partial<Record<AlgorithmField, string[]>>;
  /** The exact ufw rule set, in the ufw resource's rule format. */
  ufwRules: UfwRuleSpec[];
  fail2banJail?: string;
  fail2ban?: { maxretry?: number; findtime?: number; bantime?: number };
}

/** The expectation the host playbook's defaults imply, from its variables. */
export function expectedFromHostVars(vars: {
  deploy_user: string;
  ssh_port: number;
  admin_cidrs: string[];
  cloudflare_ranges: { ipv4: string[]; ipv6: string[] };
  authorized_keys?: string[];
  extra_authorized_keys?: string[];
}): HostAuditExpected {
  return {
    sshPort: vars.ssh_port,
    deployUser: vars.deploy_user,
    authorizedKeys: [...(vars.authorized_keys ?? []), ...(vars.extra_authorized_keys ?? [])],
    ufwRules: ufwSpec.parse({
      rules: [
        { port: vars.ssh_port, proto: "tcp", from: vars.admin_cidrs, if_empty: "any" },
        { port: 443, proto: "tcp", from: [...vars.cloudflare_ranges.ipv4, ...vars.cloudflare_ranges.ipv6] },
        { port: 443, proto: "tcp", from: vars.admin_cidrs },
      ],
    }).rules,
  };
}

const MARKS = new Marks("@@lockclaw-audit");

export interface AuditScriptOptions {
  fail2banJail?: string;
  /** `sshd -T -C` connection specs (see sshConnections): the values real logins get. */
  sshConnections?: string[];
}

/** The logins audit asks `sshd -T -C` about: the deploy user and root, from a non-admin address. */
export function sshConnections(expected: Pick<HostAuditExpected, "sshPort" | "deployUser">): string[] {
  return connectionSpecs(
    sshdSpec.parse({ port: expected.sshPort, settings: { AllowUsers: [expected.deployUser] } }),
  );
}

/** One read-only sh script; run as root. Every section is delimited so a missing tool shows as such. */
export function auditProbeScript(opts: AuditScriptOptions = {}): Sh {
  const m = MARKS.sh;
  const jail = opts.fail2banJail ?? "sshd";
  if (!/^[A-Za-z0-9_.-]+$/.test(jail)) throw new Error(`bad jail name ${jail}`);
  const conns = opts.sshConnections ?? [];
  for (const c of conns) if (!/^[A-Za-z0-9_.:@=,-]+$/.test(c)) throw new Error(`bad connection spec ${c}`);
  return shJoin([
    sh`lc_sshd=/usr/sbin/sshd; [ -x "$lc_sshd" ] || lc_sshd=$(command -v sshd || echo sshd); [ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd`,
    sh`${MARKS.open("sshd-T")}; "$lc_sshd" -T 2>&1; echo "${m} sshd-T-rc $?"`,
    // Match blocks (in any file, at any Include depth) apply only with -C: what a real login gets
    ...conns.map(
      (c) =>
        sh`${MARKS.open(`sshd-TC ${c}`)}; "$lc_sshd" -T -C '${safeWord(c)}' 2>&1; echo "${m} sshd-TC-rc $?"`,
    ),
    authorizedKeysScript(MARKS),
    sh`${MARKS.open("ss")}; ss -tulpnH 2>&1; echo "${m} ss-rc $?"`,
    sh`${MARKS.open("ufw-status")}; if command -v ufw >/dev/null 2>&1; then LC_ALL=C ufw status verbose 2>&1; else echo 'ufw: not installed'; fi`,
    sh`for lc_f in /etc/ufw/user.rules /etc/ufw/user6.rules; do [ -f "$lc_f" ] || continue; echo "${m} file $lc_f"; base64 -w0 < "$lc_f"; echo; done`,
    ...liveProbeLines(MARKS),
    sh`${MARKS.open("f2b-status")}; fail2ban-client status ${safeWord(jail)} 2>&1; echo "${m} f2b-status-rc $?"`,
    sh`for lc_k in maxretry findtime bantime; do echo "${m} f2b-get $lc_k"; fail2ban-client get ${safeWord(jail)} "$lc_k" 2>&1; done`,
    sh`for lc_a in $(fail2ban-client get ${safeWord(jail)} actions 2>/dev/null | tail -n +2 | tr ',' ' '); do`,
    sh`  echo "${m} f2b-action-port $lc_a"; fail2ban-client get ${safeWord(jail)} action "$lc_a" port 2>&1`,
    sh`done`,
    MARKS.open("end"),
  ]);
}

interface Sections {
  get(name: string): string | undefined;
  all(prefix: string): Array<{ arg: string; body: string }>;
}

function splitSections(stdout: string): Sections & { list: Marked[] } {
  const list = MARKS.split(stdout);
  return {
    list,
    get: (name) => {
      const s = list.find((x) => x.head === name || x.head.startsWith(`${name} `));
      if (!s) return undefined;
      return s.head === name ? s.body : s.head.slice(name.length + 1);
    },
    all: (prefix) =>
      list
        .filter((x) => x.head.startsWith(`${prefix} `))
        .map((x) => ({ arg: x.head.slice(prefix.length + 1), body: x.body })),
  };
}

// ---------------------------------------------------------------------------------------------------
// Listeners

export interface Listener {
  proto: "tcp" | "udp";
  address: string;
  port: number;
  process: string;
  line: string;
}

/** Parse `ss -tulpnH`: Netid State Recv-Q Send-Q Local Peer [Process]. */
export function parseSs(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || (f[0] !== "tcp" && f[0] !== "udp")) continue;
    const local = f[4]!;
    const i = local.lastIndexOf(":");
    if (i < 0) continue;
    const port = Number(local.slice(i + 1));
    if (!Number.isInteger(port)) continue;
    const address = local.slice(0, i).replace(/^\[|\]$/g, "");
    const proc = /users:\(\("([^"]+)"/.exec(line)?.[1] ?? "?";
    out.push({ proto: f[0], address, port, process: proc, line: line.trim() });
  }
  return out;
}

/**
 * slirp4netns, rootless Docker's network, binds one wildcard UDP socket per flow a container opens to
 * the outside (a DNS query, say), on an ephemeral port: an outbound client socket that only the peer's
 * replies reach through UFW, not a service. Published ports belong to rootlesskit and are still checked.
 */
export function isRootlessOutboundUdp(l: Listener): boolean {
  return l.proto === "udp" && l.process === "slirp4netns" && l.port >= 32768;
}

/** Reachable only from the host itself (or the link): loopback, link-local. */
export function isLocalOnly(address: string): boolean {
  const a = address.replace(/%.*$/, ""); // `127.0.0.53%lo`, `fe80::1%eth0`
  if (a === "*" || a === "0.0.0.0" || a === "::") return false;
  try {
    const c = parseCidr(a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a);
    if (c.family === 4) return c.network >> 24n === 127n || c.network >> 16n === 0xa9fen;
    return c.network === 1n || c.network >> 118n === 0x3fan; // ::1, fe80::/10
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

function check(id: string, title: string, pass: boolean, evidence: string): AuditCheck {
  return { id, title, pass, evidence };
}

export function evaluateAudit(stdout: string, expected: HostAuditExpected): AuditCheck[] {
  const s = splitSections(stdout);
  const checks: AuditCheck[] = [];
  if (s.get("end") === undefined && !stdout.includes(`${MARKS.marker} end`)) {
    checks.push(
      check("audit.complete", "audit script ran to the end", false, "output incomplete (connection cut?)"),
    );
  }

  // sshd -T ------------------------------------------------------------------------------------------
  const sshdRc = Number(s.get("sshd-T-rc") ?? "-1");
  const sshdOut = s.get("sshd-T") ?? "";
  if (sshdRc !== 0) {
    checks.push(
      check(
        "sshd.config",
        "sshd -T reads the configuration",
        false,
        sshdOut.trim().split("\n").slice(-3).join(" | ") || `exit ${sshdRc}`,
      ),
    );
  } else {
    const eff = parseSshdT(sshdOut);
    const ports = eff.get("port") ?? [];
    checks.push(
      check(
        "sshd.port",
        `sshd listens only on port ${expected.sshPort}`,
        ports.length === 1 && ports[0] === String(expected.sshPort),
        `port ${ports.join(", ") || "(none)"}`,
      ),
    );
    const settings: Settings = {
      ...DEFAULT_SETTINGS,
      AllowUsers: [expected.deployUser],
      ...expected.sshdSettings,
    };
    // the global values, then each login's (sshd -T -C): a setting passes only when every one holds it
    const views: Array<{ who?: string; rc: number; eff: Map<string, string[]>; out: string }> = [
      { rc: 0, eff, out: sshdOut },
      ...s.all("sshd-TC").map((c, i) => ({
        who: c.arg
          .split(",")
          .filter((kv) => !kv.startsWith("host="))
          .join(","),
        rc: Number(s.all("sshd-TC-rc")[i]?.arg ?? "-1"),
        eff: parseSshdT(c.body),
        out: c.body,
      })),
    ];
    for (const name of Object.keys(SETTINGS) as SettingName[]) {
      const v = settings[name];
      if (v === undefined) continue;
      const want = sshdTForm(name, v);
      const bad: string[] = [];
      let shown = "";
      for (const view of views) {
        if (view.rc !== 0) {
          bad.push(`sshd -T -C ${view.who} failed: ${view.out.trim().split("\n").slice(-1)[0] ?? ""}`);
          continue;
        }
        const have = view.eff.get(name.toLowerCase()) ?? [];
        const pass =
          SETTINGS[name] === "list"
            ? have.length > 0 && [...new Set(have)].sort().join(" ") === [...new Set(want)].sort().join(" ")
            : have.join(" ") === want.join(" ");
        const text = `${name.toLowerCase()} ${have.join(" ") || "(unset)"}`;
        if (!view.who) shown = text;
        if (!pass) bad.push(view.who ? `${text} for a login ${view.who}` : text);
      }
      checks.push(
        check(
          `sshd.${name}`,
          `${name} ${want.join(" ")}`,
          bad.length === 0,
          bad.length
            ? [...new Set(bad)].join("; ")
            : `${shown}${views.length > 1 ? " (every login checked)" : ""}`,
        ),
      );
    }
    for (const [name, field] of Object.entries(ALGORITHMS) as Array<[AlgorithmName, AlgorithmField]>) {
      const allowed = expected.algorithms?.[field] ?? DEFAULT_ALGORITHMS[field];
      const have = (eff.get(name.toLowerCase()) ?? []).join(",").split(",").filter(Boolean);
      const extra = have.filter((a) => !allowed.includes(a));
      checks.push(
        check(
          `sshd.${name}`,
          `${name} only from the hardened list`,
          have.length > 0 && extra.length === 0,
          extra.length ? `not allowed: ${extra.join(", ")}` : have.join(",") || "(unset)",
        ),
      );
    }
  }

  // authorized keys ----------------------------------------------------------------------------------
  checks.push(...authorizedKeyChecks(s.all("keys"), expected.authorizedKeys));

  // listeners ----------------------------------------------------------------------------------------
  const ssText = s.get("ss") ?? "";
  if (Number(s.get("ss-rc") ?? "-1") !== 0) {
    checks.push(
      check(
        "listeners.public",
        "only allowed ports listen on public addresses",
        false,
        `ss failed: ${ssText.trim().slice(0, 200)}`,
      ),
    );
  } else {
    const listeners = parseSs(ssText);
    const allowed = new Set(expected.allowedPorts ?? [expected.sshPort, 443]);
    const udpClient = new Set(expected.allowedUdpClientPorts ?? [68, 546]);
    const rogue = listeners.filter(
      (l) =>
        !isLocalOnly(l.address) &&
        !allowed.has(l.port) &&
        !(l.proto === "udp" && udpClient.has(l.port)) &&
        !isRootlessOutboundUdp(l),
    );
    checks.push(
      check(
        "listeners.public",
        `only ports ${[...allowed].join(", ")} listen on non-loopback addresses (TCP and UDP)`,
        rogue.length === 0,
        rogue.length
          ? `unexpected: ${rogue.map((l) => `${l.proto} ${l.address.includes(":") ? `[${l.address}]` : l.address}:${l.port} (${l.process})`).join("; ")}`
          : `${listeners.filter((l) => !isLocalOnly(l.address)).length} public listener(s), all allowed`,
      ),
    );
    const sshListen = listeners.some(
      (l) => l.proto === "tcp" && l.port === expected.sshPort && !isLocalOnly(l.address),
    );
    checks.push(
      check(
        "listeners.ssh",
        `something listens on ${expected.sshPort}/tcp`,
        sshListen,
        sshListen ? "yes" : "no listener",
      ),
    );
  }

  // ufw ------------------------------------------------------------------------------------------------
  const status = (s.get("ufw-status") ?? "").trim();
  const active = /^Status: active$/m.test(status);
  checks.push(check("ufw.active", "ufw is active", active, status.split("\n")[0] ?? "(no output)"));
  const defaults = /^Default: (.*)$/m.exec(status)?.[1] ?? "";
  checks.push(
    check(
      "ufw.default_incoming",
      "ufw default deny incoming",
      /\bdeny \(incoming\)/.test(defaults),
      defaults || "(not shown: inactive?)",
    ),
  );
  checks.push(
    check(
      "ufw.default_outgoing",
      "ufw default allow outgoing",
      /\ballow \(outgoing\)/.test(defaults),
      defaults || "(not shown: inactive?)",
    ),
  );
  const files = s.all("file");
  const tuples: TupleRule[] = [];
  for (const f of files) {
    const text = Buffer.from(f.body.trim(), "base64").toString("utf8");
    tuples.push(...parseRulesFile(text, f.arg.endsWith("user6.rules")).rules);
  }
  const desired = desiredRules({
    mode: "exact",
    state: "enabled",
    default_incoming: "deny",
    default_outgoing: "allow",
    rules: expected.ufwRules,
  });
  const haveKeys = new Map<string, TupleRule>();
  const extra: TupleRule[] = [];
  for (const t of tuples) {
    if (isFail2banBan(t)) continue; // a ban fail2ban's ufw action added; an allow is never one
    if (t.key && desired.some((d) => d.key === t.key) && !haveKeys.has(t.key)) haveKeys.set(t.key, t);
    else extra.push(t);
  }
  const missing = desired.filter((d) => !haveKeys.has(d.key));
  const problems = [
    ...extra.map((t) => `extra: ${describeTuple(t)}`),
    ...missing.map(
      (d) =>
        `missing: allow ${d.port}/${d.proto} from ${d.source}${d.source === "any" ? ` (v${d.v6 ? 6 : 4})` : ""}`,
    ),
  ];
  checks.push(
    check(
      "ufw.rules",
      `ufw has exactly the ${desired.length} expected rules`,
      files.length > 0 && problems.length === 0,
      files.length === 0
        ? "rule files not readable"
        : problems.length
          ? problems.join("; ")
          : `${haveKeys.size} rules, none extra or missing`,
    ),
  );

  // the live filter: what the kernel enforces, against what ufw's stock files and the rules produce
  const live = parseLiveSections(s.list);
  if (!live) {
    checks.push(check("ufw.live", "the live filter has only the ACCEPTs ufw should load", false, "not read"));
  } else {
    const verdict = evaluateLive(
      live,
      { v4: desired.filter((d) => !d.v6).map(renderRule), v6: desired.filter((d) => d.v6).map(renderRule) },
      false,
    );
    const found = describeVerdict(verdict);
    checks.push(
      check(
        "ufw.live",
        "the live filter has only the ACCEPTs ufw should load (its stock files and the expected rules)",
        found.length === 0,
        found.length ? found.join("; ") : `${live.backend}: no stray ACCEPT, ufw's files as shipped`,
      ),
    );
  }

  // fail2ban -------------------------------------------------------------------------------------------
  const jail = expected.fail2banJail ?? "sshd";
  const f2b = (s.get("f2b-status") ?? "").trim();
  const jailUp = Number(s.get("f2b-status-rc") ?? "-1") === 0 && f2b.includes(`Status for the jail: ${jail}`);
  checks.push(
    check(
      "fail2ban.jail",
      `fail2ban jail ${jail} is running`,
      jailUp,
      jailUp
        ? (f2b
            .split("\n")
            .find((l) => /Currently banned/.test(l))
            ?.trim() ?? "running")
        : (f2b.split("\n").slice(-1)[0] ?? "no answer"),
    ),
  );
  const actionPorts = s.all("f2b-action-port").map((a) => `${a.arg}: ${a.body.trim()}`);
  const portOk = s.all("f2b-action-port").some((a) =>
    a.body
      .trim()
      .split(/[,\s]+/)
      .includes(String(expected.sshPort)),
  );
  checks.push(
    check(
      "fail2ban.port",
      `jail ${jail} bans on port ${expected.sshPort}`,
      jailUp && portOk,
      actionPorts.join("; ") || "no actions",
    ),
  );
  for (const [key, want] of [
    ["maxretry", expected.fail2ban?.maxretry ?? 3],
    ["findtime", expected.fail2ban?.findtime ?? 600],
    ["bantime", expected.fail2ban?.bantime ?? 3600],
  ] as const) {
    const have = (s.get(`f2b-get ${key}`) ?? "").trim();
    checks.push(
      check(
        `fail2ban.${key}`,
        `jail ${jail} ${key} ${want}`,
        have === String(want),
        `${key} ${have || "(no answer)"}`,
      ),
    );
  }
  return checks;
}

/** Run the audit on a connected host. */
export async function auditHost(transport: Transport, expected: HostAuditExpected): Promise<AuditCheck[]> {
  const script = auditProbeScript({
    fail2banJail: expected.fail2banJail,
    sshConnections: sshConnections(expected),
  });
  const r = await runScript(transport, String(script), {
    become: true,
    errexit: false,
  });
  return evaluateAudit(r.stdout, expected);
}
