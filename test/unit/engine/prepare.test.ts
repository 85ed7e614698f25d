import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/core/errors.js";
import { parsePlaybook } from "../../../src/engine/playbook/loader.js";
import { preparePlaybook, selectedByTags, SpecCache } from "../../../src/engine/prepare.js";
import { Redactor } from "../../../src/engine/redact.js";
import { parseVarArg } from "../../../src/engine/vars.js";
import { YamlSource } from "../../../src/engine/yaml-source.js";
import { kinds } from "./kinds.fixture.js";

function prepare(text: string, vars: string[] = [], file = "pb.yml") {
  const redactor = new Redactor();
  const pb = parsePlaybook(YamlSource.parse(text, file), kinds);
  const plays = preparePlaybook(pb, kinds, {
    overrides: vars.map(parseVarArg),
    builtins: { login_user: "root" },
    redactor,
  });
  return { plays, redactor };
}

const PB = `
vars: { dir: /srv, port: 2222, users: [a, b], token: abc123secret, on: false }
secret_vars: [token]
reconnect: { user: deploy, port: "{{port}}" }
tasks:
  - name: typed
    note: { path: "{{dir}}/x", text: "port {{port}} users {{join users ','}} as {{login_user}}", mode: "{{port}}" }
  - name: secret
    note: { path: /t, text: "{{token}}" }
  - name: conditional
    note: { path: /c, text: x }
    when: on
`;

describe("prepare", () => {
  it("interpolates strings, keeps whole-variable values typed, and renders reconnect", () => {
    const { plays } = prepare(PB);
    const [t] = plays[0]!.tasks;
    expect(t!.spec).toEqual({ path: "/srv/x", text: "port 2222 users a,b as root", mode: 2222 });
    expect(plays[0]!.reconnect).toEqual({ user: "deploy", port: 2222 });
  });

  it("applies --var with the default's type", () => {
    const { plays } = prepare(PB, ["port=2200", "on=true"]);
    expect((plays[0]!.tasks[0]!.spec as { mode: number }).mode).toBe(2200);
    expect(plays[0]!.tasks[2]!.skippedByWhen).toBe(false);
    expect(prepare(PB).plays[0]!.tasks[2]!.skippedByWhen).toBe(true);
  });

  it("registers secret variables with the redactor", () => {
    const { redactor } = prepare(PB);
    expect(redactor.text("value abc123secret here")).toBe("value ******** here");
  });

  it("rejects a --var of the wrong type", () => {
    expect(() => prepare(PB, ["port=abc"])).toThrowError(/'port' must be a number/);
  });

  it("rejects a newline in a single-line value (directive injection)", () => {
    expect(() => prepare(PB, ["dir=/srv\nPermitRootLogin yes"])).toThrowError(/line break/);
  });

  it("rejects an unknown variable in a task argument, naming the line", () => {
    try {
      prepare("tasks:\n  - note: { path: /x, text: '{{nope}}' }\n");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain("unknown variable 'nope'");
      expect((err as ConfigError).location?.line).toBe(2);
    }
  });

  it("rejects a spec that the kind's schema refuses, with its key path", () => {
    try {
      prepare("tasks:\n  - note:\n      path: relative\n      text: x\n");
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).location).toMatchObject({ line: 3, path: "tasks[0].note.path" });
    }
  });

  it("renders template files strictly, from templates/ next to the playbook", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-prep-"));
    mkdirSync(join(dir, "templates"));
    writeFileSync(
      join(dir, "templates", "a.conf.hbs"),
      "Port {{port}}\n{{#each users}}AllowUser {{this}}\n{{/each}}",
    );
    writeFileSync(join(dir, "templates", "bad.hbs"), "line1\nX {{missing}}\n");
    const pb = "vars: { port: 22, users: [a] }\ntasks:\n  - template: { src: a.conf.hbs, dest: /etc/a }\n";
    const { plays } = prepare(pb, [], join(dir, "pb.yml"));
    expect((plays[0]!.tasks[0]!.spec as { content: string }).content).toBe("Port 22\nAllowUser a\n");
    const bad = "vars: {}\ntasks:\n  - template: { src: bad.hbs, dest: /etc/a }\n";
    try {
      prepare(bad, [], join(dir, "pb.yml"));
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).message).toContain("unknown variable 'missing'");
      expect((err as ConfigError).location).toMatchObject({
        file: join(dir, "templates", "bad.hbs"),
        line: 2,
      });
    }
  });

  describe("when", () => {
    // a variable compared in when: has a declared type (the loader refuses it otherwise)
    const VARS =
      "vars: { src: debian, on: true, n: 3, list: [a], none: ~, name_x: 'a b' }\n" +
      "var_types: { src: { enum: [debian, docker] }, on: bool, n: uint, list: word_list, none: { type: word, optional: true }, name_x: text }\n";
    const skipped = (conds: string[], vars: string[] = []) =>
      prepare(
        VARS + "tasks:\n" + conds.map((c) => `  - note: { path: /x, text: x }\n    when: ${c}\n`).join(""),
        vars,
      ).plays[0]!.tasks.map((t) => t.skippedByWhen);
    const failure = (cond: string): ConfigError => {
      try {
        prepare(
          `${VARS}tasks:\n  - name: t\n    note: { path: /x, text: x }\n    when: ${cond}\n`,
          [],
          "pb/x.yml",
        );
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return err as ConfigError;
      }
      return expect.unreachable(`when: ${cond} was accepted`);
    };

    it("tests a variable's truthiness, or its negation", () => {
      expect(skipped(["on", '"!on"', "list", "none", '"!none"'])).toEqual([false, true, false, true, false]);
    });

    it("compares a variable's string form with a word or a quoted string", () => {
      expect(
        skipped([
          "src == debian",
          "src == docker",
          "src != docker",
          "src != debian",
          "src=='debian'",
          `'src == "debian"'`,
          "name_x == 'a b'",
          "name_x == a",
        ]),
      ).toEqual([false, true, false, true, false, false, false, true]);
    });

    it("compares booleans and numbers by their string form, after --var", () => {
      expect(skipped(["on == true", "on != false", "n == 3", "n == '3'", "n == 03"])).toEqual([
        false,
        false,
        false,
        false,
        true,
      ]);
      expect(skipped(["src == docker", "on == false", "n == 4"], ["src=docker", "on=false", "n=4"])).toEqual([
        false,
        false,
        false,
      ]);
    });

    it("rejects an unknown variable, naming the file, the line and the fix", () => {
      for (const cond of ["nope", '"!nope"', "nope == docker", "nope != 'x'"]) {
        const err = failure(cond);
        expect(err.message).toContain("when names 'nope', which is not a variable");
        expect(err.location).toMatchObject({ file: "pb/x.yml", line: 6 });
        expect(err.message).toMatch(/^pb\/x\.yml:6:/);
        expect(err.fix).toContain("declare it under vars:");
      }
    });

    it("rejects malformed conditions, naming the file, the line and the accepted forms", () => {
      for (const cond of [
        "src ==",
        "src = docker",
        "src == docker == debian",
        "'src == docker debian'",
        "'src == \"docker'",
        "'!src == docker'",
        "'1src'",
        "src === docker",
        "src == $(id)",
        "src && on",
      ]) {
        const err = failure(cond);
        expect(err.message).toMatch(
          /^pb\/x\.yml:6:\d+ \(at tasks\[0\]\.when\): when '.*' is not a condition/,
        );
        expect(err.message).toContain("name, !name, name == value or name != value");
      }
    });

    it("rejects comparing a list or an empty variable", () => {
      expect(failure("list == a").message).toContain("when compares 'list', which is a list or mapping");
      const err = failure("none == ''");
      expect(err.message).toContain("when compares 'none', which is empty");
      expect(err.location?.line).toBe(6);
    });
  });

  it("selects tasks by tags like Ansible", () => {
    const t = { tags: ["ssh"] } as never;
    const always = { tags: ["always"] } as never;
    expect(selectedByTags(t, [], [])).toBe(true);
    expect(selectedByTags(t, ["ssh"], [])).toBe(true);
    expect(selectedByTags(t, ["ufw"], [])).toBe(false);
    expect(selectedByTags(always, ["ufw"], [])).toBe(true);
    expect(selectedByTags(t, [], ["ssh"])).toBe(false);
  });
});

describe("SpecCache (a run's hosts share the specs their arguments render alike)", () => {
  const FLEET = `
vars: { dir: /srv }
tasks:
  - name: per-host
    note: { path: "{{dir}}/x", text: same }
  - name: alike
    note: { path: /a, text: same }
`;
  const forHost = (pb: ReturnType<typeof parsePlaybook>, specs: SpecCache, dir: string) =>
    preparePlaybook(pb, kinds, {
      overrides: [parseVarArg(`dir=${dir}`)],
      builtins: { login_user: "root" },
      redactor: new Redactor(),
      specs,
    })[0]!.tasks.map((t) => t.spec);

  it("gives hosts with the same rendered arguments one spec object, and others their own", () => {
    const pb = parsePlaybook(YamlSource.parse(FLEET, "pb.yml"), kinds);
    const specs = new SpecCache();
    const [a1, a2] = forHost(pb, specs, "/srv");
    const [b1, b2] = forHost(pb, specs, "/srv");
    const [c1, c2] = forHost(pb, specs, "/opt");
    expect(b1).toBe(a1);
    expect(b2).toBe(a2);
    expect(c2).toBe(a2);
    expect(c1).not.toBe(a1);
    expect(c1).toEqual({ path: "/opt/x", text: "same" });
    expect(a1).toEqual({ path: "/srv/x", text: "same" });
  });

  it("validates once per alike arguments; a failure is never kept, and undefined is not null", () => {
    const specs = new SpecCache();
    const schema = {};
    let calls = 0;
    const ok = (v: unknown) => () => (calls++, { v });
    const first = specs.validate(schema, { a: 1 }, ok(1));
    expect(specs.validate(schema, { a: 1 }, ok(2))).toBe(first);
    expect(calls).toBe(1);
    // another schema, or arguments that differ only by undefined against null, are validated again
    expect(specs.validate({}, { a: 1 }, ok(3))).not.toBe(first);
    specs.validate(schema, { a: null }, ok(4));
    specs.validate(schema, { a: undefined }, ok(5));
    expect(calls).toBe(4);
    const bad = () => {
      throw new ConfigError("bad", undefined, undefined);
    };
    expect(() => specs.validate(schema, { b: 1 }, bad)).toThrowError("bad");
    expect(() => specs.validate(schema, { b: 1 }, bad)).toThrowError("bad");
    // what a key cannot capture (a class instance) is validated for each host
    class Arg {}
    specs.validate(schema, { c: new Arg() }, ok(6));
    specs.validate(schema, { c: new Arg() }, ok(7));
    expect(calls).toBe(6);
  });
});
