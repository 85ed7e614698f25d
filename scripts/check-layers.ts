/**
 * The layers of src/, bottom to top, and the rule that keeps them: a module imports only from its own
 * layer or the ones below, and no chain of imports comes back to where it started. `npm run lint` and
 * scripts/test.sh run it; it exits 1 naming every upward import and every cycle.
 *
 *   core → transport → engine → resources → audit, lab, images, cloudflare, stack, report → cli, index
 *
 * Type-only imports count too: a type from above is still a dependency on it, and two modules that need
 * each other's types are one module in two files.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, posix, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** Each top-level directory (or file) of src/ and its layer. */
export const LAYERS: Record<string, number> = {
  core: 0,
  transport: 1,
  engine: 2,
  resources: 3,
  audit: 4,
  lab: 4,
  images: 4,
  cloudflare: 4,
  stack: 4,
  report: 4,
  cli: 5,
  "index.ts": 5,
};

/** The modules one module imports, as paths relative to src/ (static, re-exports, `import("…")`). */
export function importsOf(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const specs: string[] = [];
  const walk = (n: ts.Node): void => {
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier)
    )
      specs.push(n.moduleSpecifier.text);
    else if (
      ts.isCallExpression(n) &&
      n.expression.kind === ts.SyntaxKind.ImportKeyword &&
      n.arguments[0] &&
      ts.isStringLiteral(n.arguments[0])
    )
      specs.push(n.arguments[0].text);
    ts.forEachChild(n, walk);
  };
  walk(sf);
  return specs
    .filter((s) => s.startsWith("."))
    .map((s) => posix.normalize(posix.join(posix.dirname(file), s)).replace(/\.js$/, ".ts"));
}

const layerOf = (file: string): number | undefined => LAYERS[file.split("/")[0]!];

/**
 * Every problem in a tree of modules (paths relative to src/, with `/`): an import of a higher layer, a
 * module in no layer, and each import cycle, once.
 */
export function checkLayers(modules: Map<string, string>): string[] {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  for (const [file, text] of modules) {
    const from = layerOf(file);
    if (from === undefined) {
      problems.push(`${file}: in no layer (add its directory to LAYERS in scripts/check-layers.ts)`);
      continue;
    }
    const edges: string[] = [];
    for (const imported of importsOf(file, text)) {
      const to = modules.has(imported) ? imported : imported.replace(/\.ts$/, "/index.ts");
      const layer = layerOf(to);
      if (layer !== undefined && layer > from)
        problems.push(
          `${file}: imports ${to}, a higher layer (${to.split("/")[0]} above ${file.split("/")[0]})`,
        );
      if (modules.has(to)) edges.push(to);
    }
    graph.set(file, edges);
  }
  // cycles: depth-first search; a back edge closes one (reported from its smallest module, once)
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const seen = new Set<string>();
  const visit = (f: string): void => {
    state.set(f, "open");
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === "open") {
        const cycle = stack.slice(stack.indexOf(g));
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const norm = [...cycle.slice(start), ...cycle.slice(0, start)];
        const key = norm.join(" → ");
        if (!seen.has(key)) {
          seen.add(key);
          problems.push(`import cycle: ${key} → ${norm[0]}`);
        }
      } else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return problems;
}

/** The .ts modules under `dir`, by path relative to it. */
export function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".ts") && !name.endsWith(".d.ts"))
        out.set(relative(dir, p).split(sep).join("/"), readFileSync(p, "utf8"));
    }
  };
  walk(dir);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");
  const problems = checkLayers(readTree(src));
  for (const p of problems) console.error(`check-layers: ${p}`);
  if (problems.length) {
    console.error(
      `check-layers: ${problems.length} problem(s); layers: core → transport → engine → resources → …`,
    );
    process.exit(1);
  }
  console.log("check-layers: no upward import, no import cycle");
}
