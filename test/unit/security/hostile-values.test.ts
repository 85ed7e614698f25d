/**
 * Values that pass (or dodge) their declared type and still meant something where they landed: each
 * found by attacking the pipeline as a hostile --var, vars file or inventory would, and each run
 * through the real sh (`sh -c` in a scratch directory) or the kind's own schema.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { namedType } from "../../../src/engine/var-types.js";
import { composeStackKind } from "../../../src/resources/compose_stack.js";
import { pinEntries, resolvePinsSh } from "../../../src/resources/compose_stack/pins.js";

const scratch = () => mkdtempSync(join(tmpdir(), "lc-hostile-"));
const runSh = (code: string, cwd: string) => spawnSync("sh", ["-c", code], { cwd, encoding: "utf8" });

describe("compose_stack images: a reference reaches sh only as one quoted word", () => {
  it("an image reference with $(…) does not run when its pin is resolved", () => {
    const dir = scratch();
    const proof = join(dir, "proof");
    const ref = `redis:7"$(touch ${proof})"`;
    const entries = pinEntries({ REDIS: ref });
    // a docker stand-in that has every image and prints a digest for it
    const dk = `lc_dk() { case "$1 $2" in "image inspect") echo "redis@sha256:${"a".repeat(64)}";; esac; }`;
    const script = [
      dk,
      `lc_unpinned=" REDIS "`,
      ...resolvePinsSh(dir, String(process.getuid?.() ?? 0), entries, () => `{ echo fail >&2; exit 1; }`),
    ].join("\n");
    const r = runSh(script, dir);
    expect(existsSync(proof)).toBe(false);
    // the script did get to the message, which names the reference as it is
    expect(r.stderr).toContain(`pinned ${ref} -> redis@sha256:`);
  });

  it("the kind refuses an images value that is not an image reference (an untyped variable's value)", () => {
    for (const bad of [`redis:7$(id)`, "-q/x", "--all-tags/x", "redis 7", "a\tb", ""]) {
      const r = composeStackKind.spec.safeParse({ dir: "/x", project: "p", images: { R: bad } });
      if (bad === "") expect(r.success).toBe(true);
      else expect(r.success, bad).toBe(false);
    }
    const ok = composeStackKind.spec.safeParse({
      dir: "/x",
      project: "p",
      images: { R: "ghcr.io/openclaw/openclaw:2026.9.6", S: `gw@sha256:${"a".repeat(64)}` },
    });
    expect(ok.success).toBe(true);
  });

  it("image_ref refuses a reference docker would read as an option (a leading -)", () => {
    const t = namedType("image_ref")!;
    expect("why" in t.accept("-q/x", { allowWorld: false })).toBe(true);
    expect("why" in t.accept("--all-tags/redis", { allowWorld: false })).toBe(true);
    expect("value" in t.accept("localhost:5000/redis:7", { allowWorld: false })).toBe(true);
  });
});
