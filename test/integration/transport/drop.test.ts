/** A connection that drops while a command runs fails fast with ConnectionLostError. */
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionLostError } from "../../../src/core/errors.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture | undefined;
afterEach(async () => {
  await sshd?.stop();
  sshd = undefined;
});

/** A `sleep` duration no other test on this machine is likely to use, so ps finds ours. */
const uniqueSeconds = () => `30.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;

/** Wait until the remote command is really running (visible in the local process table). */
async function waitForProcess(pattern: RegExp): Promise<void> {
  const { spawnSync } = await import("node:child_process");
  for (let i = 0; i < 200; i++) {
    if (pattern.test(spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no process matching ${pattern} appeared`);
}

describe("dropped connections", () => {
  it("killing the sshd session mid-exec rejects with ConnectionLostError within seconds", async () => {
    sshd = await startSshd();
    const t = await connect(sshd.target());
    const closes: Array<Error | undefined> = [];
    t.onClose((err) => closes.push(err));
    const tag = `lc-drop-${process.pid}-${Date.now()}`;
    const secs = uniqueSeconds();
    const running = t.exec(`sleep ${secs}; echo ${tag}`).catch((e: unknown) => e);
    const parallel = t.exec(`sleep 31; echo ${tag}`).catch((e: unknown) => e);
    await waitForProcess(new RegExp(`^sleep ${secs}$`, "m"));
    const t0 = Date.now();
    const dropping = sshd.dropConnections();
    const err = await running;
    await dropping;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toContain(`127.0.0.1:${sshd.port}`);
    expect(await parallel).toBeInstanceOf(ConnectionLostError);
    expect(closes).toHaveLength(1);
    expect(closes[0]).toBeInstanceOf(ConnectionLostError);
    // later execs fail at once with the same kind of error; close() still resolves
    await expect(t.exec("true")).rejects.toBeInstanceOf(ConnectionLostError);
    await t.close();
    expect(t.execCount).toBe(2);
  });

  it("stopping the server mid-exec rejects with ConnectionLostError; the listener no longer answers", async () => {
    sshd = await startSshd();
    const t = await connect(sshd.target());
    const secs = uniqueSeconds();
    const running = t.exec(`sleep ${secs}`).catch((e: unknown) => e);
    await waitForProcess(new RegExp(`^sleep ${secs}$`, "m"));
    const t0 = Date.now();
    await sshd.stop();
    expect(await running).toBeInstanceOf(ConnectionLostError);
    expect(Date.now() - t0).toBeLessThan(5000);
    const again = await connect(sshd.target()).catch((e: unknown) => e);
    expect((again as Error).name).toBe("ConnectionError");
  });

  it("a normal close() does not count as a drop", async () => {
    sshd = await startSshd();
    const t = await connect(sshd.target());
    const closes: Array<Error | undefined> = [];
    t.onClose((err) => closes.push(err));
    await t.exec("true");
    await t.close();
    expect(closes).toEqual([undefined]);
    await t.close(); // idempotent
  });
});
