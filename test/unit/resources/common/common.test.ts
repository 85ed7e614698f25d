import { describe, expect, it } from "vitest";
import { mode, normalizeMode } from "../../../../src/resources/common/schema.js";
import {
  extractWarnings,
  verifies as isVerifiable,
  WARNING_PREFIX,
} from "../../../../src/engine/resource.js";
import { warnSh } from "../../../../src/resources/common/warnings.js";
import { contentDiff } from "../../../../src/resources/common/diffText.js";
import { resourceKinds } from "../../../../src/resources/index.js";
import { runSh } from "../helpers.js";

describe("resource helpers", () => {
  it("normalises modes", () => {
    expect(normalizeMode("640")).toBe("0640");
    expect(normalizeMode("4755")).toBe("4755");
    expect(mode.parse(755)).toBe("0755");
    expect(mode.safeParse("rw-r--r--").success).toBe(false);
  });
  it("warning lines round-trip through sh and are split from probe output", () => {
    const r = runSh(`echo a=1\n${warnSh("it's read-only; $HOME stays literal")}\necho b=2`);
    const { warnings, output: rest } = extractWarnings(r.stdout);
    expect(warnings).toEqual(["it's read-only; $HOME stays literal"]);
    expect(rest).toBe("a=1\nb=2\n");
    expect(WARNING_PREFIX).toBe("LOCKCLAW_WARNING: ");
  });
  it("unified diffs without the Index preamble", () => {
    const d = contentDiff("/etc/x", "a\n", "b\n");
    expect(d.startsWith("--- /etc/x")).toBe(true);
    expect(d).toContain("-a\n+b");
  });
  it("registry holds every basic kind under its own name; verifiability", () => {
    for (const name of [
      "file",
      "template",
      "directory",
      "user",
      "authorized_key",
      "package",
      "service",
      "sysctl",
      "command",
    ]) {
      expect(resourceKinds[name]?.name).toBe(name);
    }
    expect(isVerifiable(resourceKinds.file!, {})).toBe(true);
    expect(isVerifiable(resourceKinds.command!, {})).toBe(false);
  });
});
