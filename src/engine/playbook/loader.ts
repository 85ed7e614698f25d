/** Reads a playbook file into plays and tasks; checks structure, kinds and handler names before anything connects. */
import { ConfigError } from "../errors.js";
import type { AnyResourceKind } from "../resource.js";
import { YamlSource, type KeyPath } from "../yaml-source.js";
import { playShape, taskShape, TASK_CONTROL_KEYS } from "./schema.js";

export interface RawTask {
  index: number;
  name: string;
  kind: string;
  /** The kind's arguments as written (not yet interpolated). */
  args: unknown;
  tags: string[];
  notify: string[];
  when?: string;
  keyPath: KeyPath;
}

export interface RawPlay {
  index: number;
  name: string;
  hosts: string;
  become: boolean;
  vars: Record<string, unknown>;
  secretVars: string[];
  multilineVars: string[];
  reconnect?: { user: unknown; port: unknown };
  tasks: RawTask[];
  handlers: RawTask[];
  keyPath: KeyPath;
}

export interface Playbook {
  file: string;
  source: YamlSource;
  plays: RawPlay[];
}

export type KindRegistry = Readonly<Record<string, AnyResourceKind>>;

export function loadPlaybook(file: string, kinds: KindRegistry): Playbook {
  return parsePlaybook(YamlSource.readFile(file, "playbook"), kinds);
}

export function parsePlaybook(source: YamlSource, kinds: KindRegistry): Playbook {
  const top = source.value;
  // a playbook is one play (a mapping) or a list of plays
  const list = Array.isArray(top) ? top : [top];
  if (top === null || top === undefined || list.length === 0) {
    throw new ConfigError("the playbook is empty", { file: source.file }, "add a play with tasks:");
  }
  const plays = list.map((raw, i) => {
    const keyPath: KeyPath = Array.isArray(top) ? [i] : [];
    return readPlay(source, raw, i, keyPath, kinds);
  });
  return { file: source.file, source, plays };
}

function readPlay(
  source: YamlSource,
  raw: unknown,
  index: number,
  keyPath: KeyPath,
  kinds: KindRegistry,
): RawPlay {
  const play = source.validate(playShape, raw, keyPath);
  const name = play.name ?? `play ${index + 1}`;
  const tasks = play.tasks.map((t, i) => readTask(source, t, i, [...keyPath, "tasks", i], kinds));
  const handlers = (play.handlers ?? []).map((t, i) =>
    readTask(source, t, i, [...keyPath, "handlers", i], kinds),
  );
  const handlerNames = new Set<string>();
  for (const h of handlers) {
    if (handlerNames.has(h.name)) {
      throw new ConfigError(`two handlers are named '${h.name}'`, source.locate(h.keyPath), "rename one");
    }
    handlerNames.add(h.name);
  }
  for (const t of [...tasks, ...handlers]) {
    t.notify.forEach((n) => {
      if (!handlerNames.has(n)) {
        throw new ConfigError(
          `notify names '${n}', which is not a handler of this play`,
          source.locate([...t.keyPath, "notify"]),
          handlerNames.size ? `use one of: ${[...handlerNames].join(", ")}` : "add it under handlers:",
        );
      }
    });
  }
  const vars = play.vars ?? {};
  for (const [field, names] of [
    ["secret_vars", play.secret_vars ?? []],
    ["multiline_vars", play.multiline_vars ?? []],
  ] as const) {
    names.forEach((n, i) => {
      if (!(n in vars)) {
        throw new ConfigError(
          `${field} names '${n}', which is not under vars:`,
          source.locate([...keyPath, field, i]),
          `declare ${n} under vars: with its default`,
        );
      }
    });
  }
  return {
    index,
    name,
    hosts: play.hosts ?? "all",
    become: play.become ?? true,
    vars,
    secretVars: play.secret_vars ?? [],
    multilineVars: play.multiline_vars ?? [],
    reconnect: play.reconnect,
    tasks,
    handlers,
    keyPath,
  };
}

function readTask(
  source: YamlSource,
  raw: unknown,
  index: number,
  keyPath: KeyPath,
  kinds: KindRegistry,
): RawTask {
  const task = source.validate(taskShape, raw, keyPath);
  const control = new Set<string>(TASK_CONTROL_KEYS);
  const kindKeys = Object.keys(task).filter((k) => !control.has(k));
  if (kindKeys.length !== 1) {
    throw new ConfigError(
      kindKeys.length === 0
        ? "the task names no module"
        : `the task names several modules: ${kindKeys.join(", ")}`,
      source.locate(keyPath),
      `give exactly one of: ${Object.keys(kinds).sort().join(", ")}`,
    );
  }
  const kind = kindKeys[0]!;
  if (!(kind in kinds)) {
    const near = closest(kind, Object.keys(kinds));
    throw new ConfigError(
      `unknown module '${kind}'`,
      source.locate([...keyPath, kind]),
      near ? `did you mean '${near}'?` : `use one of: ${Object.keys(kinds).sort().join(", ")}`,
    );
  }
  const notify = task.notify === undefined ? [] : Array.isArray(task.notify) ? task.notify : [task.notify];
  return {
    index,
    name: task.name ?? `${kind} #${index + 1}`,
    kind,
    args: (task as Record<string, unknown>)[kind],
    tags: task.tags ?? [],
    notify,
    when: task.when,
    keyPath,
  };
}

/** The known name within edit distance 2, for "did you mean". */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
