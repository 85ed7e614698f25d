import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerImageCommands } from "../../../src/cli/image.js";
import { ConfigError } from "../../../src/core/errors.js";

function program(): { p: Command; out: string[] } {
  const out: string[] = [];
  const p = new Command("lockclaw").exitOverride();
  p.configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
  registerImageCommands(p);
  for (const c of p.commands) {
    c.exitOverride().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
    for (const s of c.commands)
      s.exitOverride().configureOutput({ writeOut: (x) => out.push(x), writeErr: (x) => out.push(x) });
  }
  return { p, out };
}

describe("lockclaw image", () => {
  it("offers build and test", async () => {
    const { p, out } = program();
    await expect(p.parseAsync(["node", "lockclaw", "image", "--help"])).rejects.toThrow();
    const help = out.join("");
    expect(help).toMatch(/build \[options\] \[images\.\.\.\]/);
    expect(help).toMatch(/test \[options\] \[images\.\.\.\]/);
  });

  it("documents the offline and prepared builds", async () => {
    const { p, out } = program();
    await expect(p.parseAsync(["node", "lockclaw", "image", "build", "--help"])).rejects.toThrow();
    expect(out.join("")).toContain("--offline");
    expect(out.join("")).toContain("--prepared");
  });

  it("rejects an unknown image before running docker", async () => {
    const { p } = program();
    await expect(p.parseAsync(["node", "lockclaw", "image", "build", "nginx"])).rejects.toThrow(ConfigError);
    await expect(program().p.parseAsync(["node", "lockclaw", "image", "test", "redis"])).rejects.toThrow(
      /unknown image 'redis'/,
    );
  });
});
