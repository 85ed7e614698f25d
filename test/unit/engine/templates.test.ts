import { describe, expect, it } from "vitest";
import { renderValue } from "../../../src/engine/templates.js";

const where = { file: "pb.yml", line: 3 };

describe("template helpers", () => {
  it("json quotes and escapes, so a value cannot break out of a JSON string", () => {
    const out = renderValue(
      '{"o": {{json origins}} }',
      { origins: ["https://a.example", 'x", "evil": "1'] },
      where,
    );
    expect(JSON.parse(String(out))).toEqual({ o: ["https://a.example", 'x", "evil": "1'] });
  });
  it("join, eq and includes", () => {
    expect(renderValue("{{join xs ' '}}", { xs: ["a", "b"] }, where)).toBe("a b");
    expect(renderValue('{{#if (eq p "squid")}}S{{else}}O{{/if}}', { p: "squid" }, where)).toBe("S");
    expect(renderValue('{{#if (includes xs "b")}}Y{{/if}}', { xs: ["a", "b"] }, where)).toBe("Y");
  });
  it("an unknown variable is an error naming the place", () => {
    expect(() => renderValue("{{nope}}", {}, where)).toThrow(/pb\.yml:3/);
  });
});
