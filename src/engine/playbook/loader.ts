/**
 * Reads a playbook file into plays and tasks; checks structure, kinds, handler names and variable types
 * (each default fits its type; a variable inside a sh string is typed narrowly) before anything connects.
 */
import Handlebars from "handlebars";
import { parseMaxFailPercentage, parseSerial, type SerialItem } from "../batches.js";
import { ConfigError, type SourceLocation } from "../../core/errors.js";
import type { AnyResourceKind } from "../resource.js";
import { enumType, namedType, optionalType, TYPE_NAMES, type VarType } from "../var-types.js";
import { checkTyped } from "../vars.js";
import { closest, YamlSource, type KeyPath } from "../yaml-source.js";
import { parseWhen, playShape, taskShape, TASK_CONTROL_KEYS } from "./schema.js";

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
  /** Declared types (`var_types:`); vars without one are typed by their default. */
  varTypes: Record<string, VarType>;
  reconnect?: { user: unknown; port: unknown };
  /** `serial:` and `max_fail_percentage:`, checked (batches.ts), with where they are written. */
  serial?: { items: SerialItem[]; where: SourceLocation };
  maxFailPercentage?: { value: number; where: SourceLocation };
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
    ["var_types", Object.keys(play.var_types ?? {})],
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
  const at = (key: string): SourceLocation => source.locate([...keyPath, key]);
  const varTypes = readVarTypes(source, play.var_types ?? {}, [...keyPath, "var_types"]);
  for (const [n, type] of Object.entries(varTypes)) {
    // the playbook's own default must fit the type it declares (a mistake of the playbook, located there)
    checkTyped({ name: n, value: vars[n], from: source.locate([...keyPath, "vars", n]) }, type, vars[n], {
      secret: (play.secret_vars ?? []).includes(n),
      allowWorld: false,
    });
  }
  for (const t of [...tasks, ...handlers]) checkShVars(source, t, kinds[t.kind]!, vars, varTypes);
  return {
    index,
    name,
    hosts: play.hosts ?? "all",
    become: play.become ?? true,
    vars,
    // a secret_token is secret whether or not secret_vars lists it
    secretVars: [
      ...new Set([
        ...(play.secret_vars ?? []),
        ...Object.keys(varTypes).filter((n) => varTypes[n]!.name.startsWith("secret_token")),
      ]),
    ],
    multilineVars: play.multiline_vars ?? [],
    varTypes,
    reconnect: play.reconnect,
    ...(play.serial === undefined
      ? {}
      : { serial: { items: parseSerial(play.serial, at("serial")), where: at("serial") } }),
    ...(play.max_fail_percentage === undefined
      ? {}
      : {
          maxFailPercentage: {
            value: parseMaxFailPercentage(play.max_fail_percentage, at("max_fail_percentage")),
            where: at("max_fail_percentage"),
          },
        }),
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
  // a misspelled control key (notfy:, tag:) reads as a second module: name it for what it is
  for (const k of kindKeys) {
    const near = k in kinds ? undefined : closest(k, [...TASK_CONTROL_KEYS]);
    if (near && (kindKeys.length > 1 || !closest(k, Object.keys(kinds)))) {
      throw new ConfigError(
        `unknown task key '${k}'`,
        source.locate([...keyPath, k]),
        `did you mean '${near}'?`,
      );
    }
  }
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

function readVarTypes(
  source: YamlSource,
  declared: NonNullable<ReturnType<typeof playShape.parse>["var_types"]>,
  keyPath: KeyPath,
): Record<string, VarType> {
  const out: Record<string, VarType> = {};
  for (const [n, spec] of Object.entries(declared)) {
    if (typeof spec === "object" && "enum" in spec) {
      out[n] = enumType(spec.enum);
      continue;
    }
    const typeName = typeof spec === "string" ? spec : spec.type;
    const t = namedType(typeName);
    if (!t) {
      const near = closest(typeName, [...TYPE_NAMES]);
      throw new ConfigError(
        `unknown variable type '${typeName}'`,
        source.locate(typeof spec === "string" ? [...keyPath, n] : [...keyPath, n, "type"]),
        `${near ? `did you mean '${near}'? ` : ""}use one of: ${TYPE_NAMES.join(", ")}, or {enum: [words]}`,
      );
    }
    out[n] = typeof spec === "object" && spec.optional ? optionalType(t) : t;
  }
  return out;
}

/** Variables a Handlebars string refers to (helper names and block-local `this`/`@index` left out). */
export function referencedVars(text: string): string[] {
  const names = new Set<string>();
  type Node = { type: string; [k: string]: unknown };
  const walk = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(walk);
    const n = node as Node;
    if (n.type === "PathExpression") {
      const p = n as unknown as { data: boolean; parts: string[]; original: string };
      // `this`/`this.x`/`.` are the current item of an {{#each list}}, whose list is checked itself
      if (!p.data && p.parts.length > 0 && !/^(this\b|\.)/.test(p.original)) names.add(p.parts[0]!);
      return;
    }
    if (n.type === "MustacheStatement" || n.type === "BlockStatement" || n.type === "SubExpression") {
      const params = n.params as unknown[];
      const hash = n.hash as { pairs: Array<{ value: unknown }> } | undefined;
      // `{{name}}` is a variable; in `{{helper arg}}` / `{{#if arg}}` the path is the helper
      if (params.length === 0 && !hash && n.type === "MustacheStatement") walk(n.path);
      walk(params);
      hash?.pairs.forEach((p) => walk(p.value));
      walk(n.program);
      walk(n.inverse);
      return;
    }
    if (n.type === "Program") walk(n.body);
  };
  walk(Handlebars.parse(text));
  return [...names];
}

const TYPE_HINT = "abs_path, user_name, port, uint, bool, word, image_ref or {enum: [words]}";

/**
 * A variable inside a sh string of a task (its kind's shFields) must have a type narrow enough for sh,
 * and one compared in `when:` must have a type: anything else could carry sh into a root shell.
 */
function checkShVars(
  source: YamlSource,
  task: RawTask,
  kind: AnyResourceKind,
  vars: Record<string, unknown>,
  types: Record<string, VarType>,
) {
  if (task.when !== undefined) {
    const cond = parseWhen(task.when);
    // (a name that is not a variable at all is refused when the play is prepared, builtins being known then)
    if (cond && "op" in cond && cond.name in vars && !types[cond.name]) {
      throw new ConfigError(
        `when compares '${cond.name}', which has no declared type`,
        source.locate([...task.keyPath, "when"]),
        `declare it under var_types: (e.g. ${cond.name}: {enum: [${cond.value}, …]})`,
      );
    }
  }
  const fields = kind.shFields ?? [];
  if (!fields.length) return;
  const args = task.args;
  const sh: Array<[string, string]> =
    typeof args === "string"
      ? [["", args]]
      : args && typeof args === "object"
        ? fields.flatMap((f) => {
            const v = (args as Record<string, unknown>)[f];
            return typeof v === "string" ? [[f, v] as [string, string]] : [];
          })
        : [];
  for (const [field, text] of sh) {
    if (!text.includes("{{")) continue;
    const where = source.locate(field ? [...task.keyPath, task.kind, field] : [...task.keyPath, task.kind]);
    let names: string[];
    try {
      names = referencedVars(text);
    } catch (err) {
      throw new ConfigError(
        `template error: ${(err as Error).message.split("\n")[0]}`,
        where,
        "check the {{ }} syntax",
        { cause: err },
      );
    }
    for (const name of names) {
      const t = types[name];
      if (!t) {
        throw new ConfigError(
          `variable '${name}' is used in sh (${task.kind} ${field || "arguments"}) but has no declared type`,
          where,
          `declare it under var_types: with a type narrow enough for sh (${TYPE_HINT})`,
        );
      }
      if (!t.sh) {
        throw new ConfigError(
          `variable '${name}' is used in sh (${task.kind} ${field || "arguments"}), but its type ${t.name} may hold characters sh acts on`,
          where,
          `give it a narrower type (${TYPE_HINT}), or pass the value through a file (template) instead of the command`,
        );
      }
    }
  }
}
