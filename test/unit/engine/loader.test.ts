import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/engine/errors.js";
import { parsePlaybook } from "../../../src/engine/playbook/loader.js";
import { YamlSource } from "../../../src/engine/yaml-source.js";
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
