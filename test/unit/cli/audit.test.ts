import { describe, expect, it } from "vitest";
import { formatAudit } from "../../../src/cli/audit.js";

describe("formatAudit", () => {
  it("marks passed, failed and not-applicable checks, and counts skips as passed", () => {
    const out = formatAudit({
      host: "lab:x",
      checks: [
        { id: "sshd.port", title: "sshd port", pass: true, evidence: "2222" },
        { id: "ufw.rules", title: "ufw rules", pass: false, evidence: "extra rule 8080" },
        {
          id: "openclaw.skipped",
          title: "OpenClaw",
          pass: true,
          skipped: true,
          evidence: "skipped: no stack",
        },
      ],
    });
    const lines = out.trim().split("\n");
    expect(lines[0]).toBe("AUDIT lab:x");
    expect(lines[1]).toMatch(/^ {2}PASS {2}sshd port/);
    expect(lines[2]).toMatch(/^ {2}FAIL {2}ufw rules/);
    expect(lines[3]).toMatch(/^ {2}SKIP {2}OpenClaw/);
    expect(lines[4]).toBe("  2/3 checks passed (1 skipped); FAILED: ufw.rules");
  });
});
