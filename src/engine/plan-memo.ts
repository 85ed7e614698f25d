/**
 * The plans of one run that changed nothing, remembered by their inputs. plan() is pure (ResourceKind):
 * the same kind, spec, mode and probe output give the same outcome, so a fleet whose hosts answer a
 * probe alike (the usual no-op) plans such a task once, not once per host (issue 14). What differs per
 * host (a host variable in the spec, a rendered template's content, another probe output) is in the
 * key, so it is planned again. The login (ResourceContext.login: its user and keys differ from host to
 * host) is in the key only of the plans that read it, which the context given to plan() records.
 * Only outcomes with no change and no warning are kept: a change is applied through its own plan, and
 * a warning is said for each host.
 */
import { raw, type Sh } from "../core/sh.js";
import type { AnyResourceKind, Probe, ResourceContext } from "./resource.js";
import { newMarker, probeScript, type Fragment, type ProbeExec } from "./sections.js";

/** What the batched probe needs of a task's probe: its script and its cost. */
export type ProbeScript = Pick<Probe<unknown>, "script" | "cost">;

type Login = ResourceContext["login"];

export class PlanMemo {
  /** key → the plan, and the login it was made for when plan() read it. */
  private readonly unchanged = new Map<string, { plan: unknown; login?: string }>();
  /**
   * A spec's plainJson, by the spec object: the hosts of a run share a spec when their arguments render
   * alike (SpecCache), so it is serialised once for all of them. Specs are never changed once made.
   */
  private readonly specJson = new WeakMap<object, string | undefined>();

  /** A spec's probe script by the spec object and kind (probe() is pure): built once for the hosts sharing it. */
  private readonly scripts = new WeakMap<object, Map<string, ProbeScript>>();

  probeScript(kind: AnyResourceKind, spec: unknown): ProbeScript {
    const of = (): ProbeScript => {
      const p = kind.probe(spec);
      return p.cost === undefined ? { script: p.script } : { script: p.script, cost: p.cost };
    };
    if (typeof spec !== "object" || spec === null) return of();
    let byKind = this.scripts.get(spec);
    if (!byKind) this.scripts.set(spec, (byKind = new Map()));
    let script = byKind.get(kind.name);
    if (!script) byKind.set(kind.name, (script = of()));
    return script;
  }

  /**
   * Each probe script text's number, for the key of the execs that run it (see probeExec), and by the
   * script object as well (one look-up of its text per object): a task whose spec differs from host to
   * host (its own login key) often probes with the same text.
   */
  private readonly textIds = new Map<string, number>();
  private readonly scriptIds = new WeakMap<Sh, number>();
  /** The batched probe scripts built so far, by their fragments, marked with their own placeholder. */
  private readonly execs = new Map<string, { placeholder: string; exec: ProbeExec; text: string }>();

  /**
   * The batched probe of these fragments (see probeScript in sections.ts), marked with `marker`: the
   * hosts of a fleet probe the same tasks with the same script objects (probeScript above), so the
   * script is built once, and each host's only differs by its marker, put in for the placeholder the
   * script was built with: a fresh marker of its own, in no fragment's text (else nothing is kept).
   */
  probeExec(fragments: Fragment[], marker: string): ProbeExec {
    const key = fragments.map((f) => `${f.id}\0${this.scriptIdOf(f.script)}\0${f.cost}`).join("\0");
    let known = this.execs.get(key);
    if (!known) {
      const placeholder = newMarker();
      if (fragments.some((f) => f.script.text.includes(placeholder))) return probeScript(fragments, marker);
      const exec = probeScript(fragments, placeholder);
      known = { placeholder, exec, text: exec.script.text };
      // a fleet whose probes differ from host to host keeps a few, not one per host
      if (this.execs.size < MAX_PROBE_EXECS) this.execs.set(key, known);
    }
    return { ...known.exec, script: raw(known.text.replaceAll(known.placeholder, marker)) };
  }

  private scriptIdOf(script: Sh): number {
    let id = this.scriptIds.get(script);
    if (id === undefined) {
      id = this.textIds.get(script.text);
      if (id === undefined) this.textIds.set(script.text, (id = this.textIds.size));
      this.scriptIds.set(script, id);
    }
    return id;
  }

  private jsonOf(spec: unknown): string | undefined {
    if (typeof spec !== "object" || spec === null) return plainJson(spec);
    if (this.specJson.has(spec)) return this.specJson.get(spec);
    const json = plainJson(spec);
    this.specJson.set(spec, json);
    return json;
  }

  /**
   * The key of a task's inputs but the login; undefined when the spec holds something other than plain
   * data (a Map, a Buffer, a function…) whose content a key could not capture: that task is always planned.
   */
  keyOf(kind: string, spec: unknown, check: boolean, output: string): string | undefined {
    const json = this.jsonOf(spec);
    if (json === undefined) return undefined;
    // the inputs themselves, not a digest of them: a Map hashes and compares a string natively, where
    // a digest cost a crypto call per task and host (~0.4 ms of a fleet's CPU per host, issue 14); the
    // kept keys hold the outputs of the plans kept, a few hundred KB for a host playbook's fleet
    return `${kind.length}:${kind}${check ? "c" : "a"}${json.length}:${json}${output}`;
  }

  /** The remembered plan for `key`, if it was made without reading the login or for this one. */
  get(key: string, login: Login): { plan: unknown } | undefined {
    const known = this.unchanged.get(key);
    if (!known || (known.login !== undefined && known.login !== loginKey(login))) return undefined;
    return { plan: known.plan };
  }

  remember(key: string, plan: unknown, readLogin: boolean, login: Login): void {
    this.unchanged.set(key, readLogin ? { plan, login: loginKey(login) } : { plan });
  }
}

/**
 * The context plan() gets, with a login that says when it is read (spreading the context reads it too,
 * which only keys that plan by the login as well).
 */
export function watchedContext(ctx: ResourceContext): { ctx: ResourceContext; readLogin: () => boolean } {
  let read = false;
  const watched: ResourceContext = {
    check: ctx.check,
    ...(ctx.warn ? { warn: ctx.warn } : {}),
    get login() {
      read = true;
      return ctx.login;
    },
  };
  return { ctx: watched, readLogin: () => read };
}

/** At most this many batched probe scripts are kept (each some 60 KB for the host playbook). */
const MAX_PROBE_EXECS = 16;

const loginKey = (login: Login): string => JSON.stringify(login ?? null);

class NotPlain extends Error {}

/** JSON of plain data (objects, arrays, strings, finite numbers, booleans, null, undefined); else undefined. */
export function plainJson(value: unknown): string | undefined {
  // the usual spec: checked in JS and serialised natively (a replacer is called back for every value)
  // (each form tagged: a string holding the replacer's undefined mark cannot pass for an undefined)
  if (isJsonExact(value)) return `j${JSON.stringify(value)}`;
  try {
    return `r${JSON.stringify(value ?? null, (_key, v: unknown) => {
      switch (typeof v) {
        case "undefined":
          // kept apart from a missing key and from null (a plain string never starts with NUL here)
          return "\u0000undefined";
        case "string":
          if (v.startsWith("\u0000")) throw new NotPlain();
          return v;
        case "number":
          if (!Number.isFinite(v)) throw new NotPlain();
          return v;
        case "boolean":
          return v;
        case "object": {
          if (v === null || Array.isArray(v)) return v;
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== null) throw new NotPlain();
          return v;
        }
        default:
          throw new NotPlain();
      }
    })}`;
  } catch (err) {
    if (err instanceof NotPlain) return undefined;
    throw err;
  }
}

/** Data JSON.stringify writes exactly: no undefined (dropped or nulled), no other class, no NaN. */
function isJsonExact(v: unknown): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v);
    case "object": {
      if (v === null) return true;
      if (Array.isArray(v)) return v.every(isJsonExact);
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      for (const k in v) if (!isJsonExact((v as Record<string, unknown>)[k])) return false;
      return true;
    }
    default:
      return false;
  }
}
