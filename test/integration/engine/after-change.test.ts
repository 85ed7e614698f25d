/**
 * The after-change hooks (host-run.ts afterChangeHooksSh) against a real sshd on loopback: a run that
 * changed the host runs them in its last exec (no exec of their own), a no-op run and --check never
 * do, a failing hook is a warning, and a hook others may write is skipped.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

const PLAYBOOK = join(__dirname, "../../../examples/hello/playbook.yml");

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-hooks-"));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

function options(root: string, hooks: string, extra: Partial<RunOptions> = {}) {
  const events: LockclawEvent[] = [];
  const o: RunOptions = {
    playbookFile: PLAYBOOK,
    kinds: resourceKinds,
    hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
    overrides: [parseVarArg(`root=${root}`), parseVarArg("api_token=tok-hooks")],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, `state-${Math.random()}.json`)),
    onEvent: (e) => events.push(e),
    afterChangeDir: hooks,
    ...extra,
  };
  return { o, events };
}

const warnings = (events: LockclawEvent[]) =>
  events.flatMap((e) => (e.type === "warning" ? [e.message] : []));

describe("after-change hooks", () => {
  it("run once at the end of a changing run, in its last exec; never on a no-op or under --check", async () => {
    const root = join(work, "app");
    const hooks = join(work, "hooks");
    const count = join(work, "count");
    rmSync(hooks, { recursive: true, force: true });
    mkdirSync(hooks, { mode: 0o700 });
    // the hook sees the run's result: the config the run just wrote
    writeFileSync(
      join(hooks, "50-count"),
      `#!/bin/sh\necho "run $(cat ${root}/app.conf | head -n 1)" >> ${count}\n`,
      { mode: 0o700 },
    );
    writeFileSync(join(hooks, "60-fails"), "#!/bin/sh\necho broken >&2\nexit 3\n", { mode: 0o700 });
    writeFileSync(join(hooks, "70-writable"), `#!/bin/sh\necho writable >> ${count}\n`, { mode: 0o777 });
    chmodSync(join(hooks, "70-writable"), 0o777);
    writeFileSync(join(hooks, "README"), "not executable\n", { mode: 0o600 });

    const first = options(root, hooks);
    const r1 = await runPlaybook(first.o);
    expect(r1.exitCode).toBe(0);
    expect(r1.hosts[0]!.changed).toBeGreaterThan(0);
    // probe + one apply: the hooks ran inside the apply exec
    expect(r1.hosts[0]!.execs).toBe(2);
    expect(readFileSync(count, "utf8")).toBe("run # managed by lockclaw\n");
    expect(warnings(first.events).join("\n")).toMatch(
      /after-change hook .*60-fails failed \(exit 3\): broken/,
    );
    expect(warnings(first.events).join("\n")).toMatch(
      /after-change hook .*70-writable skipped: not owned by root, or writable by others/,
    );

    const noop = options(root, hooks, { state: first.o.state });
    const r2 = await runPlaybook(noop.o);
    expect(r2.hosts[0]).toMatchObject({ changed: 0, execs: 1 });
    expect(readFileSync(count, "utf8").split("\n").filter(Boolean)).toHaveLength(1);

    writeFileSync(join(root, "app.conf"), "drift\n");
    const check = options(root, hooks, { check: true });
    expect((await runPlaybook(check.o)).exitCode).toBe(2);
    expect(readFileSync(count, "utf8").split("\n").filter(Boolean)).toHaveLength(1);

    const fix = options(root, hooks);
    const r4 = await runPlaybook(fix.o);
    expect(r4.exitCode).toBe(0);
    expect(readFileSync(count, "utf8").split("\n").filter(Boolean)).toHaveLength(2);
    expect(existsSync(join(work, "count"))).toBe(true);
  });
});
