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

describe("redactor: secrets that JSON escapes or that span lines", () => {
  const secret = 'p"ss\\word-1\nsecond-line\\"\nthird-line';

  it("masks a secret holding a quote and a backslash inside a deep value, never via its JSON form", () => {
    const r = new Redactor();
    r.add('ab"cd\\ef');
    expect(r.value({ a: [{ b: 'x ab"cd\\ef y' }] })).toEqual({ a: [{ b: `x ${MASK} y` }] });
  });

  it("masks each line of a multi-line secret wherever it appears (diff lines, indented excerpts)", () => {
    const r = new Redactor();
    r.add(secret);
    const diff = '+p"ss\\word-1\n+second-line\\"\n+third-line';
    expect(r.text(diff)).toBe(`+${MASK}\n+${MASK}\n+${MASK}`);
    expect(r.text(`error:\n    p"ss\\word-1\n    second-line\\"`)).toBe(`error:\n    ${MASK}\n    ${MASK}`);
    expect(r.text(`whole: ${secret}.`)).toBe(`whole: ${MASK}.`);
  });

  it("masks the JSON-escaped form too (a file rendered with a JSON helper)", () => {
    const r = new Redactor();
    r.add(secret);
    const json = JSON.stringify({ token: secret });
    expect(r.text(json)).not.toMatch(/word-1|second-line|third-line/);
  });
});
