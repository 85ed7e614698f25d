/**
 * zod building blocks shared by the resource kinds. Values may arrive as strings (YAML scalars, rendered
 * templates, `--var k=v`), so numbers and booleans are coerced where the meaning is unambiguous; every
 * message says what a good value looks like, because it is printed next to the playbook's file and line.
 */
import { z } from "zod";

/** One line of text: anything with a newline could inject a second directive or command. */
export const singleLine = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, { error: `${what} must not be empty` })
    .refine((s) => !/[\n\r\0]/.test(s), { error: `${what} must be a single line (no newline or NUL)` });

/** An absolute, normalised path: no `..`, no `//`, no trailing slash (except `/` itself). */
export const absPath = z
  .string({ error: "path must be a string" })
  .refine((p) => p.startsWith("/"), { error: "path must be absolute (start with /)" })
  .refine((p) => !/[\n\r\0]/.test(p), { error: "path must not contain a newline or NUL" })
  .refine((p) => p === "/" || (!p.endsWith("/") && !p.includes("//")), {
    error: "path must be normalised (no trailing slash, no //)",
  })
  .refine((p) => !p.split("/").some((part) => part === ".." || part === "."), {
    error: "path must not contain . or .. components",
  });

/**
 * A file mode as an octal string, "0640" or "640" (also "1777" for sticky etc.). A YAML `0640` is read by
 * YAML 1.2 as the decimal number 640, so a number is taken by its digits: 640 -> "0640".
 */
export const mode = z
  .union([z.string(), z.number()], { error: 'mode must be an octal string like "0640"' })
  .transform((v) => String(v).trim())
  .refine((s) => /^0?[0-7]{3,4}$/.test(s), {
    error: 'mode must be an octal string like "0640" (3 or 4 octal digits)',
  })
  .transform(normalizeMode);

/** "640" / "0640" / "00640" -> "0640" (what probes print after normalising `stat -c %a`). */
export function normalizeMode(s: string): string {
  const n = Number.parseInt(s, 8);
  return n.toString(8).padStart(4, "0");
}

/** POSIX-ish user/group names as useradd accepts them on Debian; numeric ids are accepted too. */
const NAME_RE = /^(?:[a-z_][a-z0-9_.-]*\$?|[0-9]+)$/i;
export const userName = (what = "user") =>
  z
    .string({ error: `${what} must be a string` })
    .max(32, { error: `${what} must be at most 32 characters` })
    .regex(NAME_RE, {
      error: `${what} must be a user/group name (letters, digits, _ . -, not starting with a digit or -)`,
    });

/** true/false, also from the strings "true"/"false"/"yes"/"no"/"1"/"0" a template or --var produces. */
export const bool = (what: string) =>
  z.preprocess(
    (v) => {
      if (typeof v !== "string") return v;
      const s = v.trim().toLowerCase();
      if (["true", "yes", "on", "1"].includes(s)) return true;
      if (["false", "no", "off", "0"].includes(s)) return false;
      return v;
    },
    z.boolean({ error: `${what} must be true or false` }),
  );

export const presentAbsent = z.enum(["present", "absent"], {
  error: 'state must be "present" or "absent"',
});

/** A whole number in [min, max]; a numeric string (YAML, template, --var) is read as its number. */
export const wholeNumber = (what: string, min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    z
      .number({ error: `${what} must be a whole number` })
      .int({ error: `${what} must be a whole number` })
      .min(min, { error: `${what} must be at least ${min}` })
      .max(max, { error: `${what} must be at most ${max}` }),
  );
