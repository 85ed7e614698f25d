/**
 * Issue 10 case 14 over a real sshd: an exclusive authorized_key removes an intruder's key, named by
 * fingerprint, but never the key the run itself logged in with (the transport records it; the engine
 * hands it to the kind), which stays with a warning until a run logs in with a declared key.
 */
import { execFileSync } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { runPlaybook } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;
beforeAll(async () => {
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-login-key-"));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

const pub = (file: string) => readFileSync(`${file}.pub`, "utf8").trim();
const fpOf = (file: string) =>
  execFileSync("ssh-keygen", ["-lf", `${file}.pub`])
    .toString()
    .split(" ")[1]!;
function newKey(name: string, comment: string): string {
  const f = join(work, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", f]);
  return f;
}

describe("authorized_key exclusive, logged in as that very user", () => {
  it("removes the intruder's key, keeps the login's own (with a warning), and converges", async () => {
    const user = sshd.unprivilegedUser!;
    const home = join(sshd.dir, "home");
    const intruder = newKey("intruder", "intruder@evil");
    const team = newKey("team", "team@ci");
    const ssh = join(home, ".ssh");
    mkdirSync(ssh, { recursive: true, mode: 0o700 });
    const file = join(ssh, "authorized_keys");
    writeFileSync(file, `${pub(sshd.clientKeyPath)}\n${pub(intruder)}\n`, { mode: 0o600 });
    const { uid, gid } = statSync(home);
    chownSync(ssh, uid, gid);
    chownSync(file, uid, gid);

    const playbook = join(work, "keys.yml");
    writeFileSync(
      playbook,
      [
        "name: keys",
        "tasks:",
        "  - name: Keys",
        "    authorized_key:",
        `      user: ${user}`,
        `      keys: ["${pub(team)}"]`,
        "      exclusive: true",
        "",
      ].join("\n"),
    );
    const run = async (check: boolean) => {
      const events: LockclawEvent[] = [];
      const r = await runPlaybook({
        playbookFile: playbook,
        kinds: resourceKinds,
        hosts: [{ target: sshd.target({ as: "user", name: "loop" }), vars: [] }],
        overrides: [],
        builtins: {},
        connector: connect,
        check,
        state: new HostStateStore(join(work, `state-${Math.random()}.json`)),
        onEvent: (e) => events.push(e),
      });
      return { r, events };
    };
    const summaries = (events: LockclawEvent[]) =>
      events.flatMap((e) => (e.type === "task-result" ? e.changes.map((c) => c.summary) : []));
    const warnings = (events: LockclawEvent[]) =>
      events.flatMap((e) => (e.type === "warning" ? [e.message] : []));

    const check = await run(true);
    expect(summaries(check.events)).toContain(
      `remove undeclared key ${fpOf(intruder)} (intruder@evil) from ${file}`,
    );
    expect(summaries(check.events).join("\n")).not.toContain(fpOf(sshd.clientKeyPath));
    expect(warnings(check.events).join("\n")).toContain(
      `keeping undeclared key ${fpOf(sshd.clientKeyPath)} (lockclaw-test-client)`,
    );
    expect(readFileSync(file, "utf8")).toContain(pub(intruder)); // --check changed nothing

    const apply = await run(false);
    expect(apply.r.hosts[0]).toMatchObject({ failed: 0, changed: 1 });
    expect(readFileSync(file, "utf8")).toBe(`${pub(team)}\n${pub(sshd.clientKeyPath)}\n`);
    // the verification re-probe did not take the kept key for drift, and a re-run has nothing to do
    const again = await run(false);
    expect(again.r.hosts[0]).toMatchObject({ failed: 0, changed: 0 });
  });
});
