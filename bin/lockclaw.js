#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli (built by `npm run build`).
// `lockclaw --version` is answered here, before any module is loaded: scripts call it to probe.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(new globalThis.URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(`${pkg.version}\n`);
} else {
  // the bundled build (scripts/bundle-cli.mjs) starts faster; only if it is not older than tsc's output
  const { statSync } = await import("node:fs");
  const mtime = (p) => statSync(new globalThis.URL(p, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
  const bundle = mtime("../dist/src/cli/bundle/main.js");
  const built = mtime("../dist/src/cli/main.js");
  const useBundle =
    bundle !== undefined && built !== undefined && bundle >= built && !process.env.LOCKCLAW_NO_BUNDLE;
  const { main } = await import(useBundle ? "../dist/src/cli/bundle/main.js" : "../dist/src/cli/main.js");
  process.exitCode = await main(process.argv);
}
