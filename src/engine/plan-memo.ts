/**
 * The plans of one run that changed nothing, remembered by their inputs. plan() is pure (ResourceKind):
 * the same kind, spec, login and probe output give the same outcome, so a fleet whose hosts answer the
 * same probe (the usual no-op) parses and plans each task once, not once per host (issue 14: ufw's live
 * filter alone cost ~20 ms of controller CPU per host). What differs per host (a host variable in the
 * spec, a rendered template's content, another probe output, another login) is part of the key, so it
 * is planned again. Only outcomes with no change and no warning are kept: a change is applied through
 * its plan, and a warning is said for each host.
 */
import { createHash, type Hash } from "node:crypto";
import type { ResourceContext } from "./resource.js";

export class PlanMemo {
  /** key → the kind's plan (unused by the engine for a task without changes; kept for handlers). */
  private readonly unchanged = new Map<string, unknown>();

  /**
   * The key of one task's inputs; undefined when the spec holds something other than plain data (a Map,
   * a Buffer, a function…) whose identity a key could not capture: such a task is always planned.
   */
  keyOf(kind: string, spec: unknown, ctx: ResourceContext, output: string): string | undefined {
    const h = createHash("sha256");
    const put = (s: string) => h.update(`${s.length}:${s}`);
    put(kind);
    if (!hashPlain(h, spec)) return undefined;
    put(ctx.check ? "check" : "apply");
    put(ctx.login ? JSON.stringify(ctx.login) : "-");
    put(output);
    return h.digest("base64");
  }

  get(key: string): { plan: unknown } | undefined {
    return this.unchanged.has(key) ? { plan: this.unchanged.get(key) } : undefined;
  }

  remember(key: string, plan: unknown): void {
    this.unchanged.set(key, plan);
  }
}

/** Feeds a value's exact structure to the hash; false when it is not plain JSON-like data. */
function hashPlain(h: Hash, v: unknown): boolean {
  if (v === undefined) return (h.update("u;"), true);
  if (v === null) return (h.update("n;"), true);
  switch (typeof v) {
    case "string":
      h.update(`s${v.length}:`).update(v);
      return true;
    case "number":
    case "boolean":
      h.update(`${typeof v}:${String(v)};`);
      return true;
    case "object":
      break;
    default:
      return false;
  }
  if (Array.isArray(v)) {
    h.update(`a${v.length}[`);
    for (const x of v) if (!hashPlain(h, x)) return false;
    h.update("]");
    return true;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const entries = Object.entries(v as Record<string, unknown>);
  h.update(`o${entries.length}{`);
  for (const [k, x] of entries) {
    h.update(`k${k.length}:`).update(k);
    if (!hashPlain(h, x)) return false;
  }
  h.update("}");
  return true;
}
