import { describe, expect, it } from "vitest";
import {
  renderDeep,
  renderTemplateSource,
  renderValue,
  templateFormat,
  type TemplateFormat,
} from "../../../src/engine/templates.js";

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

describe("renderDeep", () => {
  const at = { file: "pb.yml", line: 3, path: "t.args" };
  it("renders nested strings, splices a whole-list item, keeps other values and own keys", () => {
    const args = JSON.parse('{"a":["x","{{xs}}",{"b":"{{n}}"}],"__proto__":"{{n}}","c":7}') as unknown;
    const out = renderDeep(args, { xs: ["p", "q"], n: 2 }, at) as Record<string, unknown>;
    expect(out).toEqual(JSON.parse('{"a":["x","p","q",{"b":2}],"__proto__":2,"c":7}'));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out).not.toBe(args);
  });
  it("an unknown variable deep inside names its key path", () => {
    expect(() => renderDeep({ a: [{ b: "{{nope}}" }] }, {}, at)).toThrow(/t\.args\.a\[0\]\.b/);
  });
});

describe("template files are written for their format", () => {
  const at = { file: "/t/x.hbs" };
  const render = (src: string, format: TemplateFormat, vars: Record<string, unknown>) =>
    renderTemplateSource(src, format, vars, at);

  it("takes the format from the file name", () => {
    expect(
      [
        "a.json.hbs",
        "b.yaml.hbs",
        "c.yml.hbs",
        "compose.yml.hbs",
        "p.sh.hbs",
        "k.env.hbs",
        "squid.conf.hbs",
        "h.cfg.hbs",
        "sudoers-deploy.hbs",
      ].map(templateFormat),
    ).toEqual(["json", "yaml", "yaml", "compose", "sh", "env", "conf", "conf", "conf"]);
  });

  it("JSON and YAML: a bare {{x}} is a complete scalar, with U+2028/U+2029 and controls escaped", () => {
    const v = 'a"b\\c\u2028\u2029\u0000\n$x';
    expect(render('{"k": {{v}}, "n": {{n}}, "l": {{l}} }', "json", { v, n: 2, l: ["x", 1] })).toBe(
      '{"k": "a\\"b\\\\c\\u2028\\u2029\\u0000\\u000a$x", "n": 2, "l": ["x",1] }',
    );
    expect(render("k: {{v}}\n", "yaml", { v })).toBe('k: "a\\"b\\\\c\\u2028\\u2029\\u0000\\u000a$x"\n');
    // compose interpolates $ after parsing: it must read $$
    expect(render("k: {{v}}\n", "compose", { v: "$HOME" })).toBe('k: "$$HOME"\n');
  });

  it('inside "…" the value is escaped without quotes, narrowly (the place was read from the line)', () => {
    expect(render('p: "{{h}}/.x"\n', "yaml", { h: "/home/node" })).toBe('p: "/home/node/.x"\n');
    expect(render('p: "{{h}}/.x"\n', "yaml", { h: 'a", b: "c' })).toBe(
      'p: "a\\u0022\\u002c b\\u003a \\u0022c/.x"\n',
    );
  });

  it("refuses {{{x}}}, a value next to ' in YAML, and partials", () => {
    expect(() => render("k: {{{v}}}\n", "yaml", { v: "a" })).toThrow(/unescaped/);
    expect(() => render("k: '{{v}}'\n", "yaml", { v: "a" })).toThrow(/next to a '/);
    expect(() => render("{{> p}}", "json", {})).toThrow();
  });

  it("conf formats take only safe characters, naming the variable and the template", () => {
    expect(render("server s {{h}}:{{p}}\n", "conf", { h: "gateway", p: 18789 })).toBe(
      "server s gateway:18789\n",
    );
    expect(() => render("user {{u}} ALL\n", "conf", { u: "deploy ALL=(ALL) NOPASSWD: ALL\n#" })).toThrow(
      /x\.hbs: variable 'u' is .*letters, digits/,
    );
    expect(() => render("{{#each l}} {{this}}{{/each}}\n", "conf", { l: [".a.com", "b c"] })).toThrow(
      /variable 'this'/,
    );
  });

  it("an unknown variable is still an unknown variable, with its line", () => {
    expect(() => render("a\nb {{nope}}\n", "conf", {})).toThrow(/x\.hbs:2.*unknown variable 'nope'/s);
    expect(() => render("a\nb {{nope}}\n", "json", {})).toThrow(/unknown variable 'nope'/);
  });
});
