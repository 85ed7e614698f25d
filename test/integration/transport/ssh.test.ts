/** The ssh2 transport against a real OpenSSH server on loopback. */
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, ConnectionLostError } from "../../../src/core/errors.js";
import { ExecTimeoutError } from "../../../src/core/errors.js";
import { connect } from "../../../src/transport/ssh.js";
import { resolveTarget } from "../../../src/transport/target.js";
import type { Transport } from "../../../src/transport/types.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let root: Transport;

beforeAll(async () => {
  sshd = await startSshd({ user: { sudo: true }, allowTcpForwarding: true });
  root = await connect(sshd.target());
});
afterAll(async () => {
  await root?.close();
  await sshd?.stop();
});

describe("exec", () => {
  it("returns stdout, stderr and the exit code", async () => {
    const r = await root.exec("printf 'out\\n'; printf 'err\\n' >&2; exit 7");
    expect(r).toEqual({ stdout: "out\n", stderr: "err\n", code: 7 });
  });

  it("reports a signal when the command is killed by one", async () => {
    const r = await root.exec("kill -TERM $$");
    expect(r.code).toBeNull();
    expect(r.signal).toBe("SIGTERM");
  });

  it("delivers stdin and then EOF (binary-safe, large)", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 0);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const r = await root.exec("sha256sum", { stdin: big });
    const want = execFileSync("sha256sum", { input: big }).toString().split(" ")[0];
    expect(r.stdout.split(" ")[0]).toBe(want);
    expect((await root.exec("cat", { stdin: "hello\nworld" })).stdout).toBe("hello\nworld");
    // without stdin the command sees EOF at once instead of hanging
    expect((await root.exec("cat | wc -c")).stdout.trim()).toBe("0");
  });

  it("pipes a stream to stdin with backpressure, and fails the exec when the stream fails", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 9);
    let sent = 0;
    const total = 64; // 64 MiB, produced lazily: only what the channel's window takes is read ahead
    const stream = new Readable({
      read() {
        this.push(sent++ < total ? chunk : null);
      },
    });
    const r = await root.exec("wc -c", { stdin: stream });
    expect(r.stdout.trim()).toBe(String(total * chunk.length));
    const broken = new Readable({
      read() {
        this.destroy(new Error("disk went away"));
      },
    });
    await expect(root.exec("cat > /dev/null", { stdin: broken })).rejects.toThrow(/disk went away/);
    // the connection is still usable afterwards
    expect((await root.exec("echo ok")).stdout).toBe("ok\n");
  });

  it("counts exec channels", async () => {
    const t = await connect(sshd.target());
    try {
      expect(t.execCount).toBe(0);
      await t.exec("true");
      await t.exec("false");
      await Promise.all([t.exec("true"), t.exec("true")]);
      expect(t.execCount).toBe(4);
    } finally {
      await t.close();
    }
  });

  it("queues more parallel execs than sshd's MaxSessions allows on one connection (at most MAX_CHANNELS open)", async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => root.exec(`sleep 0.1; echo ${i}`)),
    );
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
  });

  it("times out a command, kills it on the host, and keeps the connection usable", async () => {
    // OpenSSH honours "signal" requests only for non-root logins (root sessions run without privilege
    // separation), so this runs as the unprivileged user.
    const t = await connect(sshd.target({ as: "user" }));
    try {
      const pidFile = join(sshd.dir, "home", "timeout.pid");
      const t0 = Date.now();
      const err = await t
        .exec(`echo $$ > ${pidFile}; exec sleep 20`, { timeoutMs: 500 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExecTimeoutError);
      expect((err as Error).message).toContain("within 500 ms");
      expect(Date.now() - t0).toBeLessThan(5000);
      expect((await t.exec("echo still-here")).stdout).toBe("still-here\n");
      const pid = Number(readFileSync(pidFile, "utf8"));
      for (let i = 0; i < 40 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(`/proc/${pid}`)).toBe(false); // sshd delivered the KILL signal
    } finally {
      await t.close();
    }
  });
});

describe("become", () => {
  it("as root it runs the command directly", async () => {
    const r = await root.exec("id -u", { become: true });
    expect(r.stdout).toBe("0\n");
  });

  it("as a sudo user it goes through sudo -n, with stdin and quoting intact", async () => {
    const t = await connect(sshd.target({ as: "user" }));
    try {
      expect((await t.exec("id -un")).stdout).toBe(`${sshd.unprivilegedUser}\n`);
      const r = await t.exec(`id -un; echo "it's $(cat)"`, { become: true, stdin: "piped" });
      expect(r).toEqual({ stdout: "root\nit's piped\n", stderr: "", code: 0 });
    } finally {
      await t.close();
    }
  });

  it("as a user without sudo rights it fails on the host, without hanging on a password prompt", async () => {
    const other = await startSshd({ user: { sudo: false } });
    try {
      const t = await connect(other.target({ as: "user" }));
      const r = await t.exec("id -u", { become: true });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/sudo/);
      await t.close();
    } finally {
      await other.stop();
    }
  });
});

describe("connection errors", () => {
  it("auth failure names host, port, user and the methods tried", async () => {
    const wrongKey = join(sshd.dir, "wrong_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrongKey]);
    const err = await connect(sshd.target({ identityFiles: [wrongKey] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    const msg = (err as Error).message;
    expect(msg).toContain(`root@127.0.0.1:${sshd.port}`);
    expect(msg).toContain(`publickey ${wrongKey}`);
    expect((err as ConnectionError).port).toBe(sshd.port);
  });

  it("an encrypted key gets a clear message pointing at ssh-agent", async () => {
    const enc = join(sshd.dir, "encrypted_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "a passphrase", "-f", enc]);
    const err = await connect(sshd.target({ identityFiles: [enc] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/encrypted with a passphrase/);
    expect((err as Error).message).toContain(`ssh-add ${enc}`);
  });

  it("tries keys in order: a wrong key first, then the right one", async () => {
    const wrongKey = join(sshd.dir, "wrong_key2");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrongKey]);
    const t = await connect(sshd.target({ identityFiles: [wrongKey, sshd.clientKeyPath] }));
    expect((await t.exec("echo ok")).stdout).toBe("ok\n");
    await t.close();
  });

  it("one key file for many hosts: parsed once, it logs in on every connection (ecdsa and ed25519)", async () => {
    const ecdsa = join(sshd.dir, "shared_ecdsa");
    execFileSync("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", ecdsa]);
    appendFileSync(join(sshd.dir, "authorized_keys", "root"), readFileSync(`${ecdsa}.pub`));
    for (const key of [sshd.clientKeyPath, ecdsa]) {
      const all = await Promise.all([1, 2, 3].map(() => connect(sshd.target({ identityFiles: [key] }))));
      for (const t of all) expect((await t.exec("echo ok")).stdout).toBe("ok\n");
      await Promise.all(all.map((t) => t.close()));
    }
  });

  it("a refused connection is a ConnectionError naming the port", async () => {
    const other = await startSshd();
    const target = other.target({ identityFiles: [sshd.clientKeyPath] });
    await other.stop();
    const err = await connect(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${target.port}.*ECONNREFUSED`));
  });
});

describe("ProxyJump", () => {
  it("reaches the target through a jump host (the same sshd, which forwards to itself)", async () => {
    const before = (sshd.logs().match(/Accepted publickey/g) ?? []).length;
    const t = await connect(sshd.target({ proxyJump: sshd.target({ name: "jump" }) }));
    try {
      const r = await t.exec("echo via-jump; echo $SSH_CONNECTION");
      expect(r.stdout.split("\n")[0]).toBe("via-jump");
      const after = (sshd.logs().match(/Accepted publickey/g) ?? []).length;
      expect(after - before).toBe(2); // one login for the jump, one for the target
      expect(sshd.logs()).toMatch(
        new RegExp(`direct-tcpip|port forward|127\\.0\\.0\\.1 port ${sshd.port}`, "i"),
      );
    } finally {
      await t.close();
    }
  });

  it("a jump host that refuses forwarding gives a clear error", async () => {
    const noFwd = await startSshd(); // AllowTcpForwarding no
    try {
      const err = await connect(sshd.target({ proxyJump: noFwd.target() })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as Error).message).toMatch(/could not open a tunnel.*AllowTcpForwarding/s);
    } finally {
      await noFwd.stop();
    }
  });
});

describe("ssh-agent and ~/.ssh/config", () => {
  it("authenticates with a key held only by ssh-agent", async () => {
    const sock = join(sshd.dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      execFileSync("ssh-add", ["-q", sshd.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const t = await connect({ ...sshd.target({ identityFiles: [] }), agent: sock });
      expect((await t.exec("echo agent")).stdout).toBe("agent\n");
      await t.close();
    } finally {
      agent.kill("SIGTERM");
    }
  });

  it("resolveTarget + connect: an alias from an ssh config file reaches the fixture", async () => {
    const cfg = join(sshd.dir, "ssh_config");
    writeFileSync(
      cfg,
      `Host lab-alias\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\n  IdentityFile ${sshd.clientKeyPath}\n`,
    );
    const target = resolveTarget("lab-alias", {
      sshConfigPath: cfg,
      knownHostsFile: sshd.knownHostsFile,
      agent: false,
    });
    expect(target).toMatchObject({ host: "127.0.0.1", port: sshd.port, user: "root", name: "lab-alias" });
    const t = await connect(target);
    expect((await t.exec("id -un")).stdout).toBe("root\n");
    await t.close();
  });
});

describe("ProxyJump drops", () => {
  it("losing the jump host's connection fails the target's exec with ConnectionLostError", async () => {
    const jumpHost = await startSshd({ allowTcpForwarding: true });
    try {
      const t = await connect(
        sshd.target({ proxyJump: jumpHost.target({ identityFiles: [jumpHost.clientKeyPath] }) }),
      );
      expect((await t.exec("echo up")).stdout).toBe("up\n");
      const pidFile = join(sshd.dir, "jump-drop.pid");
      const running = t.exec(`echo $$ > ${pidFile}; exec sleep 30.5`).catch((e: unknown) => e);
      while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 25));
      const t0 = Date.now();
      const dropping = jumpHost.dropConnections();
      expect(await running).toBeInstanceOf(ConnectionLostError);
      expect(Date.now() - t0).toBeLessThan(5000);
      await dropping;
      await t.close();
      // The target's sshd lost its client and orphaned the command, as OpenSSH does; tidy up.
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
    } finally {
      await jumpHost.stop();
    }
  });
});
