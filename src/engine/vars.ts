/**
 * Play variables: the play's defaults, then a vars file, then inventory host vars, then --var, then
 * lockclaw's builtins. Only declared variables may be set, and each value is checked against the type
 * the play declares for it (`var_types:`, see var-types.ts) or, for an undeclared type, coerced to the
 * type of its default, so a typo or a bad value stops the run before anything connects. An error names
 * where the value came from (--var, a vars file's line, an inventory host) and never shows a secret.
 */
import { ConfigError, type SourceLocation } from "../core/errors.js";
import type { VarType } from "./var-types.js";
import { YamlSource, type KeyPath } from "./yaml-source.js";

export type Vars = Record<string, unknown>;

/** A value from outside the playbook, with where it came from for error messages. */
export interface VarOverride {
  name: string;
  value: unknown;
  from: SourceLocation;
  /**
   * Set by lockclaw itself (e.g. authorized_keys from the login key), not by the user: a run whose
   * plays do not declare it ignores it instead of refusing an unknown variable.
   */
  implicit?: boolean;
  /**
   * Said once per host (a warning event) when a play of the run uses this very value: a default lockclaw
   * chose for the user that they should know about (and how to turn off).
   */
  notice?: string;
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

/**
 * One `-e`/`--var` as Ansible takes it: `key=value`, `@vars.yml` (a vars file), or a JSON (or YAML flow)
 * mapping `{"ssh_port": 2200}`, whose numbers are taken as written like a vars file's.
 */
export function parseVarOption(arg: string): VarOverride[] {
  if (arg.startsWith("@")) return readVarsFile(arg.slice(1));
  if (arg.trim().startsWith("{")) {
    const source = YamlSource.parse(arg, "--var");
    const value = source.value;
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(
        "--var {…} is not a mapping",
        { file: "--var" },
        `write --var '{"name": "value"}'`,
      );
    }
    return Object.entries(value).map(([name, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new ConfigError(
          `--var: '${name}' is not a variable name`,
          { file: "--var" },
          "names are letters, digits and _",
        );
      }
      return { name, value: asWritten(source, [name], v), from: { file: "--var", path: name } };
    });
  }
  return [parseVarArg(arg)];
}

export function readVarsFile(file: string): VarOverride[] {
  const source = YamlSource.readFile(file, "vars file");
  return varsOf(source);
}

function varsOf(source: YamlSource): VarOverride[] {
  const file = source.file;
  const value = source.value;
  if (value === null || value === undefined) return [];
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(
      "a vars file is a mapping of name: value",
      { file, line: 1 },
      "write one name: value per line",
    );
  }
  return Object.entries(value).map(([name, v]) => ({
    name,
    value: asWritten(source, [name], v),
    from: source.locate([name]),
  }));
}

/**
 * A number in a vars file or an inventory is taken as written (YAML reads `0x8AE` and `1e3` as numbers),
 * so the decimal-only rule of numeric variables applies to it as to --var.
 */
export function asWritten(source: YamlSource, path: KeyPath, value: unknown): unknown {
  return typeof value === "number" ? (source.textAt(path) ?? value) : value;
}

const DECIMAL = /^-?[0-9]+(\.[0-9]+)?$/;

/** What an error may show of a value: nothing of a secret. */
function shown(value: unknown, secret: boolean): string {
  if (secret) return "(a secret: value not shown)";
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

/** Coerce a string from the command line to the type of the variable's default. */
function coerce(override: VarOverride, defaultValue: unknown, secret = false): unknown {
  const { value, name, from } = override;
  if (typeof value !== "string") return checkType(value, defaultValue, override);
  const bad = (type: string, example: string) =>
    new ConfigError(
      `variable '${name}' must be ${type}, got ${shown(value, secret)}`,
      from,
      `for example ${name}=${example}`,
    );
  if (typeof defaultValue === "number") {
    // decimal only: Number() would also take 0x8AE, 1e3 and " 22"
    if (!DECIMAL.test(value)) throw bad("a number in decimal", String(defaultValue));
    return Number(value);
  }
  if (typeof defaultValue === "boolean") {
    if (/^(true|yes|1)$/i.test(value)) return true;
    if (/^(false|no|0)$/i.test(value)) return false;
    throw bad("true or false", "true");
  }
  if (Array.isArray(defaultValue)) {
    if (value.trim().startsWith("["))
      return checkType(parseJson(value, override, secret), defaultValue, override);
    return value.trim() === "" ? [] : value.split(",").map((s) => s.trim());
  }
  if (defaultValue !== null && typeof defaultValue === "object") {
    return checkType(parseJson(value, override, secret), defaultValue, override);
  }
  return value;
}

function parseJson(text: string, o: VarOverride, secret: boolean): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    // JSON.parse quotes the text it could not read: not for a secret
    throw new ConfigError(
      `variable '${o.name}' is not valid JSON${secret ? "" : `: ${(err as Error).message}`}`,
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
  /** Declared types (`var_types:`); a variable without one is coerced to its default's type. */
  types?: Readonly<Record<string, VarType>>;
  /** Names whose values are secret: never shown in an error. */
  secret?: readonly string[];
  /** --allow-world: a CIDR list may hold 0.0.0.0/0 or ::/0. */
  allowWorld?: boolean;
}

/** A value checked against its declared type; a refusal names the variable, its source and the fix. */
export function checkTyped(
  o: VarOverride,
  type: VarType,
  defaultValue: unknown,
  opts: { secret: boolean; allowWorld: boolean },
): unknown {
  const r = type.accept(o.value, { allowWorld: opts.allowWorld });
  if ("why" in r) {
    const example =
      o.from.file === "--var" ? `--var ${o.name}=${type.example}` : `${o.name}: ${type.example}`;
    throw new ConfigError(
      `variable '${o.name}' must be ${type.what}, got ${shown(o.value, opts.secret)}: ${
        // a type's reason may quote the value (a CIDR's does); secret_token's never does
        opts.secret && !type.name.startsWith("secret_token") ? "refused" : r.why
      }`,
      o.from,
      r.fix ?? `for example ${example}`,
    );
  }
  // a numeric type whose default is written as a string ("3") keeps the string form templates expect
  return typeof defaultValue === "string" && typeof r.value === "number" ? String(r.value) : r.value;
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
    const secret = input.secret?.includes(o.name) ?? false;
    const type = input.types?.[o.name];
    vars[o.name] = type
      ? checkTyped(o, type, input.defaults[o.name], { secret, allowWorld: !!input.allowWorld })
      : coerce(o, input.defaults[o.name], secret);
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
