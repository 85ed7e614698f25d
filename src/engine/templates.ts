/**
 * Handlebars rendering for task arguments and template files. Strict: an unknown variable is an
 * error, not an empty string. Config files are not HTML, so nothing is HTML-escaped; directive
 * injection is stopped earlier, when variables are validated (no newline in a single-line value).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import Handlebars from "handlebars";
import { ConfigError, type SourceLocation } from "./errors.js";
import { packageRoot } from "./paths.js";

const hb = Handlebars.create();
hb.registerHelper("join", (list: unknown, sep: unknown) =>
  Array.isArray(list) ? list.join(typeof sep === "string" ? sep : ",") : String(list),
);
hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
hb.registerHelper("includes", (list: unknown, item: unknown) => Array.isArray(list) && list.includes(item));
// a value inside a JSON file: quoted and escaped, so a `"` in it cannot end the string early
hb.registerHelper("json", (value: unknown) => JSON.stringify(value));

const compiled = new Map<string, Handlebars.TemplateDelegate>();

function compile(source: string): Handlebars.TemplateDelegate {
  let fn = compiled.get(source);
  if (!fn) {
    fn = hb.compile(source, { strict: true, noEscape: true });
    compiled.set(source, fn);
  }
  return fn;
}

const WHOLE_VAR = /^\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}$/;

/**
 * Render one string. A string that is exactly `{{name}}` yields the variable's raw value, so lists and
 * numbers stay typed (as in Ansible).
 */
export function renderValue(source: string, vars: Record<string, unknown>, where: SourceLocation): unknown {
  if (!source.includes("{{")) return source;
  const whole = WHOLE_VAR.exec(source);
  if (whole) {
    const value = lookup(vars, whole[1]!);
    if (value === undefined) throw unknownVar(whole[1]!, vars, where);
    return value;
  }
  try {
    return compile(source)(vars);
  } catch (err) {
    throw templateError(err, where, vars);
  }
}

/** Render every string inside a value (objects and arrays walked). */
export function renderDeep(value: unknown, vars: Record<string, unknown>, where: SourceLocation): unknown {
  if (typeof value === "string") return renderValue(value, vars, where);
  if (Array.isArray(value)) {
    return value.flatMap((v, i) => {
      const r = renderDeep(v, vars, { ...where, path: `${where.path}[${i}]` });
      // `- "{{some_list}}"` inside a list splices the list in
      return typeof v === "string" && WHOLE_VAR.test(v) && Array.isArray(r) ? r : [r];
    });
  }
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        renderDeep(v, vars, { ...where, path: `${where.path}.${k}` }),
      ]),
    );
  }
  return value;
}

/** Find a template by name: next to the playbook (templates/ beside it or one level up), then lockclaw's own. */
export function findTemplate(name: string, playbookFile: string): string | undefined {
  const dir = dirname(playbookFile);
  for (const base of [
    join(dir, "templates"),
    join(dir, "..", "templates"),
    join(packageRoot(), "templates"),
  ]) {
    const file = join(base, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

export function renderTemplateFile(
  name: string,
  playbookFile: string,
  vars: Record<string, unknown>,
  where: SourceLocation,
): string {
  const file = findTemplate(name, playbookFile);
  if (!file) {
    throw new ConfigError(
      `template '${name}' not found`,
      where,
      `put it in templates/ next to the playbook (${dirname(playbookFile)})`,
    );
  }
  try {
    return compile(readFileSync(file, "utf8"))(vars);
  } catch (err) {
    throw templateError(err, { ...where, file, line: undefined, column: undefined }, vars);
  }
}

function lookup(vars: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = vars;
  for (const part of dotted.split(".")) {
    if (cur === null || typeof cur !== "object" || !(part in cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function unknownVar(name: string, vars: Record<string, unknown>, where: SourceLocation): ConfigError {
  return new ConfigError(
    `unknown variable '${name}'`,
    where,
    `define it under vars: or pass --var ${name.split(".")[0]}=… (known: ${Object.keys(vars).sort().join(", ")})`,
  );
}

function templateError(err: unknown, where: SourceLocation, vars: Record<string, unknown>): ConfigError {
  const msg = (err as Error).message ?? String(err);
  // handlebars reports "<name>" not defined in … - LINE:COL, or "Parse error on line N"
  const pos = / - (\d+):(\d+)$/m.exec(msg) ?? /line (\d+)/.exec(msg);
  const at = pos && where.line === undefined ? { ...where, line: Number(pos[1]) } : where;
  const missing = /"([^"]+)" not defined in/.exec(msg);
  if (missing) return unknownVar(missing[1]!, vars, at);
  return new ConfigError(`template error: ${msg.split("\n")[0]}`, at, "check the {{ }} syntax", {
    cause: err,
  });
}
