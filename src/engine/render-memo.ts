/**
 * A run's prepared tasks, shared by the hosts that give the variables a task reads the same values
 * (issue 14). Rendering is a pure function of the task, the run's template files and the variables:
 * a fleet's hosts usually differ in one or two of them (the login key), so most of a host playbook's
 * tasks render alike on every host. Rendering each task for each host was a few ms a host of a short
 * process's cold code.
 *
 * What a task reads is recorded as it renders, through a view of the variables that notes every name
 * looked up (or tested, or found missing); the outcome is kept under the values of exactly those names
 * (their absence included). Another host whose values of them are the same would render it the same
 * way, reading the same names: it gets the same outcome without rendering. A render that lists the
 * variables (e.g. the error naming the known ones) or reads a symbol is not kept, nor is one whose
 * values are not plain data, nor a failure (raised for its own host and place, as before).
 */
import { plainJson } from "./plan-memo.js";
import type { Vars } from "./vars.js";

/** The outcomes of one task for one set of names read, by the JSON of their values. */
interface ByNames {
  names: string[];
  outcomes: Map<string, unknown>;
}

export class RenderMemo {
  /** task → the sets of names its renders read (one, unless a value changes which names are read). */
  private readonly byTask = new WeakMap<object, ByNames[]>();

  /** Tasks rendered anew for MAX_OUTCOMES hosts: they read what differs by host, and are no longer kept. */
  private readonly perHost = new WeakSet<object>();
  /** Renders per task, while it is kept. */
  private readonly renders = new WeakMap<object, number>();

  /** `render(vars)` for `task`, or the outcome of an earlier render that read the same values. */
  render<R>(task: object, vars: Vars, render: (vars: Vars) => R): R {
    if (this.perHost.has(task)) return render(vars);
    const known = this.byTask.get(task) ?? [];
    for (const k of known) {
      const key = valuesKey(k.names, vars);
      if (key !== undefined && k.outcomes.has(key)) return k.outcomes.get(key) as R;
    }
    // a task that reads a host's own value (its directory, its key) is rendered for every host: after
    // a few, it is no longer watched nor looked up (a 200-host fleet would pay both for nothing)
    const count = (this.renders.get(task) ?? 0) + 1;
    this.renders.set(task, count);
    if (count > MAX_OUTCOMES) {
      this.perHost.add(task);
      this.byTask.delete(task);
      return render(vars);
    }
    const { view, read } = watched(vars);
    const out = render(view);
    const names = read();
    if (names === undefined) return out;
    const key = valuesKey(names, vars);
    if (key === undefined) return out;
    const sameNames = known.find((k) => sameList(k.names, names));
    if (sameNames) sameNames.outcomes.set(key, out);
    else this.byTask.set(task, [...known, { names, outcomes: new Map([[key, out]]) }]);
    return out;
  }
}

/** Renders of one task kept at most (a fleet's groups of alike hosts, not its hosts). */
const MAX_OUTCOMES = 8;

/** The values of `names` in `vars`, a missing one apart from any value; undefined when not plain data. */
function valuesKey(names: string[], vars: Vars): string | undefined {
  return plainJson(names.map((n) => (Object.hasOwn(vars, n) ? [vars[n]] : [])));
}

const sameList = (a: string[], b: string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** A view of `vars` that notes each name read; read() gives them sorted, or undefined if it could not. */
function watched(vars: Vars): { view: Vars; read: () => string[] | undefined } {
  const names = new Set<string>();
  let whole = false;
  const note = (p: string | symbol): void => {
    if (typeof p === "string") names.add(p);
    else whole = true;
  };
  const view = new Proxy(vars, {
    get(t, p, r) {
      note(p);
      return Reflect.get(t, p, r) as unknown;
    },
    has(t, p) {
      note(p);
      return Reflect.has(t, p);
    },
    getOwnPropertyDescriptor(t, p) {
      note(p);
      return Reflect.getOwnPropertyDescriptor(t, p);
    },
    ownKeys(t) {
      whole = true;
      return Reflect.ownKeys(t);
    },
  });
  return { view, read: () => (whole ? undefined : [...names].sort()) };
}
