// The CLI as one CommonJS file (dist/src/cli/bundle/main.cjs), made from tsc's output by esbuild, which
// bin/lockclaw.js compiles through a V8 code cache (src/cli/compile-cache.ts): Node 20 has no module
// compile cache, and resolving, loading and compiling ~150 separate modules (ours, zod, yaml, commander,
// handlebars, listr2) was most of a no-op run's start-up. CommonJS because only a classic script can
// take cached bytecode on Node 20 (vm.Script's cachedData). The lazy imports stay lazy: esbuild turns
// each into a function that evaluates its modules when first called (--help evaluates no engine and
// requires no ssh2). ssh2 stays outside: it loads its native crypto binding and optional cpu-features
// relative to its own files. bin/lockclaw.js uses the bundle only when it is at least as new as tsc's
// main.js, so a later `tsc` alone is never shadowed.
import { build } from "esbuild";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

// zod's namespace exports (z and z.core) carry its 60-odd message locales (`z.locales`), which lockclaw never uses and
// which no bundler can drop from a namespace: a third of the largest chunk, parsed on every start. Its
// English one (zod's default) is all the bundle keeps.
const zodEnglishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic[\\/]external|core[\\/]index)\.js$/.test(args.importer)
        ? { path: join(dirname(args.importer), "../locales/en.js"), namespace: "zod-locales" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};
const outdir = join(root, "dist/src/cli/bundle");
const tmp = `${outdir}.tmp-${process.pid}`;
const result = await build({
  entryPoints: [join(root, "dist/src/cli/main.js")],
  outfile: join(tmp, "main.cjs"),
  bundle: true,
  write: false,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["ssh2", "cpu-features"],
  // the modules find the package's files from their own place (src/engine/paths.ts walks up to it)
  define: { "import.meta.url": "__lcModuleUrl" },
  banner: { js: "const __lcModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: "warning",
  legalComments: "none",
  plugins: [zodEnglishOnly],
});
rmSync(tmp, { recursive: true, force: true });
for (const f of result.outputFiles) {
  mkdirSync(dirname(f.path), { recursive: true });
  writeFileSync(f.path, f.contents);
}
// swapped in whole: test files build at once, and a CLI starting meanwhile must not read half of one
// (while no bundle is there, bin/lockclaw.js runs tsc's output)
const old = `${outdir}.old-${process.pid}`;
if (existsSync(outdir)) renameSync(outdir, old);
renameSync(tmp, outdir);
rmSync(old, { recursive: true, force: true });
if (!existsSync(join(outdir, "main.cjs"))) throw new Error(`no main.cjs in ${relative(root, outdir)}`);
