/**
 * `lockclaw audit`'s work, loaded when audit runs: read the live host and check every hardened value
 * against the host playbook it was provisioned with (the built-in one, or --playbook), prepared as
 * provision prepares it.
 */
import { auditAll, expectedFromPlays, type AuditCheck, type DockerAuditExpected } from "../audit/index.js";
import { formatLynis, lynisCheck, runLynis, type LynisResult } from "../audit/lynis.js";
import { builtinVars } from "./builtins.js";
import { candidateTargets, connectFirst } from "../engine/connect.js";
import { ConfigError, ExitCode, LockclawError } from "../core/errors.js";
import { builtinPlaybook } from "../engine/paths.js";
import { loadPlaybook } from "../engine/playbook/loader.js";
import { preparePlaybook, resolvePlayVars, resolveReconnect } from "../engine/prepare.js";
import { Redactor } from "../engine/redact.js";
import { mapLimit } from "../engine/run.js";
import { HostStateStore, stateKeyOf } from "../engine/state.js";
import { parseVarOption, readVarsFile, type VarOverride, type Vars } from "../engine/vars.js";
import { resourceKinds } from "../resources/index.js";
import { connect } from "../transport/ssh.js";
import type { CommandResult } from "./result.js";
import { publicKeysOf, resolveHosts, type ConnectionOptions } from "./options.js";

export interface AuditOptions extends ConnectionOptions {
  var: string[];
  varsFile: string[];
  playbook?: string;
  lynis?: boolean;
}

export interface HostAudit {
  host: string;
  checks: AuditCheck[];
  /** `--lynis`: Lynis' hardening index and findings. */
  lynis?: LynisResult;
  error?: string;
  unreachable?: boolean;
}

function stackVarsFor(overrides: VarOverride[], allowWorld: boolean): Vars {
  const stack = loadPlaybook(builtinPlaybook("stack"), resourceKinds);
  const play = stack.plays[0]!;
  // audit's --var may name host variables too: only the stack's own apply here
  overrides = overrides.filter((o) => o.name in play.vars);
  return resolvePlayVars(stack, stack.plays[0]!, {
    overrides,
    builtins: builtinVars(),
    redactor: new Redactor(),
    allowWorld,
  });
}

function dockerExpected(hostVars: Vars, stack: Vars): DockerAuditExpected {
  return {
    user: String(stack.docker_user),
    operator: String(hostVars.deploy_user),
    project: String(stack.stack_project),
    stackDir: String(stack.stack_dir),
  };
}

export async function auditAction(targets: string[], o: AuditOptions): Promise<CommandResult> {
  const playbook = loadPlaybook(o.playbook ?? builtinPlaybook("host"), resourceKinds);
  const overrides = [...o.varsFile.flatMap(readVarsFile), ...o.var.flatMap(parseVarOption)];
  const hosts = await resolveHosts(targets, o);
  const stackVars = (hostVars: VarOverride[]) => stackVarsFor([...hostVars, ...overrides], !!o.allowWorld);
  // an inventory shared with provision may set docker.yml's variables too (docker_source): known here
  const dockerPb = loadPlaybook(builtinPlaybook("docker"), resourceKinds);
  const docker = dockerPb.plays[0]!;
  const known = new Set([
    ...playbook.plays.flatMap((p) => Object.keys(p.vars)),
    ...Object.keys(stackVars([])),
    ...Object.keys(docker.vars),
  ]);
  // inventory host vars too, and every host's values checked before the first connection
  for (const o of [...hosts.flatMap((h) => h.vars), ...overrides]) {
    if (!known.has(o.name) && !o.implicit) {
      throw new ConfigError(
        `unknown variable '${o.name}'`,
        o.from,
        `audit knows the host, docker and stack playbooks' variables: ${[...known].sort().join(", ")}`,
      );
    }
  }
  // the playbook as provision prepares it for each host (the same implicit authorized_keys: the login
  // key's public half), so the audit expects exactly what that run declared
  const prepareFor = (h: (typeof hosts)[number], loginKeys: string[]) =>
    preparePlaybook(playbook, resourceKinds, {
      overrides: [
        ...(loginKeys.length
          ? [{ name: "authorized_keys", value: loginKeys, from: { file: "(login key)" }, implicit: true }]
          : []),
        ...h.vars,
        ...overrides,
      ],
      builtins: { ...builtinVars(), login_user: h.target.user },
      redactor: new Redactor(),
      allowWorld: !!o.allowWorld,
    });
  // every host's values checked before the first connection; a host whose login key has no .pub here
  // is prepared once connected, with the key it logged in with
  const prepared = hosts.map((h) => {
    const keys = publicKeysOf(h.target.identityFiles);
    return keys.length ? prepareFor(h, keys) : undefined;
  });
  for (const h of hosts) {
    // every play's variables, also for a host prepared only once connected
    for (const play of playbook.plays) {
      resolvePlayVars(playbook, play, {
        overrides: [...h.vars, ...overrides].filter((o) => o.name in play.vars),
        builtins: { ...builtinVars(), login_user: h.target.user },
        redactor: new Redactor(),
        allowWorld: !!o.allowWorld,
      });
    }
    stackVars(h.vars);
    resolvePlayVars(dockerPb, docker, {
      overrides: [...h.vars, ...overrides].filter((o) => o.name in docker.vars),
      builtins: builtinVars(),
      redactor: new Redactor(),
      allowWorld: !!o.allowWorld,
    });
  }
  const state = new HostStateStore();
  const results = await mapLimit(hosts, 10, async (h): Promise<HostAudit> => {
    const i = hosts.indexOf(h);
    const play = playbook.plays[0]!;
    const vars =
      prepared[i]?.[0]?.vars ??
      resolvePlayVars(playbook, play, {
        overrides: [...h.vars, ...overrides].filter((o) => o.name in play.vars),
        builtins: { ...builtinVars(), login_user: h.target.user },
        redactor: new Redactor(),
        allowWorld: !!o.allowWorld,
      });
    const reconnect = resolveReconnect(playbook, play, vars);
    let transport;
    try {
      transport = await connectFirst(
        candidateTargets(h.target, state.get(stateKeyOf(h.target)), reconnect ? [reconnect] : []),
        connect,
      );
    } catch (err) {
      return { host: h.target.name, checks: [], unreachable: true, error: (err as Error).message };
    }
    try {
      const plays = prepared[i] ?? prepareFor(h, transport.authKeys ?? []);
      const expected = expectedFromPlays(plays);
      // declared keys: the playbook's authorized_key tasks and the operator's own, as provision deploys
      // them by default (the login key files, the key this audit logged in with)
      expected.host.authorizedKeys = [
        ...(expected.host.authorizedKeys ?? []),
        ...publicKeysOf(h.target.identityFiles),
        ...(transport.authKeys ?? []),
      ];
      const checks = await auditAll(transport, expected, dockerExpected(plays[0]!.vars, stackVars(h.vars)));
      if (!o.lynis) return { host: h.target.name, checks };
      const lynis = await runLynis(transport);
      return { host: h.target.name, checks: [...checks, lynisCheck(lynis)], lynis };
    } catch (err) {
      return {
        host: h.target.name,
        checks: [],
        error: err instanceof LockclawError ? err.message : String(err),
      };
    } finally {
      await transport.close();
    }
  });
  if (o.json) {
    for (const r of results) {
      const clean = {
        ...r,
        ...(r.error ? { error: cleanEvidence(r.error) } : {}),
        checks: r.checks.map((c) => ({ ...c, evidence: cleanEvidence(c.evidence) })),
      };
      process.stdout.write(`${JSON.stringify({ type: "audit", ...clean, pass: passed(r) })}\n`);
    }
  } else {
    const color = useColor();
    for (const r of results) process.stdout.write(formatAudit(r, { color }));
  }
  if (results.some((r) => r.error && !r.unreachable) || results.some((r) => r.checks.some((c) => !c.pass))) {
    return { exitCode: ExitCode.Failed };
  }
  return { exitCode: results.some((r) => r.unreachable) ? ExitCode.Unreachable : ExitCode.Ok };
}

const passed = (r: HostAudit) => !r.error && r.checks.every((c) => c.pass);

/**
 * The audit script runs from a temp file, so sh prefixes its own errors with that file's name and line
 * (`/tmp/tmp.V0KpKrHEkQ: 7: fail2ban-client: not found`): the path says nothing to the reader.
 */
export function cleanEvidence(text: string): string {
  return text.replace(/(?:\/[\w.-]+)*\/tmp\.[A-Za-z0-9]+: (?:line )?\d+: /g, "");
}

/** What to run to fix a failed check, by the area it belongs to. */
export function fixFor(id: string, target: string): string {
  const t = /^[\w@.:[\]/-]+$/.test(target) ? target : `'${target.replace(/'/g, `'\\''`)}'`;
  const area = id.split(".")[0];
  switch (area) {
    case "sshd":
      return `lockclaw provision host ${t} -t ssh`;
    case "ufw":
      return `lockclaw provision host ${t} -t firewall`;
    case "fail2ban":
      return `lockclaw provision host ${t} -t fail2ban`;
    case "sudo":
    case "accounts":
      return `lockclaw provision host ${t} -t users`;
    case "kernel":
    case "journald":
      return `lockclaw provision host ${t} -t hardening`;
    case "listeners":
      return id === "listeners.ssh"
        ? `lockclaw provision host ${t} -t ssh`
        : "stop the service listening there or bind it to 127.0.0.1 (ss -tulpn names it), then audit again";
    case "docker":
    case "container":
    case "containers":
    case "openclaw":
      return `lockclaw provision stack ${t}`;
    case "audit":
      return `lockclaw audit ${t} (the audit was cut short)`;
    case "updates":
      return `lockclaw provision host ${t} -t updates`;
    case "auditd":
      return `lockclaw provision host ${t} -t auditd`;
    case "integrity":
      return id === "integrity.aide"
        ? "review the files AIDE names; when the change is yours (an upgrade), rebuild the baseline on the host: sudo /etc/lockclaw/after-change.d/50-aide"
        : `lockclaw provision host ${t} -t integrity`;
    case "lynis":
      return `lockclaw audit ${t} --lynis (Lynis could not run: install the lynis package on the host)`;
    default:
      return `lockclaw provision host ${t}`;
  }
}

/** Colour for a terminal that wants it: stdout a TTY and NO_COLOR unset (https://no-color.org). */
export function useColor(stream: { isTTY?: boolean } = process.stdout, env = process.env): boolean {
  return !!stream.isTTY && !env.NO_COLOR;
}

export function formatAudit(r: HostAudit, opt: { color?: boolean } = {}): string {
  const red = (s: string) => (opt.color ? `\x1b[31m${s}\x1b[39m` : s);
  const lines = [`AUDIT ${r.host}`];
  if (r.unreachable) {
    lines.push(`  ${red("UNREACHABLE")} ${cleanEvidence(r.error ?? "")}`);
    lines.push("  no checks ran: the host could not be reached");
    return `${lines.join("\n")}\n`;
  }
  if (r.error) lines.push(`  ${red("ERROR")} ${cleanEvidence(r.error)}`);
  const lynis = r.lynis ? formatLynis(r.lynis) : "";
  const width = Math.max(0, ...r.checks.map((c) => c.title.length));
  for (const c of r.checks) {
    const mark = c.skipped ? "SKIP" : c.pass ? "PASS" : red("FAIL");
    lines.push(`  ${mark}  ${c.title.padEnd(width)}  ${cleanEvidence(c.evidence)}`);
  }
  if (!r.checks.length) {
    lines.push("  no checks ran");
    return `${lines.join("\n")}\n`;
  }
  // a skipped check was not looked at: it is neither passed nor failed
  const skipped = r.checks.filter((c) => c.skipped).length;
  const failed = r.checks.filter((c) => !c.pass && !c.skipped);
  const ok = r.checks.filter((c) => c.pass && !c.skipped).length;
  if (lynis) lines.push(lynis.trimEnd());
  lines.push(`  ${ok}/${r.checks.length - skipped} checks passed${skipped ? ` (${skipped} skipped)` : ""}`);
  if (failed.length) {
    lines.push(`  ${red("FAILED")} (${failed.length}), and what to run to fix each:`);
    for (const c of failed) lines.push(`    ${c.id}: ${fixFor(c.id, r.host)}`);
  }
  return `${lines.join("\n")}\n`;
}
