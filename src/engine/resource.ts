/**
 * The contract every module (resource kind) implements. A module keeps its facts (probe + parse), its
 * plan (pure) and its commands (apply) side by side in one file under src/resources/.
 *
 * A run per host is: every task's probe script is concatenated into ONE exec, each section delimited
 * so a parse error names its task; plan() turns spec + facts into the changes to show and the module's
 * own plan of what to do (pure, unit-tested), once per task and probe; apply() turns that plan into sh
 * and uploads() into the files to stream first; the engine batches the apply fragments of many tasks
 * into as few execs as it can, and re-probes what changed to verify it converged (plan(...).changes
 * empty).
 */
import type { Readable } from "node:stream";
import type { z } from "zod";
import type { Sh } from "../core/sh.js";

export interface Change {
  /** One line for a human: "create user deploy", "PasswordAuthentication yes → no". */
  summary: string;
  /** Unified diff for --diff. Must already be redacted when the content is sensitive. */
  diff?: string;
}

/**
 * What plan() returns: the changes a human sees (empty = in the desired state) and the module's own
 * plan, the decisions apply() and uploads() carry out. Both come from one computation, so what is
 * shown and what is done cannot disagree.
 */
export interface Planned<Plan> {
  changes: Change[];
  plan: Plan;
}

export interface Probe<Facts> {
  /**
   * POSIX sh fragment run as root (through sudo when the login user is not root), stdin /dev/null,
   * without `set -e`. Whatever it prints on stdout is handed to parse(). It must not change anything.
   * An `Sh`: built with sh`…` (values quoted) or raw() (trusted literals), never from a plain string.
   */
  script: Sh;
  /** Turn the fragment's stdout into facts. Throw an Error with a clear message on unexpected output. */
  parse(stdout: string): Facts;
  /**
   * Rough time the script takes on a small idle host, in ms (default PROBE_COST): the batched probe
   * runs its fragments in parallel lanes cut by this weight, so one slow fragment does not hold back a
   * lane of many. Estimate from what it starts: a process ~2, systemctl ~10, python ~25, sshd -T ~25.
   */
  cost?: number;
}

/** A probe's cost (Probe.cost) when it declares none: a few small processes. */
export const PROBE_COST = 5;

/** Present on modules whose apply can cut SSH access (sshd, ufw): the engine's lock-out guard (./guard.ts, docs/security-model.md). */
export interface LockoutGuard {
  /** sh run just before apply: copy what apply touches into the directory "$LOCKCLAW_BACKUP". */
  save: Sh;
  /**
   * sh that puts the saved state back from "$LOCKCLAW_BACKUP" and reloads the service, so the host is
   * reachable exactly as before. Run by the timer armed on the host, or at once when a fresh login fails.
   */
  restore: Sh;
}

/** A local file streamed to the host before apply (large payloads never go through the batched script). */
export interface Upload {
  /** Path on the control machine (or, with `open`, what the bytes are, for messages). */
  local: string;
  /** Where it lands on the host (root-owned, 0600); apply() moves it into place. */
  remote: string;
  /** The bytes when they are not the file `local` as is (e.g. a tarball assembled as it is sent). */
  open?: () => Readable;
  /** Their length, with `open`. */
  size?: number;
  /**
   * A command on the host that consumes the bytes from its stdin instead of a file at `remote` (which
   * then only names them in messages): e.g. `docker load`, so nothing is written to disk first and the
   * host works while the bytes still arrive. It must fail (non-zero, a message on stderr) if they are bad.
   */
  into?: Sh;
}

/**
 * How far a kind is in reading a local file it hashes while it is prepared (a bundle of gigabytes takes
 * seconds): at the start, after each chunk, and once `done`. The engine throttles what it reports.
 */
export type LocalProgress = (p: { file: string; bytes: number; total: number; done?: boolean }) => void;

/** What a kind may use while it is prepared on the control machine, before anything connects. */
export interface LocalContext {
  /** Directory of the playbook file: relative local paths are taken from there. */
  playbookDir: string;
  /** Told as a local file is hashed (a hash taken from the memo reads nothing and says nothing). */
  progress?: LocalProgress;
}

export interface ResourceContext {
  /** true under --check: apply() is never called, but plan() may phrase changes as "would …". */
  check: boolean;
  /**
   * The login this run works through: its user and the public keys (`type base64`) it may have
   * authenticated with (Transport.authKeys). A kind must never take these away from that user.
   */
  login?: { user: string; keys: string[] };
  /** Tell the user something that is not a change (the engine emits it as a warning, once). */
  warn?: (message: string) => void;
}

export interface ResourceKind<Spec = unknown, Facts = unknown, Plan = unknown> {
  /** The key a playbook task uses, e.g. `file`. */
  readonly name: string;
  /** Validates a task's arguments (after variable interpolation). Runs before any host is contacted. */
  readonly spec: z.ZodType<Spec>;
  /** A short label, e.g. `file /etc/sudoers.d/deploy`. */
  describe(spec: Spec): string;
  probe(spec: Spec): Probe<Facts>;
  /**
   * Pure: what must change to go from facts to spec (`changes`, empty = in the desired state) and how
   * (`plan`, whatever apply() and uploads() need: they never see the facts). The engine calls it once per
   * task and probe; `ctx.warn` warnings are therefore emitted once.
   */
  plan(spec: Spec, facts: Facts, ctx: ResourceContext): Planned<Plan>;
  /**
   * sh fragment that carries out the plan. Runs as root with `set -e`, stdin /dev/null. Idempotent.
   * Secrets and file contents go inside the fragment (e.g. base64Heredoc), which reaches the host on
   * the exec's stdin, never in a process's arguments. Called when the plan has changes, and for a
   * notified handler whatever its changes (a handler runs because it was notified).
   */
  apply(spec: Spec, plan: Plan, ctx?: ResourceContext): Sh;
  /**
   * One fragment that carries out the plans of several consecutive tasks of this kind in one apply
   * batch, for kinds whose every run has a high fixed cost (package: one apt-get run, not one per task).
   * The engine runs it in the first task's section and nothing in the others; each task is still
   * verified by its own probe. Undefined: these plans cannot be joined, each task applies alone.
   */
  applyTogether?(items: ReadonlyArray<{ spec: Spec; plan: Plan }>): Sh | undefined;
  /**
   * Kinds whose apply can cut SSH access return how to save and restore what they touch; undefined
   * when this particular spec cannot cut access (e.g. ufw in `ensure` mode only adds rules).
   */
  guard?(spec: Spec): LockoutGuard | undefined;
  /**
   * Runs on the control machine after validation, before anything connects: may read local files
   * (e.g. hash what `copy` will upload) and return the spec completed with what it found.
   */
  prepareLocal?(spec: Spec, ctx: LocalContext): Spec;
  /** Local files to stream to the host before apply(), one exec each, on the channel's stdin. */
  uploads?(spec: Spec, plan: Plan): Upload[];
  /** Values inside the spec that are secret; the reporters redact them everywhere. */
  secrets?(spec: Spec): string[];
  /**
   * Top-level spec keys whose value is POSIX sh that runs on the host (`command`'s cmd/unless/onlyif,
   * `validate` of file and template). The engine renders `{{var}}` inside these as one quoted sh word and
   * refuses, at load time, a variable there whose declared type is not narrow enough for sh.
   */
  readonly shFields?: readonly string[];
  /** Whether plan()'s changes must be empty after apply (false for `command`, whose guard is the check). */
  readonly verifiable?: boolean;
  /**
   * Per-spec answer, for kinds that are states for some specs and actions for others (`service` with
   * `state: restarted` always yields a change, so a re-probe can never come back empty). Wins over
   * `verifiable` when present.
   */
  isVerifiable?(spec: Spec): boolean;
}

/**
 * Only the changes of a plan, for callers that show or judge drift and never apply (the audit's derived
 * checks, the verify re-probe). Not a second computation: it is plan() with the plan dropped.
 */
export function changesOf<Spec, Facts, Plan>(
  kind: ResourceKind<Spec, Facts, Plan>,
  spec: Spec,
  facts: Facts,
  ctx: ResourceContext,
): Change[] {
  return kind.plan(spec, facts, ctx).changes;
}

/**
 * For a module whose internal planner returns its decisions with the changes beside them: the
 * contract's shape, `{ changes, plan: the rest }`.
 */
export function planned<T extends { changes: Change[] }>({
  changes,
  ...plan
}: T): Planned<Omit<T, "changes">> {
  return { changes, plan };
}

/** Whether the engine re-probes this task after apply and fails it when drift remains. */
export function verifies(kind: AnyResourceKind, spec: unknown): boolean {
  return kind.isVerifiable ? kind.isVerifiable(spec) : kind.verifiable !== false;
}

/**
 * Any line a probe or apply fragment prints that starts with this is a message for the user, not
 * output: the engine strips it before parse() and emits it as a `warning` event. Fragments warn
 * instead of failing when the host cannot do something harmless to skip (a read-only sysctl key).
 */
export const WARNING_PREFIX = "LOCKCLAW_WARNING: ";

export function extractWarnings(output: string): { output: string; warnings: string[] } {
  // most outputs hold none: not split and joined again (a fleet's probes are ~160 KB per host)
  if (!output.startsWith(WARNING_PREFIX) && !output.includes(`\n${WARNING_PREFIX}`)) {
    return { output, warnings: [] };
  }
  const warnings: string[] = [];
  const kept: string[] = [];
  for (const line of output.split("\n")) {
    if (line.startsWith(WARNING_PREFIX)) warnings.push(line.slice(WARNING_PREFIX.length));
    else kept.push(line);
  }
  return { output: kept.join("\n"), warnings };
}

/** Erases the generic parameters so kinds can sit in one registry. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyResourceKind = ResourceKind<any, any, any>;

/** Parse `key=value` lines (the usual probe output shape). Later keys win. */
export function parseKeyValues(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}
