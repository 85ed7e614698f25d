import { describe, expect, it } from "vitest";
import { cleanEvidence, fixFor, formatAudit, useColor } from "../../../src/cli/audit-run.js";

const checks = [
  { id: "sshd.port", title: "sshd port", pass: true, evidence: "2222" },
  { id: "ufw.rules", title: "ufw rules", pass: false, evidence: "extra rule 8080" },
  {
    id: "openclaw.skipped",
    title: "OpenClaw",
    pass: true,
    skipped: true,
    evidence: "skipped: no stack",
  },
  {
    id: "fail2ban.jail",
    title: "fail2ban sshd jail",
    pass: false,
    evidence: "/tmp/tmp.V0KpKrHEkQ: 7: fail2ban-client: not found",
  },
];

describe("formatAudit", () => {
  it("marks passed, failed and skipped checks; a skipped check is not counted as passed", () => {
    const lines = formatAudit({ host: "lab:x", checks }).trim().split("\n");
    expect(lines[0]).toBe("AUDIT lab:x");
    expect(lines[1]).toMatch(/^ {2}PASS {2}sshd port/);
    expect(lines[2]).toMatch(/^ {2}FAIL {2}ufw rules/);
    expect(lines[3]).toMatch(/^ {2}SKIP {2}OpenClaw/);
    // one PASS line: 1 of the 3 checks that ran
    expect(lines[5]).toBe("  1/3 checks passed (1 skipped)");
  });

  it("lists the failed checks one per line, each with what to run to fix it", () => {
    const lines = formatAudit({ host: "lab:x", checks }).trim().split("\n");
    expect(lines.slice(6)).toEqual([
      "  FAILED (2), and what to run to fix each:",
      "    ufw.rules: lockclaw provision host lab:x -t firewall",
      "    fail2ban.jail: lockclaw provision host lab:x -t fail2ban",
    ]);
    expect(fixFor("sshd.passwordauthentication", "deploy@h")).toBe("lockclaw provision host deploy@h -t ssh");
    expect(fixFor("container.gateway.caps", "lab:x")).toBe("lockclaw provision stack lab:x");
  });

  it("never shows the temp script's path in evidence", () => {
    const out = formatAudit({ host: "lab:x", checks });
    expect(out).not.toContain("/tmp/tmp.");
    expect(out).toMatch(/FAIL {2}fail2ban sshd jail {2}fail2ban-client: not found/);
    expect(cleanEvidence("/tmp/tmp.abc123: line 12: ss: command not found")).toBe("ss: command not found");
  });

  it("an unreachable host says so instead of 0/0 checks passed", () => {
    const out = formatAudit({
      host: "h",
      checks: [],
      unreachable: true,
      error: "connect ECONNREFUSED 10.0.0.1:22",
    });
    expect(out).toContain("UNREACHABLE connect ECONNREFUSED 10.0.0.1:22");
    expect(out).toContain("no checks ran: the host could not be reached");
    expect(out).not.toContain("0/0");
  });

  it("FAIL is red on a colour terminal, plain otherwise; NO_COLOR turns colour off", () => {
    expect(formatAudit({ host: "h", checks }, { color: true })).toContain("\x1b[31mFAIL\x1b[39m");
    expect(formatAudit({ host: "h", checks }, { color: false })).not.toContain("\x1b[");
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(useColor({ isTTY: false }, {})).toBe(false);
  });
});
