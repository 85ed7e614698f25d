/**
 * Values that pass (or dodge) their declared type and still meant something where they landed: each
 * found by attacking the pipeline as a hostile --var, vars file or inventory would, and each run
 * through the real sh (`sh -c` in a scratch directory) or the kind's own schema.
 */
import { raw } from "../../../src/core/sh.js";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { builtinVars } from "../../../src/cli/builtins.js";
import { loadPlaybook } from "../../../src/engine/playbook/loader.js";
import { preparePlaybook } from "../../../src/engine/prepare.js";
import { Redactor } from "../../../src/engine/redact.js";
import { parseVarArg } from "../../../src/engine/vars.js";
import { renderTemplateSource } from "../../../src/engine/templates.js";
import { namedType } from "../../../src/engine/var-types.js";
import { resolveVagrantTarget } from "../../../src/lab/vagrant.js";
import { composeStackKind } from "../../../src/resources/compose_stack.js";
import { pinEntries, resolvePinsSh } from "../../../src/resources/compose_stack/pins.js";
import { resourceKinds } from "../../../src/resources/index.js";

const scratch = () => mkdtempSync(join(tmpdir(), "lc-hostile-"));
const runSh = (code: string, cwd: string) => spawnSync("sh", ["-c", code], { cwd, encoding: "utf8" });

describe("compose_stack images: a reference reaches sh only as one quoted word", () => {
  it("an image reference with $(…) does not run when its pin is resolved", () => {
    const dir = scratch();
    const proof = join(dir, "proof");
    const ref = `redis:7"$(touch ${proof})"`;
    const entries = pinEntries({ REDIS: ref });
    // a docker stand-in that has every image and prints a digest for it
    const dk = `lc_dk() { case "$1 $2" in "image inspect") echo "redis@sha256:${"a".repeat(64)}";; esac; }`;
    const script = [
      dk,
      `lc_unpinned=" REDIS "`,
      ...resolvePinsSh(dir, String(process.getuid?.() ?? 0), entries, () =>
        raw(`{ echo fail >&2; exit 1; }`),
      ),
    ].join("\n");
    const r = runSh(script, dir);
    expect(existsSync(proof)).toBe(false);
    // the script did get to the message, which names the reference as it is
    expect(r.stderr).toContain(`pinned ${ref} -> redis@sha256:`);
  });

  it("the kind refuses an images value that is not an image reference (an untyped variable's value)", () => {
    for (const bad of [`redis:7$(id)`, "-q/x", "--all-tags/x", "redis 7", "a\tb", ""]) {
      const r = composeStackKind.spec.safeParse({ dir: "/x", project: "p", images: { R: bad } });
      if (bad === "") expect(r.success).toBe(true);
      else expect(r.success, bad).toBe(false);
    }
    const ok = composeStackKind.spec.safeParse({
      dir: "/x",
      project: "p",
      images: { R: "ghcr.io/openclaw/openclaw:2026.9.6", S: `gw@sha256:${"a".repeat(64)}` },
    });
    expect(ok.success).toBe(true);
  });

  it("image_ref refuses a reference docker would read as an option (a leading -)", () => {
    const t = namedType("image_ref")!;
    expect("why" in t.accept("-q/x", { allowWorld: false })).toBe(true);
    expect("why" in t.accept("--all-tags/redis", { allowWorld: false })).toBe(true);
    expect("value" in t.accept("localhost:5000/redis:7", { allowWorld: false })).toBe(true);
  });
});

/** A user's own playbook in a scratch directory (its templates/ beside it), loaded and prepared. */
function prepareOwn(playbook: string, files: Record<string, string>, vars: string[]) {
  const dir = scratch();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const file = join(dir, "play", "site.yml");
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, playbook);
  const pb = loadPlaybook(file, resourceKinds);
  return () =>
    preparePlaybook(pb, resourceKinds, {
      overrides: vars.map(parseVarArg),
      builtins: builtinVars(),
      redactor: new Redactor(),
    });
}

describe("template src from a variable", () => {
  it("a src climbing out of templates/ is refused before the file is read", () => {
    const run = prepareOwn(
      [
        "name: own",
        "vars: { tpl: motd.conf.hbs }",
        "tasks:",
        "  - name: motd",
        '    template: { src: "{{tpl}}", path: /etc/motd }',
        "",
      ].join("\n"),
      // outside the playbook's templates/: what a hostile value points at (here: text with a {{…}})
      { "play/templates/motd.conf.hbs": "hello\n", "private/notes.txt": "token {{leaked_word}}\n" },
      ["tpl=../../private/notes.txt"],
    );
    let err: Error | undefined;
    try {
      run();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(/src must be a template name/);
    expect(err?.message).not.toContain("leaked_word");
  });
});

describe("inventory addresses", () => {
  it("vagrant:NAME with a name vagrant would read as an option is refused before vagrant runs", async () => {
    const dir = scratch();
    const argv = join(dir, "argv");
    const fake = join(dir, "vagrant");
    writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${argv}\nexit 1\n`, { mode: 0o755 });
    for (const name of ["--help", "-h", "a b", "x\ny"]) {
      await expect(resolveVagrantTarget(name, { vagrant: fake }), name).rejects.toThrow(
        /not a Vagrant machine name/,
      );
    }
    expect(existsSync(argv)).toBe(false);
    // a real name still reaches vagrant
    await expect(resolveVagrantTarget("default", { vagrant: fake })).rejects.toThrow(
      /ssh-config default failed/,
    );
    expect(readFileSync(argv, "utf8")).toBe("ssh-config\ndefault\n");
  });
});

describe("a secret written escaped into a config file is still masked", () => {
  const files = {
    "play/templates/app.json.hbs": '{"key": {{api_key}}, "note": "k={{api_key}}"}\n',
    "play/templates/compose.yml.hbs": "services:\n  a:\n    environment:\n      KEY: {{api_key}}\n",
    "play/templates/app.yaml.hbs": 'key: {{api_key}}\nnote: "k={{api_key}}"\n',
    "play/templates/keys.env.hbs": "KEY={{api_key}}\n",
  };
  const playbook = [
    "name: own",
    'vars: { api_key: "" }',
    "var_types: { api_key: secret_token }",
    "tasks:",
    ...Object.keys(files).map((f, i) =>
      [
        `  - name: t${i}`,
        `    template: { src: ${f.replace("play/templates/", "")}, path: /etc/t${i} }`,
      ].join("\n"),
    ),
    "",
  ].join("\n");
  for (const secret of ["sk-é-TAIL-ONE-é", "sk-pa$$-TAIL-TWO", "sk-it's-TAIL-3", "sk-😀-TAIL-FOUR"]) {
    it(`${secret}: every rendered form is masked`, () => {
      const redactor = new Redactor();
      const dir = scratch();
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      const file = join(dir, "play", "site.yml");
      writeFileSync(file, playbook);
      const plays = preparePlaybook(loadPlaybook(file, resourceKinds), resourceKinds, {
        overrides: [parseVarArg(`api_key=${secret}`)],
        builtins: builtinVars(),
        redactor,
      });
      for (const t of plays[0]!.tasks) {
        const text = redactor.text((t.spec as { content: string }).content);
        expect(text, t.name).not.toMatch(/TAIL/);
      }
    });
  }
});

describe("a {{…}} inside YAML text it cannot be written into", () => {
  const render = (template: string, value: string) =>
    renderTemplateSource(template, "yaml", { n: value }, { file: "t.yaml" });
  it("inside '…': a ' in the value would end the string and add a key", () => {
    expect(() => render("a: {note: 'hello {{n}} there', b: 1}\n", "x', evil: 'y")).toThrow(
      /stands in or next to a '…'/,
    );
  });
  it("inside a plain scalar: its quotes are characters there, and a , or : in the value is structure", () => {
    expect(() => render("a: {note: hello {{n}}, b: 1}\n", 'x", evil: "y')).toThrow(/stands in or next to/);
    expect(() => render("a: it's {{n}}\n", "x")).toThrow(/stands in or next to/);
  });
  it('an apostrophe inside "…" or a comment is no quote, and a value where one starts is whole', () => {
    const ok = render(
      "b: \"it's {{n}}\"\n# it's {{n}}\nc: {{n}}\nd: [{{n}}, {{n}}]\ne:\n  - {{n}}\n",
      "x', evil: 'y",
    );
    const v = "x', evil: 'y";
    expect(parseYaml(ok)).toEqual({ b: `it's ${v}`, c: v, d: [v, v], e: [v] });
  });
});
