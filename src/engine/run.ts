/**
 * A whole run: load and validate everything for every host first (bad input changes nothing anywhere),
 * then run the hosts with bounded parallelism, each on its own connection, and sum up the recap.
 */
import { inBatches, stopAfterBatch, type SerialItem } from "./batches.js";
import { ConfigError, ExitCode, type SourceLocation } from "../core/errors.js";
import type { EventSink, HostRecap } from "./events.js";
import { EarlyLogins } from "./early-login.js";
import { HostRun } from "./host-run.js";
import { PlanMemo } from "./plan-memo.js";
import { TemplateFiles } from "./templates.js";
import { loadPlaybook, type KindRegistry, type Playbook } from "./playbook/loader.js";
import { preparePlaybook, resolvePlayVars, SpecCache, type PreparedPlay } from "./prepare.js";
import { throttledProgress } from "./progress.js";
import { Redactor } from "./redact.js";
import { RenderMemo } from "./render-memo.js";
import { HostStateStore } from "./state.js";
import type { VarOverride, Vars } from "./vars.js";
import type { ConnectionTarget } from "../transport/types.js";
import type { Connector } from "./connect.js";

export interface HostEntry {
  target: ConnectionTarget;
  /** Host variables (inventory), applied before --var. */
  vars: VarOverride[];
}

export interface RunOptions {
  /** One playbook, or several run one after another as plays of one run (each probed after the last applied). */
  playbookFile: string | string[];
  kinds: KindRegistry;
  hosts: HostEntry[];
  /** --vars-file and --var, in that order (later wins). */
  overrides: VarOverride[];
  /** Builtin variables common to every host (e.g. cloudflare_ranges). `login_user` is added per host. */
  builtins: Vars;
  connector: Connector;
  check?: boolean;
  /** Exit 2 when an apply changed something (Terraform's -detailed-exitcode); --check always does. */
  detailedExitCode?: boolean;
  tags?: string[];
  skipTags?: string[];
  forks?: number;
  /** --serial: rolling batches (a play's `serial:` when not given); all hosts in one batch when neither. */
  serial?: SerialItem[];
  /** --max-fail-percentage: stop before the next batch when more of a batch failed (a play's when not given). */
  maxFailPercentage?: number;
  rollbackAfterSeconds?: number;
  state?: HostStateStore;
  onEvent: EventSink;
  /** Known secret values (e.g. read from files) to redact as well. */
  redactor?: Redactor;
  confirmDelayMs?: number;
  /** Test hook: where the host's after-change hooks live (default AFTER_CHANGE_DIR). */
  afterChangeDir?: string;
  /** --allow-world: a CIDR list variable may hold 0.0.0.0/0 or ::/0. */
  allowWorld?: boolean;
  /** -v count: 2 adds each exec's output, 3 each exec's generated sh (masked) to the debug events. */
  verbosity?: number;
  /** At most one `upload` (or `hash`) progress event per this many ms per file (default 500). */
  progressIntervalMs?: number;
  /**
   * The caller's own check of the run (e.g. that the deploy user gets a key): after the playbooks' (unknown
   * variables and tags, every host's values: those errors are named first), before the tasks are rendered
   * (where the missing value would be blamed on the playbook) and before anything connects. Throws.
   */
  preflight?: () => void;
  /**
   * Logins the caller started already (the CLI does, before it loads the engine); the run takes them
   * over and closes any it does not use, whatever it throws. Without them it starts its own.
   */
  earlyLogins?: EarlyLogins;
}

export interface RunResult {
  hosts: HostRecap[];
  /** Hosts a stop between batches left untouched (never connected to). */
  notStarted: string[];
  exitCode: ExitCode;
}

/**
 * A successful apply exits 0 even when it changed things (a first run must not break `set -e`);
 * "changed" is exit 2 only where it is an alarm: under --check, or when asked with --detailed-exitcode.
 */
export function exitCodeFor(
  recaps: HostRecap[],
  mode: { check?: boolean; detailedExitCode?: boolean } = {},
): ExitCode {
  if (recaps.some((r) => r.failed > 0)) return ExitCode.Failed;
  if (recaps.some((r) => r.unreachable)) return ExitCode.Unreachable;
  if ((mode.check || mode.detailedExitCode) && recaps.some((r) => r.changed > 0)) return ExitCode.Changed;
  return ExitCode.Ok;
}

export interface PreparedRun {
  perHost: Array<{ entry: HostEntry; plays: PreparedPlay[]; notices: string[] }>;
  redactor: Redactor;
  rolling: Rolling;
}

/** Load + render + validate for every host. Throws ConfigError before anything runs on a host. */
export function prepareRun(opts: RunOptions): PreparedRun {
  const steps = prepareSteps(opts);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * prepareRun in steps (one playbook loaded, one host's plays rendered): between them runPlaybook lets
 * the early logins' handshakes move on (see EarlyLogins).
 */
function* prepareSteps(opts: RunOptions): Generator<void, PreparedRun, void> {
  const redactor = opts.redactor ?? new Redactor();
  const playbooks: Playbook[] = [];
  for (const f of playbookFiles(opts)) {
    playbooks.push(loadPlaybook(f, opts.kinds));
    yield;
  }
  // inventory host vars are held to the same rule as --var and vars files (a typo must not pass silently)
  rejectUnknownVars(playbooks, [...opts.hosts.flatMap((h) => h.vars), ...opts.overrides]);
  rejectUnknownTags(playbooks, opts);
  const rolling = rollingOf(playbooks, opts);
  // a large local file is hashed before anything connects: its progress goes out like an upload's
  const localProgress = (task: string) =>
    throttledProgress(opts.progressIntervalMs ?? 500, (f) => opts.onEvent({ type: "hash", task, ...f }));
  const templates = new TemplateFiles();
  const specs = new SpecCache();
  const renders = new RenderMemo();
  const prepareOptions = (entry: HostEntry) => ({
    overrides: [...entry.vars, ...opts.overrides],
    builtins: { ...opts.builtins, login_user: entry.target.user },
    redactor,
    allowWorld: opts.allowWorld,
    localProgress,
    templates,
    specs,
    renders,
  });
  if (opts.preflight) {
    // every host's values first: a bad --var or inventory value is named before what the caller checks
    for (const entry of opts.hosts)
      for (const pb of playbooks)
        for (const play of pb.plays) resolvePlayVars(pb, play, prepareOptions(entry));
    opts.preflight();
  }
  const declared = new Set(playbooks.flatMap((pb) => pb.plays.flatMap((p) => Object.keys(p.vars))));
  const perHost: PreparedRun["perHost"] = [];
  for (const entry of opts.hosts) {
    perHost.push({
      entry,
      plays: playbooks.flatMap((playbook) => preparePlaybook(playbook, opts.kinds, prepareOptions(entry))),
      notices: noticesOf([...entry.vars, ...opts.overrides], declared),
    });
    yield;
  }
  return { perHost, redactor, rolling };
}

/**
 * The notices of the values a run uses (VarOverride.notice): a value counts when a play declares its
 * variable and no later override (inventory var, --vars-file, --var) replaces it.
 */
export function noticesOf(overrides: VarOverride[], declared: ReadonlySet<string>): string[] {
  const last = new Map(overrides.map((o) => [o.name, o]));
  return overrides.flatMap((o) =>
    o.notice !== undefined && declared.has(o.name) && last.get(o.name) === o ? [o.notice] : [],
  );
}

interface Rolling {
  serial?: SerialItem[];
  maxFailPercentage?: number;
}

/**
 * The batches of the run: the flags, else the plays' `serial:` / `max_fail_percentage:`. A host runs all
 * the plays of the run in one go, so the plays that set one must agree on it.
 */
function rollingOf(playbooks: Playbook[], opts: RunOptions): Rolling {
  const plays = playbooks.flatMap((pb) => pb.plays);
  const agreed = <T>(
    flag: T | undefined,
    pick: (p: Playbook["plays"][number]) => { value: T; where: SourceLocation } | undefined,
    key: string,
  ): T | undefined => {
    if (flag !== undefined) return flag;
    const set = plays.flatMap((p) => (pick(p) ? [pick(p)!] : []));
    const first = set[0];
    const other = set.find((s) => JSON.stringify(s.value) !== JSON.stringify(first?.value));
    if (first && other) {
      throw new ConfigError(
        `${key} differs between the plays of the run (each host runs all of them in one go)`,
        other.where,
        `give the same ${key} to every play that sets one, or set it for the run with --${key.replace(/_/g, "-")}`,
      );
    }
    return first?.value;
  };
  return {
    serial: agreed(
      opts.serial,
      (p) => p.serial && { value: p.serial.items, where: p.serial.where },
      "serial",
    ),
    maxFailPercentage: agreed(opts.maxFailPercentage, (p) => p.maxFailPercentage, "max_fail_percentage"),
  };
}

export async function runPlaybook(opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const state = opts.state ?? new HostStateStore();
  const forks = Math.max(1, opts.forks ?? 10);
  // only when all hosts run at once (a --serial, or a play's serial: read below, makes batches)
  const early =
    opts.earlyLogins ??
    (opts.hosts.length <= forks && !opts.serial
      ? EarlyLogins.start(
          opts.hosts.map((h) => h.target),
          state,
          opts.connector,
        )
      : undefined);
  let prepared: PreparedRun;
  try {
    prepared = await prepareYielding(opts, early !== undefined);
  } catch (err) {
    await early?.closeUntaken();
    throw err;
  }
  if (prepared.rolling.serial) await early?.closeUntaken();
  try {
    return await runPrepared(opts, prepared, { started, state, forks, early });
  } finally {
    await early?.closeUntaken();
  }
}

async function prepareYielding(opts: RunOptions, yielding: boolean): Promise<PreparedRun> {
  const steps = prepareSteps(opts);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (yielding) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function runPrepared(
  opts: RunOptions,
  { perHost, redactor, rolling }: PreparedRun,
  ctx: { started: number; state: HostStateStore; forks: number; early?: EarlyLogins },
): Promise<RunResult> {
  const { started, state } = ctx;
  const emit: EventSink = opts.onEvent;
  emit({
    type: "run-start",
    playbook: playbookFiles(opts).join(", "),
    hosts: opts.hosts.map((h) => h.target.name),
    check: !!opts.check,
  });
  // once per host, before its tasks: a default lockclaw chose for it (e.g. a Vagrant box's sshd lists)
  for (const { entry, notices } of perHost)
    for (const message of notices) emit({ type: "warning", host: entry.target.name, message });
  const planMemo = new PlanMemo();
  const runHost = async ({ entry, plays }: (typeof perHost)[number]) => {
    const recap = await new HostRun(entry.target, plays, {
      check: !!opts.check,
      tags: opts.tags ?? [],
      skipTags: opts.skipTags ?? [],
      rollbackAfterSeconds: opts.rollbackAfterSeconds ?? 120,
      connector: opts.connector,
      state,
      redactor,
      emit,
      confirmDelayMs: opts.confirmDelayMs,
      afterChangeDir: opts.afterChangeDir,
      verbosity: opts.verbosity,
      progressIntervalMs: opts.progressIntervalMs,
      planMemo,
      earlyLogins: ctx.early,
    }).run();
    emit({ type: "host-recap", recap });
    return recap;
  };
  const batches = inBatches(perHost, rolling.serial);
  const recaps: HostRecap[] = [];
  let stopped: string | undefined;
  let notStarted: string[] = [];
  for (const [i, batch] of batches.entries()) {
    if (batches.length > 1) {
      emit({
        type: "batch-start",
        batch: i + 1,
        of: batches.length,
        hosts: batch.map((h) => h.entry.target.name),
      });
    }
    // a batch is done when each of its hosts is: a stack's containers are up and healthy by then
    // (compose_stack waits for that), so the next batch starts only after this one serves again
    const done = await mapLimit(batch, ctx.forks, runHost);
    recaps.push(...done);
    const why = stopAfterBatch(
      batch.length,
      done.filter((r) => r.failed > 0 || r.unreachable).length,
      rolling.maxFailPercentage,
    );
    if (why && i < batches.length - 1) {
      stopped = `stopped after batch ${i + 1} of ${batches.length}: ${why}`;
      notStarted = batches.slice(i + 1).flatMap((b) => b.map((h) => h.entry.target.name));
      break;
    }
  }
  const exitCode = exitCodeFor(recaps, opts);
  emit({
    type: "recap",
    hosts: recaps,
    exitCode,
    durationMs: Date.now() - started,
    ...(stopped ? { stopped, notStarted } : {}),
  });
  return { hosts: recaps, notStarted, exitCode };
}

/** Names set by --var, a vars file or an inventory must be declared by at least one play of the run. */
export function rejectUnknownVars(playbooks: Playbook[], overrides: VarOverride[]): void {
  const declared = new Set(playbooks.flatMap((pb) => pb.plays.flatMap((p) => Object.keys(p.vars))));
  for (const o of overrides) {
    if (!declared.has(o.name) && !o.implicit) {
      throw new ConfigError(
        `unknown variable '${o.name}'`,
        o.from,
        `the playbook declares: ${[...declared].sort().join(", ") || "(none)"}`,
      );
    }
  }
}

/** Every tag the run's tasks carry, sorted (`always` is implied: it selects a task under any --tags). */
export function knownTags(playbooks: Playbook[]): string[] {
  const tags = new Set(["always"]);
  for (const pb of playbooks)
    for (const p of pb.plays) for (const t of p.tasks) t.tags.forEach((x) => tags.add(x));
  return [...tags].sort();
}

/** A tag no task carries selects nothing: `--check -t sshd` (for ssh) must not pass as "no drift". */
function rejectUnknownTags(playbooks: Playbook[], o: RunOptions): void {
  const known = knownTags(playbooks);
  for (const [flag, given] of [
    ["--tags", o.tags ?? []],
    ["--skip-tags", o.skipTags ?? []],
  ] as const) {
    for (const tag of given) {
      if (!known.includes(tag)) {
        throw new ConfigError(
          `unknown tag '${tag}': no task of the run carries it`,
          { file: flag },
          `the known tags are: ${known.join(", ")} (lockclaw provision … --list-tags)`,
        );
      }
    }
  }
}

const playbookFiles = (o: RunOptions): string[] =>
  Array.isArray(o.playbookFile) ? o.playbookFile : [o.playbookFile];

/** Run fn over items with at most `limit` at once, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
