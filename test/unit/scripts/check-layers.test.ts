import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkLayers, importsOf, readTree } from "../../../scripts/check-layers.js";

const tree = (files: Record<string, string>) => new Map(Object.entries(files));

describe("scripts/check-layers.ts", () => {
  it("passes a tree whose imports only go down and never come back", () => {
    expect(
      checkLayers(
        tree({
          "core/sh.ts": "export const x = 1;",
          "transport/ssh.ts": 'import { x } from "../core/sh.js";',
          "engine/run.ts":
            'import { x } from "../core/sh.js";\nimport type { T } from "../transport/ssh.js";',
          "cli/main.ts": 'import { run } from "../engine/run.js";\nexport * from "../resources/index.js";',
          "resources/index.ts": "export {};",
        }),
      ),
    ).toEqual([]);
  });
  it("fails on an upward import, static, type-only, re-exported or dynamic", () => {
    const problems = checkLayers(
      tree({
        "core/sh.ts": 'import { ConfigError } from "../engine/errors.js";',
        "transport/ssh.ts": 'import type { Sh } from "../engine/errors.js";',
        "engine/errors.ts":
          'export * from "../cloudflare/ranges.js";\nconst m = () => import("../cli/main.js");',
        "cloudflare/ranges.ts": "export {};",
        "cli/main.ts": "export {};",
      }),
    );
    expect(problems).toEqual([
      "core/sh.ts: imports engine/errors.ts, a higher layer (engine above core)",
      "transport/ssh.ts: imports engine/errors.ts, a higher layer (engine above transport)",
      "engine/errors.ts: imports cloudflare/ranges.ts, a higher layer (cloudflare above engine)",
      "engine/errors.ts: imports cli/main.ts, a higher layer (cli above engine)",
    ]);
  });
  it("fails on an import cycle, inside one layer or through type imports, naming it once", () => {
    const problems = checkLayers(
      tree({
        "cli/main.ts": 'import { audit } from "./audit.js";',
        "cli/audit.ts": 'import type { CommandResult } from "./main.js";',
        "engine/a.ts": 'import { b } from "./b.js";',
        "engine/b.ts": 'import { c } from "./c.js";',
        "engine/c.ts": 'import { a } from "./a.js";',
      }),
    );
    expect(problems).toEqual([
      "import cycle: cli/audit.ts → cli/main.ts → cli/audit.ts",
      "import cycle: engine/a.ts → engine/b.ts → engine/c.ts → engine/a.ts",
    ]);
  });
  it("names a module outside every layer", () => {
    expect(checkLayers(tree({ "misc/x.ts": "export {};" }))).toEqual([
      "misc/x.ts: in no layer (add its directory to LAYERS in scripts/check-layers.ts)",
    ]);
  });
  it("resolves a directory import to its index.ts", () => {
    expect(importsOf("cli/main.ts", 'import { a } from "../resources/index.js";')).toEqual([
      "resources/index.ts",
    ]);
  });
  it("src/ itself has no upward import and no cycle", () => {
    expect(checkLayers(readTree(join(import.meta.dirname, "../../../src")))).toEqual([]);
  });
});
