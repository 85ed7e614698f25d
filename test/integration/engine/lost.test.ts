/**
 * A connection really cut mid-apply (the sshd serving it killed): the host's error says which tasks
 * had landed, which step was running, and what the rollback armed on the host will do by itself.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { ROLLBACK_ROOT } from "../../../src/engine/guard.js";
import type { ResourceKind } from "../../../src/engine/resource.js";
import { runPlaybook, type RunOptions } from "../../../src/engine/run.js";
import { raw, sh } from "../../../src/core/sh.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;
const rollbacksBefore = new Set<string>();

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-lost-"));
  for (const f of existsSync(ROLLBACK_ROOT) ? readdirSync(ROLLBACK_ROOT) : []) rollbacksBefore.add(f);
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
  // the guarded test's rollback state, on this (the loopback) host
  for (const f of existsSync(ROLLBACK_ROOT) ? readdirSync(ROLLBACK_ROOT) : []) {
    if (!rollbacksBefore.has(f)) rmSync(join(ROLLBACK_ROOT, f), { recursive: true, force: true });
  }
});

/** A guarded step for the test: its restore leaves a marker, so the rollback's work can be seen. */
const guardedStep: ResourceKind<{ cmd: string; restored: string }, string> = {
  name: "guarded_step",
  spec: z.strictObject({ cmd: z.string(), restored: z.string() }),
  describe: () => "guarded step",
  probe: () => ({ script: raw("echo probed"), parse: (s) => s.trim() }),
  plan: () => ({ changes: [{ summary: "run it" }], plan: undefined }),
  apply: (s) => raw(s.cmd),
  guard: (s) => ({ save: raw(":"), restore: sh`touch ${s.restored}` }),
  verifiable: false,
};

function options(
  playbook: string,
  extra: Partial<RunOptions> = {},
): RunOptions & { events: LockclawEvent[] } {
  const events: LockclawEvent[] = [];
  return {
    playbookFile: playbook,
    kinds: { ...resourceKinds, guarded_step: guardedStep },
    hosts: [{ target: sshd.target({ name: "cut" }), vars: [] }],
    overrides: [],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, `state-${Math.random()}.json`)),
    onEvent: (e) => events.push(e),
    events,
    ...extra,
  };
}

const uniqueSeconds = (whole: number) =>
  `${whole}.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;

async function dropWhen(pattern: RegExp, how: { sessionsOnly?: boolean } = {}): Promise<void> {
  for (let i = 0; i < 800; i++) {
    if (pattern.test(spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout)) {
      await sshd.dropConnections(how);
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no process matching ${pattern} appeared`);
}

describe("a connection lost mid-apply", () => {
  it("names the tasks applied and the one running", async () => {
    const root = join(work, "plain");
    const secs = uniqueSeconds(20);
    const pb = join(work, "plain.yml");
    writeFileSync(
      pb,
      `- name: first
  tasks:
    - name: make root
      directory: { path: ${root} }
    - name: mark first
      command: { cmd: "touch ${root}/first" }
- name: second
  tasks:
    - name: slow step
      command: { cmd: "sleep ${secs}; touch ${root}/done" }
`,
    );
    const o = options(pb);
    const dropping = dropWhen(new RegExp(`^sleep ${secs}$`, "m"));
    const r = await runPlaybook(o);
    await dropping;
    const host = r.hosts[0]!;
    expect(host.failed).toBeGreaterThanOrEqual(1);
    expect(host.unreachable).toBe(false);
    expect(host.error).toContain(`connection to root@127.0.0.1:${sshd.port} lost`);
    expect(host.error).toContain("applied before the loss: make root, mark first");
    expect(host.error).toMatch(/running when it was lost: apply 1 changes[^(]*\(slow step\)/);
    expect(host.error).toMatch(/unknown, a re-run probes and completes it/);
    expect(host.error).toContain("armed rollback: none");
    expect(existsSync(join(root, "first"))).toBe(true);
    expect(existsSync(join(root, "done"))).toBe(false);
  });

  it("during a guarded change: says what the armed rollback will do, and the host does it by itself", async () => {
    const root = join(work, "guarded");
    const secs = uniqueSeconds(12);
    const restored = join(root, "restored");
    const pb = join(work, "guarded.yml");
    writeFileSync(
      pb,
      `tasks:
  - name: make root
    directory: { path: ${root} }
    notify: after root
  - name: risky change
    guarded_step: { cmd: "sleep ${secs}", restored: ${restored} }
handlers:
  - name: after root
    command: { cmd: "touch ${root}/handler" }
`,
    );
    const o = options(pb, { rollbackAfterSeconds: 3 });
    // a cut network: sshd is gone, what it ran on the host (the armed rollback) lives on
    const dropping = dropWhen(new RegExp(`^sleep ${secs}$`, "m"), { sessionsOnly: true });
    const r = await runPlaybook(o);
    await dropping;
    const error = r.hosts[0]!.error ?? "";
    expect(error).toContain("lost");
    expect(error).toContain("applied before the loss: make root");
    // not the handler lockclaw then tried to run for "make root" (that exec failed at once)
    expect(error).toContain("running when it was lost: guarded apply (risky change)");
    expect(error).toMatch(
      /armed rollback: that step arms lockclaw-rollback-\S+ first; if it did, the host restores the state from before risky change 3 s after arming, by itself/,
    );
    // and so it does
    for (let i = 0; i < 100 && !existsSync(restored); i++) await new Promise((res) => setTimeout(res, 100));
    expect(existsSync(restored)).toBe(true);
    // the guarded step's own command outlived the cut too: stop it, by its PID
    const ps = spawnSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" }).stdout;
    for (const line of ps.split("\n")) {
      const m = /^\s*(\d+) (.*)$/.exec(line);
      if (m && m[2] === `sleep ${secs}`) process.kill(Number(m[1]), "SIGKILL");
    }
  }, 60_000);
});
