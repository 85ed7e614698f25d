/**
 * Module docs come from the schemas: every option of every module is described, every example is a task
 * its module's schema accepts, `lockclaw doc ufw` shows types, defaults and the example, and the
 * checked-in docs/modules.md is what `npm run docs` writes now.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { formatModuleDoc, formatModuleList, moduleDoc, modulesMarkdown } from "../../../src/resources/doc.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { packageRoot } from "../../../src/engine/paths.js";

const docs = Object.values(resourceKinds).map(moduleDoc);

describe("module docs from the schemas", () => {
  it("every module has a description, an example and a description for each option", () => {
    for (const d of docs) {
      expect(d.summary, d.name).not.toBe("");
      expect(d.example, d.name).not.toBe("");
      expect(d.options.filter((o) => !o.description).map((o) => `${d.name}.${o.name}`)).toEqual([]);
    }
  });

  it("every example is a task its module's schema accepts", () => {
    for (const d of docs) {
      const [task] = parse(d.example) as Array<Record<string, unknown>>;
      const args = task![d.name];
      // a {{variable}} is rendered before the schema sees it: a typical value stands in
      const rendered = JSON.parse(
        JSON.stringify(args)
          .replace(/"\{\{ssh_port\}\}"/g, "2222")
          .replace(/"\{\{(admin_cidrs|cloudflare_ranges\.ipv[46])\}\}"/g, '"192.0.2.0/24"')
          .replace(/\{\{deploy_user\}\}/g, "deploy")
          .replace(/"\{\{authorized_keys\}\}"/g, JSON.stringify(KEY)),
      ) as unknown;
      const r = resourceKinds[d.name]!.spec.safeParse(rendered);
      expect(r.success, `${d.name}: ${JSON.stringify(r.error?.issues)}`).toBe(true);
    }
  });

  it("lockclaw doc ufw: options with types and defaults, nested ones by path, and the example", () => {
    const text = formatModuleDoc(docs.find((d) => d.name === "ufw")!);
    expect(text).toMatch(/^ufw: The host firewall/);
    expect(text).toContain(
      "  mode (exact | ensure, default exact)\n      exact: the rule set becomes exactly",
    );
    expect(text).toContain("  rules[].port (number, required)\n      The port to allow.");
    expect(text).toContain("  logging (off | low | medium | high | full, optional)");
    expect(text).toContain("EXAMPLE\n  - name: Example ufw task\n    ufw:\n      mode: exact");
    // what lockclaw fills in itself is no option
    const copy = formatModuleDoc(docs.find((d) => d.name === "copy")!);
    expect(copy).not.toContain("entries");
    expect(formatModuleList(docs)).toMatch(/^sysctl +Kernel parameters, written to a sysctl\.d file/m);
  });

  it("docs/modules.md is up to date (run `npm run docs` after changing a schema)", () => {
    const file = readFileSync(join(packageRoot(), "docs", "modules.md"), "utf8");
    expect(file).toBe(modulesMarkdown(docs));
  });
});

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB op@laptop";
