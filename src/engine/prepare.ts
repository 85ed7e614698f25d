/**
 * Turns a loaded playbook into validated, fully rendered tasks for one host: variables resolved,
 * arguments interpolated, templates rendered, each spec checked by its kind's zod schema. Everything
 * here happens before any connection, so bad input never changes a host.
 */
import { dirname } from "node:path";
import { ConfigError, type SourceLocation } from "../core/errors.js";
import type { KindRegistry, Playbook, RawPlay, RawTask } from "./playbook/loader.js";
import { parseWhen, WHEN_FORMS } from "./playbook/schema.js";
import { plainJson } from "./plan-memo.js";
import { Redactor } from "./redact.js";
import type { RenderMemo } from "./render-memo.js";
import type { AnyResourceKind, LocalProgress } from "./resource.js";
import {
  renderDeep,
  renderShText,
  renderTemplateFile,
  writtenForms,
  type TemplateFiles,
} from "./templates.js";
import { resolveVars, type VarOverride, type Vars } from "./vars.js";

export interface PreparedTask {
  id: string;
  name: string;
  kind: AnyResourceKind;
  spec: unknown;
  tags: string[];
  notify: string[];
  /** Rendered `when` said no. */
  skippedByWhen: boolean;
}

export interface PreparedPlay {
  name: string;
  tasks: PreparedTask[];
  handlers: Map<string, PreparedTask>;
  reconnect?: { user: string; port: number };
  /** Run as root (sudo -n when the login user is not). */
  become: boolean;
  vars: Vars;
}

export interface PrepareOptions {
  overrides: VarOverride[];
  builtins: Vars;
  /** Secrets found while preparing are added here. */
  redactor: Redactor;
  /** --allow-world: a CIDR list variable may hold 0.0.0.0/0 or ::/0. */
  allowWorld?: boolean;
  /** Told as a task's local file is hashed (copy of a large file), for the `hash` progress events. */
  localProgress?: (task: string) => LocalProgress;
  /** The run's template files, read once for all its hosts (none: read for this call). */
  templates?: TemplateFiles;
  /** The run's validated specs, shared by the hosts whose rendered arguments are alike (see SpecCache). */
  specs?: SpecCache;
  /** The run's prepared tasks, shared by the hosts whose values of what a task reads are alike (with `templates`). */
  renders?: RenderMemo;
}

/**
 * A run's validated specs by their kind's schema and rendered arguments: hosts whose arguments render
 * alike (the usual fleet) get the same spec object, validated once (a fleet's zod checks were a third of
 * preparing each host), and the engine's per-spec work (the probe script, the plan memo's key) is then
 * done once for all of them. Only plain data is a key (plainJson: a Sh argument or a class is
 * validated for each host), and only a success is kept: a failure is raised for its own host and place.
 * Specs are never changed once made (prepareLocal returns a new one).
 */
export class SpecCache {
  private readonly bySchema = new WeakMap<object, Map<string, unknown>>();

  validate(schema: object, args: unknown, validate: () => unknown): unknown {
    const json = plainJson(args);
    if (json === undefined) return validate();
    let known = this.bySchema.get(schema);
    if (!known) this.bySchema.set(schema, (known = new Map()));
    if (known.has(json)) return known.get(json);
    const spec = validate();
    known.set(json, spec);
    return spec;
  }
}

export function preparePlaybook(
  playbook: Playbook,
  kinds: KindRegistry,
  options: PrepareOptions,
): PreparedPlay[] {
  return playbook.plays.map((play) => preparePlay(playbook, play, kinds, options));
}

/** A play's variables for one host (defaults < vars file < inventory < --var < builtins), validated. */
export function resolvePlayVars(pb: Playbook, play: RawPlay, options: PrepareOptions): Vars {
  const vars = resolveVars({
    defaults: play.vars,
    locateDefault: (name) => pb.source.locate([...play.keyPath, "vars", name]),
    // a run may chain plays (docker.yml + stack.yml): each takes the variables it declares; a name
    // that no play of the run declares is refused in prepareRun, before anything connects
    overrides: options.overrides.filter((o) => o.name in play.vars),
    builtins: options.builtins,
    multiline: play.multilineVars,
    types: play.varTypes,
    secret: play.secretVars,
    allowWorld: options.allowWorld,
  });
  for (const name of play.secretVars) {
    options.redactor.add(vars[name]);
    // and as the file writers escape it: a diff of a rendered file shows that text, not the value
    options.redactor.add(stringsIn(vars[name]).flatMap(writtenForms));
  }
  return vars;
}

/** The login a play says the host has once it ran (`reconnect:`), rendered and checked. */
export function resolveReconnect(pb: Playbook, play: RawPlay, vars: Vars): PreparedPlay["reconnect"] {
  if (!play.reconnect) return undefined;
  const where = pb.source.locate([...play.keyPath, "reconnect"]);
  const user = renderDeep(play.reconnect.user, vars, where);
  const port = Number(renderDeep(play.reconnect.port, vars, where));
  if (
    typeof user !== "string" ||
    !/^[a-z_][a-z0-9_-]*$/.test(user) ||
    !Number.isInteger(port) ||
    port < 1 ||
    port > 65535
  ) {
    throw new ConfigError(
      `reconnect must give a user name and a port (got ${JSON.stringify({ user, port })})`,
      where,
      "check the variables it uses",
    );
  }
  return { user, port };
}

function preparePlay(
  pb: Playbook,
  play: RawPlay,
  kinds: KindRegistry,
  options: PrepareOptions,
): PreparedPlay {
  const vars = resolvePlayVars(pb, play, options);

  /** A task's arguments rendered for these values (templates too), its `when`, and its validated spec. */
  const renderTask = (task: RawTask, vars: Vars): { spec: unknown; skippedByWhen: boolean } => {
    const kind = kinds[task.kind]!;
    let args = renderArgs(task.args ?? {}, kind.shFields ?? [], vars, (key) =>
      pb.source.locate([...task.keyPath, task.kind, ...(key === undefined ? [] : [key])]),
    );
    if (kind.name === "template" && args && typeof args === "object" && "src" in args) {
      const src = (args as { src: unknown }).src;
      if (typeof src !== "string") {
        throw new ConfigError(
          "template src must be a file name",
          pb.source.locate([...task.keyPath, task.kind, "src"]),
          "give the template's name, e.g. sshd.conf.hbs",
        );
      }
      const content = renderTemplateFile(
        src,
        pb.file,
        vars,
        pb.source.locate([...task.keyPath, task.kind, "src"]),
        options.templates,
      );
      args = { ...args, content };
    }
    let skippedByWhen = false;
    if (task.when !== undefined) {
      skippedByWhen = !whenHolds(task.when, vars, pb.source.locate([...task.keyPath, "when"]));
    }
    const validate = () => pb.source.validate(kind.spec, args, [...task.keyPath, task.kind]);
    const spec = options.specs ? options.specs.validate(kind.spec, args, validate) : validate();
    return { spec, skippedByWhen };
  };

  const prepareTask = (task: RawTask, idPrefix: string): PreparedTask => {
    const kind = kinds[task.kind]!;
    const where = pb.source.locate([...task.keyPath, task.kind]);
    // the template files must be the run's too: a file read anew for each host could change between them
    const rendered =
      options.renders && options.templates
        ? options.renders.render(task, vars, (v) => renderTask(task, v))
        : renderTask(task, vars);
    let spec = rendered.spec;
    const { skippedByWhen } = rendered;
    // a skipped task's local inputs (e.g. a bundle directory not given) are not looked at
    if (kind.prepareLocal && !skippedByWhen) {
      try {
        const progress = options.localProgress?.(task.name);
        spec = kind.prepareLocal(spec, { playbookDir: dirname(pb.file), ...(progress ? { progress } : {}) });
      } catch (err) {
        throw new ConfigError((err as Error).message, where, "check the local path", { cause: err });
      }
    }
    if (kind.secrets) options.redactor.add(kind.secrets(spec));
    return {
      id: `${idPrefix}${task.index}`,
      name: task.name,
      kind,
      spec,
      tags: task.tags,
      notify: task.notify,
      skippedByWhen,
    };
  };

  return {
    name: play.name,
    tasks: play.tasks.map((t) => prepareTask(t, `p${play.index}t`)),
    handlers: new Map(play.handlers.map((h) => [h.name, prepareTask(h, `p${play.index}h`)])),
    reconnect: resolveReconnect(pb, play, vars),
    become: play.become,
    vars,
  };
}

/**
 * A task's arguments rendered: the kind's sh fields through the sh writer (each `{{x}}` exactly one
 * quoted word, whatever the value holds), every other string as plain text for the kind's schema.
 */
function renderArgs(
  args: unknown,
  shFields: readonly string[],
  vars: Vars,
  locate: (key?: string) => SourceLocation,
): unknown {
  const where = locate();
  if (!args || typeof args !== "object" || Array.isArray(args) || shFields.length === 0) {
    return renderDeep(args, vars, { ...where, path: where.path });
  }
  return Object.fromEntries(
    Object.entries(args).map(([k, v]) => {
      const at = locate(k);
      if (shFields.includes(k) && typeof v === "string") return [k, renderShText(v, vars, at)];
      return [k, renderDeep(v, vars, at)];
    }),
  );
}

/** Whether a task's `when:` holds: a variable's truthiness, or its string form compared with a literal. */
function whenHolds(text: string, vars: Vars, where: SourceLocation): boolean {
  const cond = parseWhen(text);
  if (!cond) {
    // the loader's schema already refuses these; kept so a RawTask built elsewhere cannot slip through
    throw new ConfigError(`when '${text}' is not a condition it understands`, where, `use ${WHEN_FORMS}`);
  }
  if (!(cond.name in vars)) {
    throw new ConfigError(
      `when names '${cond.name}', which is not a variable`,
      where,
      "declare it under vars:, or check its spelling",
    );
  }
  const value = vars[cond.name];
  if (!("op" in cond)) return truthy(value) !== cond.negate;
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
    throw new ConfigError(
      `when compares '${cond.name}', which is ${value === null ? "empty" : "a list or mapping"}, not a single value`,
      where,
      "compare a variable holding a word, a number or true/false, or test it with `when: name`",
    );
  }
  return (String(value) === cond.value) === (cond.op === "==");
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return Boolean(v);
}

/** Tag selection as in Ansible: --tags keeps tasks with any of the tags (or `always`); --skip-tags drops them. */
export function selectedByTags(task: PreparedTask, tags: string[], skipTags: string[]): boolean {
  if (task.tags.some((t) => skipTags.includes(t))) return false;
  if (tags.length === 0) return true;
  return task.tags.includes("always") || task.tags.some((t) => tags.includes(t));
}

function stringsIn(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(stringsIn);
  if (v && typeof v === "object") return Object.values(v).flatMap(stringsIn);
  return [];
}
