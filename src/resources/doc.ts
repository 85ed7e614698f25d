/**
 * Module documentation, from the modules' zod schemas: each option's type, default and `.describe()`
 * text, and the example the schema's `.meta({ examples })` carries. `lockclaw doc [MODULE]` prints it;
 * docs/modules.md is the same text as markdown (`npm run docs` writes it, a unit test fails when the
 * checked-in file is stale).
 */
import { stringify } from "yaml";
import type { z } from "zod";
import type { AnyResourceKind } from "../engine/resource.js";

export interface OptionDoc {
  /** `rules[].port`: a nested option is named by its path. */
  name: string;
  type: string;
  required: boolean;
  default?: string;
  description: string;
}

export interface ModuleDoc {
  name: string;
  /** The first sentence of the description: the module's one line. */
  summary: string;
  description: string;
  options: OptionDoc[];
  /** A task using the module, as YAML. */
  example: string;
}

/** zod's definition, the parts read here (zod v4 keeps them in `_zod.def`). */
interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string | number>;
  values?: unknown[];
  shape?: Record<string, z.ZodType>;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  defaultValue?: unknown;
  schema?: z.ZodType;
}
const def = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;
const describedAs = (s: z.ZodType) => (s as { description?: string }).description;

/** The schema under its wrappers (optional, default, a preprocess or transform pipe, a refinement). */
function unwrap(s: z.ZodType): { core: z.ZodType; optional: boolean; dflt?: unknown; description?: string } {
  let optional = false;
  let dflt: unknown;
  let description = describedAs(s);
  for (;;) {
    const d = def(s);
    if (d.type === "optional" || d.type === "nullable" || d.type === "readonly" || d.type === "catch") {
      if (d.type === "optional") optional = true;
      s = d.innerType!;
    } else if (d.type === "default" || d.type === "prefault") {
      dflt ??= d.defaultValue;
      s = d.innerType!;
    } else if (d.type === "pipe") {
      // z.preprocess(f, x) is pipe(transform, x); x.transform(f) is pipe(x, transform)
      s = def(d.in!).type === "transform" ? d.out! : d.in!;
    } else break;
    description ??= describedAs(s);
  }
  return { core: s, optional, dflt, description };
}

function typeOf(s: z.ZodType): string {
  const { core } = unwrap(s);
  const d = def(core);
  switch (d.type) {
    case "enum":
      return Object.values(d.entries!).join(" | ");
    case "literal":
      return d.values!.map((v) => JSON.stringify(v)).join(" | ");
    case "array":
      return `list of ${typeOf(d.element!)}`;
    case "object":
      return "mapping";
    case "record":
      return `mapping of ${typeOf(d.keyType!)} to ${typeOf(d.valueType!)}`;
    case "union":
      return [...new Set(d.options!.map(typeOf))].join(" or ");
    case "int":
      return "integer";
    default:
      return d.type;
  }
}

/** How a field lockclaw fills in itself begins its description. */
export const INTERNAL = "Internal:";

const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function optionsOf(shape: Record<string, z.ZodType>, prefix = ""): OptionDoc[] {
  const out: OptionDoc[] = [];
  for (const [key, field] of Object.entries(shape)) {
    const u = unwrap(field);
    // what lockclaw fills in itself (copy's entries, a template's content) is no option
    if (u.description?.startsWith(INTERNAL)) continue;
    const name = `${prefix}${key}`;
    const dflt = u.dflt;
    out.push({
      name,
      type: typeOf(field),
      required: !u.optional && u.dflt === undefined,
      ...(dflt === undefined ? {} : { default: show(dflt) }),
      description: u.description ?? "",
    });
    // the structure inside: a mapping's keys, or the keys of a list's items
    const d = def(u.core);
    const item = d.type === "array" ? def(unwrap(d.element!).core) : undefined;
    const inner =
      d.type === "object"
        ? { shape: d.shape!, path: `${name}.` }
        : item?.type === "object"
          ? { shape: item.shape!, path: `${name}[].` }
          : undefined;
    if (inner) out.push(...optionsOf(inner.shape, inner.path));
  }
  return out;
}

interface SpecMeta {
  description?: string;
  examples?: unknown[];
}

export function moduleDoc(kind: AnyResourceKind): ModuleDoc {
  const top = unwrap(kind.spec as z.ZodType);
  const meta = ((kind.spec as z.ZodType).meta?.() ?? {}) as SpecMeta;
  const description = meta.description ?? top.description ?? "";
  const shape = def(top.core).shape ?? {};
  const example = meta.examples?.[0];
  return {
    name: kind.name,
    // the first sentence: up to a full stop that ends a word (sysctl.d is one word)
    summary: /^.*?(?:\.(?=\s|$)|$)/s.exec(description)![0].replace(/\.$/, ""),
    description,
    options: optionsOf(shape),
    example:
      example === undefined
        ? ""
        : stringify([{ name: exampleName(kind.name), [kind.name]: example }]).trimEnd(),
  };
}

const exampleName = (module: string) => `Example ${module} task`;

const wrap = (text: string, width: number, indent: string): string => {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join("\n");
};

/** `lockclaw doc MODULE`: the module's options (type, default, description) and an example task. */
export function formatModuleDoc(d: ModuleDoc): string {
  const more = d.description.slice(d.summary.length + 1).trim();
  const out = [`${d.name}: ${d.summary}`, ...(more ? ["", wrap(more, 96, "")] : []), "", "OPTIONS"];
  for (const o of d.options) {
    const facts = [
      o.type,
      o.required ? "required" : o.default !== undefined ? `default ${o.default}` : "optional",
    ];
    out.push(`  ${o.name} (${facts.join(", ")})`);
    if (o.description) out.push(wrap(o.description, 92, "      "));
  }
  if (d.example) out.push("", "EXAMPLE", ...d.example.split("\n").map((l) => `  ${l}`));
  return `${out.join("\n")}\n`;
}

/** `lockclaw doc`: every module with its one line. */
export function formatModuleList(docs: ModuleDoc[]): string {
  const width = Math.max(...docs.map((d) => d.name.length));
  return `${[
    ...docs.map((d) => `${d.name.padEnd(width)}  ${d.summary}`),
    "",
    "lockclaw doc MODULE prints a module's options and an example.",
  ].join("\n")}\n`;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** docs/modules.md. */
export function modulesMarkdown(docs: ModuleDoc[]): string {
  const out = [
    "# Modules",
    "",
    "<!-- Generated from the modules' schemas (src/resources/*.ts) by `npm run docs`; do not edit. -->",
    "",
    "Each task of a playbook names one module and gives it options. `lockclaw doc MODULE` prints the same.",
    "",
    ...docs.map((d) => `- [${d.name}](#${d.name}): ${d.summary}`),
  ];
  for (const d of docs) {
    out.push("", `## ${d.name}`, "", d.description, "", "| Option | Type | Default | Description |");
    out.push("| --- | --- | --- | --- |");
    for (const o of d.options) {
      const dflt = o.required ? "required" : o.default !== undefined ? `\`${cell(o.default)}\`` : "";
      out.push(`| \`${o.name}\` | ${cell(o.type)} | ${dflt} | ${cell(o.description)} |`);
    }
    if (d.example) out.push("", "```yaml", d.example, "```");
  }
  return `${out.join("\n")}\n`;
}
