/**
 * Several plays of one run (as `provision host` runs host.yml, docker.yml, stack.yml) against a REAL sshd:
 * a no-op of all of them is ONE probe exec; a play that changes something makes the later plays probe
 * again, after its change, rather than trust what they read before it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { runPlaybook, type RunOptions } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { parseVarArg } from "../../../src/engine/vars.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;
const files: string[] = [];

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-plays-"));
  const play = (name: string, tasks: string[]) =>
    [`name: ${name}`, "vars: { root: /tmp/x }", "var_types: { root: abs_path }", "tasks:", ...tasks, ""].join(
      "\n",
    );
  const write = (n: string, text: string) => {
    writeFileSync(join(work, n), text);
    files.push(join(work, n));
  };
  write("one.yml", play("one", ["  - name: dir", '    directory: { path: "{{root}}", mode: "0755" }']));
  // the second play writes what the third one also declares: after a change by the second, the third
  // must see the file as it is now (ok), not as the first probe saw it (absent: changed)
  write(
    "two.yml",
    play("two", [
      "  - name: shared file",
      '    file: { path: "{{root}}/shared", content: "same\\n", mode: "0644" }',
    ]),
  );
  write(
    "three.yml",
    play("three", [
      "  - name: shared file again",
      '    file: { path: "{{root}}/shared", content: "same\\n", mode: "0644" }',
      "  - name: other",
      '    file: { path: "{{root}}/other", content: "x\\n", mode: "0600" }',
    ]),
  );
});
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function options(root: string, extra: Partial<RunOptions> = {}): RunOptions & { events: LockclawEvent[] } {
  const events: LockclawEvent[] = [];
  return {
    playbookFile: files,
    kinds: resourceKinds,
    hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
    overrides: [parseVarArg(`root=${root}`)],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, "state.json")),
    onEvent: (e) => events.push(e),
    events,
    ...extra,
  };
}

const statusOf = (events: LockclawEvent[], task: string) =>
  events.find((e) => e.type === "task-result" && e.task === task) as { status: string } | undefined;

describe("several plays, one probe exec", () => {
  it("re-probes the later plays after a change; a no-op of three plays is one exec; --check too", async () => {
    const root = join(work, "r");
    const first = options(root);
    const r1 = await runPlaybook(first);
    expect(r1.exitCode, JSON.stringify(r1.hosts)).toBe(0);
    // the third play saw the file the second one wrote
    expect(statusOf(first.events, "shared file")?.status).toBe("changed");
    expect(statusOf(first.events, "shared file again")?.status).toBe("ok");
    expect(r1.hosts[0]).toMatchObject({ changed: 3, ok: 1 });

    const noop = options(root);
    const r2 = await runPlaybook(noop);
    expect(r2.hosts[0]).toMatchObject({ changed: 0, ok: 4, failed: 0, execs: 1 });
    expect(noop.events.filter((e) => e.type === "play-start")).toHaveLength(3);

    // drift in the third play's file only: --check reads all three plays in one exec and finds it
    writeFileSync(join(root, "other"), "drift\n");
    const check = options(root, { check: true });
    const r3 = await runPlaybook(check);
    expect(r3.exitCode).toBe(2);
    expect(r3.hosts[0]).toMatchObject({ changed: 1, execs: 1 });
    expect(statusOf(check.events, "other")?.status).toBe("changed");

    // the apply: plays one and two change nothing (still one probe), three fixes the drift (+1 exec)
    const fix = options(root);
    const r4 = await runPlaybook(fix);
    expect(r4.hosts[0]).toMatchObject({ changed: 1, failed: 0, execs: 2 });
  });
});
