/**
 * Every template under templates/, rendered with a hostile value in every string variable (and every
 * string inside a list or mapping variable), read back with the real reader of its format: the
 * structure is the one the same template has with harmless values, and each value comes back exactly.
 * Formats without quoting (conf) must refuse instead, naming the variable and the template.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError } from "../../../src/core/errors.js";
import { renderTemplateSource, templateFormat } from "../../../src/engine/templates.js";
import { hasPyYaml, pyYaml } from "./pyyaml.js";

const ROOT = join(__dirname, "..", "..", "..");
const TEMPLATES = join(ROOT, "templates");

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Every play variable of the three playbooks, with their defaults. */
const defaults: Record<string, unknown> = {};
for (const pb of ["host", "docker", "stack"]) {
  Object.assign(
    defaults,
    (parse(readFileSync(join(ROOT, "playbooks", `${pb}.yml`), "utf8")) as { vars: object }).vars,
  );
}

const NASTY = `"'\\ \u2028\u2029\u0085\t$(id)\`id\`\${HOME};|&<>#{}[],:*!%@ é😀`;
const hostile = (id: string, nl: boolean, nul: boolean) =>
  `H${id}${NASTY}${nl ? "\n- x: y\r\n" : ""}${nul ? "\u0000" : ""}`;
const marker = (id: string) => `M${id}M`;

/** The variables with each string leaf replaced by f(id); the ids map marker → hostile value. */
function substitute(vars: Record<string, unknown>, f: (id: string) => string): Record<string, unknown> {
  let n = 0;
  const walkValue = (v: unknown): unknown => {
    if (typeof v === "string") return f(`v${n++}x`);
    if (Array.isArray(v)) return v.map(walkValue);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walkValue(x)]));
    return v;
  };
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, walkValue(v)]));
}

/** Compare a parsed document rendered with markers and the one rendered with hostile values. */
function sameStructure(
  withMarkers: unknown,
  withHostile: unknown,
  value: (id: string) => string,
  at = "$",
): void {
  if (typeof withMarkers === "string") {
    const want = withMarkers.replace(/M(v\d+x)M/g, (_, id: string) => value(id));
    expect(withHostile, at).toBe(want);
  } else if (Array.isArray(withMarkers)) {
    expect(Array.isArray(withHostile), at).toBe(true);
    expect((withHostile as unknown[]).length, at).toBe(withMarkers.length);
    withMarkers.forEach((x, i) => sameStructure(x, (withHostile as unknown[])[i], value, `${at}[${i}]`));
  } else if (withMarkers && typeof withMarkers === "object") {
    expect(Object.keys(withHostile as object), at).toEqual(Object.keys(withMarkers));
    for (const [k, x] of Object.entries(withMarkers)) {
      sameStructure(x, (withHostile as Record<string, unknown>)[k], value, `${at}.${k}`);
    }
  } else {
    expect(withHostile, at).toEqual(withMarkers);
  }
}

const files = walk(TEMPLATES);
// the variables that choose branches keep their default in one pass, so both branches get rendered
const passes: Array<[string, string[]]> = [
  ["every string variable hostile", []],
  ["branch variables at their defaults", ["egress_proxy", "gateway_entrypoint"]],
];

describe("every template keeps its structure with hostile values", () => {
  it("covers every file under templates/", () => {
    expect(files.map((f) => relative(TEMPLATES, f)).sort()).toEqual([
      "aide/50-aide.sh.hbs",
      "aide/aide.conf.hbs",
      "apt/20auto-upgrades.hbs",
      "apt/50unattended-upgrades.hbs",
      "docker/daemon.json.hbs",
      "docker/delegate.conf.hbs",
      "docker/rootless-dropin.conf.hbs",
      "fail2ban-jail.local.hbs",
      "issue.hbs",
      "journald-lockclaw.conf.hbs",
      "modprobe-lockclaw.conf.hbs",
      "needrestart-lockclaw.conf.hbs",
      "stack/compose.v2.yml.hbs",
      "stack/compose.yml.hbs",
      "stack/haproxy-ingress.cfg.hbs",
      "stack/litellm-config.yaml.hbs",
      "stack/openclaw.json.hbs",
      "stack/provider_keys.env.hbs",
      "stack/smokescreen-acl.yaml.hbs",
      "stack/squid.conf.hbs",
      "sudoers-deploy.hbs",
    ]);
  });

  for (const file of files) {
    const name = relative(TEMPLATES, file);
    const format = templateFormat(name);
    const source = readFileSync(file, "utf8");
    for (const [pass, keep] of passes) {
      it(`${name} (${format}): ${pass}`, () => {
        const base = Object.fromEntries(Object.entries(defaults).filter(([k]) => keep.includes(k)));
        const rest = Object.fromEntries(Object.entries(defaults).filter(([k]) => !keep.includes(k)));
        const render = (vars: Record<string, unknown>) =>
          renderTemplateSource(source, format, { ...vars, ...base }, { file });
        const withMarkers = render(substitute(rest, marker));
        // newlines only where a multi-line value could be allowed; NUL only where the format can carry it
        const nl = format === "json" || format === "yaml" || format === "compose" || format === "env";
        const nul = format === "json" || format === "yaml" || format === "compose";
        const value = (id: string) => hostile(id, nl, nul);
        const hostileVars = substitute(rest, value);
        const usesVars = /\{\{(?!#|\/|else|!)/.test(source) && withMarkers.includes("M");
        if (format === "conf" || format === "sh") {
          if (!/M(v\d+x)M/.test(withMarkers)) {
            expect(render(hostileVars)).toBe(withMarkers);
            return;
          }
          // no quoting to rely on (or a sh comment): refused, naming a variable and the template
          let err: unknown;
          try {
            render(hostileVars);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as Error).message).toMatch(/variable '[a-z_.]+'/);
          if (format === "conf") expect((err as Error).message).toContain(name.split("/").pop()!);
          return;
        }
        const out = render(hostileVars);
        if (!usesVars && format !== "env") {
          // a template that interpolates no value, only branches on them (compose.v2.yml): no value reaches it
          expect(out).toBe(withMarkers);
          return;
        }
        if (format === "json") {
          sameStructure(JSON.parse(withMarkers), JSON.parse(out), value);
        } else if (format === "yaml" || format === "compose") {
          // compose interpolates `$` after YAML: the file must carry it as `$$`
          const inFile = (id: string) =>
            format === "compose" ? value(id).replace(/\$/g, "$$$$") : value(id);
          sameStructure(parse(withMarkers), parse(out), inFile);
          if (hasPyYaml) sameStructure(pyYaml(withMarkers), pyYaml(out), inFile);
          // values are written in ASCII only, so no reader can take one of their bytes for a line break
          const other = (t: string) => [...t].filter((c) => c !== "\t" && c !== "\n" && (c < " " || c > "~"));
          expect(other(out)).toEqual(other(withMarkers));
        } else if (format === "env") {
          // read as compose.yml's litellm entrypoint does: sh, set -a, dot
          const dir = mkdtempSync(join(tmpdir(), "lc-env-"));
          const names = [...withMarkers.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
          const read = (text: string) => {
            writeFileSync(join(dir, "f"), text);
            const r = spawnSync(
              "sh",
              [
                "-c",
                `set -a; . ./f; set +a; for n in ${names.join(" ")}; do eval "printf '%s\\0' \\"\\$$n\\""; done`,
              ],
              { cwd: dir, encoding: "utf8" },
            );
            expect(r.status, r.stderr).toBe(0);
            return r.stdout.split("\0").slice(0, -1);
          };
          sameStructure(read(withMarkers), read(out), value);
        }
      });
    }
  }

  it("sh formats refuse a NUL (sh cannot carry one) naming the variable", () => {
    const src = "KEY={{k}}\n";
    expect(() => renderTemplateSource(src, "env", { k: "a\u0000b" }, { file: "x.env.hbs" })).toThrow(
      /variable 'k' holds a NUL/,
    );
  });
});
