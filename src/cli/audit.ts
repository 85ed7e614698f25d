/** `lockclaw audit <target...>`: read the live host and check every hardened value (SPEC §8). */
import type { Command } from "commander";
import { auditAll, expectedFromHostVars, type AuditCheck, type DockerAuditExpected } from "../audit/index.js";
import { builtinVars } from "../engine/builtins.js";
import { candidateTargets, connectFirst } from "../engine/connect.js";
import { ConfigError, ExitCode, LockclawError } from "../engine/errors.js";
import { builtinPlaybook } from "../engine/paths.js";
import { loadPlaybook } from "../engine/playbook/loader.js";
import { resolvePlayVars, resolveReconnect } from "../engine/prepare.js";
import { Redactor } from "../engine/redact.js";
import { mapLimit } from "../engine/run.js";
import { HostStateStore } from "../engine/state.js";
import { parseVarArg, readVarsFile, type VarOverride, type Vars } from "../engine/vars.js";
import { resourceKinds } from "../resources/index.js";
import { connect } from "../transport/ssh.js";
import type { CommandResult } from "./main.js";
import { addConnectionOptions, resolveHosts, type ConnectionOptions } from "./options.js";

interface AuditOptions extends ConnectionOptions {
  var: string[];
  varsFile: string[];
  playbook?: string;
}

export interface HostAudit {
  host: string;
  checks: AuditCheck[];
  error?: string;
  unreachable?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerAuditCommand(program: Command, done: (r: Promise<CommandResult>) => void): void {
  const cmd = program
    .command("audit")
    .description(
      "read the live host and check sshd, listeners, UFW and fail2ban against the host playbook's values",
    )
    .argument("<target...>", "as for provision")
    .option(
      "-e, --var <key=value>",
      "the variables the host was provisioned with (e.g. ssh_port=2200)",
      collect,
      [],
    )
    .option("--vars-file <file>", "YAML file of those variables", collect, [])
    .option(
      "--playbook <file>",
      "read the expected values from this host playbook instead of the built-in one",
    );
  addConnectionOptions(cmd).action((targets: string[], o: AuditOptions) => done(auditAction(targets, o)));
}

/** The stack playbook's values for this host (its user, project and directory), with the same overrides. */
function stackVarsFor(overrides: VarOverride[]): Vars {
  const stack = loadPlaybook(builtinPlaybook("stack"), resourceKinds);
  const play = stack.plays[0]!;
  // audit's --var may name host variables too: only the stack's own apply here
  overrides = overrides.filter((o) => o.name in play.vars);
  return resolvePlayVars(stack, stack.plays[0]!, {
    overrides,
    builtins: builtinVars(),
    redactor: new Redactor(),
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

async function auditAction(targets: string[], o: AuditOptions): Promise<CommandResult> {
  const playbook = loadPlaybook(o.playbook ?? builtinPlaybook("host"), resourceKinds);
  const overrides = [...o.varsFile.flatMap(readVarsFile), ...o.var.map(parseVarArg)];
  const hosts = await resolveHosts(targets, o);
  const stackVars = (hostVars: VarOverride[]) => stackVarsFor([...hostVars, ...overrides]);
  const known = new Set([...Object.keys(playbook.plays[0]!.vars), ...Object.keys(stackVars([]))]);
  for (const o of overrides) {
    if (!known.has(o.name)) {
      throw new ConfigError(
        `unknown variable '${o.name}'`,
        o.from,
        `audit knows the host and stack playbooks' variables: ${[...known].sort().join(", ")}`,
      );
    }
  }
  const state = new HostStateStore();
  const results = await mapLimit(hosts, 10, async (h): Promise<HostAudit> => {
    // only the variables matter here: the tasks (and their inputs, like the operator's key) are not needed
    const play = playbook.plays[0]!;
    const vars = resolvePlayVars(playbook, play, {
      overrides: [...h.vars, ...overrides].filter((o) => o.name in play.vars),
      builtins: { ...builtinVars(), login_user: h.target.user },
      redactor: new Redactor(),
    });
    const reconnect = resolveReconnect(playbook, play, vars);
    const expected = expectedFromHostVars(vars as Parameters<typeof expectedFromHostVars>[0]);
    let transport;
    try {
      transport = await connectFirst(
        candidateTargets(h.target, state.get(h.target.name), reconnect ? [reconnect] : []),
        connect,
      );
    } catch (err) {
      return { host: h.target.name, checks: [], unreachable: true, error: (err as Error).message };
    }
    try {
      return {
        host: h.target.name,
        checks: await auditAll(transport, expected, dockerExpected(vars, stackVars(h.vars))),
      };
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
    for (const r of results)
      process.stdout.write(`${JSON.stringify({ type: "audit", ...r, pass: passed(r) })}\n`);
  } else {
    for (const r of results) process.stdout.write(formatAudit(r));
  }
  if (results.some((r) => r.error && !r.unreachable) || results.some((r) => r.checks.some((c) => !c.pass))) {
    return { exitCode: ExitCode.Failed };
  }
  return { exitCode: results.some((r) => r.unreachable) ? ExitCode.Unreachable : ExitCode.Ok };
}

const passed = (r: HostAudit) => !r.error && r.checks.every((c) => c.pass);

export function formatAudit(r: HostAudit): string {
  const lines = [`AUDIT ${r.host}`];
  if (r.error) lines.push(`  ERROR ${r.error}`);
  const width = Math.max(0, ...r.checks.map((c) => c.title.length));
  for (const c of r.checks) {
    lines.push(`  ${c.skipped ? "SKIP" : c.pass ? "PASS" : "FAIL"}  ${c.title.padEnd(width)}  ${c.evidence}`);
  }
  const failed = r.checks.filter((c) => !c.pass).length;
  const skipped = r.checks.filter((c) => c.skipped).length;
  lines.push(
    `  ${r.checks.length - failed}/${r.checks.length} checks passed${skipped ? ` (${skipped} skipped)` : ""}${
      failed
        ? `; FAILED: ${r.checks
            .filter((c) => !c.pass)
            .map((c) => c.id)
            .join(", ")}`
        : ""
    }`,
  );
  return `${lines.join("\n")}\n`;
}
