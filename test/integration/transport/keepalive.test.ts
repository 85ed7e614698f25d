/**
 * A busy host is not a dead one: the sshd serving the session is frozen (SIGSTOP) for longer than the
 * old keepalive budget (5 s × 3, given up ~20 s after the last answer) while a command that prints
 * nothing runs, and the exec still completes. A budget that IS exceeded ends in a ConnectionLostError
 * saying so and how to allow more.
 */
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionLostError } from "../../../src/core/errors.js";
import { connect, DEFAULT_KEEPALIVE, KEEPALIVE_ENV } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture | undefined;
const savedEnv = process.env[KEEPALIVE_ENV];
afterEach(async () => {
  await sshd?.stop();
  sshd = undefined;
  if (savedEnv === undefined) delete process.env[KEEPALIVE_ENV];
  else process.env[KEEPALIVE_ENV] = savedEnv;
});

/** A `sleep` duration no other test on this machine is likely to use, so ps finds ours. */
const uniqueSeconds = (whole: number) =>
  `${whole}.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;

async function waitForProcess(pattern: RegExp): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (pattern.test(spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no process matching ${pattern} appeared`);
}

const FREEZE_MS = 25_000;

describe("keepalive on a host that stalls", () => {
  it("a session frozen for 25 s (over the old 15-20 s budget) survives with the default keepalive", async () => {
    delete process.env[KEEPALIVE_ENV];
    expect((DEFAULT_KEEPALIVE.countMax + 1) * DEFAULT_KEEPALIVE.intervalMs).toBeGreaterThanOrEqual(120_000);
    sshd = await startSshd();
    const t = await connect(sshd.target());
    const closes: Array<Error | undefined> = [];
    t.onClose((err) => closes.push(err));
    const secs = uniqueSeconds(28);
    // silent for its whole run: no output is not a sign of a dead connection
    const silent = t.exec(`sleep ${secs}; echo finished`);
    await waitForProcess(new RegExp(`^sleep ${secs}$`, "m"));
    const t0 = Date.now();
    expect(sshd.freezeSessions().length).toBeGreaterThan(0);
    // the freeze is real: a new exec gets no answer while the server is stopped
    let quickDone = 0;
    const quick = t.exec("echo quick").then((r) => ((quickDone = Date.now()), r));
    await new Promise((r) => setTimeout(r, FREEZE_MS));
    expect(quickDone).toBe(0);
    sshd.thawSessions();
    const q = await quick;
    expect(q.stdout.trim()).toBe("quick");
    expect(quickDone - t0).toBeGreaterThanOrEqual(FREEZE_MS);
    const res = await silent;
    expect(res).toMatchObject({ code: 0, stdout: "finished\n" });
    // and the connection is still good for more
    expect((await t.exec("echo after")).stdout).toBe("after\n");
    expect(closes).toEqual([]);
    await t.close();
  }, 90_000);

  it(`with the old 5 s x 3 (set through ${KEEPALIVE_ENV}) the same freeze drops the connection, saying why`, async () => {
    process.env[KEEPALIVE_ENV] = "5,3";
    sshd = await startSshd();
    const t = await connect(sshd.target());
    const secs = uniqueSeconds(28);
    const silent = t.exec(`sleep ${secs}; echo finished`).catch((e: unknown) => e);
    await waitForProcess(new RegExp(`^sleep ${secs}$`, "m"));
    const t0 = Date.now();
    sshd.freezeSessions();
    const err = await silent;
    const took = Date.now() - t0;
    sshd.thawSessions();
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect(took).toBeGreaterThanOrEqual(14_000);
    expect(took).toBeLessThan(FREEZE_MS);
    const msg = (err as Error).message;
    expect(msg).toContain(`127.0.0.1:${sshd.port} lost: the host answered no keepalive for 20 s`);
    expect(msg).toContain("a keepalive every 5 s, 3 unanswered");
    expect(msg).toMatch(/fix: .*--ssh-keepalive SECONDS,COUNT/);
    await t.close();
  }, 90_000);

  it("a per-target setting wins over the environment", async () => {
    process.env[KEEPALIVE_ENV] = "600,100";
    sshd = await startSshd();
    const t = await connect({ ...sshd.target(), keepalive: { intervalMs: 500, countMax: 2 } });
    const secs = uniqueSeconds(20);
    const silent = t.exec(`sleep ${secs}`).catch((e: unknown) => e);
    await waitForProcess(new RegExp(`^sleep ${secs}$`, "m"));
    const t0 = Date.now();
    sshd.freezeSessions();
    const err = await silent;
    sshd.thawSessions();
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((err as Error).message).toContain("a keepalive every 0.5 s, 2 unanswered");
    await t.close();
  }, 60_000);
});
