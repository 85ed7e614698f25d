import { describe, expect, it } from "vitest";
import { MASK, Redactor } from "../../../src/engine/redact.js";

describe("redactor", () => {
  it("masks every known secret in text and nested values, longest first", () => {
    const r = new Redactor();
    r.add(["s3cr3t", { k: "s3cr3t-longer" }]);
    expect(r.text("a s3cr3t-longer b s3cr3t")).toBe(`a ${MASK} b ${MASK}`);
    expect(r.value({ x: ["s3cr3t"] })).toEqual({ x: [MASK] });
  });

  it("ignores values too short to be secrets", () => {
    const r = new Redactor();
    r.add("ab");
    expect(r.size).toBe(0);
  });
});
