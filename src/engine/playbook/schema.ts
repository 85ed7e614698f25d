/** The shape of a playbook file, before the resource arguments are interpolated and validated per kind. */
import { z } from "zod";

const varName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "variable names are letters, digits and _");

/** A task: `name`, control keys, and exactly one resource-kind key holding its arguments. */
export const TASK_CONTROL_KEYS = ["name", "tags", "notify", "when"] as const;

export const taskShape = z.looseObject({
  name: z.string().min(1).optional(),
  tags: z.array(z.string().min(1)).optional(),
  notify: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  /** A variable name (or `!name`): the task runs only when that variable is truthy (falsy). */
  when: z
    .string()
    .regex(/^!?[A-Za-z_][A-Za-z0-9_]*$/, "when takes a variable name, or !name")
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
  /** Names of vars allowed to hold several lines (all others reject newlines: directive injection). */
  multiline_vars: z.array(varName).optional(),
  /** How the host is reached once this play has applied (user, port): used for the fresh-login proof and re-runs. */
  reconnect: z.strictObject({ user: z.unknown(), port: z.unknown() }).optional(),
  tasks: z.array(z.unknown()),
  handlers: z.array(z.unknown()).optional(),
});
export type PlayShape = z.infer<typeof playShape>;
