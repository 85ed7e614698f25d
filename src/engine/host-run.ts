/**
 * One host, one connection: probe every task in one exec, plan each once, then apply in as few execs as the
 * lock-out guard allows (one per guarded change, one for everything else), verifying in the same exec.
 */
import {
  ApplyError,
  ConnectionError,
  ConnectionLostError,
  LockclawError,
  LockoutPreventedError,
  ProbeParseError,
  excerpt,
} from "../core/errors.js";
import type { EventSink, HostRecap, TaskStatus } from "./events.js";
import { armScript, disarmScript, newRollback, rollbackNowScript, type ArmedRollback } from "./guard.js";
import { selectedByTags, type PreparedPlay, type PreparedTask } from "./prepare.js";
import type { Redactor } from "./redact.js";
import {
  changesOf,
  extractWarnings,
  PROBE_COST,
  verifies,
  type Change,
  type ResourceContext,
} from "./resource.js";
import { probeScript, SectionWriter, type SectionEvents, type SectionResult } from "./sections.js";
import { BatchResults, type Outcome } from "./batch-results.js";
import { Throttle, transferFigures } from "./progress.js";
import { stateKeyOf, type HostStateStore } from "./state.js";
import type { ConnectionTarget, Transport } from "../transport/types.js";
import { runScript } from "../transport/script.js";
import { candidateTargets, connectFirst, type Connector } from "./connect.js";
import type { EarlyLogins } from "./early-login.js";
import { createReadStream } from "node:fs";
import { Transform, type Readable } from "node:stream";
import { stat } from "node:fs/promises";
import { raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";
import { uploadWriteLine } from "../core/atomic-write.js";
import { watchedContext, type PlanMemo } from "./plan-memo.js";

/**
 * Run at the end of a run that changed the host (folded into its last exec): the executables of
 * /etc/lockclaw/after-change.d, owned by root and writable by no one else, in name order. They bring
 * what follows from lockclaw's own changes up to date, e.g. AIDE's baseline (playbooks/host.yml), so that
 * what lockclaw changed is never reported as an intruder's change. A failing hook is a warning.
 */
export const AFTER_CHANGE_DIR = "/etc/lockclaw/after-change.d";

export function afterChangeHooksSh(dir: string = AFTER_CHANGE_DIR): Sh {
  if (!/^\/[A-Za-z0-9_./-]+$/.test(dir)) throw new Error(`bad after-change directory ${dir}`);
  // the directory is a checked safe word: it stands unquoted before the glob
  return shJoin([
    sh`for lc_h in ${safeWord(dir)}/*; do`,
    raw(`  [ -f "$lc_h" ] && [ -x "$lc_h" ] && [ ! -L "$lc_h" ] || continue`),
    raw(
      `  [ "$(stat -c '%u' -- "$lc_h")" = 0 ] && [ -z "$(find "$lc_h" -maxdepth 0 -perm /022)" ] || { printf 'LOCKCLAW_WARNING: after-change hook %s skipped: not owned by root, or writable by others\\n' "$lc_h"; continue; }`,
    ),
    raw(
      `  if lc_out=$("$lc_h" </dev/null 2>&1); then :; else printf 'LOCKCLAW_WARNING: after-change hook %s failed (exit %s): %s\\n' "$lc_h" "$?" "$(printf '%s' "$lc_out" | tail -n 3 | tr '\\n' ' ')"; fi`,
    ),
    raw(`done`),
  ]);
}

export interface HostRunOptions {
  check: boolean;
  tags: string[];
  skipTags: string[];
  /** Seconds after which the armed rollback restores a guarded change. */
  rollbackAfterSeconds: number;
  connector: Connector;
  state: HostStateStore;
  redactor: Redactor;
  emit: EventSink;
  /** Test hook: wait this long between applying a guarded change and proving the fresh login. */
  confirmDelayMs?: number;
  /** Test hook: where the host's after-change hooks live (default AFTER_CHANGE_DIR). */
  afterChangeDir?: string;
  /** -vv: each exec's output; -vvv: each exec's generated sh too (both masked) as debug events. */
  verbosity?: number;
  /** At most one `upload` progress event per this many ms (default 500; a test sets 0). */
  progressIntervalMs?: number;
  /** The run's unchanged plans, shared by its hosts (see PlanMemo); none: every task is planned. */
  planMemo?: PlanMemo;
  /** Logins the run started while it prepared the plays (see EarlyLogins). */
  earlyLogins?: EarlyLogins;
}

/** One exec of the run: what it does, for which tasks, and the rollback it arms first (guarded). */
interface Step {
  what: string;
  tasks: string[];
  guarded?: ArmedRollback;
}

/** A task's plan, computed once from its probe: what is shown, and what apply/uploads carry out. */
interface Planned {
  task: PreparedTask;
  changes: Change[];
  /** The kind's own plan (ResourceKind.plan), handed as is to its apply() and uploads(). */
  plan: unknown;
}

export class HostRun {
  private transport?: Transport;
  private extraExecs = 0;
  private readonly counts = { ok: 0, changed: 0, failed: 0, skipped: 0 };
  private readonly started = Date.now();
  /** Tasks whose change landed on the host (for the handlers of a run that fails later), id → name. */
  private readonly applied = new Map<string, string>();
  /** What the exec now running does, and a rollback armed and not yet disarmed: for a lost connection. */
  private inFlight?: Step;
  /** The step the connection was lost in (later execs fail at once and must not replace it). */
  private lostIn?: Step;
  private armed?: { rb: ArmedRollback; task: string; at: number };
  private readonly handlersReached = new Set<string>();
  /** A play changed the host and its after-change hooks have not run since (see afterChangeHooksSh). */
  private hooksDue = false;
  /**
   * Probe outputs of later plays, read in an earlier play's probe exec (play index → task id → output).
   * Valid while nothing has changed on the host since: any change drops them and the next play probes anew.
   */
  private readonly prefetched = new Map<number, Map<string, string | undefined>>();
  /** Active tasks of the play now running whose task-start has not been emitted yet (id → task). */
  private unstarted = new Map<string, PreparedTask>();

  constructor(
    private readonly target: ConnectionTarget,
    private readonly plays: PreparedPlay[],
    private readonly opt: HostRunOptions,
  ) {}

  private get host(): string {
    return this.target.name;
  }

  async run(): Promise<HostRecap> {
    this.opt.emit({ type: "host-start", host: this.host });
    let error: string | undefined;
    let unreachable = false;
    try {
      await this.connect();
      for (const [i, play] of this.plays.entries()) await this.runPlay(play, i);
      // the last play changed nothing (or only through guarded steps): the hooks get an exec of their own
      if (this.hooksDue) await this.runHooks();
    } catch (err) {
      unreachable = err instanceof ConnectionError && this.transport === undefined;
      const message = err instanceof Error ? err.message : String(err);
      error = this.opt.redactor.text(
        err instanceof ConnectionLostError ? `${message}\n${this.lossReport()}` : message,
      );
      if (!unreachable) this.counts.failed = Math.max(this.counts.failed, 1);
    } finally {
      await this.transport?.close();
    }
    return {
      host: this.host,
      ...this.counts,
      unreachable,
      execs: (this.transport?.execCount ?? 0) + this.extraExecs,
      durationMs: Date.now() - this.started,
      ...(error ? { error } : {}),
    };
  }

  private async connect(): Promise<void> {
    const remembered = this.opt.state.get(stateKeyOf(this.target));
    const planned = this.plays.flatMap((p) => (p.reconnect ? [p.reconnect] : []));
    const targets = candidateTargets(this.target, remembered, planned);
    const connector = this.opt.earlyLogins?.connector(this.opt.connector) ?? this.opt.connector;
    this.transport = await connectFirst(targets, connector, (t, err) =>
      this.debug(`login ${t.user}@${t.host}:${t.port} failed: ${err.message}`),
    );
    const t = this.transport.target;
    this.opt.emit({ type: "host-connected", host: this.host, user: t.user, port: t.port });
  }

  private debug(message: string, level = 1): void {
    if (level > 1 && (this.opt.verbosity ?? 0) < level) return;
    this.opt.emit({
      type: "debug",
      host: this.host,
      message: this.opt.redactor.text(message),
      ...(level > 1 ? { level } : {}),
    });
  }

  /**
   * Where the run stood when the connection went: what had landed, what was running (its outcome on the
   * host unknown), and what an armed rollback will do now that no fresh login can disarm it.
   */
  private lossReport(): string {
    const applied = [...this.applied.values()];
    const step = this.lostIn ?? this.inFlight;
    const lines = [
      `  applied before the loss: ${applied.length ? applied.join(", ") : "nothing"}`,
      step
        ? `  running when it was lost: ${step.what}` +
          (step.tasks.length ? ` (${step.tasks.join(", ")})` : "") +
          "; whether it finished on the host is unknown, a re-run probes and completes it"
        : "  running when it was lost: nothing (between two steps)",
    ];
    const secs = this.opt.rollbackAfterSeconds;
    if (this.armed) {
      const left = Math.max(0, secs - Math.round((Date.now() - this.armed.at) / 1000));
      lines.push(
        `  armed rollback: ${this.armed.rb.unit} restores the state from before ${this.armed.task} ` +
          `in about ${left} s (no fresh login can disarm it now); re-run once the host answers`,
      );
    } else if (step?.guarded) {
      lines.push(
        `  armed rollback: that step arms ${step.guarded.unit} first; if it did, the host restores ` +
          `the state from before ${step.tasks.join(", ")} ${secs} s after arming, by itself`,
      );
    } else lines.push("  armed rollback: none");
    return lines.join("\n");
  }

  /** Runs one exec as `step`, remembering the step a lost connection cut short. */
  private async tracked<T>(step: Step, fn: () => Promise<T>): Promise<T> {
    this.inFlight = step;
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ConnectionLostError) this.lostIn ??= step;
      throw err;
    } finally {
      this.inFlight = undefined;
    }
  }

  private async exec(
    script: Sh,
    become: boolean,
    what: string,
    tasks: string[] = [],
    guarded?: ArmedRollback,
    live?: { w: SectionWriter; events: SectionEvents },
  ) {
    const t0 = Date.now();
    // the live view: each fragment's begin and end as the script prints them, while the exec runs
    const stream = live?.w.stream(live.events);
    // -vvv: the sh as generated, before it runs (masked like every event)
    if ((this.opt.verbosity ?? 0) >= 3) {
      this.debug(
        `exec #${this.transport!.execCount + 1}: ${what}: sh${become ? " (as root)" : ""}:\n${shown(String(script))}`,
        3,
      );
    }
    const res = await this.tracked({ what, tasks, guarded }, () =>
      runScript(this.transport!, String(script), {
        become,
        errexit: false,
        ...(stream ? { onStdout: (c: Buffer) => stream.push(c) } : {}),
      }),
    );
    this.debug(
      `exec #${this.transport!.execCount}: ${what} (${(Date.now() - t0) / 1000}s, exit ${res.code})`,
    );
    this.debug(`exec #${this.transport!.execCount} output:\n${outputTail(res.stdout, res.stderr)}`, 2);
    return res;
  }

  private result(
    task: PreparedTask,
    status: TaskStatus,
    changes: Change[],
    handler = false,
    error?: string,
  ): void {
    this.announce(task);
    this.counts[status]++;
    this.opt.emit({
      type: "task-result",
      host: this.host,
      task: task.name,
      status,
      changes: this.opt.redactor.value(changes),
      ...(handler ? { handler } : {}),
      ...(error ? { error: this.opt.redactor.text(error) } : {}),
    });
  }

  /** The task's task-start, once (when its probe section begins, else just before its result). */
  private announce(task: PreparedTask): void {
    if (!this.unstarted.delete(task.id)) return;
    this.opt.emit({ type: "task-start", host: this.host, task: task.name });
  }

  private warn(message: string): void {
    this.opt.emit({ type: "warning", host: this.host, message: this.opt.redactor.text(message) });
  }

  private activeTasks(play: PreparedPlay): PreparedTask[] {
    return play.tasks.filter((t) => !t.skippedByWhen && selectedByTags(t, this.opt.tags, this.opt.skipTags));
  }

  /** What a play's probe reads: its active tasks, then its handlers (a handler's plan says what it would do). */
  private probed(play: PreparedPlay): PreparedTask[] {
    return [...this.activeTasks(play), ...play.handlers.values()];
  }

  private async runPlay(play: PreparedPlay, index: number): Promise<void> {
    this.opt.emit({ type: "play-start", host: this.host, play: play.name });
    const active = this.activeTasks(play);
    for (const task of play.tasks) if (!active.includes(task)) this.result(task, "skipped", []);
    // each task-start goes out when its probe begins on the host (see probeAndDiff), not all at once
    this.unstarted = new Map(active.map((t) => [t.id, t]));
    const handlers = [...play.handlers.values()];
    const changedBefore = this.counts.changed;
    try {
      await this.planAndApply(play, index, active, handlers);
    } finally {
      // what a later play read before this one changed the host is stale now (--check changes nothing)
      if (!this.opt.check && (this.counts.changed !== changedBefore || this.counts.failed)) {
        this.prefetched.clear();
      }
    }
  }

  private async planAndApply(
    play: PreparedPlay,
    index: number,
    active: PreparedTask[],
    handlers: PreparedTask[],
  ): Promise<void> {
    const reported = new Set<string>();
    // a task's outcome as far as the probe tells it: under --check all of it, otherwise "ok" when
    // nothing differs; sent as its section ends, while the probe still runs
    const report = (p: Planned) => {
      if (reported.has(p.task.id)) return;
      if (this.opt.check) this.result(p.task, p.changes.length ? "changed" : "ok", p.changes);
      else if (!p.changes.length) this.result(p.task, "ok", []);
      else return;
      reported.add(p.task.id);
    };
    const activeIds = new Set(active.map((t) => t.id));
    const planned = await this.probeAndDiff(index, [...active, ...handlers], play.become, (p) => {
      if (activeIds.has(p.task.id)) report(p);
    });
    const tasks = planned.slice(0, active.length);
    const notified = new Set<string>();
    for (const p of tasks) if (p.changes.length) p.task.notify.forEach((n) => notified.add(n));
    const handlerPlans = planned.slice(active.length).filter((p) => notified.has(p.task.name));

    if (this.opt.check) {
      tasks.forEach(report);
      for (const h of handlerPlans)
        this.result(h.task, "changed", [{ summary: "would run (notified)" }], true);
      return;
    }
    tasks.forEach(report);
    const changed = tasks.filter((p) => p.changes.length);
    if ((changed.length || handlerPlans.length) && play.become) this.hooksDue = true;
    await this.apply(play, changed, handlerPlans, index === this.plays.length - 1);
  }

  /** The after-change hooks in an exec of their own; a failing hook is a warning, never a failed run. */
  private async runHooks(): Promise<void> {
    this.hooksDue = false;
    const w = new SectionWriter();
    const res = await this.exec(
      w.script([w.probe({ id: "hooks", script: afterChangeHooksSh(this.opt.afterChangeDir) })]),
      true,
      "after-change hooks",
    );
    this.hookWarnings(w.parse(res.stdout).get("hooks")?.output);
  }

  private hookWarnings(output: string | undefined): void {
    extractWarnings(output ?? "").warnings.forEach((m) => this.warn(m));
  }

  /**
   * One exec reads this play's facts and, speculatively, those of the plays after it that run with the
   * same privileges: on a no-op run of several plays (host, docker, stack) that is one exec for all of
   * them. A play that changes something drops what the later ones read (see runPlay), so they probe
   * again, after the change; a play's `reconnect:` only matters once it changed the login, which is
   * such a change.
   */
  private async probeAndDiff(
    index: number,
    tasks: PreparedTask[],
    become: boolean,
    onPlanned: (p: Planned) => void = () => undefined,
  ): Promise<Planned[]> {
    if (!tasks.length) return [];
    let outputs = this.prefetched.get(index);
    this.prefetched.delete(index);
    /** Planned while the probe ran (its section ended), in order; none after the first failure. */
    const early = new Map<string, Planned>();
    let failedEarly = false;
    // a handler's plan is applied when it is notified, whatever its changes: never taken from another host
    const handlerIds = new Set([...(this.plays[index]?.handlers.values() ?? [])].map((h) => h.id));
    const plan = (task: PreparedTask, output: string | undefined): Planned => {
      const clean = this.probeOutput(task, output);
      const base = this.context(this.opt.check);
      const memo = handlerIds.has(task.id) ? undefined : this.opt.planMemo;
      const key = memo?.keyOf(task.kind.name, task.spec, base.check, clean);
      const known = key === undefined ? undefined : memo!.get(key, base.login);
      if (known) return { task, changes: [], plan: known.plan };
      const facts = this.parseFacts(task, clean, task.kind.probe(task.spec).parse);
      let warned = false;
      const { ctx, readLogin } = watchedContext({
        ...base,
        warn: (m: string) => {
          warned = true;
          this.warn(`${task.name}: ${m}`);
        },
      });
      const { changes, plan } = task.kind.plan(task.spec, facts, ctx);
      if (key !== undefined && !changes.length && !warned) memo!.remember(key, plan, readLogin(), base.login);
      return { task, changes, plan };
    };
    if (!outputs) {
      const byId = new Map(tasks.map((t) => [`${index}.${t.id}`, t]));
      const group = [index];
      for (let j = index + 1; j < this.plays.length && this.plays[j]!.become === become; j++) group.push(j);
      const w = new SectionWriter();
      const fragments = group.flatMap((k) =>
        (k === index ? tasks : this.probed(this.plays[k]!)).map((t) => {
          const probe = this.opt.planMemo?.probeScript(t.kind, t.spec) ?? t.kind.probe(t.spec);
          return { id: `${k}.${t.id}`, script: probe.script, cost: probe.cost ?? PROBE_COST };
        }),
      );
      const probe = this.opt.planMemo?.probeExec(fragments, w.marker) ?? probeScript(fragments, w.marker);
      const { sourceOf } = probe;
      /** What the sections a duplicate reads printed, kept until the duplicate's own turn. */
      const ended = new Map<string, SectionResult>();
      const readAgain = new Set([...sourceOf].filter(([id, src]) => id !== src).map(([, src]) => src));
      const events: SectionEvents = {
        begin: (id) => {
          const t = byId.get(id);
          if (t) this.announce(t);
        },
        end: (id, r) => {
          if (readAgain.has(id)) ended.set(id, r);
          const t = byId.get(id);
          if (!t || failedEarly) return;
          try {
            const src = sourceOf.get(id) ?? id;
            const p = plan(t, src === id ? r.output : ended.get(src)?.output);
            early.set(t.id, p);
            onPlanned(p);
          } catch {
            // read again after the exec, where the error is raised as before
            failedEarly = true;
          }
        },
      };
      const res = await this.exec(
        probe.script,
        become,
        `probe of ${probe.count} tasks${group.length > 1 ? ` (plays ${group[0]! + 1}-${group.at(-1)! + 1})` : ""}`,
        [],
        undefined,
        { w, events },
      );
      if (res.code !== 0) {
        throw new ApplyError("probe", "batched probe", res.code, this.opt.redactor.text(res.stderr));
      }
      const sections = w.parse(res.stdout);
      for (const k of group) {
        const ts = k === index ? tasks : this.probed(this.plays[k]!);
        const out = new Map(ts.map((t) => [t.id, sections.get(sourceOf.get(`${k}.${t.id}`)!)?.output]));
        if (k === index) outputs = out;
        else this.prefetched.set(k, out);
      }
    }
    return tasks.map((task) => early.get(task.id) ?? plan(task, outputs!.get(task.id)));
  }

  /** A task's probe output without its warning lines, which are said here (for each host). */
  private probeOutput(task: PreparedTask, output: string | undefined): string {
    if (output === undefined) throw new ProbeParseError(`${task.name} (${task.kind.name}): no probe output`);
    const { output: clean, warnings } = extractWarnings(output);
    warnings.forEach((w) => this.warn(`${task.name}: ${w}`));
    return clean;
  }

  private parseFacts(task: PreparedTask, clean: string, parse: (s: string) => unknown): unknown {
    try {
      return parse(clean);
    } catch (err) {
      throw new ProbeParseError(
        `${task.name} (${task.kind.name}): cannot read probe output: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** Split into segments: each guarded change alone, everything between them batched. */
  private async apply(
    play: PreparedPlay,
    changed: Planned[],
    handlers: Planned[],
    last = false,
  ): Promise<void> {
    let batch: Planned[] = [];
    try {
      for (const p of changed) {
        const guard = p.task.kind.guard?.(p.task.spec);
        if (!guard) {
          batch.push(p);
          continue;
        }
        await this.applyBatch(batch, play.become, false);
        batch = [];
        await this.applyGuarded(play, p, guard);
      }
      batch.push(...handlers);
      // handlers a failure stops here are not reported yet: forceHandlers decides whether they run
      // the run's last exec also runs the after-change hooks: no exec of their own
      await this.applyBatch(batch, play.become, true, handlers.length, true, last && play.become);
    } catch (err) {
      await this.forceHandlers(play, changed, handlers);
      throw err;
    }
  }

  /**
   * A later task failed: the changes that did land still get their handlers (as Ansible's
   * --force-handlers), since a re-run would see those tasks unchanged and never notify them again.
   */
  private async forceHandlers(play: PreparedPlay, changed: Planned[], handlers: Planned[]): Promise<void> {
    const landed = changed.filter((p) => this.applied.has(p.task.id));
    const pending = handlers.filter((h) => !this.handlersReached.has(h.task.id));
    const due = pending.filter((h) => landed.some((p) => p.task.notify.includes(h.task.name)));
    // one event per handler: skipped (nothing that notified it landed), or the result of running it
    for (const h of pending.filter((x) => !due.includes(x))) {
      this.result(h.task, "skipped", [], true, "not run: an earlier task failed");
    }
    if (!due.length) return;
    this.warn(
      `a task failed; running the handlers of the changes that were applied: ${due.map((h) => h.task.name).join(", ")}`,
    );
    await this.applyBatch(due, play.become, true, due.length).catch(() => undefined);
  }

  /** Stream each kind's local files to the host (one exec per file, the bytes on stdin, never in a script). */
  private async upload(batch: Planned[], become: boolean): Promise<void> {
    for (const p of batch) {
      for (const u of p.task.kind.uploads?.(p.task.spec, p.plan) ?? []) {
        const size = u.size ?? (await stat(u.local)).size;
        const progress = this.uploadProgress(p.task.name, u.local, size);
        const res = await this.tracked({ what: `upload of ${u.local}`, tasks: [p.task.name] }, () =>
          this.transport!.exec(String(u.into ?? uploadWriteLine(u.remote)), {
            stdin: progress.count(u.open ? u.open() : createReadStream(u.local)),
            become,
          }),
        );
        if (res.code === 0) progress.done();
        this.debug(`exec #${this.transport!.execCount}: upload ${u.local} (${size} bytes), exit ${res.code}`);
        if (res.code !== 0) {
          throw new ApplyError(
            p.task.name,
            `upload ${u.local}`,
            res.code,
            this.opt.redactor.text(res.stderr),
          );
        }
      }
    }
  }

  /**
   * `upload` events for one file: at the start, then as its bytes are read into the channel (which
   * takes them only as fast as the host does: ssh2 pipes with backpressure), at most one per interval.
   */
  private uploadProgress(task: string, file: string, total: number) {
    const t0 = Date.now();
    const throttle = new Throttle(this.opt.progressIntervalMs ?? 500);
    let bytes = 0;
    const emit = (done: boolean) =>
      this.opt.emit({
        type: "upload",
        host: this.host,
        task,
        file,
        ...transferFigures(bytes, total, Date.now() - t0),
        ...(done ? { done } : {}),
      });
    throttle.take();
    emit(false);
    return {
      count: (source: Readable): Readable => {
        const counter = new Transform({
          transform(chunk: Buffer, _enc, next) {
            bytes += chunk.length;
            if (throttle.take()) emit(false);
            next(null, chunk);
          },
        });
        // the transport fails the exec on an error of the stream it is given
        source.once("error", (err) => counter.destroy(err));
        return source.pipe(counter);
      },
      done: () => emit(true),
    };
  }

  /** What kinds are told about this run; the login is what authorized_key must never lock out. */
  private context(check: boolean): ResourceContext {
    const t = this.transport;
    return { check, ...(t ? { login: { user: t.target.user, keys: t.authKeys ?? [] } } : {}) };
  }

  private applyFragment(p: Planned): Sh {
    return p.task.kind.apply(p.task.spec, p.plan, this.context(false));
  }

  /**
   * Consecutive tasks of a kind that can join its plans (applyTogether) do their work in the first one's
   * section; the others' sections run nothing (their own verification still runs). Handlers stay apart.
   */
  private batchFragments(tasks: Planned[]): Map<string, Sh> {
    const out = new Map<string, Sh>();
    for (let i = 0; i < tasks.length;) {
      const kind = tasks[i]!.task.kind;
      let j = i + 1;
      while (j < tasks.length && tasks[j]!.task.kind === kind) j++;
      const run = tasks.slice(i, j);
      const together =
        run.length > 1
          ? kind.applyTogether?.(run.map((p) => ({ spec: p.task.spec, plan: p.plan })))
          : undefined;
      if (together) {
        out.set(run[0]!.task.id, together);
        for (const p of run.slice(1))
          out.set(p.task.id, raw(`: # applied with the first ${kind.name} task of this batch`));
      }
      i = j;
    }
    return out;
  }

  private async applyBatch(
    batch: Planned[],
    become: boolean,
    final: boolean,
    handlerCount = 0,
    deferFailedHandlers = false,
    withHooks = false,
  ): Promise<void> {
    if (!batch.length) return;
    await this.upload(batch, become);
    const w = new SectionWriter();
    const fragments = this.batchFragments(batch.slice(0, batch.length - handlerCount));
    // each change is verified right after it, in the same exec: its result is final as soon as that
    // section ends, so the live view reports it while the later changes still run (a task joined into an
    // earlier one's fragment, applyTogether, is verified after that fragment)
    const parts = batch.flatMap((p) => [
      w.change({ id: p.task.id, script: fragments.get(p.task.id) ?? this.applyFragment(p) }),
      ...(verifies(p.task.kind, p.task.spec)
        ? [w.probe({ id: `v-${p.task.id}`, script: p.task.kind.probe(p.task.spec).script })]
        : []),
    ]);
    // after every change and its verification (a failed change exits the script before this)
    if (withHooks)
      parts.push(w.probe({ id: "after-change-hooks", script: afterChangeHooksSh(this.opt.afterChangeDir) }));
    const firstHandlerAt = batch.length - handlerCount;
    const byId = new Map(batch.map((p, i) => [p.task.id, { p, handler: i >= firstHandlerAt }]));
    const settle = new BatchResults(
      batch.map((p) => ({ id: p.task.id, verifies: verifies(p.task.kind, p.task.spec) })),
      (i, change, verify) => this.appliedOutcome(batch[i]!, change, verify),
      (i, o) => this.settled(batch[i]!, o, i >= firstHandlerAt),
    );
    const res = await this.exec(
      w.script(parts),
      become,
      `apply ${batch.length} changes${final ? " + handlers" : ""}`,
      batch.map((p) => p.task.name),
      undefined,
      {
        w,
        events: {
          begin: (id) => this.applying(byId.get(id)),
          end: (id, r) => settle.section(id, r),
        },
      },
    );
    const sections = w.parse(res.stdout);
    // what the stream could not settle: a failed change (its message may need the exec's stderr),
    // the changes after it (never run), and everything when the stream stopped early
    for (const [i, p] of batch.entries()) {
      const isHandler = i >= firstHandlerAt;
      if (sections.has(p.task.id) && isHandler) this.handlersReached.add(p.task.id);
      if (settle.done(i)) continue;
      const s = sections.get(p.task.id);
      if (!s || s.rc !== 0) {
        if (settle.changeFailed) {
          // not run: the script stopped at an earlier failing change
          if (!(isHandler && deferFailedHandlers)) settle.report(i, { status: "skipped" });
          continue;
        }
        const { output } = this.changeOutput(p, s);
        settle.report(i, {
          status: "failed",
          error: new ApplyError(
            p.task.name,
            p.task.kind.describe(p.task.spec),
            s?.rc ?? res.code,
            this.opt.redactor.text(output || res.stderr),
          ),
          changeFailed: true,
        });
        continue;
      }
      settle.report(i, this.appliedOutcome(p, s, sections.get(`v-${p.task.id}`)));
    }
    if (settle.failure) throw settle.failure;
    if (withHooks && sections.has("after-change-hooks")) {
      this.hooksDue = false;
      this.hookWarnings(sections.get("after-change-hooks")?.output);
    }
  }

  /** A change section's output without its LOCKCLAW_WARNING lines, which go out as warnings (once). */
  private changeOutput(p: Planned, s: SectionResult | undefined): { output: string } {
    const { output, warnings } = extractWarnings(s?.output ?? "");
    warnings.forEach((m) => this.warn(`${p.task.name}: ${m}`));
    return { output };
  }

  /** The outcome of a change that succeeded (section rc 0), from its verification section. */
  private appliedOutcome(p: Planned, s: SectionResult, verify: SectionResult | undefined): Outcome {
    this.changeOutput(p, s);
    this.applied.set(p.task.id, p.task.name);
    const drift = this.verifyDrift(p, verify?.output);
    if (!drift) return { status: "changed" };
    return {
      status: "failed",
      error: new ApplyError(p.task.name, "verify", 0, `still differs after apply: ${drift}`),
    };
  }

  /** A task of an apply batch has its outcome: its task-result goes out. */
  private settled(p: Planned, o: Outcome, handler: boolean): void {
    if (o.status === "skipped")
      this.result(p.task, "skipped", [], handler, "not run: an earlier task failed");
    else
      this.result(p.task, o.status, p.changes, handler, o.status === "failed" ? o.error.message : undefined);
  }

  /** A change section began on the host: the live view says which task is being applied. */
  private applying(at: { p: Planned; handler: boolean } | undefined): void {
    if (!at) return;
    this.opt.emit({
      type: "task-apply",
      host: this.host,
      task: at.p.task.name,
      ...(at.handler ? { handler: true } : {}),
    });
  }

  /** Re-read facts after apply; returns the remaining drift, or undefined when converged. */
  private verifyDrift(p: Planned, output: string | undefined): string | undefined {
    if (!verifies(p.task.kind, p.task.spec)) return undefined;
    if (output === undefined) return "no verification output";
    const facts = this.parseFacts(
      p.task,
      this.probeOutput(p.task, output),
      p.task.kind.probe(p.task.spec).parse,
    );
    const left = changesOf(p.task.kind, p.task.spec, facts, this.context(false));
    return left.length ? left.map((c) => c.summary).join("; ") : undefined;
  }

  private async applyGuarded(
    play: PreparedPlay,
    p: Planned,
    guard: NonNullable<ReturnType<NonNullable<PreparedTask["kind"]["guard"]>>>,
  ) {
    await this.upload([p], play.become);
    const rb = newRollback(p.task.id);
    const w = new SectionWriter();
    const script = w.script([
      w.change({ id: "arm", script: armScript(rb, guard, this.opt.rollbackAfterSeconds) }),
      // on failure restore at once instead of leaving a half-applied change for the timer
      w.change({
        id: p.task.id,
        script: sh`if ! (\nset -e\n${this.applyFragment(p)}\n); then\n${rollbackNowScript(rb)}\nexit 1\nfi`,
      }),
      ...(!verifies(p.task.kind, p.task.spec)
        ? []
        : [w.probe({ id: `v-${p.task.id}`, script: p.task.kind.probe(p.task.spec).script })]),
    ]);
    // the timer starts on the host when this exec begins: an interrupt from here on leaves it armed
    const armedUntil = {
      unit: rb.unit,
      rollbackAt: new Date(Date.now() + this.opt.rollbackAfterSeconds * 1000).toISOString(),
    };
    this.opt.emit({
      type: "guard",
      host: this.host,
      task: p.task.name,
      phase: "arming",
      detail: `arming a rollback (${rb.unit}) and applying`,
      ...armedUntil,
    });
    const res = await this.exec(script, play.become, "guarded apply", [p.task.name], rb, {
      w,
      events: { begin: (id) => (id === p.task.id ? this.applying({ p, handler: false }) : undefined) },
    });
    const sections = w.parse(res.stdout);
    const arm = sections.get("arm");
    if (!arm || arm.rc !== 0) {
      const err = new ApplyError(
        p.task.name,
        "arm rollback",
        arm?.rc ?? res.code,
        this.opt.redactor.text(arm?.output ?? res.stderr),
      );
      this.result(p.task, "failed", p.changes, false, err.message);
      throw err;
    }
    this.armed = { rb, task: p.task.name, at: Date.now() };
    this.opt.emit({
      type: "guard",
      host: this.host,
      task: p.task.name,
      phase: "armed",
      detail: `rollback in ${this.opt.rollbackAfterSeconds}s unless a fresh login succeeds (${rb.unit})`,
      ...armedUntil,
    });
    const s = sections.get(p.task.id);
    if (!s || s.rc !== 0) {
      this.armed = undefined; // the script restored at once
      const err = new ApplyError(
        p.task.name,
        p.task.kind.describe(p.task.spec),
        s?.rc ?? res.code,
        this.opt.redactor.text(s?.output || res.stderr),
      );
      this.opt.emit({
        type: "guard",
        host: this.host,
        task: p.task.name,
        phase: "rolled-back",
        detail: "apply failed; previous state restored",
      });
      this.result(p.task, "failed", p.changes, false, err.message);
      throw err;
    }
    if (this.opt.confirmDelayMs) await new Promise((r) => setTimeout(r, this.opt.confirmDelayMs));
    const proof = await this.freshLogin(play, rb);
    if (proof.ok) this.armed = undefined;
    const drift = proof.ok ? this.verifyDrift(p, sections.get(`v-${p.task.id}`)?.output) : undefined;
    if (!proof.ok || drift) {
      const why = proof.ok ? `still differs after apply: ${drift}` : proof.reason;
      await this.exec(rollbackNowScript(rb), play.become, "roll back", [p.task.name]).then(
        () => (this.armed = undefined),
        () => undefined,
      );
      this.opt.emit({ type: "guard", host: this.host, task: p.task.name, phase: "rolled-back", detail: why });
      const err = new LockoutPreventedError(
        p.task.name,
        p.changes.map((c) => c.summary),
        { cause: new Error(why) },
      );
      this.result(p.task, "failed", p.changes, false, `${err.message}: ${why}`);
      throw err;
    }
    this.opt.emit({
      type: "guard",
      host: this.host,
      task: p.task.name,
      phase: "confirmed",
      detail: proof.detail,
    });
    this.applied.set(p.task.id, p.task.name);
    this.result(p.task, "changed", p.changes);
  }

  /** A NEW connection as the play's future login; running the disarm through it (with sudo) is the proof. */
  private async freshLogin(
    play: PreparedPlay,
    rb: ArmedRollback,
  ): Promise<{ ok: true; detail: string } | { ok: false; reason: string }> {
    const cur = this.transport!;
    const login = play.reconnect ?? { user: cur.target.user, port: cur.target.port };
    const target: ConnectionTarget = {
      ...cur.target,
      ...login,
      proxyJump: cur.target.proxyJump,
      connectTimeoutMs: 10_000,
      trustedHostKeys: [...(cur.target.trustedHostKeys ?? []), cur.hostKeyFingerprint],
    };
    const where = `${login.user}@${target.host}:${login.port}`;
    let fresh: Transport | undefined;
    try {
      fresh = await this.opt.connector(target);
      const res = await runScript(fresh, String(disarmScript(rb)), { become: true, errexit: false });
      if (res.code !== 0) {
        return {
          ok: false,
          reason: `fresh login ${where} works but sudo or the disarm failed (exit ${res.code}): ${excerpt(res.stdout + res.stderr, 3)}`,
        };
      }
      this.opt.state.set(stateKeyOf(this.target), {
        host: target.host,
        user: login.user,
        port: login.port,
        hostKey: cur.hostKeyFingerprint,
      });
      return { ok: true, detail: `fresh login ${where} with sudo proven; rollback disarmed` };
    } catch (err) {
      return {
        ok: false,
        reason: `fresh login ${where} failed: ${err instanceof LockclawError || err instanceof Error ? err.message : String(err)}`,
      };
    } finally {
      if (fresh) {
        this.extraExecs += fresh.execCount;
        await fresh.close();
      }
    }
  }
}

/** -vv: what an exec printed, its last 4 KiB of each stream (a probe prints a lot). */
function outputTail(stdout: string, stderr: string): string {
  const tail = (s: string) => (s.length > 4096 ? `…${s.slice(-4096)}` : s);
  return [
    `stdout: ${tail(stdout.trimEnd()) || "(none)"}`,
    `stderr: ${tail(stderr.trimEnd()) || "(none)"}`,
  ].join("\n");
}

/**
 * -vvv: the script without its here-document data. That base64 carries file contents and command
 * scripts, secrets among them, in a form the redactor cannot recognise: it is never printed.
 */
export function shown(script: string): string {
  return script.replace(
    /(<<'LOCKCLAW_B64_EOF'[^\n]*\n)([\s\S]*?)(\nLOCKCLAW_B64_EOF)/g,
    (_m, head: string, body: string, tail: string) =>
      `${head}(${Buffer.from(body, "base64").length} bytes of base64 data, not shown)${tail}`,
  );
}
