/** known_hosts policies against a real sshd: nothing is sent to a host whose key does not match. */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, HostKeyMismatchError } from "../../../src/core/errors.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => sshd?.stop());

const accepted = () => (sshd.logs().match(/Accepted publickey/g) ?? []).length;

describe("host key policies", () => {
  it("strict + known key: connects and reports the fingerprint ssh-keygen prints", async () => {
    const t = await connect(sshd.target());
    expect(t.hostKeyFingerprint).toBe(sshd.hostKeyFingerprint);
    await t.close();
  });

  it("strict rejects an unknown host and says how to accept it; nothing is logged in", async () => {
    const empty = join(sshd.dir, "empty_known_hosts");
    const before = accepted();
    const err = await connect(sshd.target({ knownHostsFile: empty })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).not.toBeInstanceOf(HostKeyMismatchError);
    expect((err as Error).message).toContain("--accept-new-host-key");
    expect((err as Error).message).toContain(sshd.hostKeyFingerprint);
    expect(existsSync(empty)).toBe(false);
    expect(accepted()).toBe(before);
  });

  it("accept-new records the host ([host]:port, file 0600, dir 0700) and the next strict connect passes", async () => {
    const file = join(sshd.dir, "new-dir", "known_hosts");
    const t = await connect(sshd.target({ knownHostsFile: file, hostKeyPolicy: "accept-new" }));
    expect((await t.exec("echo hi")).stdout).toBe("hi\n");
    await t.close();
    expect(readFileSync(file, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(sshd.dir, "new-dir")).mode & 0o777).toBe(0o700);
    // OpenSSH itself agrees with what we wrote
    const found = execFileSync("ssh-keygen", ["-F", `[127.0.0.1]:${sshd.port}`, "-f", file]).toString();
    expect(found).toContain(sshd.hostPublicKey);

    const again = await connect(sshd.target({ knownHostsFile: file, hostKeyPolicy: "strict" }));
    expect((await again.exec("echo again")).stdout).toBe("again\n");
    await again.close();
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(1);
  });

  it("a mismatch fails with HostKeyMismatchError showing both fingerprints, and runs nothing", async () => {
    const otherKey = join(sshd.dir, "impostor_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey]);
    const otherPub = readFileSync(`${otherKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const otherFp = execFileSync("ssh-keygen", ["-lf", `${otherKey}.pub`])
      .toString()
      .split(" ")[1]!;
    const file = join(sshd.dir, "wrong_known_hosts");
    const content = `# stale entry\n[127.0.0.1]:${sshd.port} ${otherPub}\n`;
    writeFileSync(file, content, { mode: 0o600 });

    for (const policy of ["strict", "accept-new"] as const) {
      const before = accepted();
      const err = await connect(sshd.target({ knownHostsFile: file, hostKeyPolicy: policy })).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HostKeyMismatchError);
      const mismatch = err as HostKeyMismatchError;
      expect(mismatch.message).toContain(otherFp); // expected
      expect(mismatch.message).toContain(sshd.hostKeyFingerprint); // actual
      expect(mismatch.message).toContain(`${file}:2`);
      expect(mismatch.actual).toContain(sshd.hostKeyFingerprint);
      // the handshake was aborted before authentication: sshd never accepted a login
      expect(accepted()).toBe(before);
      expect(readFileSync(file, "utf8")).toBe(content);
    }
  });

  it("a key pinned by the caller (trustedHostKeys) passes strict checking and gets recorded", async () => {
    const file = join(sshd.dir, "pinned_known_hosts");
    const t = await connect({
      ...sshd.target({ knownHostsFile: file }),
      trustedHostKeys: [sshd.hostKeyFingerprint],
    });
    await t.close();
    expect(readFileSync(file, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  });
});
