/**
 * `lockclaw audit`, host part. What is expected comes from the prepared plays (./derive.ts: the specs of
 * the sshd, ufw, fail2ban and authorized_key tasks, variables rendered), so a host provisioned with a
 * custom playbook is judged against that playbook. The host is read through those modules' own probes
 * (the same sh `provision` reads it with), plus what only the audit looks at: every listening socket,
 * every authorized key of every login user, the jail's live values. Everything is one read-only exec;
 * pure functions judge it. Each check carries its evidence, and a failing check names the offender (the
 * rogue listener, the setting's actual value, the extra rule), so the report says what to fix.
 */
import { parseCidr } from "../core/cidr.js";
import { extractWarnings } from "../engine/resource.js";
import type { Fragment, SectionResult } from "../engine/sections.js";
import { raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";
import { Marks } from "../core/marks.js";
import {
  ALGORITHMS,
  LEGACY_CLIENT_ALGORITHMS,
  SETTINGS,
  intersectAlgorithms,
  sshdTForm,
  type AlgorithmField,
  type AlgorithmName,
  type SettingName,
  type Settings,
} from "../resources/sshd/config.js";
import { SSHD_BIN } from "../resources/sshd/scripts.js";
import {
  desiredAlgorithms,
  desiredSettings,
  sshdKind,
  type SshdFacts,
  type SshdSpec,
} from "../resources/sshd.js";
import {
  desiredRules,
  describeTuple,
  isFail2banBan,
  ufwKind,
  type UfwFacts,
  type UfwSpec,
} from "../resources/ufw.js";
import { fail2banKind, jailRunning, type Fail2banFacts, type Fail2banSpec } from "../resources/fail2ban.js";
import { describeVerdict, evaluateLive } from "../resources/ufw/live.js";
import { renderRule, type DesiredRule, type TupleRule } from "../resources/ufw/rules.js";
import { authorizedKeyChecks, authorizedKeysScript } from "./keys.js";
import type { AuditCheck } from "./check.js";

// one definition (check.ts): kept exported here for the modules that import it from host.js
export type { AuditCheck } from "./check.js";

export interface HostAuditExpected {
  /** The spec of the play's (last) sshd task: port, settings, algorithm lists. */
  sshd?: SshdSpec;
  /**
   * What the play's ufw tasks leave: the last exact-mode task's rules and policies, plus the rules of the
   * ensure-mode tasks after it; with no exact task, the rules the ensure tasks add (others allowed).
   */
  ufw?: UfwSpec;
  /** The fail2ban tasks' specs, one per jail. */
  fail2ban: Fail2banSpec[];
  /** Public ports anything may listen on (default: the SSH port and every port the ufw rules open). */
  allowedPorts?: number[];
  /**
   * UDP client ports a DHCP client binds on the wildcard address (68, 546): they are not services and
   * ufw's before.rules only lets in replies to the host's own requests.
   */
  allowedUdpClientPorts?: number[];
  /**
   * Every public key line allowed to log in (the authorized_key tasks' keys, the operator's); any other
   * key of root or of a login user fails. Undefined: keys are listed, not judged.
   */
  authorizedKeys?: string[];
}

/** Marker of the sections only the audit reads (listeners, keys, the jail's live values). */
const M = "@@lockclaw-audit";

const SS_SH = sh`echo ${`${M} ss`}; ss -tulpnH 2>&1; echo "${safeWord(M)} ss-rc $?"`;

/** The jail's values as the running fail2ban holds them (its files may say otherwise until a reload). */
function fail2banLiveSh(jail: string): Sh {
  return shJoin([
    sh`for lc_k in maxretry findtime bantime; do echo "${safeWord(M)} f2b-get $lc_k"; fail2ban-client get ${jail} "$lc_k" 2>&1; done`,
    sh`for lc_a in $(fail2ban-client get ${jail} actions 2>/dev/null | tail -n +2 | tr ',' ' '); do`,
    sh`  echo "${safeWord(M)} f2b-action-port $lc_a"; fail2ban-client get ${jail} action "$lc_a" port 2>&1`,
    raw(`done`),
  ]);
}

/**
 * The read-only fragments of the host audit, one section each (the caller wraps them with a
 * SectionWriter, alone or with the Docker and OpenClaw parts): the modules' probes for the tasks' specs
 * and the audit's own reads.
 */
export function hostAuditFragments(e: HostAuditExpected): Fragment[] {
  const out: Fragment[] = [];
  if (e.sshd) out.push({ id: "sshd", script: sshdKind.probe(e.sshd).script });
  out.push({ id: "keys", script: shJoin([SSHD_BIN, authorizedKeysScript(new Marks(M))]) });
  out.push({ id: "ss", script: SS_SH });
  if (e.ufw) out.push({ id: "ufw", script: ufwKind.probe(e.ufw).script });
  e.fail2ban.forEach((f, i) => {
    out.push({ id: `fail2ban-${i}`, script: fail2banKind.probe(f).script });
    out.push({ id: `fail2ban-${i}-live`, script: fail2banLiveSh(f.jail) });
  });
  return out;
}

/** The audit's own sections inside one fragment's output. */
function splitSections(stdout: string): {
  get(name: string): string | undefined;
  all(prefix: string): Array<{ arg: string; body: string }>;
} {
  const list: Array<{ head: string; body: string[] }> = [];
  for (const line of stdout.split("\n")) {
    if (line.startsWith(`${M} `)) list.push({ head: line.slice(M.length + 1), body: [] });
    else if (list.length) list[list.length - 1]!.body.push(line);
  }
  return {
    get: (name) => {
      const s = list.find((x) => x.head === name || x.head.startsWith(`${name} `));
      if (!s) return undefined;
      return s.head === name ? s.body.join("\n") : s.head.slice(name.length + 1);
    },
    all: (prefix) =>
      list
        .filter((x) => x.head.startsWith(`${prefix} `))
        .map((x) => ({ arg: x.head.slice(prefix.length + 1), body: x.body.join("\n") })),
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

/** A module's facts from its section, or why they could not be read. */
export function readFacts<F>(
  sections: ReadonlyMap<string, SectionResult>,
  id: string,
  parse: (stdout: string) => F,
): { facts: F; error?: undefined } | { facts?: undefined; error: string } {
  const s = sections.get(id);
  if (!s) return { error: "not read (the audit script did not get this far)" };
  try {
    return { facts: parse(extractWarnings(s.output).output) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const sameSet = (a: string[], b: string[]) =>
  [...new Set(a)].sort().join(" ") === [...new Set(b)].sort().join(" ");

function sshdChecks(sections: ReadonlyMap<string, SectionResult>, spec: SshdSpec): AuditCheck[] {
  const r = readFacts(sections, "sshd", sshdKind.probe(spec).parse);
  if (r.error !== undefined)
    return [check("sshd.config", "sshd's configuration can be read", false, r.error)];
  const f: SshdFacts = r.facts;
  if (f.sshdTRc !== 0) {
    return [
      check("sshd.config", "sshd -T reads the configuration", false, f.sshdTError || `exit ${f.sshdTRc}`),
    ];
  }
  const checks: AuditCheck[] = [];
  const ports = f.effective.get("port") ?? [];
  checks.push(
    check(
      "sshd.port",
      `sshd listens only on port ${spec.port}`,
      ports.length === 1 && ports[0] === String(spec.port),
      `port ${ports.join(", ") || "(none)"}`,
    ),
  );
  // the task's explicit: adds the directives scanners read (the host playbook's ssh_explicit)
  const settings: Settings = desiredSettings(spec);
  // the global values, then each login's (sshd -T -C): a setting passes only when every one holds it
  const views = [
    { who: undefined as string | undefined, rc: 0, eff: f.effective },
    ...f.perConnection.map((c) => ({
      who: c.connection
        .split(",")
        .filter((kv) => !kv.startsWith("host="))
        .join(","),
      rc: c.rc,
      eff: c.effective,
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
        bad.push(`sshd -T -C ${view.who} failed (exit ${view.rc})`);
        continue;
      }
      const have = view.eff.get(name.toLowerCase()) ?? [];
      const pass =
        SETTINGS[name] === "list"
          ? have.length > 0 && sameSet(have, want)
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
  checks.push(...algorithmChecks(f, spec));
  return checks;
}

/**
 * Each algorithm list exactly as the task asks for it (its own or the hardened one, with `legacy_clients`
 * the legacy clients' one appended), as far as the host's OpenSSH supports it: what provision writes.
 * An algorithm nobody asked for fails (a legacy kex left from a run with legacy_clients, say), and so
 * does one asked for but missing (Vagrant could not log in).
 */
function algorithmChecks(f: SshdFacts, spec: SshdSpec): AuditCheck[] {
  let want: Record<AlgorithmField, string[]>;
  try {
    want = intersectAlgorithms(desiredAlgorithms(spec), f.supported);
  } catch (err) {
    return [
      check("sshd.algorithms", "the asked-for algorithms are supported", false, (err as Error).message),
    ];
  }
  const checks: AuditCheck[] = [];
  for (const [name, field] of Object.entries(ALGORITHMS) as Array<[AlgorithmName, AlgorithmField]>) {
    const have = (f.effective.get(name.toLowerCase()) ?? []).join(",").split(",").filter(Boolean);
    const legacy = spec.legacy_clients ? (LEGACY_CLIENT_ALGORITHMS[field] ?? []) : [];
    const what = `${spec[field] ? "the task's list" : "the hardened list"}${legacy.length ? ` + ${legacy.join(", ")} (legacy_clients)` : ""}`;
    const extra = have.filter((a) => !want[field].includes(a));
    const missing = want[field].filter((a) => !have.includes(a));
    const problems = [
      ...(extra.length ? [`not allowed: ${extra.join(", ")}`] : []),
      ...(missing.length ? [`missing: ${missing.join(", ")}`] : []),
    ];
    const pass = have.join(",") === want[field].join(",");
    checks.push(
      check(
        `sshd.${name}`,
        `${name} exactly ${what}`,
        pass,
        pass
          ? have.join(",")
          : problems.length
            ? `${problems.join("; ")} (have ${have.join(",") || "(unset)"})`
            : `order ${have.join(",")} → ${want[field].join(",")}`,
      ),
    );
  }
  return checks;
}

/** The rules the ufw tasks leave, one per source and family. */
export function desiredRulesOf(e: HostAuditExpected): DesiredRule[] {
  return e.ufw ? desiredRules(e.ufw) : [];
}

function listenerChecks(text: string, rc: number, e: HostAuditExpected): AuditCheck[] {
  const sshPort = e.sshd?.port;
  const ufwPorts = desiredRulesOf(e).map((d) => d.port);
  const allowed = new Set(e.allowedPorts ?? [...(sshPort === undefined ? [] : [sshPort]), ...ufwPorts]);
  const title = `only ports ${[...allowed].join(", ") || "(none)"} listen on non-loopback addresses (TCP and UDP)`;
  if (rc !== 0) return [check("listeners.public", title, false, `ss failed: ${text.trim().slice(0, 200)}`)];
  const listeners = parseSs(text);
  const udpClient = new Set(e.allowedUdpClientPorts ?? [68, 546]);
  const rogue = listeners.filter(
    (l) =>
      !isLocalOnly(l.address) &&
      !allowed.has(l.port) &&
      !(l.proto === "udp" && udpClient.has(l.port)) &&
      !isRootlessOutboundUdp(l),
  );
  const checks = [
    check(
      "listeners.public",
      title,
      rogue.length === 0,
      rogue.length
        ? `unexpected: ${rogue.map((l) => `${l.proto} ${l.address.includes(":") ? `[${l.address}]` : l.address}:${l.port} (${l.process})`).join("; ")}`
        : `${listeners.filter((l) => !isLocalOnly(l.address)).length} public listener(s), all allowed`,
    ),
  ];
  if (sshPort !== undefined) {
    const up = listeners.some((l) => l.proto === "tcp" && l.port === sshPort && !isLocalOnly(l.address));
    checks.push(
      check("listeners.ssh", `something listens on ${sshPort}/tcp`, up, up ? "yes" : "no listener"),
    );
  }
  return checks;
}

/** ufw's name for a policy of /etc/default/ufw (its _get_default_policy: anything else is deny). */
function policyName(p: string | undefined): string {
  const v = (p ?? "").toLowerCase();
  return v === "accept" ? "allow" : v === "reject" ? "reject" : "deny";
}

function ufwChecks(sections: ReadonlyMap<string, SectionResult>, spec: UfwSpec): AuditCheck[] {
  const exact = spec.mode === "exact";
  const enabled = spec.state === "enabled";
  const r = readFacts(sections, "ufw", ufwKind.probe(spec).parse);
  if (r.error !== undefined) return [check("ufw.active", "ufw's state can be read", false, r.error)];
  const f: UfwFacts = r.facts;
  const checks: AuditCheck[] = [];
  const first = !f.installed
    ? "ufw: not installed"
    : f.active
      ? "active (ufw's chains are loaded in the kernel's filter table)"
      : "inactive (no ufw-user-input/output/forward chains in the kernel's filter table)";
  if (exact || enabled) {
    checks.push(
      check("ufw.active", `ufw is ${enabled ? "active" : "inactive"}`, f.active === enabled, first),
    );
  }
  if (exact) {
    // as `ufw status verbose` shows them: /etc/default/ufw's policies, in force only while ufw is loaded
    const have = { incoming: policyName(f.inputPolicy), outgoing: policyName(f.outputPolicy) };
    const defaults = `${have.incoming} (incoming), ${have.outgoing} (outgoing)`;
    for (const [direction, want] of [
      ["incoming", spec.default_incoming],
      ["outgoing", spec.default_outgoing],
    ] as const) {
      checks.push(
        check(
          `ufw.default_${direction}`,
          `ufw default ${want} ${direction}`,
          f.active && have[direction] === want,
          f.active ? defaults : `${defaults} in /etc/default/ufw, not in force: ufw is inactive`,
        ),
      );
    }
  }
  const desired = desiredRules(spec, f.ipv6);
  const haveKeys = new Map<string, TupleRule>();
  const extra: TupleRule[] = [];
  for (const t of [...f.v4.rules, ...f.v6.rules]) {
    if (isFail2banBan(t)) continue; // a ban fail2ban's ufw action added; an allow is never one
    if (t.key && desired.some((d) => d.key === t.key) && !haveKeys.has(t.key)) haveKeys.set(t.key, t);
    else extra.push(t);
  }
  const missing = desired.filter((d) => !haveKeys.has(d.key));
  const problems = [
    ...(exact ? extra.map((t) => `extra: ${describeTuple(t)}`) : []),
    ...missing.map(
      (d) =>
        `missing: allow ${d.port}/${d.proto} from ${d.source}${d.source === "any" ? ` (v${d.v6 ? 6 : 4})` : ""}`,
    ),
  ];
  const filesRead = f.rawV4 !== undefined || f.rawV6 !== undefined;
  checks.push(
    check(
      "ufw.rules",
      exact
        ? `ufw has exactly the ${desired.length} expected rules`
        : `ufw has the ${desired.length} expected rules`,
      filesRead && problems.length === 0,
      !filesRead
        ? "rule files not readable"
        : problems.length
          ? problems.join("; ")
          : `${haveKeys.size} rules, none ${exact ? "extra or " : ""}missing`,
    ),
  );
  if (exact && enabled) {
    // the live filter: what the kernel enforces, against what ufw's stock files and the rules produce
    const title =
      "the live filter has only the ACCEPTs ufw should load (its stock files and the expected rules)";
    if (!f.live) {
      checks.push(check("ufw.live", title, false, "not read"));
    } else {
      const verdict = evaluateLive(
        f.live,
        { v4: desired.filter((d) => !d.v6).map(renderRule), v6: desired.filter((d) => d.v6).map(renderRule) },
        spec.default_incoming === "allow",
      );
      const found = describeVerdict(verdict);
      checks.push(
        check(
          "ufw.live",
          title,
          found.length === 0,
          found.length ? found.join("; ") : `${f.live.backend}: no stray ACCEPT, ufw's files as shipped`,
        ),
      );
    }
  }
  return checks;
}

function fail2banChecks(
  sections: ReadonlyMap<string, SectionResult>,
  spec: Fail2banSpec,
  i: number,
): AuditCheck[] {
  const jail = spec.jail;
  const id = i === 0 ? "fail2ban" : `fail2ban.${jail}`;
  const r = readFacts(sections, `fail2ban-${i}`, fail2banKind.probe(spec).parse);
  const f: Fail2banFacts | undefined = r.facts;
  const jailUp = !!f && jailRunning(f, jail);
  const status = f?.jailStatus ?? "";
  const live = splitSections(sections.get(`fail2ban-${i}-live`)?.output ?? "");
  const checks = [
    check(
      `${id}.jail`,
      `fail2ban jail ${jail} is running`,
      jailUp,
      r.error ??
        (jailUp
          ? (status
              .split("\n")
              .find((l) => /Currently banned/.test(l))
              ?.trim() ?? "running")
          : status.split("\n").slice(-1)[0] || "no answer"),
    ),
  ];
  const actions = live.all("f2b-action-port");
  const portOk = actions.some((a) =>
    a.body
      .trim()
      .split(/[,\s]+/)
      .includes(String(spec.port)),
  );
  checks.push(
    check(
      `${id}.port`,
      `jail ${jail} bans on port ${spec.port}`,
      jailUp && portOk,
      actions.map((a) => `${a.arg}: ${a.body.trim()}`).join("; ") || "no actions",
    ),
  );
  for (const key of ["maxretry", "findtime", "bantime"] as const) {
    const have = (live.get(`f2b-get ${key}`) ?? "").trim();
    checks.push(
      check(
        `${id}.${key}`,
        `jail ${jail} ${key} ${spec[key]}`,
        have === String(spec[key]),
        `${key} ${have || "(no answer)"}`,
      ),
    );
  }
  return checks;
}

/** Judge the host audit's sections (SectionWriter.parse of the exec's output) against the expectation. */
export function evaluateAudit(
  sections: ReadonlyMap<string, SectionResult>,
  e: HostAuditExpected,
): AuditCheck[] {
  const checks: AuditCheck[] = [];
  const cut = hostAuditFragments(e)
    .map((f) => f.id)
    .filter((id) => (sections.get(id)?.rc ?? -1) === -1);
  if (cut.length) {
    checks.push(
      check(
        "audit.complete",
        "audit script ran to the end",
        false,
        `output incomplete (connection cut?): no end of ${cut.join(", ")}`,
      ),
    );
  }
  if (e.sshd) checks.push(...sshdChecks(sections, e.sshd));
  const keys = splitSections(sections.get("keys")?.output ?? "");
  checks.push(...authorizedKeyChecks(keys.all("keys"), e.authorizedKeys));
  const ss = splitSections(sections.get("ss")?.output ?? "");
  checks.push(...listenerChecks(ss.get("ss") ?? "", Number(ss.get("ss-rc") ?? "-1"), e));
  if (e.ufw) checks.push(...ufwChecks(sections, e.ufw));
  e.fail2ban.forEach((f, i) => checks.push(...fail2banChecks(sections, f, i)));
  return checks;
}
