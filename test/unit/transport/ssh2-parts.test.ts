import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { ssh2Parts } from "../../../src/transport/ssh2-parts.js";

describe("ssh2's parts, each from its own file", () => {
  it("are the objects ssh2's index exports (an ssh2 release that moves them fails here)", () => {
    const index = createRequire(import.meta.url)("ssh2") as typeof import("ssh2");
    const parts = ssh2Parts();
    expect(parts.Client).toBe(index.Client);
    expect(parts.OpenSSHAgent).toBe(index.OpenSSHAgent);
    expect(parts.parseKey).toBe(index.utils.parseKey);
  });
});
