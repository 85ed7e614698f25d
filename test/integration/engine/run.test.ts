/**
 * The engine against a REAL OpenSSH server on loopback: the example playbook applied, re-applied,
 * checked after drift; handlers, secrets, bad input, host-key mismatch and a dropped connection.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
const TOKEN = "tok-9f8e7d6c5b4a-secret";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-engine-"));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

function options(root: string, extra: Partial<RunOptions> = {}): RunOptions & { events: LockclawEvent[] } {
  const events: LockclawEvent[] = [];
  return {
    playbookFile: PLAYBOOK,
    kinds: resourceKinds,
    hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
    overrides: [parseVarArg(`root=${root}`), parseVarArg(`api_token=${TOKEN}`)],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, `state-${Math.random()}.json`)),
    onEvent: (e) => events.push(e),
    events,
    ...extra,
  };
}

const results = (events: LockclawEvent[]) =>
  events.flatMap((e) =>
    e.type === "task-result" ? [`${e.status}:${e.handler ? "handler:" : ""}${e.task}`] : [],
  );

describe("engine over a real sshd", () => {
  it("applies, then re-applies with nothing changed in one exec, then detects and fixes drift", async () => {
    const root = join(work, "hello");
    const first = options(root);
    const r1 = await runPlaybook(first);
    // a successful apply exits 0 even when it changed things (the recap says what changed)
    expect(r1.exitCode).toBe(0);
    expect(r1.hosts[0]).toMatchObject({ failed: 0, changed: 5, unreachable: false });
    expect(results(first.events)).toContain("changed:handler:restart app");
    expect(readFileSync(join(root, "app.conf"), "utf8")).toContain("greeting = hello");
    expect(readFileSync(join(root, "token"), "utf8")).toBe(TOKEN);
    expect(readFileSync(join(root, "restarts"), "utf8")).toBe("restarted\n");
    // the secret never reaches an event (--json prints exactly these)
    expect(JSON.stringify(first.events)).not.toContain(TOKEN);

    const second = options(root, { state: first.state });
    const r2 = await runPlaybook(second);
    expect(r2.exitCode).toBe(0);
    expect(r2.hosts[0]).toMatchObject({ changed: 0, failed: 0, ok: 4, execs: 1 });

    // drift made by hand on the host
    writeFileSync(join(root, "app.conf"), "greeting = hacked\n");
    const check = options(root, { check: true });
    const r3 = await runPlaybook(check);
    expect(r3.exitCode).toBe(2);
    const drift = check.events.find((e) => e.type === "task-result" && e.task === "App config");
    expect(drift).toMatchObject({ status: "changed" });
    const diffText = (drift as { changes: Array<{ diff?: string }> }).changes
      .map((c) => c.diff ?? "")
      .join("");
    expect(diffText).toContain("-greeting = hacked");
    expect(diffText).toContain("+greeting = hello");
    expect(results(check.events)).toContain("changed:handler:restart app");
    // check mode changed nothing
    expect(readFileSync(join(root, "app.conf"), "utf8")).toBe("greeting = hacked\n");
    expect(readFileSync(join(root, "restarts"), "utf8")).toBe("restarted\n");

    const fix = options(root);
    const r4 = await runPlaybook(fix);
    expect(r4.exitCode).toBe(0);
    expect(r4.hosts[0]).toMatchObject({ changed: 2, failed: 0 });
    expect(results(fix.events).filter((s) => s.startsWith("changed"))).toEqual([
      "changed:App config",
      "changed:handler:restart app",
    ]);
    expect(readFileSync(join(root, "app.conf"), "utf8")).toContain("greeting = hello");
    expect(readFileSync(join(root, "restarts"), "utf8")).toBe("restarted\nrestarted\n");
  });

  it("redacts a changed secret in the diff and in events", async () => {
    const root = join(work, "secret");
    await runPlaybook(options(root));
    const other = "another-secret-value-42";
    const o = options(root, {
      check: true,
      overrides: [parseVarArg(`root=${root}`), parseVarArg(`api_token=${other}`)],
    });
    const r = await runPlaybook(o);
    expect(r.exitCode).toBe(2);
    const text = JSON.stringify(o.events);
    expect(text).not.toContain(other);
    expect(text).not.toContain(TOKEN);
    expect(text).toContain("sensitive");
  });

  it("runs only tagged tasks with --tags, and skips with --skip-tags", async () => {
    const root = join(work, "tags");
    const o = options(root, { tags: ["files"] });
    await runPlaybook(o);
    expect(existsSync(join(root, "app.conf"))).toBe(true);
    expect(existsSync(join(root, "token"))).toBe(false);
    expect(results(o.events)).toContain("skipped:API token (secret, never printed)");
  });

  it("stops bad input before connecting and changes nothing", async () => {
    const root = join(work, "bad");
    const o = options(root, { overrides: [parseVarArg(`root=${root}`), parseVarArg("listen_port=eighty")] });
    const before = sshd.logs().length;
    await expect(runPlaybook(o)).rejects.toThrowError(
      /variable 'listen_port' must be a TCP port 1-65535 in decimal/,
    );
    expect(o.events).toEqual([]);
    expect(existsSync(root)).toBe(false);
    expect(sshd.logs().slice(before)).not.toMatch(/Accepted publickey/);
  });

  it("refuses a host whose key does not match known_hosts, showing both fingerprints, running nothing", async () => {
    const root = join(work, "mismatch");
    const kh = join(work, "wrong_known_hosts");
    // a different, valid host key recorded for this host:port
    writeFileSync(
      kh,
      `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n`,
    );
    const o = options(root, {
      hosts: [{ target: sshd.target({ name: "loop", knownHostsFile: kh }), vars: [] }],
    });
    const r = await runPlaybook(o);
    expect(r.exitCode).toBe(4);
    expect(r.hosts[0]!.unreachable).toBe(true);
    expect(r.hosts[0]!.error).toContain(sshd.hostKeyFingerprint);
    expect(r.hosts[0]!.error).toMatch(/expected: SHA256:/);
    expect(existsSync(root)).toBe(false);
  });

  it("fails a host whose connection drops mid-run while other hosts go on", async () => {
    const other = await startSshd();
    try {
      const pb = join(work, "slow.yml");
      writeFileSync(
        pb,
        `vars: { root: /tmp/x }\nvar_types: { root: abs_path }\ntasks:\n  - command: { cmd: "mkdir -p {{root}}" }\n  - command: { cmd: "sleep 6; touch {{root}}/done" }\n`,
      );
      const dropRoot = join(work, "dropped");
      const okRoot = join(work, "survivor");
      const o = options(dropRoot, {
        playbookFile: pb,
        overrides: [],
        hosts: [
          { target: sshd.target({ name: "dropped" }), vars: [parseVarArg(`root=${dropRoot}`)] },
          { target: other.target({ name: "survivor" }), vars: [parseVarArg(`root=${okRoot}`)] },
        ],
      });
      // cut only the first host's sessions, while its sleep runs
      setTimeout(() => sshd.dropConnections(), 1500);
      const r = await runPlaybook(o);
      const dropped = r.hosts.find((h) => h.host === "dropped")!;
      const survivor = r.hosts.find((h) => h.host === "survivor")!;
      expect(dropped.failed).toBe(1);
      expect(dropped.error).toMatch(/connection.*(lost|closed|dropped)/i);
      expect(survivor).toMatchObject({ failed: 0, changed: 2 });
      expect(existsSync(join(okRoot, "done"))).toBe(true);
      expect(existsSync(join(dropRoot, "done"))).toBe(false);
      expect(r.exitCode).toBe(1);
    } finally {
      await other.stop();
    }
  }, 60_000);

  it("blames the task that failed, keeps the earlier change, and still runs its handler", async () => {
    const root = join(work, "partial");
    const pb = join(work, "partial.yml");
    writeFileSync(
      pb,
      `vars: { root: /tmp/x }
var_types: { root: abs_path }
tasks:
  - name: config
    directory: { path: "{{root}}" }
    notify: reload
  - name: broken
    command: { cmd: "echo boom >&2; false" }
handlers:
  - name: reload
    command: { cmd: "touch {{root}}/reloaded" }
`,
    );
    const o = options(root, { playbookFile: pb, overrides: [parseVarArg(`root=${root}`)] });
    const r = await runPlaybook(o);
    expect(r.exitCode).toBe(1);
    // one result per handler: it ran (forced), so it is not also reported skipped
    expect(results(o.events)).toEqual(["changed:config", "failed:broken", "changed:handler:reload"]);
    const failed = o.events.find((e) => e.type === "task-result" && e.status === "failed") as {
      error: string;
    };
    expect(failed.error).toContain("boom");
    expect(existsSync(join(root, "reloaded"))).toBe(true);
  });

  it("a handler whose notifier never landed is reported skipped, once", async () => {
    const root = join(work, "early");
    const pb = join(work, "early.yml");
    writeFileSync(
      pb,
      `vars: { root: /tmp/x }
var_types: { root: abs_path }
tasks:
  - name: broken first
    command: { cmd: "false" }
  - name: config
    directory: { path: "{{root}}" }
    notify: reload
handlers:
  - name: reload
    command: { cmd: "touch {{root}}/reloaded" }
`,
    );
    const o = options(root, { playbookFile: pb, overrides: [parseVarArg(`root=${root}`)] });
    const r = await runPlaybook(o);
    expect(r.exitCode).toBe(1);
    expect(results(o.events)).toEqual(["failed:broken first", "skipped:config", "skipped:handler:reload"]);
    expect(existsSync(join(root, "reloaded"))).toBe(false);
  });
});
