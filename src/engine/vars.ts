/**
 * Play variables: the play's defaults, then a vars file, then inventory host vars, then --var, then
 * lockclaw's builtins. Only declared variables may be set, and each value is coerced to the type of
 * its default, so a typo or a wrong type stops the run before anything connects.
 */
import { ConfigError, type SourceLocation } from "./errors.js";
import { YamlSource } from "./yaml-source.js";

export type Vars = Record<string, unknown>;

/** A value from outside the playbook, with where it came from for error messages. */
export interface VarOverride {
  name: string;
  value: unknown;
  from: SourceLocation;
}

/** `--var key=value` → override (value still a string; coerced against the default later). */
export function parseVarArg(arg: string): VarOverride {
  const i = arg.indexOf("=");
  const name = i > 0 ? arg.slice(0, i) : "";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new ConfigError(`--var '${arg}' is not key=value`, { file: "--var" }, "write --var name=value");
  }
  return { name, value: arg.slice(i + 1), from: { file: "--var", path: name } };
}

export function readVarsFile(file: string): VarOverride[] {
  const source = YamlSource.readFile(file, "vars file");
  const value = source.value;
  if (value === null || value === undefined) return [];
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(
      "a vars file is a mapping of name: value",
      { file, line: 1 },
      "write one name: value per line",
    );
  }
  return Object.entries(value).map(([name, v]) => ({ name, value: v, from: source.locate([name]) }));
}

/** Coerce a string from the command line to the type of the variable's default. */
function coerce(override: VarOverride, defaultValue: unknown): unknown {
  const { value, name, from } = override;
  if (typeof value !== "string") return checkType(value, defaultValue, override);
  const bad = (type: string, example: string) =>
    new ConfigError(
      `variable '${name}' must be ${type}, got '${value}'`,
      from,
      `for example ${name}=${example}`,
    );
  if (typeof defaultValue === "number") {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw bad("a number", String(defaultValue));
    return n;
  }
  if (typeof defaultValue === "boolean") {
    if (/^(true|yes|1)$/i.test(value)) return true;
    if (/^(false|no|0)$/i.test(value)) return false;
    throw bad("true or false", "true");
  }
  if (Array.isArray(defaultValue)) {
    if (value.trim().startsWith("[")) return checkType(parseJson(value, override), defaultValue, override);
    return value.trim() === "" ? [] : value.split(",").map((s) => s.trim());
  }
  if (defaultValue !== null && typeof defaultValue === "object") {
    return checkType(parseJson(value, override), defaultValue, override);
  }
  return value;
}

function parseJson(text: string, o: VarOverride): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `variable '${o.name}' is not valid JSON: ${(err as Error).message}`,
      o.from,
      "quote it as JSON",
      {
        cause: err,
      },
    );
  }
}

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "list" : typeof v === "object" ? "mapping" : typeof v;
}

function checkType(value: unknown, defaultValue: unknown, o: VarOverride): unknown {
  // a null default accepts anything (an optional value with no natural default)
  if (defaultValue === null || defaultValue === undefined) return value;
  if (typeof defaultValue === "number" && typeof value === "string") return coerce(o, defaultValue);
  if (typeName(value) !== typeName(defaultValue)) {
    throw new ConfigError(
      `variable '${o.name}' must be a ${typeName(defaultValue)}, got a ${typeName(value)}`,
      o.from,
      `give a ${typeName(defaultValue)} like the default: ${JSON.stringify(defaultValue)}`,
    );
  }
  return value;
}

export interface ResolveVarsInput {
  defaults: Vars;
  /** Where each default came from, to locate newline errors in the playbook itself. */
  locateDefault: (name: string) => SourceLocation;
  overrides: VarOverride[];
  builtins: Vars;
  multiline: string[];
}

export function resolveVars(input: ResolveVarsInput): Vars {
  const vars: Vars = { ...input.defaults };
  const from = new Map<string, SourceLocation>();
  for (const o of input.overrides) {
    if (!(o.name in input.defaults)) {
      throw new ConfigError(
        `unknown variable '${o.name}'`,
        o.from,
        `the playbook declares: ${Object.keys(input.defaults).sort().join(", ") || "(none)"}`,
      );
    }
    vars[o.name] = coerce(o, input.defaults[o.name]);
    from.set(o.name, o.from);
  }
  for (const [name, value] of Object.entries(vars)) {
    if (input.multiline.includes(name)) continue;
    if (hasNewline(value)) {
      throw new ConfigError(
        `variable '${name}' holds a line break; a single-line config value with a line break could inject directives`,
        from.get(name) ?? input.locateDefault(name),
        `remove the line break, or list '${name}' under multiline_vars: if it really is a multi-line text`,
      );
    }
  }
  return { ...vars, ...input.builtins };
}

function hasNewline(v: unknown): boolean {
  if (typeof v === "string") return /[\r\n]/.test(v);
  if (Array.isArray(v)) return v.some(hasNewline);
  if (v && typeof v === "object") return Object.values(v).some(hasNewline);
  return false;
}
