#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli (built by `npm run build`).
// `lockclaw --version` is answered here, before any module is loaded: scripts call it to probe.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(new globalThis.URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(`${pkg.version}\n`);
} else {
  const { main } = await import("../dist/src/cli/main.js");
  process.exitCode = await main(process.argv);
}
