import { describe, expect, it } from "vitest";
import { declaredServices } from "../../../src/audit/compose-declared.js";

describe("declared services of a compose file", () => {
  it("reads read_only through merge keys and networks as compose names them", () => {
    const d = declaredServices(
      `x: &h
  read_only: true
networks:
  ext: { name: shared-net }
services:
  a: { <<: *h, networks: [ext, inner] }
  b: { image: x }
`,
      "proj",
    )!;
    expect(d.get("a")).toEqual({ readOnly: true, networks: ["proj_inner", "shared-net"] });
    // no networks key: the project's default network
    expect(d.get("b")).toEqual({ readOnly: false, networks: ["proj_default"] });
  });
  it("gives up on text that is not a compose file", () => {
    expect(declaredServices("{{{ not yaml", "p")).toBeUndefined();
    expect(declaredServices("just: text", "p")).toBeUndefined();
  });
});
