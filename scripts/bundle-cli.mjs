// One ESM file for the CLI (dist/src/cli/main.bundle.mjs), made from tsc's output by esbuild: Node 20
// has no module compile cache, and resolving and loading ~150 separate modules (ours, zod, yaml,
// commander, handlebars, listr2) was a fifth of a no-op run's start-up. ssh2 stays outside: it loads
// its native crypto binding and optional cpu-features relative to its own files. bin/lockclaw.js uses
// the bundle only when it is at least as new as tsc's main.js, so a later `tsc` alone is never shadowed.
import { build } from "esbuild";
import process from "node:process";
import { renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = join(root, "dist/src/cli/main.bundle.mjs");
const result = await build({
  entryPoints: [join(root, "dist/src/cli/main.js")],
  outfile,
  write: false,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["ssh2", "cpu-features"],
  // the CommonJS dependencies inside call require(); an ESM file has none of its own
  banner: {
    js: "import { createRequire as lcCreateRequire } from 'node:module'; const require = lcCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
  legalComments: "none",
});
// written whole and renamed: test files build at once, and a CLI starting meanwhile must not read half
const tmp = `${outfile}.${process.pid}.tmp`;
writeFileSync(tmp, result.outputFiles[0].contents);
renameSync(tmp, outfile);
