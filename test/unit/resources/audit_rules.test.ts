import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { extractWarnings } from "../../../src/engine/resource.js";
import {
  auditKernelProbeSh,
  auditRulesContent,
  auditRulesKind,
  parseAuditKernel,
  type AuditRulesFacts,
  type AuditRulesSpec,
} from "../../../src/resources/audit_rules.js";
import { sha256 } from "../../../src/resources/common/fileState.js";
import { applyOf, changesOf, parseSpec, runSh, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): AuditRulesSpec => parseSpec(auditRulesKind, input);
const ctx = { check: false };
const RULES = [
  "-w /etc/passwd -p wa -k lockclaw-identity",
  "-a always,exit -F arch=b64 -S mount,umount2 -F auid>=1000 -F auid!=unset -k lockclaw-mounts",
];
const s = spec({ rules: RULES });
const fileOk = (sp: AuditRulesSpec): AuditRulesFacts["file"] => {
  const content = auditRulesContent(sp);
  return {
    type: "file",
    mode: "0640",
    owner: "root",
    uid: "0",
    group: "root",
    gid: "0",
    sha256: sha256(content),
    content,
  };
};
// what auditctl prints in a systemd-nspawn machine (recorded on the lab)
const REFUSED = "Error - audit support not in kernel Cannot open netlink audit socket";

describe("audit_rules spec", () => {
  it("accepts keyed -w and -a rules and defaults the file", () => {
    expect(s.file).toBe("/etc/audit/rules.d/50-lockclaw.rules");
  });
  it("refuses a rule without a key, a rule that is not -w/-a, a newline, and a file outside rules.d", () => {
    expect(specError(auditRulesKind, { rules: ["-w /etc/passwd -p wa"] })).toMatch(/must carry a key/);
    expect(specError(auditRulesKind, { rules: ["-D -k x"] })).toMatch(/starting with -w or -a/);
    expect(specError(auditRulesKind, { rules: ["-w /etc/passwd -k x\n-D"] })).toMatch(/one line/);
    expect(specError(auditRulesKind, { rules: ["-w /x -k a; reboot"] })).toMatch(/one line/);
    expect(specError(auditRulesKind, { file: "/etc/audit/audit.rules", rules: RULES })).toMatch(/rules\.d/);
  });
});

describe("audit_rules diff", () => {
  it("where the kernel refuses audit only the file counts: a missing file is a change, live state never", () => {
    const refused = { state: "refused", reason: REFUSED } as const;
    const absent: AuditRulesFacts = {
      file: { type: "absent" },
      kernel: refused,
      loadedKeys: [],
      active: "inactive",
    };
    expect(changesOf(auditRulesKind, s, absent, ctx).map((c) => c.summary)).toEqual([
      "create /etc/audit/rules.d/50-lockclaw.rules",
    ]);
    expect(changesOf(auditRulesKind, s, { ...absent, file: fileOk(s) }, ctx)).toEqual([]);
  });

  it("where the kernel allows audit, rules not loaded and auditd stopped are drift", () => {
    const f: AuditRulesFacts = {
      file: fileOk(s),
      kernel: { state: "ok" },
      loadedKeys: ["lockclaw-identity"],
      active: "inactive",
    };
    expect(changesOf(auditRulesKind, s, f, ctx).map((c) => c.summary)).toEqual([
      "load audit rules (not loaded: lockclaw-mounts)",
      "start auditd (inactive)",
    ]);
    expect(
      changesOf(
        auditRulesKind,
        s,
        { ...f, loadedKeys: ["lockclaw-identity", "lockclaw-mounts"], active: "active" },
        ctx,
      ),
    ).toEqual([]);
  });

  it("an edited file is drift, with a diff", () => {
    const edited = { ...fileOk(s), sha256: sha256("x"), content: "x\n" };
    const changes = changesOf(
      auditRulesKind,
      s,
      {
        file: edited,
        kernel: { state: "ok" },
        loadedKeys: ["lockclaw-identity", "lockclaw-mounts"],
        active: "active",
      },
      ctx,
    );
    expect(changes.map((c) => c.summary)).toEqual(["update /etc/audit/rules.d/50-lockclaw.rules"]);
    expect(changes[0]!.diff).toContain("+-w /etc/passwd -p wa -k lockclaw-identity");
  });
});

describe("audit_rules probe and apply", () => {
  it("parses the kernel's refusal, auditctl -l keys in both forms, and auditd's state", () => {
    const out = [
      `kernel=refused ${REFUSED}`,
      "loaded=lockclaw-identity",
      "loaded=lockclaw-identity",
      "loaded=lockclaw-mounts",
      "active=inactive",
    ].join("\n");
    expect(parseAuditKernel(out)).toEqual({
      kernel: { state: "refused", reason: REFUSED },
      loadedKeys: ["lockclaw-identity", "lockclaw-mounts"],
      active: "inactive",
    });
    expect(() => parseAuditKernel("active=active")).toThrow(/no kernel= line/);
  });

  it("turns auditctl -l lines into keys (both the -k and the key= forms)", () => {
    // the sed of the probe, on what auditctl -l prints
    const sed = String(auditKernelProbeSh())
      .split("\n")
      .find((l) => l.includes("auditctl -l"))!
      .replace(/^.*auditctl -l 2>\/dev\/null \| /, "")
      .replace(/; fi$/, "");
    const r = runSh(
      `printf '%s\\n' '-w /etc/passwd -p wa -k lockclaw-identity' '-a always,exit -F arch=b64 -S mount,umount2 -F auid>=1000 -F auid!=-1 -F key=lockclaw-mounts' 'No rules' | ${sed}`,
    );
    expect(r.stdout).toBe("loaded=lockclaw-identity\nloaded=lockclaw-mounts\n");
  });

  it("apply warns with the kernel's answer and exits 0 where the kernel refuses; fails without auditctl", () => {
    const facts: AuditRulesFacts = {
      file: fileOk(s),
      kernel: { state: "absent" },
      loadedKeys: [],
      active: "",
    };
    const script = applyOf(auditRulesKind, s, facts);
    expect(script).not.toContain("mktemp"); // the file is right: only the live part runs
    // a stand-in for the container's auditctl: the kernel's refusal, as recorded on the lab
    const bin = mkdtempSync(join(tmpdir(), "lc-auditctl-"));
    writeFileSync(
      join(bin, "auditctl"),
      "#!/bin/sh\necho 'Error - audit support not in kernel'\necho 'Cannot open netlink audit socket'\nexit 1\n",
      { mode: 0o755 },
    );
    try {
      const r = runSh(script, { setE: true, env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` } });
      expect(r.code, r.stderr).toBe(0);
      expect(extractWarnings(r.stdout).warnings).toEqual([
        `the kernel refuses audit here (a container?); rules kept in /etc/audit/rules.d/50-lockclaw.rules, auditd not started: ${REFUSED}`,
      ]);
      const none = runSh(script, { setE: true, env: { ...process.env, PATH: "/nonexistent" } });
      expect(none.code).not.toBe(0);
      expect(none.stderr).toMatch(/auditctl not found/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
