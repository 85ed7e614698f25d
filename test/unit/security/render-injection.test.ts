/**
 * Issue 10's exploits, as written there, through the real pipeline (load → prepare → render) and the
 * real readers (sh, JSON.parse, the yaml package, PyYAML when python3 has it). Each one changed the
 * structure of what it landed in before values were written for their place by construction.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { builtinVars } from "../../../src/cli/builtins.js";
import { loadPlaybook } from "../../../src/engine/playbook/loader.js";
import { preparePlaybook, type PreparedTask } from "../../../src/engine/prepare.js";
import { Redactor } from "../../../src/engine/redact.js";
import { parseVarArg } from "../../../src/engine/vars.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { hasPyYaml, pyYaml } from "./pyyaml.js";

const ROOT = join(__dirname, "..", "..", "..");
const STACK = join(ROOT, "playbooks", "stack.yml");
const DOCKER = join(ROOT, "playbooks", "docker.yml");

/**
 * The rendering layer ALONE: the declared variable types (var_types:) would refuse every hostile value
 * below before rendering, so they are dropped after loading, to show that what is written is safe by
 * construction even for a value that got past them (a user's playbook typed too loosely, say).
 */
function tasksOf(file: string, vars: string[], dropKinds: string[] = []): PreparedTask[] {
  const pb = loadPlaybook(file, resourceKinds);
  for (const play of pb.plays) {
    play.varTypes = {};
    play.tasks = play.tasks.filter((t) => !dropKinds.includes(t.kind));
    play.handlers = play.handlers.filter((t) => !dropKinds.includes(t.kind));
  }
  const plays = preparePlaybook(pb, resourceKinds, {
    overrides: vars.map(parseVarArg),
    builtins: builtinVars(),
    redactor: new Redactor(),
  });
  return plays[0]!.tasks;
}
const task = (tasks: PreparedTask[], name: string) => {
  const t = tasks.find((x) => x.name === name);
  if (!t) throw new Error(`no task ${name}`);
  return t;
};
const content = (tasks: PreparedTask[], name: string) =>
  (task(tasks, name).spec as { content: string }).content;

/** Run sh text the way the host's probe does (sh -c), in a scratch directory. */
function runSh(code: string, cwd: string) {
  return spawnSync("sh", ["-c", code], { cwd, encoding: "utf8" });
}

describe("case 1: a --var value in a command's sh is one word, not code", () => {
  it("docker_source from the issue: the guard compares it, nothing of it runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-inj-"));
    const proof = join(dir, "p");
    const value = `debian' in x) ;; esac; id > ${proof}; case 'debian`;
    const t = task(tasksOf(DOCKER, [`docker_source=${value}`]), "Refuse unknown Docker sources");
    const spec = t.spec as { cmd: string; unless: string };
    const guard = runSh(spec.unless, dir);
    expect(existsSync(proof)).toBe(false);
    expect(guard.status).not.toBe(0); // not debian/docker: the refusal runs
    const run = runSh(spec.cmd, dir);
    expect(existsSync(proof)).toBe(false);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`docker_source must be debian or docker, got: ${value}\n`);
  });

  it("egress_proxy and image_smokescreen in stack.yml's guards", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-inj-"));
    const proof = join(dir, "p");
    // (compose_stack's own schema refuses these values as image references too: dropped here, so the
    // guards alone are what is shown to hold)
    const tasks = tasksOf(
      STACK,
      [
        `egress_proxy=squid' in x) ;; esac; id > ${proof}; case 'squid`,
        `image_smokescreen=x' ] || id > ${proof}; [ 'x`,
      ],
      ["compose_stack"],
    );
    for (const name of ["Refuse unknown egress proxies", "Refuse Smokescreen without an image"]) {
      const spec = task(tasks, name).spec as { cmd: string; unless: string };
      runSh(spec.unless, dir);
      runSh(spec.cmd, dir);
      expect(existsSync(proof), name).toBe(false);
    }
    // and the values still decide as words: smokescreen with an image given passes the second guard
    const ok = tasksOf(
      STACK,
      ["egress_proxy=smokescreen", "image_smokescreen=reg/smoke:1 x"],
      ["compose_stack"],
    );
    expect(
      runSh((task(ok, "Refuse Smokescreen without an image").spec as { unless: string }).unless, dir).status,
    ).toBe(0);
  });
});

describe("case 3: values in the stack's config files keep the file's structure", () => {
  it("sandbox_memory cannot add keys to openclaw.json (no host network, no elevated tools)", () => {
    const value = `1g", "network": "host`;
    const json = JSON.parse(
      content(tasksOf(STACK, [`sandbox_memory=${value}`]), "OpenClaw configuration (sandbox, tool denials)"),
    );
    expect(json.agents.defaults.sandbox.docker.network).toBe("none");
    expect(json.agents.defaults.sandbox.docker.memory).toBe(value);
    expect(json.tools.elevated.enabled).toBe(false);
    const evil = `1g" }, "network": "host" } } }, "tools": { "elevated": { "enabled": true } }, "x": { "y": { "z": { "w": "`;
    const j2 = JSON.parse(
      content(tasksOf(STACK, [`sandbox_memory=${evil}`]), "OpenClaw configuration (sandbox, tool denials)"),
    );
    expect(j2.tools.elevated.enabled).toBe(false);
    expect(j2.agents.defaults.sandbox.docker.memory).toBe(evil);
  });

  it("U+2028 in a LiteLLM model name adds no key to its YAML (PyYAML reads U+2028 as a line break)", () => {
    const name = `claude"\u2028      api_base: "http://evil.example`;
    const models = JSON.stringify([
      { name, model: "anthropic/claude-sonnet-4-5", key_env: "ANTHROPIC_API_KEY" },
    ]);
    const text = content(tasksOf(STACK, [`litellm_models=${models}`]), "LiteLLM routes");
    // PyYAML first: it is LiteLLM's reader, and the one that took U+2028 for a line break
    const readers: Array<[string, (t: string) => unknown]> = hasPyYaml ? [["PyYAML", pyYaml]] : [];
    readers.push(["yaml", (t) => parse(t)]);
    for (const [reader, read] of readers) {
      const doc = read(text) as { model_list: Array<Record<string, unknown>> };
      expect(Object.keys(doc.model_list[0]!), reader).toEqual(["model_name", "litellm_params"]);
      expect(doc.model_list[0]!.model_name, reader).toBe(name);
      expect(Object.keys(doc.model_list[0]!.litellm_params as object), reader).toEqual(["model", "api_key"]);
    }
  });

  it("a provider key with ' in it stays a value of provider_keys.env as LiteLLM's sh reads it", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-inj-"));
    const proof = join(dir, "pwned");
    const key = `sk-ant-x'; touch ${proof}; echo '`;
    const text = content(
      tasksOf(STACK, [`anthropic_api_key=${key}`]),
      "Provider API keys (given by the user)",
    );
    const file = join(dir, "provider_keys.env");
    writeFileSync(file, text);
    // exactly what compose.yml's litellm entrypoint does
    const r = spawnSync(
      "sh",
      ["-c", `set -a; . "$1"; set +a; printf '%s' "$ANTHROPIC_API_KEY"`, "sh", file],
      {
        encoding: "utf8",
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(proof)).toBe(false);
    expect(r.stdout).toBe(key);
  });
});

describe("sh fields of a playbook are checked when it is prepared, before anything connects", () => {
  const pb = (cmd: string) => {
    const dir = mkdtempSync(join(tmpdir(), "lc-shf-"));
    const file = join(dir, "pb.yml");
    writeFileSync(
      file,
      `name: t\nvars: { x: ab }\nvar_types: { x: user_name }\ntasks:\n  - name: one\n    command:\n      cmd: ${cmd}\n`,
    );
    return file;
  };
  it("refuses hand quoting, naming the file, the line and the field", () => {
    const file = pb(`"echo '{{x}}'"`);
    expect(() => tasksOf(file, [])).toThrow(
      /pb\.yml:7:12 \(at tasks\[0\]\.command\.cmd \(line 1\)\): \{\{…\}\} inside '…'/,
    );
  });
  it("refuses block helpers in sh", () => {
    expect(() => tasksOf(pb(`"{{#if x}}rm -rf /{{/if}}"`), [])).toThrow(/cannot appear in sh/);
  });
  it("writes a value as one word", () => {
    const spec = tasksOf(pb(`"printf %s {{x}}"`), ["x=$(id)'"])[0]!.spec as { cmd: string };
    expect(spec.cmd).toBe(`printf %s '$(id)'\\'''`);
  });
});
