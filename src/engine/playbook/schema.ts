/** The shape of a playbook file, before the resource arguments are interpolated and validated per kind. */
import { z } from "zod";

const varName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "variable names are letters, digits and _");

/** The accepted `when:` forms, for error messages. */
export const WHEN_FORMS = "name, !name, name == value or name != value (value: a word, or a 'quoted' string)";

/** A parsed `when:`: the variable's truthiness, or its string form compared with a literal. */
export type WhenCondition =
  { name: string; negate: boolean } | { name: string; op: "==" | "!="; value: string };

// Deliberately tiny and strict: one variable, at most one comparison with a literal, no expressions.
// The right-hand side is always a literal (never another variable), so `docker_source == docker`
// compares with the word "docker".
const WHEN_RE =
  /^\s*(?:!([A-Za-z_]\w*)|([A-Za-z_]\w*)(?:\s*(==|!=)\s*(?:'([^']*)'|"([^"]*)"|([\w.:/@+-]+)))?)\s*$/;

/** `name`, `!name`, `name == value` or `name != value`; undefined for anything else. */
export function parseWhen(text: string): WhenCondition | undefined {
  const m = WHEN_RE.exec(text);
  if (!m) return undefined;
  if (m[1] !== undefined) return { name: m[1], negate: true };
  if (m[3] === undefined) return { name: m[2]!, negate: false };
  return { name: m[2]!, op: m[3] as "==" | "!=", value: m[4] ?? m[5] ?? m[6]! };
}

/** A task: `name`, control keys, and exactly one resource-kind key holding its arguments. */
export const TASK_CONTROL_KEYS = ["name", "tags", "notify", "when"] as const;

export const taskShape = z.looseObject({
  name: z.string().min(1).optional(),
  tags: z.array(z.string().min(1)).optional(),
  notify: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  /** A condition on one variable (see parseWhen): the task runs only when it holds. */
  when: z
    .string()
    .refine((s) => parseWhen(s) !== undefined, {
      error: (iss) => `when '${String(iss.input)}' is not a condition it understands; use ${WHEN_FORMS}`,
    })
    .optional(),
});

export const playShape = z.strictObject({
  name: z.string().min(1).optional(),
  hosts: z.string().min(1).optional(),
  /** Run privileged steps as root (through sudo -n when the login user is not root). Default true. */
  become: z.boolean().optional(),
  vars: z.record(varName, z.unknown()).optional(),
  /** Names of vars whose values are secret: redacted everywhere, never in argv. */
  secret_vars: z.array(varName).optional(),
  /**
   * What each var may hold (var-types.ts): a type name, `{enum: [words]}` or `{type: NAME, optional: true}`.
   * A var used inside a sh string (a kind's shFields) or compared in `when:` must have a type; in sh, a
   * narrow one.
   */
  var_types: z
    .record(
      varName,
      z.union([
        z.string().min(1),
        z.strictObject({ enum: z.array(z.string()).min(1) }),
        z.strictObject({ type: z.string().min(1), optional: z.boolean().optional() }),
      ]),
    )
    .optional(),
  /** Names of vars allowed to hold several lines (all others reject newlines: directive injection). */
  multiline_vars: z.array(varName).optional(),
  /** How the host is reached once this play has applied (user, port): used for the fresh-login proof and re-runs. */
  reconnect: z.strictObject({ user: z.unknown(), port: z.unknown() }).optional(),
  /**
   * Rolling batches (batches.ts): a count, a percentage of the run's hosts, or a list of them. The run's
   * plays go host by host, so it sizes the batches of the whole run (--serial wins over it).
   */
  serial: z.union([z.number(), z.string(), z.array(z.union([z.number(), z.string()]))]).optional(),
  /** Stop before the next batch when more than this percentage of a batch failed (--max-fail-percentage wins). */
  max_fail_percentage: z.union([z.number(), z.string()]).optional(),
  tasks: z.array(z.unknown()),
  handlers: z.array(z.unknown()).optional(),
});
export type PlayShape = z.infer<typeof playShape>;
