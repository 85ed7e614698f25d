/**
 * OpenClaw's own checks (security audit --deep, sandbox explain) run inside the gateway. The fixtures are
 * real outputs of openclaw 2026.9.6 (see fixtures/openclaw/README.md); the in-container program runs
 * here for real with Node against those outputs, and the host fragment's skip path runs for real with sh.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  evaluateOpenclawAudit,
  IN_CONTAINER_PROGRAM,
  openclawAuditScript,
} from "../../../src/audit/openclaw.js";

const E = { user: "deploy", project: "lockclaw" };
const M = "@@lockclaw-openclaw";
const FIX = join(__dirname, "fixtures", "openclaw");
const fixture = (name: string) => readFileSync(join(FIX, name), "utf8");

/** The host fragment's output around the program's lines, as openclawAuditScript prints it. */
const hostOut = (program: string, tail: string[] = [], rc = 0) =>
  [
    `${M} begin`,
    `${M} state running`,
    `${M} exec-rc ${rc}`,
    ...program.trim().split("\n"),
    ...tail,
    `${M} end`,
  ]
    .filter(Boolean)
    .join("\n");

const byId = (checks: ReturnType<typeof evaluateOpenclawAudit>) => new Map(checks.map((c) => [c.id, c]));

/** A stand-in `openclaw` on PATH that replays captured outputs (or fails as told). */
function fakeCli(audit: string, explain: string, fail?: { rc: number; stderr: string }): string {
  const dir = mkdtempSync(join(tmpdir(), "lockclaw-openclaw-cli-"));
  writeFileSync(join(dir, "audit.json"), audit);
  writeFileSync(join(dir, "explain.json"), explain);
  writeFileSync(join(dir, "stderr.txt"), fail?.stderr ?? "");
  writeFileSync(
    join(dir, "openclaw"),
    [
      "#!/bin/sh",
      `d=${dir}`,
      fail ? `cat "$d/stderr.txt" >&2; exit ${fail.rc}` : "",
      `case "$1 $2 $3" in`,
      `  "security audit --deep") cat "$d/audit.json" ;;`,
      `  "sandbox explain --json") cat "$d/explain.json" ;;`,
      `  *) echo "unexpected: $*" >&2; exit 2 ;;`,
      `esac`,
    ].join("\n"),
  );
  chmodSync(join(dir, "openclaw"), 0o755);
  return dir;
}

function runProgram(cliDir: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, ["-e", IN_CONTAINER_PROGRAM], {
    encoding: "utf8",
    env: { PATH: `${cliDir}:/usr/bin:/bin`, ...env },
  });
}

describe("openclaw audit: host fragment", () => {
  it("is valid sh", () => {
    execFileSync("sh", ["-n", "-c", String(openclawAuditScript(E))]);
  });

  it("runs the program in the gateway found by compose labels, through the deploy user's rootless Docker", () => {
    const s = String(openclawAuditScript(E));
    expect(s).toContain("--filter label=com.docker.compose.project=lockclaw");
    expect(s).toContain("--filter label=com.docker.compose.service=gateway");
    expect(s).toMatch(/runuser -u deploy -- env XDG_RUNTIME_DIR=\/run\/user\/"\$lc_ocuid"/);
    expect(s).toContain('docker exec "$lc_gw" node -e ');
  });

  it("skips (really run with sh) when the host has no Docker", () => {
    const bin = mkdtempSync(join(tmpdir(), "lockclaw-nodocker-"));
    symlinkSync(execFileSync("sh", ["-c", "command -v id"], { encoding: "utf8" }).trim(), join(bin, "id"));
    const r = spawnSync("/bin/sh", ["-c", String(openclawAuditScript(E))], {
      encoding: "utf8",
      env: { PATH: bin },
    });
    expect(r.stdout).toBe(`${M} begin\n${M} none docker not installed\n${M} end\n`);
    const checks = evaluateOpenclawAudit(r.stdout, E);
    expect(checks).toEqual([
      {
        id: "openclaw.skipped",
        title: "OpenClaw's own checks inside the gateway (stack not deployed)",
        pass: true,
        skipped: true,
        evidence: "skipped: docker not installed (project lockclaw)",
      },
    ]);
  });

  it("carries the program through sh quoting, runuser and docker exec intact (sh run for real)", () => {
    // runuser and docker stand in only as far as running their command: `docker exec ID CMD...` runs CMD
    const cli = fakeCli(fixture("security-audit-deep-stack.json"), fixture("sandbox-explain-stack.json"));
    writeFileSync(
      join(cli, "runuser"),
      '#!/bin/sh\nwhile [ "$1" != -- ]; do shift; done; shift; exec "$@"\n',
    );
    writeFileSync(
      join(cli, "docker"),
      [
        "#!/bin/sh",
        'case "$1" in',
        "  ps) echo 0123456789ab ;;",
        "  inspect) echo running ;;",
        '  exec) shift 2; exec "$@" ;;',
        "esac",
      ].join("\n"),
    );
    chmodSync(join(cli, "runuser"), 0o755);
    chmodSync(join(cli, "docker"), 0o755);
    const r = spawnSync("/bin/sh", ["-c", String(openclawAuditScript(E))], {
      encoding: "utf8",
      env: { PATH: `${cli}:${join(process.execPath, "..")}:/usr/bin:/bin` },
    });
    expect(r.stdout).toBe(hostOut(fixture("program-stack.txt")) + "\n");
    expect(evaluateOpenclawAudit(r.stdout, E).every((c) => c.pass)).toBe(true);
  });

  it("skips when no gateway container exists, fails when it exists but is not running", () => {
    const skip = evaluateOpenclawAudit(`${M} begin\n${M} none no gateway container\n${M} end\n`, E);
    expect(skip).toHaveLength(1);
    expect(skip[0]).toMatchObject({ id: "openclaw.skipped", pass: true });
    const stopped = evaluateOpenclawAudit(`${M} begin\n${M} state exited\n${M} end\n`, E);
    expect(stopped).toEqual([
      expect.objectContaining({
        id: "openclaw.gateway",
        pass: false,
        evidence: expect.stringContaining("exited"),
      }),
    ]);
  });

  it("fails when the section is missing or cut short", () => {
    expect(evaluateOpenclawAudit("", E)).toEqual([
      { id: "openclaw.probe", title: "OpenClaw audit ran", pass: false, evidence: "no output" },
    ]);
    expect(evaluateOpenclawAudit(`${M} begin\n${M} state running\n`, E)[0]).toMatchObject({ pass: false });
  });
});

describe("openclaw audit: verdicts from real outputs", () => {
  it("passes the stack's rendered config with the gateway running (unpaired deep probe accepted)", () => {
    const checks = evaluateOpenclawAudit(hostOut(fixture("program-stack.txt")), E);
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(checks.map((c) => c.id)).toEqual([
      "openclaw.security_audit",
      "openclaw.gateway_probe",
      "openclaw.sandbox",
      "openclaw.elevated",
    ]);
    const c = byId(checks);
    expect(c.get("openclaw.security_audit")!.evidence).toMatch(/^0 critical, 1 warn, 1 info/);
    expect(c.get("openclaw.gateway_probe")!.evidence).toContain("missing scope: operator.read");
    expect(c.get("openclaw.sandbox")!.evidence).toBe(
      "agent main: mode all, scope session, backend docker, workspaceAccess none, main session sandboxed",
    );
    expect(c.get("openclaw.elevated")!.evidence).toBe("tools.elevated.enabled false");
  });

  it("fails the old config on OpenClaw's findings, naming them", () => {
    const c = byId(evaluateOpenclawAudit(hostOut(fixture("program-oldconfig.txt")), E));
    const audit = c.get("openclaw.security_audit")!;
    expect(audit.pass).toBe(false);
    expect(audit.evidence).toContain("critical gateway.control_ui.allowed_origins_required");
    expect(audit.evidence).toContain("warn gateway.auth_no_rate_limit");
    expect(audit.evidence).not.toContain("gateway.probe_failed");
    // elevated on but allowed from nowhere: still off for every session
    expect(c.get("openclaw.elevated")).toMatchObject({ pass: true });
    expect(c.get("openclaw.sandbox")).toMatchObject({ pass: true });
  });

  it("fails an unsandboxed, unauthenticated gateway", () => {
    const c = byId(evaluateOpenclawAudit(hostOut(fixture("program-standalone.txt")), E));
    expect(c.get("openclaw.security_audit")).toMatchObject({ pass: false });
    expect(c.get("openclaw.security_audit")!.evidence).toContain("critical gateway.loopback_no_auth");
    expect(c.get("openclaw.sandbox")).toMatchObject({ pass: false });
    expect(c.get("openclaw.sandbox")!.evidence).toContain("mode off");
    expect(c.get("openclaw.sandbox")!.evidence).toContain("NOT sandboxed");
    expect(c.get("openclaw.gateway_probe")).toMatchObject({ pass: true, evidence: "probe ok" });
  });

  it("fails the deep probe when the gateway does not answer", () => {
    const c = byId(evaluateOpenclawAudit(hostOut(fixture("program-nogateway.txt")), E));
    expect(c.get("openclaw.gateway_probe")).toMatchObject({
      pass: false,
      evidence: "connect ECONNREFUSED 127.0.0.1:18789",
    });
    expect(c.get("openclaw.security_audit")).toMatchObject({ pass: true });
  });

  it("fails every check with Docker's message when the exec itself fails", () => {
    const out = [
      `${M} begin`,
      `${M} state running`,
      `${M} exec-rc 126`,
      `${M} exec-tail OCI runtime exec failed: exec failed: unable to start container process: exec: "node": executable file not found in $PATH: unknown`,
      `${M} end`,
    ].join("\n");
    const checks = evaluateOpenclawAudit(out, E);
    expect(checks.map((c) => [c.id, c.pass])).toEqual([
      ["openclaw.security_audit", false],
      ["openclaw.sandbox", false],
      ["openclaw.elevated", false],
    ]);
    expect(checks[0]!.evidence).toMatch(/^docker exec exit 126: OCI runtime exec failed.*"node"/);
  });
});

describe("openclaw audit: the in-container program (run with Node)", () => {
  for (const name of ["stack", "oldconfig", "standalone", "nogateway"]) {
    it(`selects the same fields from the captured ${name} outputs as it did in the real run`, () => {
      const cli = fakeCli(
        fixture(`security-audit-deep-${name}.json`),
        fixture(`sandbox-explain-${name}.json`),
      );
      expect(runProgram(cli)).toBe(fixture(`program-${name}.txt`));
    });
  }

  it("never prints a finding's detail, and scrubs secret values from what it prints", () => {
    const secret = "s3cr3t-GATEWAY-token-0123456789";
    const audit = JSON.parse(fixture("security-audit-deep-oldconfig.json")) as {
      findings: Array<{ title: string; detail: string }>;
      deep: { gateway: { error: string } };
    };
    audit.findings[1]!.title = `token ${secret} is weak`;
    audit.findings[1]!.detail = `DETAIL-MARKER ${secret}`;
    audit.deep.gateway.error = `unauthorized: ${secret}`;
    const cli = fakeCli(JSON.stringify(audit), fixture("sandbox-explain-oldconfig.json"));
    const out = runProgram(cli, { OPENCLAW_GATEWAY_TOKEN: secret });
    expect(out).not.toContain(secret);
    expect(out).not.toContain("DETAIL-MARKER");
    expect(out).toContain("token [redacted] is weak");
    expect(out).toContain("unauthorized: [redacted]");
  });

  it("reports a failing CLI by exit status and its last stderr line, scrubbed", () => {
    const secret = "p4ssw0rd-provider-key-ABCDEFGH";
    const cli = fakeCli("", "", { rc: 1, stderr: `loading config\nConfig invalid near ${secret}\n` });
    const lines = runProgram(cli, { ANTHROPIC_API_KEY: secret }).trim().split("\n");
    expect(lines).toEqual([
      '@@lockclaw-openclaw-json {"cmd":"audit","rc":1,"error":"Config invalid near [redacted]"}',
      '@@lockclaw-openclaw-json {"cmd":"explain","rc":1,"error":"Config invalid near [redacted]"}',
    ]);
    const c = byId(evaluateOpenclawAudit(hostOut(lines.join("\n")), E));
    expect(c.get("openclaw.security_audit")).toMatchObject({
      pass: false,
      evidence: "exit 1: Config invalid near [redacted]",
    });
    expect(c.get("openclaw.sandbox")).toMatchObject({ pass: false });
  });
});
