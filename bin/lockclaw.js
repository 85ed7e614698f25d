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
  const { fileURLToPath } = await import("node:url");
  const path = (p) => fileURLToPath(new globalThis.URL(p, import.meta.url));
  const mtime = (p) => statSync(path(p), { throwIfNoEntry: false })?.mtimeMs;
  const bundle = mtime("../dist/src/cli/bundle/main.cjs");
  const built = mtime("../dist/src/cli/main.js");
  const useBundle =
    bundle !== undefined && built !== undefined && bundle >= built && !process.env.LOCKCLAW_NO_BUNDLE;
  let main;
  if (useBundle) {
    // compiled through a code cache kept per command (its first words: "provision host", "audit")
    const { loadBundle } = await import("../dist/src/cli/compile-cache.js");
    const words = [];
    for (const a of args) {
      if (words.length === 2 || !/^[a-z][a-z-]{0,30}$/.test(a)) break;
      words.push(a);
    }
    // help runs little of a command: its own, smaller cache
    if (args.some((a) => a === "--help" || a === "-h") || args[0] === "help") words.push("--help");
    ({ main } = loadBundle(path("../dist/src/cli/bundle/main.cjs"), words.join(" ")));
  } else {
    ({ main } = await import("../dist/src/cli/main.js"));
  }
  process.exitCode = await main(process.argv);
}
