/** Running probe/apply fragments for real on this machine (read-only probes; applies inside temp dirs). */
import { spawnSync } from "node:child_process";
import type { AnyResourceKind, ResourceContext, ResourceKind, Upload } from "../../../src/engine/resource.js";
import { changesOf, extractWarnings } from "../../../src/engine/resource.js";
import type { Sh } from "../../../src/core/sh.js";

/** The engine's helper, re-exported so the tests read plan() the way the audit and verify do. */
export { changesOf };

export interface ShResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Run a fragment under /bin/sh (dash on Debian), stdin /dev/null, like the engine does. */
export function runSh(script: string | Sh, opts: { setE?: boolean; env?: NodeJS.ProcessEnv } = {}): ShResult {
  const r = spawnSync("/bin/sh", ["-c", `${opts.setE ? "set -e\n" : ""}${script}`], {
    encoding: "utf8",
    env: opts.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status };
}

/** plan → apply as the engine does it: the sh a kind writes for these facts (its changes dropped). */
export function applyOf<S, F, P>(
  kind: ResourceKind<S, F, P>,
  spec: S,
  facts: F,
  ctx: ResourceContext = { check: false },
): Sh {
  return kind.apply(spec, kind.plan(spec, facts, ctx).plan, ctx);
}

/** plan → uploads as the engine does it: the local files sent before apply for these facts. */
export function uploadsOf<S, F, P>(
  kind: ResourceKind<S, F, P>,
  spec: S,
  facts: F,
  ctx: ResourceContext = { check: false },
): Upload[] {
  return kind.uploads?.(spec, kind.plan(spec, facts, ctx).plan) ?? [];
}

export function probeFacts<S, F, P>(kind: ResourceKind<S, F, P>, spec: S, env?: NodeJS.ProcessEnv): F {
  const p = kind.probe(spec);
  const r = runSh(p.script, { env });
  return p.parse(extractWarnings(r.stdout).output);
}

/** probe → plan → apply (set -e) → probe → plan: returns the first changes and what was left after. */
export function converge<S, F, P>(kind: ResourceKind<S, F, P>, spec: S, env?: NodeJS.ProcessEnv) {
  const facts = probeFacts(kind, spec, env);
  const { changes, plan } = kind.plan(spec, facts, { check: false });
  const script = String(kind.apply(spec, plan, { check: false }));
  const applied = runSh(script, { setE: true, env });
  if (applied.code !== 0)
    throw new Error(`apply failed (${applied.code}): ${applied.stderr}\n--- script:\n${script}`);
  const after = changesOf(kind, spec, probeFacts(kind, spec, env), { check: false });
  return { changes, after, script, applied, warnings: extractWarnings(applied.stdout).warnings };
}

/** Parse input with the kind's zod spec, as the loader does. */
export function parseSpec<S>(kind: ResourceKind<S, unknown>, input: unknown): S {
  return kind.spec.parse(input);
}

/** The messages zod gives for bad input, joined (for toMatch). */
export function specError(kind: AnyResourceKind, input: unknown): string {
  const r = kind.spec.safeParse(input);
  if (r.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n");
}
