/**
 * Case 4 of issue 10: the host key lockclaw remembers in its local state (hosts.json) must never
 * override a conflicting known_hosts line. ssh refuses such a host; so must lockclaw: exit 4, both
 * fingerprints named, nothing logged in.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, buildCli } from "./cli.js";

const ROOT = join(__dirname, "../../..");
const BIN = join(ROOT, "bin/lockclaw.js");
let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  // asynchronous, with the long hook limit: a synchronous tsc on a loaded machine missed the 60 s default
  await buildCli();
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-state-hk-"));
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const accepted = () => (sshd.logs().match(/Accepted publickey/g) ?? []).length;

describe("remembered host key vs known_hosts", () => {
  it("a known_hosts mismatch wins over the key in hosts.json: exit 4, both fingerprints, no login", () => {
    const impostor = join(work, "impostor");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", impostor]);
    const impostorPub = readFileSync(`${impostor}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const impostorFp = execFileSync("ssh-keygen", ["-lf", `${impostor}.pub`])
      .toString()
      .split(" ")[1]!;
    // known_hosts says the host has another key (what ssh would refuse) ...
    const knownHosts = join(work, "known_hosts");
    const content = `[127.0.0.1]:${sshd.port} ${impostorPub}\n`;
    writeFileSync(knownHosts, content, { mode: 0o600 });
    // ... while lockclaw's own state remembers the key the server really presents.
    const target = `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`;
    const stateHome = join(work, "state");
    mkdirSync(join(stateHome, "lockclaw"), { recursive: true, mode: 0o700 });
    writeFileSync(
      join(stateHome, "lockclaw", "hosts.json"),
      JSON.stringify({
        [`ssh:127.0.0.1:${sshd.port}`]: {
          host: "127.0.0.1",
          user: sshd.unprivilegedUser,
          port: sshd.port,
          hostKey: sshd.hostKeyFingerprint,
          updatedAt: new Date().toISOString(),
        },
      }),
      { mode: 0o600 },
    );
    const before = accepted();
    const r = spawnSync(
      process.execPath,
      [
        BIN,
        "provision",
        "host",
        target,
        "--playbook",
        join(ROOT, "examples/hello/playbook.yml"),
        "--key",
        sshd.clientKeyPath,
        "--known-hosts",
        knownHosts,
        "--var",
        `root=${join(work, "app")}`,
      ],
      {
        encoding: "utf8",
        env: { ...process.env, XDG_STATE_HOME: stateHome, SSH_AUTH_SOCK: "" },
        timeout: 120_000,
      },
    );
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(4);
    expect(out).toContain(impostorFp); // what known_hosts expects
    expect(out).toContain(sshd.hostKeyFingerprint); // what the server presented
    expect(accepted()).toBe(before);
    expect(readFileSync(knownHosts, "utf8")).toBe(content);
  });
});
