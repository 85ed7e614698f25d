/**
 * The in-image smoke test (images/base/scripts/test-smoke.sh) run on the host with its test hooks: sample
 * `ss -tulnH` output and /proc/mounts stand in for a container's. The same script runs inside real
 * containers in test/e2e/images.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../../src/engine/paths.js";
import { parseSmokeOutput } from "../../../src/images/smoke.js";

const SCRIPT = join(packageRoot(), "images", "base", "scripts", "test-smoke.sh");
const dir = mkdtempSync(join(tmpdir(), "lockclaw-smoke-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function smoke(opts: {
  ss?: string;
  mounts?: string;
  allowed?: string;
  env?: Record<string, string>;
  checks: string[];
}) {
  const d = join(dir, String(n++));
  spawnSync("mkdir", ["-p", d]);
  writeFileSync(join(d, "ss.txt"), opts.ss ?? "");
  writeFileSync(join(d, "mounts"), opts.mounts ?? "overlay / overlay rw,relatime 0 0\n");
  writeFileSync(join(d, "allowed-listeners"), opts.allowed ?? "# none\n");
  const r = spawnSync("sh", [SCRIPT, ...opts.checks], {
    encoding: "utf8",
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: d,
      LOCKCLAW_SMOKE_SS_FILE: join(d, "ss.txt"),
      LOCKCLAW_SMOKE_MOUNTS_FILE: join(d, "mounts"),
      LOCKCLAW_SMOKE_DIR: d,
      ...opts.env,
    },
  });
  return { ...parseSmokeOutput(r.stdout, r.status), stdout: r.stdout };
}

const LOOPBACK_ONLY = [
  "tcp   LISTEN 0      511        127.0.0.1:18789      0.0.0.0:*",
  "tcp   LISTEN 0      4096           [::1]:11434         [::]:*",
  "udp   UNCONN 0      0      127.0.0.53%lo:53         0.0.0.0:*",
  "tcp   LISTEN 0      4096   [::ffff:127.0.0.1]:9000      *:*",
  "tcp   LISTEN 0      128        127.0.0.11:40000      0.0.0.0:*",
].join("\n");

describe("test-smoke.sh listeners", () => {
  it("passes when everything listens on loopback (v4, v6, mapped, %iface suffix)", () => {
    const r = smoke({ ss: LOOPBACK_ONLY, checks: ["listeners"] });
    expect(r.exitCode).toBe(0);
    expect(r.checks).toEqual([expect.objectContaining({ status: "PASS", check: "listeners" })]);
  });

  it("passes with no listener at all", () => {
    const r = smoke({ ss: "", checks: ["listeners"] });
    expect(r.exitCode).toBe(0);
  });

  it.each([
    ["tcp wildcard v4", "tcp   LISTEN 0      511          0.0.0.0:8080       0.0.0.0:*", "tcp 0.0.0.0:8080"],
    ["tcp wildcard v6", "tcp   LISTEN 0      511             [::]:8080          [::]:*", "tcp [::]:8080"],
    ["tcp star", "tcp   LISTEN 0      4096               *:8080             *:*", "tcp *:8080"],
    ["udp wildcard", "udp   UNCONN 0      0            0.0.0.0:5353       0.0.0.0:*", "udp 0.0.0.0:5353"],
    [
      "a real address",
      "tcp   LISTEN 0      128       172.17.0.2:3000       0.0.0.0:*",
      "tcp 172.17.0.2:3000",
    ],
    ["link-local v6", "udp   UNCONN 0      0    [fe80::1]%eth0:546          [::]:*", "udp [fe80::1]:546"],
  ])("fails on a non-loopback listener: %s", (_name, line, shown) => {
    const r = smoke({ ss: `${LOOPBACK_ONLY}\n${line}\n`, checks: ["listeners"] });
    expect(r.exitCode).toBe(1);
    expect(r.failed).toBe(1);
    expect(r.checks[0]?.message).toContain(shown);
  });

  it("allows sshd's port 22 only when LOCKCLAW_ENABLE_SSH=1, and only over TCP", () => {
    const ss = "tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\ntcp LISTEN 0 128 [::]:22 [::]:*\n";
    expect(smoke({ ss, checks: ["listeners"] }).exitCode).toBe(1);
    const on = smoke({ ss, checks: ["listeners"], env: { LOCKCLAW_ENABLE_SSH: "1" } });
    expect(on.exitCode).toBe(0);
    expect(on.checks[0]?.message).toContain("2 allowed exposed");
    const udp = smoke({
      ss: "udp UNCONN 0 0 0.0.0.0:22 0.0.0.0:*\n",
      checks: ["listeners"],
      env: { LOCKCLAW_ENABLE_SSH: "1" },
    });
    expect(udp.exitCode).toBe(1);
  });

  it("honours the image's allowed-listeners file (comments ignored)", () => {
    const ss = "tcp LISTEN 0 128 0.0.0.0:443 0.0.0.0:*\nudp UNCONN 0 0 0.0.0.0:443 0.0.0.0:*\n";
    const r = smoke({ ss, allowed: "# https\ntcp 443\n", checks: ["listeners"] });
    expect(r.exitCode).toBe(1);
    expect(r.checks[0]?.message).toContain("udp 0.0.0.0:443");
    expect(r.checks[0]?.message).not.toContain("tcp 0.0.0.0:443");
  });

  it("lists every offender in its one FAIL line", () => {
    const ss = "tcp LISTEN 0 1 0.0.0.0:1 0.0.0.0:*\nudp UNCONN 0 0 *:2 *:*\ntcp LISTEN 0 1 [::]:3 [::]:*\n";
    const r = smoke({ ss, checks: ["listeners"] });
    expect(r.stdout.split("\n").filter((l) => l.startsWith("FAIL"))).toHaveLength(1);
    expect(r.checks[0]?.message).toMatch(/tcp 0\.0\.0\.0:1; udp \*:2; tcp \[::\]:3/);
  });
});

describe("test-smoke.sh readonly", () => {
  it("passes when read-only is not requested", () => {
    expect(smoke({ checks: ["readonly"] }).exitCode).toBe(0);
  });
  it("fails when read-only was requested and / is mounted rw", () => {
    const r = smoke({ checks: ["readonly"], env: { LOCKCLAW_EXPECT_READONLY: "1" } });
    expect(r.exitCode).toBe(1);
    expect(r.checks[0]?.message).toContain("root filesystem is writable");
  });
  it("passes when read-only was requested and / is mounted ro (last mount of / wins)", () => {
    const mounts =
      "rootfs / rootfs rw 0 0\noverlay / overlay ro,relatime,lowerdir=x 0 0\nproc /proc proc rw 0 0\n";
    const r = smoke({ mounts, checks: ["readonly"], env: { LOCKCLAW_EXPECT_READONLY: "1" } });
    expect(r.exitCode).toBe(0);
  });
});

describe("test-smoke.sh runtime and arguments", () => {
  it("waits for an expected loopback listener and fails (bounded) when it never comes", () => {
    const d = join(dir, "rt");
    spawnSync("mkdir", ["-p", d]);
    writeFileSync(join(d, "expected-listeners"), "tcp 127.0.0.1:18789 openclaw-gateway\n");
    writeFileSync(join(d, "ss-up.txt"), "tcp LISTEN 0 511 127.0.0.1:18789 0.0.0.0:*\n");
    writeFileSync(join(d, "ss-wild.txt"), "tcp LISTEN 0 511 0.0.0.0:18789 0.0.0.0:*\n");
    const run = (ss: string) =>
      spawnSync("sh", [SCRIPT, "runtime"], {
        encoding: "utf8",
        env: {
          PATH: process.env.PATH ?? "",
          LOCKCLAW_SMOKE_DIR: d,
          LOCKCLAW_SMOKE_SS_FILE: join(d, ss),
          LOCKCLAW_SMOKE_WAIT: "1",
        },
      });
    const up = run("ss-up.txt");
    expect(up.status).toBe(0);
    expect(up.stdout).toContain("PASS runtime: openclaw-gateway listens on tcp 127.0.0.1:18789");
    // bound to the wildcard instead of loopback: the expected loopback listener is missing
    const wild = run("ss-wild.txt");
    expect(wild.status).toBe(1);
    expect(wild.stdout).toContain("FAIL runtime: openclaw-gateway is not listening on tcp 127.0.0.1:18789");
  });

  it("rejects an unknown check name", () => {
    const r = smoke({ checks: ["bogus"] });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain("unknown check 'bogus'");
  });
});
