import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expandTargets, loadInventory } from "../../../src/engine/inventory.js";

function inv(text: string) {
  const f = join(mkdtempSync(join(tmpdir(), "lc-inv-")), "inventory.yml");
  writeFileSync(f, text);
  return loadInventory(f);
}

describe("inventory", () => {
  const i = () =>
    inv(`hosts:
  web1: { address: "root@203.0.113.10", vars: { ssh_port: 2200 } }
  web2: { address: "lab:t2", key: /k }
groups:
  prod: [web1, web2]
`);

  it("expands groups, host names and literal targets", () => {
    expect(expandTargets(["prod"], i()).map((h) => h.address)).toEqual(["root@203.0.113.10", "lab:t2"]);
    expect(expandTargets(["all", "root@198.51.100.1"], i()).map((h) => h.name)).toEqual([
      "web1",
      "web2",
      "root@198.51.100.1",
    ]);
    expect(expandTargets(["web1"], i())[0]!.vars[0]).toMatchObject({
      name: "ssh_port",
      // as written: the variable's type reads it (decimal only), as it does a --var
      value: "2200",
      from: { line: 2 },
    });
  });

  it("applies --limit globs", () => {
    expect(expandTargets(["prod"], i(), "web2").map((h) => h.name)).toEqual(["web2"]);
    expect(expandTargets(["prod"], i(), "w*").length).toBe(2);
    expect(() => expandTargets(["prod"], i(), "db*")).toThrowError(/matches none/);
  });

  it("names the line of a bad group member", () => {
    expect(() => inv("hosts:\n  a: { address: x }\ngroups:\n  g: [a, b]\n")).toThrowError(
      /inventory.yml:4.*group 'g' lists 'b'/,
    );
  });

  it("rejects unknown keys with their line", () => {
    expect(() => inv("hosts:\n  a: { adress: x }\n")).toThrowError(/inventory.yml:2/);
  });
});
