/**
 * bin/lockclaw.js runs the one-file build (scripts/bundle-cli.mjs) when it is not older than tsc's
 * output: the two must be the same CLI, and a later tsc alone must not be shadowed by an old bundle.
 */
import { copyFileSync, mkdtempSync, renameSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BUILD_TIMEOUT_MS, ROOT, buildCli, cliEnv, lockclaw } from "./cli.js";
import { tmpdir } from "node:os";

const BUNDLE = join(ROOT, "dist/src/cli/bundle/main.cjs");
const MAIN = join(ROOT, "dist/src/cli/main.js");

beforeAll(async () => {
  await buildCli();
}, BUILD_TIMEOUT_MS);

describe("the bundled CLI", () => {
  const env = (extra: NodeJS.ProcessEnv = {}) => cliEnv(mkdtempSync(join(tmpdir(), "lc-bundle-")), extra);
  const both = async (args: string[]) => {
    const bundled = await lockclaw(args, env());
    const plain = await lockclaw(args, env({ LOCKCLAW_NO_BUNDLE: "1" }));
    return { bundled, plain };
  };

  it("npm run build writes it beside tsc's main.js, not older", () => {
    expect(statSync(BUNDLE).mtimeMs).toBeGreaterThanOrEqual(statSync(MAIN).mtimeMs);
  });

  it("answers as the module build does: help, the task list of the built-in playbooks, a usage error", async () => {
    for (const args of [
      ["provision", "host", "--help"],
      ["provision", "host", "lab:x", "--list-tasks"],
      ["provision", "host", "--no-such-flag"],
      ["doc"],
    ]) {
      const { bundled, plain } = await both(args);
      expect(bundled.code, args.join(" ")).toBe(plain.code);
      expect(bundled.stdout, args.join(" ")).toBe(plain.stdout);
      expect(bundled.stderr, args.join(" ")).toBe(plain.stderr);
    }
    const { bundled } = await both(["provision", "host", "lab:x", "--list-tasks"]);
    expect(bundled.stdout).toMatch(/sshd hardening/);
  });

  it("is not used when tsc's output is newer (a tsc run alone after a build)", async () => {
    const saved = `${BUNDLE}.saved-${process.pid}`;
    const broken = `${BUNDLE}.broken-${process.pid}`;
    copyFileSync(BUNDLE, saved);
    try {
      // a bundle that fails if run, a minute older than main.js, put in place whole (renamed)
      writeFileSync(broken, 'throw new Error("the stale bundle ran");\n');
      const old = new Date(statSync(MAIN).mtimeMs - 60_000);
      utimesSync(broken, old, old);
      renameSync(broken, BUNDLE);
      const r = await lockclaw(["provision", "host", "--help"], env());
      expect(r.stderr).not.toMatch(/stale bundle/);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: lockclaw provision host/);
    } finally {
      renameSync(saved, BUNDLE);
    }
  });
});
