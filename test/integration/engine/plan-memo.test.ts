/**
 * A run plans an unchanged task once for all its hosts with the same inputs (issue 14: the controller's
 * CPU per added host), and never takes one host's outcome for another whose inputs differ: over a real
 * sshd, three hosts (three names for it) share a task that reads nothing host-specific, a template whose
 * rendered content comes from a host variable, and a task whose plan reads the login.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { sh } from "../../../src/core/sh.js";
import type { LockclawEvent } from "../../../src/engine/events.js";
import type { ResourceKind } from "../../../src/engine/resource.js";
import { runPlaybook } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-plan-memo-"));
});
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** plan() calls per task name, and whether each saw a login. */
let plans: Array<{ task: string; login: boolean }> = [];

/**
 * Present (and holding `want`, when given) = nothing to do; `login: true` makes plan() read ctx.login
 * (as authorized_key does). The probe reads the file whatever `want` is: only the spec differs then.
 */
const countedKind: ResourceKind<
  { path: string; login: boolean; want?: string },
  { present: boolean; content: string },
  null
> = {
  name: "counted",
  spec: z.strictObject({ path: z.string(), login: z.boolean().default(false), want: z.string().optional() }),
  describe: (s) => `counted ${s.path}`,
  probe: (s) => ({
    script: sh`if [ -e ${s.path} ]; then echo present; cat ${s.path}; else echo absent; fi`,
    parse: (out) => {
      const [head, ...rest] = out.split("\n");
      return { present: head === "present", content: rest.join("\n").trim() };
    },
  }),
  plan(spec, facts, ctx) {
    plans.push({ task: spec.path, login: spec.login && ctx.login !== undefined });
    const ok = facts.present && (spec.want === undefined || facts.content === spec.want);
    return { changes: ok ? [] : [{ summary: `write ${spec.path}` }], plan: null };
  },
  apply: (spec) => sh`printf '%s\n' ${spec.want ?? ""} > ${spec.path}`,
};

async function run(pb: string, greetings: string[], check: boolean) {
  const events: Array<Extract<LockclawEvent, { type: "task-result" }>> = [];
  const r = await runPlaybook({
    playbookFile: pb,
    kinds: { ...resourceKinds, counted: countedKind },
    hosts: greetings.map((g, i) => ({
      target: sshd.target({ name: `h${i + 1}` }),
      vars: [{ name: "greeting", value: g, from: { file: "(test inventory)" } }],
    })),
    overrides: [],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, "state.json")),
    check,
    forks: 1,
    onEvent: (e) => {
      if (e.type === "task-result") events.push(e);
    },
  });
  for (const h of r.hosts) expect(h.failed, JSON.stringify(h)).toBe(0);
  const status = (task: string) =>
    greetings.map((_, i) => events.find((e) => e.host === `h${i + 1}` && e.task === task)?.status);
  return { r, status };
}

describe("a run's plan memo", () => {
  it("plans a shared unchanged task once, and a host whose rendered template differs on its own", async () => {
    const shared = join(work, "shared");
    const conf = join(work, "greeting.conf");
    const templates = join(work, "templates");
    writeFileSync(shared, "");
    // the same file for every host (one sshd): only the content each host's variable renders differs
    mkdirSync(templates, { recursive: true });
    writeFileSync(join(templates, "greeting.conf.hbs"), "greeting={{greeting}}\n");
    writeFileSync(conf, "greeting=hello\n");
    const pb = join(work, "pb.yml");
    writeFileSync(
      pb,
      [
        "vars:",
        "  greeting: hello",
        "tasks:",
        "  - name: shared",
        `    counted: { path: ${shared} }`,
        "  - name: login",
        `    counted: { path: ${shared}.login, login: true }`,
        "  - name: wanted",
        `    counted: { path: ${shared}.want, want: "{{greeting}}" }`,
        "  - name: greeting",
        `    template: { src: greeting.conf.hbs, path: ${conf}, mode: "0644" }`,
        "",
      ].join("\n"),
    );
    writeFileSync(`${shared}.login`, "");
    writeFileSync(`${shared}.want`, "hello\n");

    // --check: h1 and h3 render what the file holds, h2 another greeting; the probe reads the same file
    plans = [];
    const { status } = await run(pb, ["hello", "bonjour", "hello"], true);
    expect(status("greeting")).toEqual(["ok", "changed", "ok"]);
    // the same probe output on each host, a spec that differs with the host's variable
    expect(status("wanted")).toEqual(["ok", "changed", "ok"]);
    expect(status("shared")).toEqual(["ok", "ok", "ok"]);
    // the task that reads nothing host-specific: planned for the first host only
    expect(plans.filter((p) => p.task === shared)).toHaveLength(1);
    // the one whose plan read the login: remembered with that login, which is the same for all three here
    expect(plans.filter((p) => p.task === `${shared}.login`)).toEqual([
      { task: `${shared}.login`, login: true },
    ]);

    // an apply: each host gets its own content (the last one applied wins the shared file)
    const applied = await run(pb, ["hello", "bonjour"], false);
    expect(applied.status("greeting")).toEqual(["ok", "changed"]);
    expect(readFileSync(conf, "utf8")).toBe("greeting=bonjour\n");
  });
});
