import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtinVars } from "../../../src/cli/builtins.js";
import { RenderMemo } from "../../../src/engine/render-memo.js";
import { parsePlaybook } from "../../../src/engine/playbook/loader.js";
import { preparePlaybook } from "../../../src/engine/prepare.js";
import { Redactor } from "../../../src/engine/redact.js";
import { prepareRun, type HostEntry } from "../../../src/engine/run.js";
import { TemplateFiles } from "../../../src/engine/templates.js";
import { parseVarArg, type VarOverride } from "../../../src/engine/vars.js";
import { YamlSource } from "../../../src/engine/yaml-source.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { kinds } from "./kinds.fixture.js";
import { testTarget } from "./target.fixture.js";

describe("RenderMemo (a run's hosts share the tasks that read the same values)", () => {
  it("renders again only when a name it read has another value, or is missing", () => {
    const memo = new RenderMemo();
    const task = {};
    let renders = 0;
    const render = (v: Record<string, unknown>) => (renders++, `${String(v.a)}:${"b" in v}`);
    const first = memo.render(task, { a: 1, c: "x" }, render);
    expect(memo.render(task, { a: 1, c: "y" }, render)).toBe(first); // c was not read
    expect(renders).toBe(1);
    expect(memo.render(task, { a: 2, c: "x" }, render)).toBe("2:false");
    expect(memo.render(task, { a: 1, b: 0 }, render)).toBe("1:true"); // b was tested, and is there now
    expect(memo.render(task, { a: [1] }, render)).toBe("1:false"); // a list is not its string form
    expect(renders).toBe(4);
    // another task is its own
    expect(memo.render({}, { a: 1 }, render)).toBe("1:false");
    expect(renders).toBe(5);
  });

  it("keeps nothing when the render lists the variables, or a value is not plain data", () => {
    const memo = new RenderMemo();
    const task = {};
    let renders = 0;
    const listing = (v: Record<string, unknown>) => (renders++, Object.keys(v).join(","));
    memo.render(task, { a: 1 }, listing);
    expect(memo.render(task, { a: 1, z: 2 }, listing)).toBe("a,z");
    const other = {};
    const reading = (v: Record<string, unknown>) => (renders++, String(v.m instanceof Map));
    memo.render(other, { m: new Map() }, reading);
    memo.render(other, { m: new Map() }, reading);
    expect(renders).toBe(4);
  });

  it("a task rendered anew for many hosts is no longer kept, nor watched", () => {
    const memo = new RenderMemo();
    const task = {};
    const views: Array<Record<string, unknown>> = [];
    const render = (v: Record<string, unknown>) => (views.push(v), String(v.a));
    const inputs = Array.from({ length: 12 }, (_, i) => ({ a: i }));
    for (const [i, vars] of inputs.entries()) expect(memo.render(task, vars, render)).toBe(String(i));
    // the first 8 through a watching view, the later ones with the variables themselves
    expect(views.map((v, i) => v === inputs[i])).toEqual(inputs.map((_, i) => i >= 8));
    // nor looked up: a host alike to the first is rendered again
    memo.render(task, { a: 0 }, render);
    expect(views.length).toBe(13);
  });

  it("a failure is raised for each host, never kept", () => {
    const memo = new RenderMemo();
    const task = {};
    let renders = 0;
    const failing = (v: Record<string, unknown>) => {
      renders++;
      throw new Error(`bad ${String(v.a)}`);
    };
    expect(() => memo.render(task, { a: 1 }, failing)).toThrow("bad 1");
    expect(() => memo.render(task, { a: 1 }, failing)).toThrow("bad 1");
    expect(renders).toBe(2);
  });

  it("through preparePlaybook: a branch's value is read only where the branch is taken", () => {
    const pb = parsePlaybook(
      YamlSource.parse(
        `
vars: { on: true, a: x, b: y }
tasks:
  - name: branch
    note: { path: /n, text: "{{#if on}}{{a}}{{else}}{{b}}{{/if}}" }
`,
        "pb.yml",
      ),
      kinds,
    );
    const memo = new RenderMemo();
    const templates = new TemplateFiles();
    const specOf = (vars: string[], renders?: RenderMemo) =>
      preparePlaybook(pb, kinds, {
        overrides: vars.map(parseVarArg),
        builtins: { login_user: "root" },
        redactor: new Redactor(),
        templates,
        ...(renders ? { renders } : {}),
      })[0]!.tasks[0]!.spec;
    const first = specOf(["b=1"], memo);
    // b is not read while `on` holds: shared
    expect(specOf(["b=2"], memo)).toBe(first);
    for (const vars of [["on=false", "b=1"], ["on=false", "b=2"], ["a=z"], ["on=false"]]) {
      expect(specOf(vars, memo)).toEqual(specOf(vars));
    }
  });

  it("the host playbook prepared for a fleet is what each host gets alone", () => {
    const playbook = join(import.meta.dirname, "../../../playbooks/host.yml");
    const host = (name: string, vars: Array<[string, unknown]>): HostEntry => ({
      target: testTarget(name),
      vars: vars.map(([n, value]): VarOverride => ({ name: n, value, from: { file: "(test)" } })),
    });
    const key = (n: number) => {
      const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
      const blob = Buffer.concat([str(Buffer.from("ssh-ed25519")), str(Buffer.alloc(32, n))]);
      return `ssh-ed25519 ${blob.toString("base64")} k${n}`;
    };
    const fleet = [
      host("a", [["authorized_keys", [key(1)]]]),
      host("b", [["authorized_keys", [key(2)]]]),
      host("c", [
        ["authorized_keys", [key(1)]],
        ["ssh_port", 2200],
        ["auditd", false],
      ]),
      host("d", [["authorized_keys", [key(1)]]]),
    ];
    const run = (hosts: HostEntry[]) =>
      prepareRun({
        playbookFile: playbook,
        kinds: resourceKinds,
        hosts,
        overrides: [],
        builtins: builtinVars(),
        connector: () => Promise.reject(new Error("not connecting")),
        onEvent: () => undefined,
      }).perHost.map((h) => h.plays.map((p) => [...p.tasks, ...p.handlers.values()]));
    const together = run(fleet);
    for (const [i, h] of fleet.entries()) {
      const [alone] = run([h]);
      expect(together[i]!.map((ts) => ts.map((t) => [t.id, t.spec, t.skippedByWhen]))).toEqual(
        alone!.map((ts) => ts.map((t) => [t.id, t.spec, t.skippedByWhen])),
      );
    }
    // hosts a and d read alike: the same spec objects, not copies
    expect(together[3]!.flat().map((t) => t.spec)).toEqual(together[0]!.flat().map((t) => t.spec));
    together[3]!.flat().forEach((t, i) => expect(t.spec).toBe(together[0]!.flat()[i]!.spec));
  });
});
