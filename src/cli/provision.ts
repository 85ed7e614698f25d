/** `lockclaw provision host|stack <target...>`: apply a playbook. Parsing and printing only; the engine does the work. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { parseMaxFailPercentage, parseSerial, type SerialItem } from "../engine/batches.js";
import { ConfigError, ExitCode } from "../core/errors.js";
import { builtinPlaybook } from "../engine/paths.js";
import type { EarlyLogins } from "../engine/early-login.js";
import type { PreparedTask } from "../engine/prepare.js";
import type { HostEntry } from "../engine/run.js";
import type { HostStateStore } from "../engine/state.js";
import type { VarOverride } from "../engine/vars.js";
import {
  addConnectionOptions,
  agentPublicKeys,
  publicKeysOf,
  resolveHosts,
  type ConnectionOptions,
} from "./options.js";
import type { ConnectionTarget } from "../transport/types.js";
import type { CommandResult } from "./result.js";

interface ProvisionOptions extends ConnectionOptions {
  playbook?: string;
  check?: boolean;
  detailedExitcode?: boolean;
  diff?: boolean;
  var: string[];
  varsFile: string[];
  tags?: string;
  skipTags?: string;
  listTasks?: boolean;
  listTags?: boolean;
  listHosts?: boolean;
  forks: string;
  serial?: string;
  maxFailPercentage?: string;
  authorizedKey: string[];
  bundle?: string;
  rollbackAfter: string;
  /** commander's --no-stack: false when given. */
  stack: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];
const list = (s?: string) =>
  s
    ? s
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean)
    : [];

export function registerProvisionCommands(program: Command, done: (r: Promise<CommandResult>) => void): void {
  const provision = program
    .command("provision")
    .description("apply a playbook to hosts over SSH: changes only what drifted and says what it changed");
  for (const [name, what] of [
    [
      "host",
      "harden the host (deploy user, sshd, UFW, fail2ban), then rootless Docker and the hardened agent stack " +
        "(playbooks/host.yml, docker.yml, stack.yml; --no-stack: host.yml only)",
    ],
    [
      "stack",
      "only rootless Docker for deploy and the hardened agent stack (playbooks/docker.yml, stack.yml)",
    ],
  ] as const) {
    const cmd = provision
      .command(name)
      .description(what)
      .argument(
        "[target...]",
        "user@host[:port], an ssh config alias, an inventory host or group, lab:NAME or vagrant:NAME",
      )
      .option("--playbook <file>", "run this playbook instead of the built-in one")
      .option("-C, --check", "change nothing: report what would change (exit 2 when something would)")
      .option("--detailed-exitcode", "exit 2 when the apply changed something (0 otherwise on success)")
      .option("-D, --diff", "show content diffs of files and rule sets")
      .option(
        "-e, --var <key=value>",
        "set a playbook variable (repeatable; wins over --vars-file): key=value, @vars.yml or a JSON mapping",
        collect,
        [],
      )
      .option("--vars-file <file>", "YAML file of variables (repeatable)", collect, [])
      .option(
        "-t, --tags <tags>",
        "only tasks with one of these tags (comma-separated; an unknown tag is an error)",
      )
      .option("--skip-tags <tags>", "skip tasks with one of these tags (comma-separated)")
      .option(
        "--list-tasks",
        "print the tasks the run would consider (honours --tags), then stop; connects to nothing",
      )
      .option("--list-tags", "print the tags the playbooks' tasks carry, then stop; connects to nothing")
      .option("--list-hosts", "print the hosts the targets resolve to, then stop; connects to nothing")
      .option("-f, --forks <n>", "hosts worked on at once", "10")
      .option(
        "--serial <size>",
        "rolling batches: N hosts, N% of the hosts (rounded down, at least 1) or a list (1,30%); " +
          "a batch starts when the last one is done",
      )
      .option(
        "--max-fail-percentage <p>",
        "stop before the next batch when more than P% of a batch failed (0: any failure stops it)",
      )
      .option(
        "--bundle <dir>",
        "air-gapped install: send this directory's image tarballs instead of pulling (sets bundle_src)",
      )
      .option(
        "--authorized-key <file>",
        "public key(s) for the deploy user (default: the public half of the login key)",
        collect,
        [],
      )
      .option(
        "--rollback-after <seconds>",
        "a change that could lock you out is undone on the host after this long unless a fresh login proves it",
        "120",
      );
    if (name === "host") cmd.option("--no-stack", "harden the host only: no Docker, no agent stack");
    addConnectionOptions(cmd).action((targets: string[], opts: ProvisionOptions) => {
      done(provisionAction(name, targets, opts));
    });
  }
}

async function provisionAction(
  kind: "host" | "stack",
  targets: string[],
  o: ProvisionOptions,
): Promise<CommandResult> {
  const forks = Number(o.forks);
  if (!Number.isInteger(forks) || forks < 1)
    throw new ConfigError(`--forks ${o.forks} is not a positive whole number`, undefined, "e.g. --forks 5");
  // checked before anything else is read or connected
  const rolling = {
    ...(o.serial === undefined ? {} : { serial: parseSerial(o.serial, { file: "--serial" }) }),
    ...(o.maxFailPercentage === undefined
      ? {}
      : {
          maxFailPercentage: parseMaxFailPercentage(o.maxFailPercentage, { file: "--max-fail-percentage" }),
        }),
  };
  const rollbackAfter = Number(o.rollbackAfter);
  if (!Number.isInteger(rollbackAfter) || rollbackAfter < 15) {
    throw new ConfigError(
      `--rollback-after ${o.rollbackAfter} is too short`,
      undefined,
      "give at least 15 seconds",
    );
  }
  const playbookFiles = o.playbook ?? builtinPlaybooks(kind, o.stack !== false);
  if (o.listTasks || o.listTags || o.listHosts) return listOnly(playbookFiles, targets, o);
  const hosts = await resolveHosts(targets, o);
  const early = await startEarlyLogins(hosts, forks, rolling.serial !== undefined);
  try {
    return await provisionRun(kind, o, { playbookFiles, hosts, forks, rolling, rollbackAfter, early });
  } catch (err) {
    // bad input found later (a --var, a key file, a playbook) leaves no login open
    await early?.logins.closeUntaken();
    throw err;
  }
}

interface StartedLogins {
  logins: EarlyLogins;
  state: HostStateStore;
}

/**
 * A re-run's remembered logins, started before the engine is even loaded (EarlyLogins): the SSH
 * handshake then overlaps loading and preparing the plays. Only when every host runs at once (no
 * --serial; a play's own serial: makes runPlaybook close them).
 */
async function startEarlyLogins(
  hosts: HostEntry[],
  forks: number,
  serial: boolean,
): Promise<StartedLogins | undefined> {
  if (hosts.length > forks || serial) return undefined;
  const [{ EarlyLogins }, { HostStateStore }, { connect }] = await Promise.all([
    import("../engine/early-login.js"),
    import("../engine/state.js"),
    import("../transport/ssh.js"),
  ]);
  const state = new HostStateStore();
  return {
    logins: EarlyLogins.start(
      hosts.map((h) => h.target),
      state,
      connect,
    ),
    state,
  };
}

async function provisionRun(
  kind: "host" | "stack",
  o: ProvisionOptions,
  run: {
    playbookFiles: string | string[];
    hosts: HostEntry[];
    forks: number;
    rolling: { serial?: SerialItem[]; maxFailPercentage?: number };
    rollbackAfter: number;
    early?: StartedLogins;
  },
): Promise<CommandResult> {
  const { playbookFiles, hosts, forks, rolling, rollbackAfter, early } = run;
  // the engine is loaded when a run starts, not to print --help or --version
  const [
    { Redactor },
    { runPlaybook },
    { parseVarOption, readVarsFile },
    { connect },
    { builtinVars },
    { resourceKinds },
    { createRenderer },
    { RunProgress },
  ] = await Promise.all([
    import("../engine/redact.js"),
    import("../engine/run.js"),
    import("../engine/vars.js"),
    import("../transport/ssh.js"),
    import("./builtins.js"),
    import("../resources/index.js"),
    import("../report/index.js"),
    import("../report/interrupt.js"),
  ]);
  const overrides: VarOverride[] = [
    ...(o.bundle ? [{ name: "bundle_src", value: resolve(o.bundle), from: { file: "--bundle" } }] : []),
    ...o.varsFile.flatMap(readVarsFile),
    ...o.var.flatMap(parseVarOption),
  ];
  const explicitKeys = o.authorizedKey.flatMap((f) => readPublicKeys(f));
  let keyless: string | undefined;
  for (const h of hosts) {
    let keys = explicitKeys.length ? explicitKeys : publicKeysOf(h.target.identityFiles);
    // the login key only in ssh-agent: its identities, as ssh-copy-id does
    if (!keys.length) keys = await agentPublicKeys(h.target.agent);
    const given = [...h.vars, ...overrides].some((v) => v.name === "authorized_keys");
    if (!keys.length && !given && !o.playbook && kind === "host") keyless ??= h.target.name;
    // a default, below inventory vars and --var; plays that do not declare it ignore it
    if (keys.length)
      h.vars = [
        { name: "authorized_keys", value: keys, from: { file: "(login key)" }, implicit: true },
        ...h.vars,
      ];
  }
  // one redactor for the run: the engine fills it while preparing, the renderer and errors use it too
  const redactor = new Redactor();
  const progress = new RunProgress();
  const renderer = createRenderer({
    json: !!o.json,
    tty: !!process.stdout.isTTY,
    diff: !!o.diff,
    verbose: (o.verbose ?? 0) > 0,
    out: process.stdout,
    redactor,
  });
  // Ctrl-C, in every view: stop the live view, say where each host was left, exit 130
  const onInterrupt = () => {
    renderer.interrupt?.();
    process.stderr.write(redactor.text(progress.report()));
    process.exit(ExitCode.Interrupted);
  };
  process.once("SIGINT", onInterrupt);
  const result = await runPlaybook({
    playbookFile: playbookFiles,
    kinds: resourceKinds,
    hosts,
    overrides,
    builtins: builtinVars(),
    connector: connect,
    ...(early ? { state: early.state, earlyLogins: early.logins } : {}),
    check: !!o.check,
    detailedExitCode: !!o.detailedExitcode,
    tags: list(o.tags),
    skipTags: list(o.skipTags),
    forks,
    ...rolling,
    rollbackAfterSeconds: rollbackAfter,
    onEvent: (e) => {
      progress.handle(e);
      renderer.handle(e);
    },
    redactor,
    confirmDelayMs: Number(process.env.LOCKCLAW_TEST_CONFIRM_DELAY_MS) || undefined,
    allowWorld: !!o.allowWorld,
    verbosity: o.verbose ?? 0,
    // after the playbooks' own checks: a tag typo or a bad value is named before a missing key
    ...(keyless === undefined
      ? {}
      : {
          preflight: () => {
            throw new ConfigError(
              `no public key for the deploy user of ${keyless}: no key file is given or found, and ssh-agent holds none`,
              { file: "--authorized-key" },
              "give the key(s) deploy will log in with: --authorized-key FILE (e.g. ~/.ssh/id_ed25519.pub)",
            );
          },
        }),
  })
    .catch((err: unknown) => {
      // an error raised once secrets are known (e.g. by a later play's template) is printed masked
      if (err instanceof Error) err.message = redactor.text(err.message);
      throw err;
    })
    .finally(async () => {
      process.removeListener("SIGINT", onInterrupt);
      // also when the run throws: the events of its last turn are still held by a --json renderer
      await renderer.end();
    });
  if (!o.check) await recordVagrantLogins(hosts.map((h) => h.target));
  return { exitCode: result.exitCode };
}

/**
 * For vagrant:NAME targets: where lockclaw now logs in (remembered once a fresh login was proven) goes
 * to the file the Vagrantfile reads, so `vagrant ssh`/`up`/`halt` follow the box onto its new port and user.
 */
async function recordVagrantLogins(targets: ConnectionTarget[]): Promise<void> {
  if (!targets.some((t) => t.name.startsWith("vagrant:"))) return;
  const [{ HostStateStore, stateKeyOf }, { recordVagrantLogin }] = await Promise.all([
    import("../engine/state.js"),
    import("../lab/vagrant.js"),
  ]);
  const state = new HostStateStore();
  for (const t of targets) {
    if (!t.name.startsWith("vagrant:")) continue;
    // remembered under the machine's key (the box's project, name and index_uuid), as the engine wrote it
    const login = state.get(stateKeyOf(t));
    if (!login) continue;
    const file = await recordVagrantLogin(t.name.slice("vagrant:".length), {
      user: login.user,
      port: login.port,
      keys: t.identityFiles,
    }).catch((err: unknown) => {
      process.stderr.write(`warning: could not record the Vagrant login of ${t.name}: ${String(err)}\n`);
      return undefined;
    });
    if (file)
      process.stderr.write(
        `${t.name}: vagrant ssh now logs in as ${login.user} on port ${login.port} (${file})\n`,
      );
  }
}

/** --list-tasks, --list-tags, --list-hosts: read the playbooks and targets, print, connect to nothing. */
async function listOnly(
  files: string | string[],
  targets: string[],
  o: ProvisionOptions,
): Promise<CommandResult> {
  const [{ knownTags }, { loadPlaybook }, { selectedByTags }, { resourceKinds }] = await Promise.all([
    import("../engine/run.js"),
    import("../engine/playbook/loader.js"),
    import("../engine/prepare.js"),
    import("../resources/index.js"),
  ]);
  const playbooks = [files].flat().map((f) => loadPlaybook(f, resourceKinds));
  const out: string[] = [];
  if (o.listHosts) {
    out.push("hosts:");
    for (const h of await resolveHosts(targets, o)) {
      const t = h.target;
      out.push(`  ${t.name}  ${t.user}@${t.host}:${t.port}${t.proxyJump ? ` via ${t.proxyJump.host}` : ""}`);
    }
  }
  if (o.listTags) out.push(`tags: ${knownTags(playbooks).join(", ")}`);
  if (o.listTasks) {
    const tags = list(o.tags);
    const skip = list(o.skipTags);
    const unknown = [...tags, ...skip].filter((t) => !knownTags(playbooks).includes(t));
    if (unknown.length) {
      throw new ConfigError(
        `unknown tag '${unknown[0]}': no task of the run carries it`,
        { file: tags.includes(unknown[0]!) ? "--tags" : "--skip-tags" },
        `the known tags are: ${knownTags(playbooks).join(", ")}`,
      );
    }
    for (const pb of playbooks) {
      for (const play of pb.plays) {
        out.push(`play: ${play.name} (${pb.file})`);
        for (const t of play.tasks) {
          // selectedByTags reads only the task's tags
          if (!selectedByTags(t as unknown as PreparedTask, tags, skip)) continue;
          out.push(
            `  ${t.name}${t.tags.length ? `  [${t.tags.join(", ")}]` : ""}${t.when ? `  (when: ${t.when})` : ""}`,
          );
        }
      }
    }
  }
  process.stdout.write(`${out.join("\n")}\n`);
  return { exitCode: ExitCode.Ok };
}

/** The product's plays in their lock-out-safe order: the host is hardened before anything listens. */
export function builtinPlaybooks(kind: "host" | "stack", withStack: boolean): string[] {
  const stack = [builtinPlaybook("docker"), builtinPlaybook("stack")];
  if (kind === "stack") return stack;
  return withStack ? [builtinPlaybook("host"), ...stack] : [builtinPlaybook("host")];
}

function readPublicKeys(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      `cannot read --authorized-key ${file}: ${(err as Error).message}`,
      { file },
      "give a public key file (id_ed25519.pub)",
    );
  }
  const keys = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  keys.forEach((k, i) => {
    if (!/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+/.test(k)) {
      throw new ConfigError(
        "not an SSH public key",
        { file, line: i + 1 },
        "give the .pub file, not the private key",
      );
    }
  });
  return keys;
}
