import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/core/errors.js";
import { parsePlaybook } from "../../../src/engine/playbook/loader.js";
import { YamlSource } from "../../../src/engine/yaml-source.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { kinds } from "./kinds.fixture.js";

const load = (text: string) => parsePlaybook(YamlSource.parse(text, "pb.yml"), kinds);

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("playbook loader", () => {
  it("reads a single play with tasks, tags, notify and handlers", () => {
    const pb = load(`
name: demo
vars: { a: 1 }
tasks:
  - name: one
    note: { path: /tmp/x, text: hi }
    tags: [t1]
    notify: h
handlers:
  - name: h
    note: { path: /tmp/y, text: yo }
`);
    expect(pb.plays).toHaveLength(1);
    const [task] = pb.plays[0]!.tasks;
    expect(task).toMatchObject({ name: "one", kind: "note", tags: ["t1"], notify: ["h"] });
    expect(pb.plays[0]!.handlers[0]!.name).toBe("h");
    expect(pb.plays[0]!.become).toBe(true);
  });

  it("reads a list of plays", () => {
    const pb = load(`- tasks: []\n- name: second\n  tasks: []\n`);
    expect(pb.plays.map((p) => p.name)).toEqual(["play 1", "second"]);
  });

  it("names file, line and path for a YAML syntax error", () => {
    const e = errorOf(() => load("tasks:\n  - note: { path: /x\n"));
    expect(e.location?.file).toBe("pb.yml");
    expect(e.location?.line).toBeGreaterThanOrEqual(2);
    expect(e.message).toMatch(/YAML syntax error/);
  });

  it("rejects an unknown module with a suggestion and its line", () => {
    const e = errorOf(() => load("tasks:\n  - name: x\n    nite: { path: /x, text: y }\n"));
    expect(e.message).toContain("unknown module 'nite'");
    expect(e.message).toContain("did you mean 'note'");
    expect(e.location).toMatchObject({ line: 3, path: "tasks[0].nite" });
  });

  it("says 'did you mean' for a misspelled task key and a misspelled key inside a module (issue 11.9)", () => {
    const e = errorOf(() => load("tasks:\n  - name: x\n    note: { path: /x, text: y }\n    notfy: h\n"));
    expect(e.message).toMatch(/pb\.yml:4:\d+ \(at tasks\[0\]\.notfy\): unknown task key 'notfy'/);
    expect(e.message).toContain("did you mean 'notify'?");
    // a module's own keys: the kind's schema, read where the task is prepared
    const src = YamlSource.parse("tasks:\n  - file: { path: /x, mdoe: '0644' }\n", "pb.yml");
    const f = errorOf(() =>
      src.validate(resourceKinds.file!.spec, { path: "/x", mdoe: "0644" }, ["tasks", 0, "file"]),
    );
    expect(f.message).toMatch(/pb\.yml:2:\d+ \(at tasks\[0\]\.file\.mdoe\)/);
    expect(f.message).toContain("did you mean 'mode'?");
  });

  it("rejects a task with two modules", () => {
    const e = errorOf(() => load("tasks:\n  - note: {}\n    template: {}\n"));
    expect(e.message).toMatch(/several modules: note, template/);
  });

  it("rejects an unknown play key, naming it", () => {
    const e = errorOf(() => load("taks: []\ntasks: []\n"));
    expect(e.message).toMatch(/taks/);
    expect(e.location?.line).toBe(1);
  });

  it("rejects notify of a missing handler", () => {
    const e = errorOf(() => load("tasks:\n  - note: { path: /x, text: y }\n    notify: nope\n"));
    expect(e.message).toContain("notify names 'nope'");
    expect(e.location?.line).toBe(3);
  });

  it("rejects a wrong type with the key path", () => {
    const e = errorOf(() => load("tasks:\n  - note: { path: /x, text: y }\n    tags: notalist\n"));
    expect(e.location).toMatchObject({ line: 3, path: "tasks[0].tags" });
  });

  it("rejects secret_vars naming an undeclared variable", () => {
    const e = errorOf(() => load("vars: { a: 1 }\nsecret_vars: [b]\ntasks: []\n"));
    expect(e.message).toContain("secret_vars names 'b'");
    expect(e.location?.line).toBe(2);
  });
});

describe("playbook loader: variable types", () => {
  const loadReal = (text: string) => parsePlaybook(YamlSource.parse(text, "pb.yml"), resourceKinds);
  const sh = (types: string, field = "cmd", text = "echo {{who}}") =>
    loadReal(
      `vars: { who: world }\n${types}tasks:\n  - name: greet\n    command:\n      ${field}: "${text}"\n`,
    );

  it("refuses a variable without a declared type inside a sh field, naming file:line, variable and fix", () => {
    for (const field of ["cmd", "unless", "onlyif"]) {
      const err = errorOf(() => sh("", field));
      expect(err.message).toMatch(new RegExp(`^pb\\.yml:5:\\d+ \\(at tasks\\[0\\]\\.command\\.${field}\\)`));
      expect(err.message).toContain(
        `variable 'who' is used in sh (command ${field}) but has no declared type`,
      );
      expect(err.fix).toContain("var_types:");
    }
    // inside a block helper too, and in a template's validate
    expect(errorOf(() => sh("", "cmd", "{{#if who}}echo hi{{/if}}")).message).toContain("variable 'who'");
    const tpl = errorOf(() =>
      loadReal(
        "vars: { v: visudo }\ntasks:\n  - template: { src: x.hbs, path: /etc/x, validate: '{{v}} -cf %s' }\n",
      ),
    );
    expect(tpl.message).toContain("variable 'v' is used in sh (template validate)");
  });

  it("refuses a type too wide for sh there (text, secret_token), and takes a narrow one", () => {
    for (const t of ["text", "secret_token", "{ type: text, optional: true }"]) {
      expect(errorOf(() => sh(`var_types: { who: ${t} }\n`)).message).toContain(
        "may hold characters sh acts on",
      );
    }
    expect(errorOf(() => sh("var_types: { who: { enum: [world, -rf] } }\n")).message).toContain("sh acts on");
    expect(errorOf(() => sh('var_types: { who: { enum: [world, "a b"] } }\n')).message).toContain(
      "may hold characters sh acts on",
    );
    for (const t of ["word", "{ enum: [world, moon] }", "abs_path"]) {
      const types = `var_types: { who: ${t} }\n`;
      if (t === "abs_path") {
        expect(() =>
          loadReal(`vars: { who: /w }\n${types}tasks:\n  - command: { cmd: "ls {{who}}" }\n`),
        ).not.toThrow();
      } else expect(() => sh(types)).not.toThrow();
    }
  });

  it("refuses a when: comparison of an untyped variable", () => {
    const err = errorOf(() =>
      loadReal("vars: { src: debian }\ntasks:\n  - command: { cmd: 'true' }\n    when: src == debian\n"),
    );
    expect(err.message).toContain("when compares 'src', which has no declared type");
    expect(err.location?.line).toBe(4);
  });

  it("checks var_types itself: known type names, declared variables, defaults that fit", () => {
    expect(errorOf(() => sh("var_types: { who: usr_name }\n")).message).toMatch(
      /pb\.yml:2:\d+.*unknown variable type 'usr_name'[\s\S]*did you mean 'user_name'/,
    );
    expect(errorOf(() => sh("var_types: { nobody: word }\n")).message).toContain(
      "var_types names 'nobody', which is not under vars:",
    );
    const bad = errorOf(() => sh("var_types: { who: port }\n"));
    expect(bad.message).toMatch(/^pb\.yml:1:\d+ \(at vars\.who\): variable 'who' must be a TCP port/);
  });
});
