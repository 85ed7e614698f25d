/** Running probe/apply fragments for real on this machine (read-only probes; applies inside temp dirs). */
import { spawnSync } from "node:child_process";
import type { AnyResourceKind, ResourceKind } from "../../../src/engine/resource.js";
import { extractWarnings } from "../../../src/engine/resource.js";
import type { Sh } from "../../../src/core/sh.js";

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

export function probeFacts<S, F>(kind: ResourceKind<S, F>, spec: S, env?: NodeJS.ProcessEnv): F {
  const p = kind.probe(spec);
  const r = runSh(p.script, { env });
  return p.parse(extractWarnings(r.stdout).output);
}

/** probe → diff → apply (set -e) → probe → diff: returns the first changes and what was left after. */
export function converge<S, F>(kind: ResourceKind<S, F>, spec: S, env?: NodeJS.ProcessEnv) {
  const facts = probeFacts(kind, spec, env);
  const changes = kind.diff(spec, facts, { check: false });
  const script = String(kind.apply(spec, facts, changes));
  const applied = runSh(script, { setE: true, env });
  if (applied.code !== 0)
    throw new Error(`apply failed (${applied.code}): ${applied.stderr}\n--- script:\n${script}`);
  const after = kind.diff(spec, probeFacts(kind, spec, env), { check: false });
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
