import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { prepareRun } from "../../../src/engine/run.js";
import { TemplateFiles } from "../../../src/engine/templates.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { testTarget } from "./target.fixture.js";

function playbook(): string {
  const dir = mkdtempSync(join(tmpdir(), "lc-tplfiles-"));
  mkdirSync(join(dir, "templates"));
  writeFileSync(join(dir, "templates", "greeting.conf.hbs"), "greeting={{greeting}}\n");
  const pb = join(dir, "pb.yml");
  writeFileSync(
    pb,
    [
      "vars: { greeting: hello }",
      "tasks:",
      "  - name: greeting",
      '    template: { src: greeting.conf.hbs, path: /etc/greeting.conf, mode: "0644" }',
      "",
    ].join("\n"),
  );
  return pb;
}

describe("template files of a run", () => {
  it("are read once per run: a later change on disk is seen by the next run", () => {
    const pb = playbook();
    const file = join(pb, "..", "templates", "greeting.conf.hbs");
    const run = new TemplateFiles();
    expect(run.get("greeting.conf.hbs", pb)?.source).toBe("greeting={{greeting}}\n");
    writeFileSync(file, "hi={{greeting}}\n");
    expect(run.get("greeting.conf.hbs", pb)?.source).toBe("greeting={{greeting}}\n");
    expect(new TemplateFiles().get("greeting.conf.hbs", pb)?.source).toBe("hi={{greeting}}\n");
    expect(run.get("missing.hbs", pb)).toBeUndefined();
  });

  it("are rendered for each host with its own variables", () => {
    const pb = playbook();
    const host = (name: string, greeting: string) => ({
      target: testTarget(name),
      vars: [{ name: "greeting", value: greeting, from: { file: "(inventory)" } }],
    });
    const { perHost } = prepareRun({
      playbookFile: pb,
      kinds: resourceKinds,
      hosts: [host("a", "hello"), host("b", "bonjour"), host("c", "hello")],
      overrides: [],
      builtins: {},
      connector: () => Promise.reject(new Error("prepareRun must not connect")),
      onEvent: () => undefined,
    });
    const content = perHost.map((h) => (h.plays[0]!.tasks[0]!.spec as { content: string }).content);
    expect(content).toEqual(["greeting=hello\n", "greeting=bonjour\n", "greeting=hello\n"]);
  });
});
