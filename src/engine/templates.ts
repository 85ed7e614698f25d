/**
 * Handlebars rendering for task arguments and template files. Strict: an unknown variable is an
 * error, not an empty string.
 *
 * Values are written for the format they land in, by construction (not by each template remembering
 * to): sh fields of a kind and .sh/.env templates go through ./render-sh.ts (each `{{x}}` one quoted
 * word); in a template the format comes from its name, and every `{{…}}` is rewritten, before
 * compiling, into a call of that format's writer (see `formatWriters`): JSON and YAML get a complete,
 * escaped scalar (or the escaped inside of the string it stands in), config formats with no quoting
 * (squid, haproxy, sudoers, systemd units…) accept only values of a safe character set. `{{{x}}}`
 * (unescaped) is refused everywhere.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import Handlebars from "handlebars";
import { ConfigError, type SourceLocation } from "../core/errors.js";
import { packageRoot } from "./paths.js";
import { renderShSource, ShRenderError } from "./render-sh.js";
import { quoteWord, quoteWordAlways } from "../core/sh.js";

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
  return renderDeepAt(value, vars, where, where.path);
}

// The location of each value is built only for a string that is rendered: a task's args are walked
// once per host, and most of their strings hold no `{{` (copying `where` for each was most of the
// walk's cost in a fleet run).
function renderDeepAt(
  value: unknown,
  vars: Record<string, unknown>,
  where: SourceLocation,
  path: string | undefined,
): unknown {
  if (typeof value === "string") {
    if (!value.includes("{{")) return value;
    return renderValue(value, vars, path === undefined || path === where.path ? where : { ...where, path });
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const r = renderDeepAt(v, vars, where, `${path}[${i}]`);
      // `- "{{some_list}}"` inside a list splices the list in
      if (typeof v === "string" && Array.isArray(r) && WHOLE_VAR.test(v)) out.push(...(r as unknown[]));
      else out.push(r);
    }
    return out;
  }
  if (value && typeof value === "object") {
    const entries: Array<[string, unknown]> = [];
    for (const [k, v] of Object.entries(value))
      entries.push([k, renderDeepAt(v, vars, where, `${path}.${k}`)]);
    // fromEntries: a key such as `__proto__` stays an own property, as before
    return Object.fromEntries(entries);
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

/** How a template's values must be written, from its file name. */
export type TemplateFormat = "json" | "yaml" | "compose" | "sh" | "env" | "conf";

export function templateFormat(name: string): TemplateFormat {
  const base = basename(name).replace(/\.hbs$/, "");
  if (/\.json$/.test(base)) return "json";
  // compose interpolates ${…} in values after YAML parsing: a `$` must reach it as `$$`
  if (/^(docker-)?compose[^/]*\.ya?ml$/.test(base)) return "compose";
  if (/\.ya?ml$/.test(base)) return "yaml";
  if (/\.sh$/.test(base)) return "sh";
  // an env file lockclaw writes is read by sh (`set -a; . file`), not by a dotenv parser
  if (/\.env$/.test(base)) return "env";
  // squid.conf, haproxy.cfg, systemd units, sudoers, anything else: no quoting to rely on
  return "conf";
}

/**
 * Template files as one run reads them: each found and read once, whatever the number of hosts it is
 * rendered for (a run reads its inputs once; the rendering, which holds the host's values, is per host).
 */
export class TemplateFiles {
  private readonly read = new Map<string, { file: string; source: string } | undefined>();

  get(name: string, playbookFile: string): { file: string; source: string } | undefined {
    const key = `${playbookFile}\0${name}`;
    if (!this.read.has(key)) {
      const file = findTemplate(name, playbookFile);
      this.read.set(key, file === undefined ? undefined : { file, source: readFileSync(file, "utf8") });
    }
    return this.read.get(key);
  }
}

export function renderTemplateFile(
  name: string,
  playbookFile: string,
  vars: Record<string, unknown>,
  where: SourceLocation,
  files: TemplateFiles = new TemplateFiles(),
): string {
  // checked before anything is read: a name from a variable could point at any local file, and its
  // text would then be rendered and quoted back in an error (the template kind's schema comes later)
  if (name.startsWith("/") || name.split(/[\\/]/).includes("..") || /[\n\r\0]/.test(name)) {
    throw new ConfigError(
      `template src must be a template name relative to templates/ (no leading / and no ..)`,
      where,
      "give the template's name inside templates/, e.g. sshd.conf.hbs",
    );
  }
  const found = files.get(name, playbookFile);
  if (!found) {
    throw new ConfigError(
      `template '${name}' not found`,
      where,
      `put it in templates/ next to the playbook (${dirname(playbookFile)})`,
    );
  }
  const { file, source } = found;
  return renderTemplateSource(source, templateFormat(name), vars, {
    ...where,
    file,
    line: undefined,
    column: undefined,
  });
}

/** Render a template's text for its format (exported for the tests that render every template). */
export function renderTemplateSource(
  source: string,
  format: TemplateFormat,
  vars: Record<string, unknown>,
  where: SourceLocation,
): string {
  if (format === "sh" || format === "env") {
    return renderShText(source, vars, where, { alwaysQuote: format === "env" });
  }
  try {
    return compileFormatted(source, format, where)(vars);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof ValueRefused && err.unknown)
      throw unknownVar(err.message, vars, { ...where, line: err.line });
    if (err instanceof ValueRefused) {
      throw new ConfigError(
        `template ${basename(where.file ?? "")}: ${err.message}`,
        { ...where, line: err.line },
        err.fix,
      );
    }
    throw templateError(err, where, vars);
  }
}

/** Render the text of one sh field (or .sh/.env template): each `{{x}}` exactly one quoted word. */
export function renderShText(
  source: string,
  vars: Record<string, unknown>,
  where: SourceLocation,
  options: { alwaysQuote?: boolean } = {},
): string {
  const at = (line: number): SourceLocation =>
    where.line === undefined ? { ...where, line } : { ...where, path: `${where.path ?? ""} (line ${line})` };
  try {
    return renderShSource(
      source,
      (name, line) => {
        const value = lookup(vars, name);
        if (value === undefined) throw unknownVar(name, vars, at(line));
        return value;
      },
      options,
    );
  } catch (err) {
    if (err instanceof ShRenderError) throw new ConfigError(err.message, at(err.line), err.fix);
    throw err;
  }
}

/** A value a format cannot carry; turned into a ConfigError naming the template. */
class ValueRefused extends Error {
  constructor(
    message: string,
    readonly fix: string,
    readonly line?: number,
    /** `message` is the name of a variable that is not defined. */
    readonly unknown = false,
  ) {
    super(message);
  }
}

/** How a substitution stands in its line: a whole value, inside a "…" string, or in a # comment. */
type Place = "whole" | "inString" | "comment";

const WRITER = "lockclaw_write";

const formatted = new Map<string, Handlebars.TemplateDelegate>();

function compileFormatted(
  source: string,
  format: Exclude<TemplateFormat, "sh" | "env">,
  where: SourceLocation,
): Handlebars.TemplateDelegate {
  const key = `${format}\0${source}`;
  let fn = formatted.get(key);
  if (fn) return fn;
  let ast: hbs.AST.Program;
  try {
    ast = Handlebars.parse(source);
  } catch (err) {
    throw templateError(err, where, {});
  }
  const lines = lineStarts(source);
  const control = controlTags(source);
  const visit = (program: hbs.AST.Program | undefined) => {
    for (const node of program?.body ?? []) {
      if (node.type === "BlockStatement") {
        const b = node as hbs.AST.BlockStatement;
        visit(b.program);
        visit(b.inverse);
      } else if (node.type === "PartialStatement" || node.type === "PartialBlockStatement") {
        throw new ConfigError("partials are not supported in templates", lineOf(where, node), "inline it");
      } else if (node.type === "MustacheStatement") {
        rewrite(node as hbs.AST.MustacheStatement, format, source, lines, control, where);
      }
    }
  };
  visit(ast);
  fn = hb.compile(ast, { strict: true, noEscape: true });
  formatted.set(key, fn);
  return fn;
}

function lineOf(where: SourceLocation, node: hbs.AST.Node): SourceLocation {
  return { ...where, line: node.loc.start.line };
}

/** Turn `{{expr}}` into `{{lockclaw_write expr "format" "place" "expr text" line}}`. */
function rewrite(
  m: hbs.AST.MustacheStatement,
  format: string,
  source: string,
  lines: number[],
  control: Array<[number, number]>,
  where: SourceLocation,
): void {
  const text = source.slice(offset(lines, m.loc.start), offset(lines, m.loc.end));
  if (!m.escaped) {
    throw new ConfigError(
      `${text} writes a value unescaped into ${basename(where.file ?? "the template")}`,
      lineOf(where, m),
      "write {{…}} (two braces): lockclaw escapes it for the file's format",
    );
  }
  const start = offset(lines, m.loc.start);
  const end = offset(lines, m.loc.end);
  const place = placeOf(format, source, start, end, lines, control, () => {
    throw new ConfigError(
      `${text} stands in or next to a '…', or next to another {{…}}, in ${basename(where.file ?? "the template")}`,
      lineOf(where, m),
      'write it bare (it becomes a complete quoted value) or inside "…"',
    );
  });
  const loc = m.loc;
  const str = (value: string): hbs.AST.StringLiteral =>
    ({ type: "StringLiteral", value, original: value, loc }) as hbs.AST.StringLiteral;
  let value: hbs.AST.Expression;
  const path = m.path as hbs.AST.PathExpression;
  if (m.params.length === 0 && (m.hash?.pairs.length ?? 0) === 0) value = m.path;
  else if (path.type === "PathExpression" && path.original === "json" && m.params.length === 1) {
    // `{{json x}}` predates the writers: in JSON a bare {{x}} is the same
    value = m.params[0]!;
  } else {
    value = { type: "SubExpression", path, params: m.params, hash: m.hash, loc } as hbs.AST.SubExpression;
  }
  const label = path.type === "PathExpression" ? path.original : text;
  m.path = {
    type: "PathExpression",
    data: false,
    depth: 0,
    parts: [WRITER],
    original: WRITER,
    loc,
  } as hbs.AST.PathExpression;
  m.params = [
    value,
    str(format),
    str(place),
    str(label),
    { type: "NumberLiteral", value: loc.start.line, original: loc.start.line, loc } as hbs.AST.NumberLiteral,
  ];
  m.hash = undefined as unknown as hbs.AST.Hash;
}

function lineStarts(s: string): number[] {
  const out = [0];
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) out.push(i + 1);
  return out;
}

function offset(lines: number[], p: hbs.AST.Position): number {
  return lines[p.line - 1]! + p.column;
}

/** [start, end) of every block/else/comment tag: they print nothing, so they do not count as neighbours. */
function controlTags(source: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of source.matchAll(/\{\{~?\s*(?:[#/^!]|else\b)[\s\S]*?\}\}/g)) {
    out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

function placeOf(
  format: string,
  source: string,
  start: number,
  end: number,
  lines: number[],
  control: Array<[number, number]>,
  adjacent: () => never,
): Place {
  if (format === "conf") return "whole";
  // the printed neighbours: skip block tags, which print nothing
  let p = start - 1;
  for (let t; (t = control.find(([, e]) => e === p + 1));) p = t[0] - 1;
  let n = end;
  for (let t; (t = control.find(([s]) => s === n));) n = t[1];
  const prev = source[p] ?? "\n";
  const next = source[n] ?? "\n";
  // the line's printed text before the substitution, other tags left out
  const lineStart = source.lastIndexOf("\n", start - 1) + 1;
  const before = source.slice(lineStart, start).replace(/\{\{[\s\S]*?\}\}/g, "");
  if (format !== "json" && /^\s*#/.test(before)) return "comment";
  if (
    (format !== "json" && (prev === "'" || next === "'")) ||
    (prev === "}" && p >= 0) ||
    source.startsWith("{{", n)
  ) {
    adjacent();
  }
  const { dq, sq } = quoteState(before);
  // inside YAML's '…' no writer's escape is read as one (only '' is): a ' in the value ended the string
  if (sq && format !== "json") adjacent();
  if (dq) return "inString";
  // whole: a complete quoted scalar, so only where a value starts; after other text on the line it would
  // sit inside a plain scalar, where its quotes are characters and a `: `, ` #` or `,` in it is structure
  if (format !== "json" && !/(^|[\s:[{,-])$/.test(before.replace(/\s+$/, "") || " ")) adjacent();
  return "whole";
}

/** Whether the end of `text` stands inside "…" or '…' (a ' inside "…" is a character, and back). */
function quoteState(text: string): { dq: boolean; sq: boolean } {
  let dq = false;
  let sq = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (dq) {
      if (c === "\\") i++;
      else if (c === '"') dq = false;
    } else if (sq) {
      if (c === "'") sq = false;
    } else if (c === '"') dq = true;
    // a ' opens a quoted scalar only where one starts (after a space, :, [, {, , or -), not in it's
    else if (c === "'" && (i === 0 || /[\s:[{,-]/.test(text[i - 1]!))) sq = true;
  }
  return { dq, sq };
}

/** Code points that print as themselves inside a "…" string in a place read heuristically. */
const NARROW = /[A-Za-z0-9 ._/@+=-]/;

function escapeInString(format: string, s: string, narrow: boolean): string {
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "$" && format === "compose") out += "$$";
    else if (narrow ? NARROW.test(ch) : cp >= 0x20 && cp < 0x7f && ch !== '"' && ch !== "\\") out += ch;
    else if (!narrow && ch === '"') out += '\\"';
    else if (!narrow && ch === "\\") out += "\\\\";
    else if (cp > 0xffff) {
      // JSON: a surrogate pair; YAML (1.1 and 1.2): \U with 8 digits
      out +=
        format === "json"
          ? [...ch.split("")].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")
          : `\\U${cp.toString(16).padStart(8, "0")}`;
    } else out += `\\u${cp.toString(16).padStart(4, "0")}`;
  }
  return out;
}

/**
 * Every form a string takes once written into a file or sh by the writers here (escaped for JSON,
 * YAML, compose, inside a string or whole; quoted for sh and env files): what the redactor must know
 * of a secret besides the value itself, since a diff or an error shows the file's text.
 */
export function writtenForms(value: string): string[] {
  const forms = new Set<string>();
  for (const format of ["json", "yaml", "compose"]) {
    forms.add(escapeInString(format, value, false));
    forms.add(escapeInString(format, value, true));
  }
  if (!value.includes("\0")) forms.add(quoteWord(value)).add(quoteWordAlways(value));
  forms.delete(value);
  return [...forms];
}

function writeWhole(format: string, v: unknown, name: string): string {
  if (typeof v === "string") return `"${escapeInString(format, v, false)}"`;
  if (typeof v === "number") {
    if (!Number.isFinite(v))
      throw new ValueRefused(`variable '${name}' is not a finite number`, "give a number");
    return String(v);
  }
  if (typeof v === "boolean") return String(v);
  if (v === null) return "null";
  if (Array.isArray(v)) {
    if (format === "json") return `[${v.map((x) => writeWhole(format, x, name)).join(",")}]`;
    return `[${v.map((x) => writeWhole(format, x, name)).join(", ")}]`;
  }
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).map(
      ([k, x]) =>
        `${writeWhole(format, k, name)}:${format === "json" ? "" : " "}${writeWhole(format, x, name)}`,
    );
    return format === "json" ? `{${entries.join(",")}}` : `{ ${entries.join(", ")} }`;
  }
  throw new ValueRefused(`variable '${name}' has no value`, "define it");
}

/** Characters a config format without quoting can carry: no space, quote, comment or separator. */
const CONF_SAFE = /^[A-Za-z0-9._@/+-]+$/;

hb.registerHelper(WRITER, (v: unknown, format: string, place: Place, name: string, line: number) => {
  // strict mode does not look at a helper's arguments: an unknown name arrives as undefined
  if (v === undefined) throw new ValueRefused(name, "", line, true);
  if (format === "conf") {
    const s = typeof v === "number" && Number.isFinite(v) ? String(v) : v;
    if (typeof s !== "string" || !CONF_SAFE.test(s)) {
      throw new ValueRefused(
        `variable '${name}' is ${JSON.stringify(v)}, which this file cannot carry: its format has no quoting, so only letters, digits and . _ @ / + - are accepted`,
        `give '${name}' a value of those characters only`,
        line,
      );
    }
    return s;
  }
  if (place === "whole") return writeWhole(format, v, name);
  if (typeof v !== "string" && !(typeof v === "number" && Number.isFinite(v)) && typeof v !== "boolean") {
    throw new ValueRefused(
      `variable '${name}' is a ${Array.isArray(v) ? "list" : "mapping or null"}, which cannot stand inside a string`,
      `write {{${name}}} on its own (not inside "…") to get a complete value`,
      line,
    );
  }
  // inside "…" (or a comment) the place was read from the line: print only what means the same anywhere
  return escapeInString(format, String(v), true);
});

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
