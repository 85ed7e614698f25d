/**
 * sshd announces its host keys after login; ssh2 would ask it to prove them (a round trip and a
 * signature per key on the host, a verification per key here) for keys lockclaw never reads (issue 14).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
beforeAll(async () => {
  // DEBUG logs each global request sshd gets (server_input_global_request: rtype …)
  sshd = await startSshd({ extraConfig: ["LogLevel DEBUG"] });
});
afterAll(async () => sshd?.stop());

describe("the host keys sshd announces", () => {
  it("are not asked to be proven, and the connection works as before", async () => {
    const t = await connect(sshd.target());
    expect((await t.exec("echo one")).stdout).toBe("one\n");
    expect((await t.exec("echo two")).stdout).toBe("two\n");
    await t.close();
    const logs = sshd.logs();
    // (the same test on ssh2's own handling finds the request in the log)
    expect(logs).toMatch(/Accepted publickey/);
    expect(logs).not.toMatch(/hostkeys-prove-00@openssh\.com/);
  });
});
