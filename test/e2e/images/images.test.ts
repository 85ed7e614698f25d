/**
 * The LockClaw images, built and run for real on a private Docker daemon started by this file (no registry:
 * base FROM an imported debootstrap rootfs, openclaw from a host-prepared npm context, both built with
 * --network=none). Every container runs read-only, with no capability and no network; the in-image smoke
 * test must pass, and must fail on a rogue listener, a root process, a writable root, while the entrypoint
 * must refuse root and SSH without a key.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImages } from "../../../src/images/build.js";
import { IMAGES } from "../../../src/images/catalog.js";
import { docker, dockerRaw } from "../../../src/images/docker.js";
import { removeContainer, runSmoke, startContainer, testImage } from "../../../src/images/smoke.js";
import {
  dockerdUnavailable,
  startPrivateDockerd,
  type PrivateDockerd,
} from "../../../src/images/private-dockerd.js";

const log = (line: string) => process.stderr.write(`[images] ${line}\n`);
const unavailable = dockerdUnavailable();
if (unavailable) log(`SKIPPED: ${unavailable}`);
log(
  "lockclaw:ollama is not built or run here: it needs the upstream ollama/ollama image from a registry, " +
    "and nothing can be pulled offline",
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(unavailable !== undefined)("LockClaw images on a private dockerd", () => {
  let d: PrivateDockerd;
  let host: string;
  const keyDir = mkdtempSync(join(tmpdir(), "lockclaw-img-key-"));
  const started: string[] = [];

  const start = async (image: string, o: Parameters<typeof startContainer>[1] = {}) => {
    // the gateway (node) took over 30 s to listen on a loaded 2-core CI host: a slow start is not a failure
    const runArgs = ["-e", "LOCKCLAW_SMOKE_WAIT=120", ...(o.runArgs ?? [])];
    const c = await startContainer(image, { host, ...o, runArgs });
    started.push(c);
    return c;
  };

  beforeAll(async () => {
    const t0 = Date.now();
    d = await startPrivateDockerd(log);
    host = d.host;
    await buildImages(["base", "openclaw"], { host, offline: true, progress: log });
    log(`images built in ${Math.round((Date.now() - t0) / 1000)}s`);
  });

  afterAll(async () => {
    for (const c of started) await removeContainer(c, { host }).catch(() => {});
    await d?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it("tags openclaw as latest too", async () => {
    const ids = await Promise.all(IMAGES.openclaw.tags.map((t) => docker(["images", "-q", t], { host })));
    expect(ids[0]).toMatch(/^[0-9a-f]{12}$/);
    expect(ids[1]).toBe(ids[0]);
  });

  it("lockclaw:base passes its smoke test read-only, with no capability and no network", async () => {
    const r = await testImage("base", { host, progress: log });
    expect(r.exitCode).toBe(0);
    expect(r.checks.map((c) => `${c.status} ${c.check}`)).toEqual([
      "PASS user",
      "PASS ssh",
      "PASS readonly",
      "PASS runtime",
      "PASS listeners",
    ]);
    expect(r.checks.find((c) => c.check === "readonly")?.message).toBe("root filesystem is read-only");
  });

  it("lockclaw:openclaw runs the gateway as lockclaw on 127.0.0.1:18789 only, and passes", async () => {
    // the same generous wait as start(): the gateway's first start is slow on a loaded 2-core host
    const r = await testImage("openclaw", {
      host,
      progress: log,
      runArgs: ["-e", "LOCKCLAW_SMOKE_WAIT=120"],
    });
    expect(r.exitCode).toBe(0);
    expect(r.failed).toBe(0);
    expect(r.checks.find((c) => c.check === "runtime")?.message).toContain("tcp 127.0.0.1:18789");
  });

  it("the container has no capability and no-new-privileges", async () => {
    const c = await start("lockclaw:base");
    const status = await docker(["exec", c, "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs)", "/proc/1/status"], {
      host,
    });
    expect(status).toMatch(/CapEff:\s+0000000000000000/);
    expect(status).toMatch(/CapBnd:\s+0000000000000000/);
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    expect(await docker(["exec", c, "id", "-un"], { host })).toBe("lockclaw");
  });

  it("a rogue TCP or UDP listener on 0.0.0.0 makes the smoke test fail", async () => {
    const c = await start("lockclaw:openclaw");
    await docker(
      [
        "exec",
        "-d",
        c,
        "node",
        "-e",
        "require('net').createServer().listen(8080,'0.0.0.0');require('dgram').createSocket('udp4').bind(5353,'0.0.0.0');setInterval(()=>{},1e6)",
      ],
      { host },
    );
    let r = await runSmoke(c, { host, checks: ["listeners"] });
    for (let i = 0; i < 20 && r.exitCode === 0; i++) {
      await sleep(250);
      r = await runSmoke(c, { host, checks: ["listeners"] });
    }
    log(r.output.trim());
    expect(r.exitCode).toBe(1);
    const msg = r.checks.find((x) => x.check === "listeners")?.message ?? "";
    expect(msg).toContain("tcp 0.0.0.0:8080");
    expect(msg).toContain("udp 0.0.0.0:5353");
    // the gateway itself stays loopback and is not reported
    expect(msg).not.toContain("18789");
  });

  it("a process running as root makes the smoke test fail", async () => {
    const c = await start("lockclaw:base");
    expect((await runSmoke(c, { host, checks: ["user"] })).exitCode).toBe(0);
    // cap-drop ALL still lets docker exec start a uid-0 process; the smoke test must notice it.
    await docker(["exec", "-d", "-u", "0", c, "sleep", "300"], { host });
    const r = await runSmoke(c, { host, checks: ["user"] });
    expect(r.exitCode).toBe(1);
    expect(r.checks[0]?.message).toMatch(/processes running as root: sleep\(pid \d+\)/);
  });

  it("the entrypoint refuses to run as root", async () => {
    const r = await dockerRaw(
      ["run", "--rm", "--network", "none", "--cap-drop", "ALL", "--user", "0", "lockclaw:base"],
      { host },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refusing to run as root");
    expect(r.stderr).toContain("fix:");
  });

  it("a writable root when read-only was requested makes the smoke test fail", async () => {
    const c = await start("lockclaw:base", {
      unhardened: true,
      runArgs: ["--cap-drop", "ALL", "--network", "none", "-e", "LOCKCLAW_EXPECT_READONLY=1"],
    });
    const r = await runSmoke(c, { host, checks: ["readonly"] });
    expect(r.exitCode).toBe(1);
    expect(r.checks[0]?.message).toContain("root filesystem is writable");
  });

  it("SSH enabled without a key: the entrypoint exits non-zero and says how to fix it", async () => {
    const r = await dockerRaw(
      [
        "run",
        "--rm",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--network",
        "none",
        "-e",
        "LOCKCLAW_ENABLE_SSH=1",
        "lockclaw:base",
      ],
      { host },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("LOCKCLAW_ENABLE_SSH=1 but no SSH public key was given");
    expect(r.stderr).toContain("fix: set SSH_PUBLIC_KEY");
  });

  it("SSH enabled with a key: sshd (as lockclaw, no capability) takes key logins only; smoke test passes", async () => {
    const key = join(keyDir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const pub = readFileSync(`${key}.pub`, "utf8").trim();
    const c = await start("lockclaw:openclaw", {
      runArgs: ["-e", "LOCKCLAW_ENABLE_SSH=1", "-e", "SSH_PUBLIC_KEY"],
      env: { SSH_PUBLIC_KEY: pub },
    });
    const r = await runSmoke(c, { host });
    log(r.output.trim());
    expect(r.exitCode).toBe(0);
    expect(r.checks.find((x) => x.check === "ssh")?.message).toMatch(
      /sshd \(pid [\d ]+\) listens on tcp\/22/,
    );
    expect(r.checks.find((x) => x.check === "listeners")?.message).toContain("allowed: tcp/22");

    // sshd's effective settings, as sshd itself reports them
    const eff = await docker(
      [
        "exec",
        c,
        "/usr/sbin/sshd",
        "-T",
        "-f",
        "/etc/ssh/lockclaw_sshd_config",
        "-h",
        "/home/lockclaw/.ssh/lockclaw_ssh_host_ed25519_key",
      ],
      { host },
    );
    for (const line of [
      "permitrootlogin no",
      "passwordauthentication no",
      "kbdinteractiveauthentication no",
      "allowusers lockclaw",
      "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com",
      "macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com",
      "kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org",
      "hostkeyalgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256",
      "allowtcpforwarding local",
      "allowagentforwarding no",
      "x11forwarding no",
    ]) {
      expect(eff.split("\n")).toContain(line);
    }

    // A real login, from the container's own network namespace (the container has no other network).
    const pid = await docker(["inspect", "-f", "{{.State.Pid}}", c], { host });
    const ssh = (user: string, extra: string[] = []) =>
      spawnSync(
        "nsenter",
        [
          "-t",
          pid,
          "-n",
          "ssh",
          "-i",
          key,
          "-o",
          "BatchMode=yes",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "ConnectTimeout=10",
          ...extra,
          `${user}@127.0.0.1`,
          "id -un; ss -tlnH",
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
    const ok = ssh("lockclaw");
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout.split("\n")[0]).toBe("lockclaw");
    expect(ok.stdout).toContain("127.0.0.1:18789");
    const root = ssh("root");
    expect(root.status).not.toBe(0);
    expect(root.stderr).toContain("Permission denied");
    const pw = ssh("lockclaw", ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"]);
    expect(pw.status).not.toBe(0);
    expect(pw.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it("refuses to build lockclaw:ollama offline, naming the reason", async () => {
    await expect(buildImages(["ollama"], { host, offline: true, reuseDependencies: true })).rejects.toThrow(
      /cannot be built offline: the Ollama binary .* pulled from Docker Hub/,
    );
  });

  it.skip(
    "lockclaw:ollama — skipped offline: its Dockerfile copies the Ollama binary from the pinned upstream image " +
      "ollama/ollama, which cannot be pulled without a registry; the shared entrypoint and smoke test are " +
      "covered through lockclaw:base and lockclaw:openclaw above",
    () => {},
  );
});
