import { describe, expect, it } from "vitest";
import { formatLynis, lynisCheck, lynisScript, parseLynisOutput } from "../../../src/audit/lynis.js";

const M = "@@lockclaw-lynis";
// lines of Lynis 3.1.4's report file on a provisioned lab machine
const REPORT = [
  "report_version_major=1",
  "lynis_version=3.1.4",
  "hardening_index=71",
  "lynis_tests_done=252",
  "warning[]=PKGS-7388|Can't find any security repository in /etc/apt/sources.list or sources.list.d directory|-|-|",
  "suggestion[]=SSH-7408|Consider hardening SSH configuration|X11Forwarding (set YES to NO)|-|",
  "suggestion[]=FILE-6310|To decrease the impact of a full /home file system, place /home on a separate partition|-|-|",
  "suggestion[]=ACCT-9628|Enable auditd to collect audit information|-|-|",
];

describe("lockclaw audit --lynis", () => {
  it("reads the index, the warnings and the suggestions, and marks those a lockclaw setting addresses", () => {
    const r = parseLynisOutput(
      [`${M} installing`, `${M} rc 0`, `${M} report`, ...REPORT, `${M} tail`, `${M} end`].join("\n"),
    );
    expect(r).toMatchObject({ version: "3.1.4", hardeningIndex: 71, testsPerformed: 252, installed: true });
    expect(r.error).toBeUndefined();
    expect(r.warnings).toEqual([
      {
        id: "PKGS-7388",
        text: "Can't find any security repository in /etc/apt/sources.list or sources.list.d directory",
      },
    ]);
    expect(r.suggestions.map((s) => [s.id, s.details, s.lockclaw])).toEqual([
      ["SSH-7408", "X11Forwarding (set YES to NO)", "the sshd task"],
      ["FILE-6310", undefined, undefined],
      ["ACCT-9628", undefined, "auditd"],
    ]);
    expect(lynisCheck(r)).toMatchObject({ pass: true });
    expect(lynisCheck(r).evidence).toBe(
      "Lynis 3.1.4 (installed now): hardening index 71, 1 warning(s), 3 suggestion(s), 2 of them for a lockclaw setting",
    );
    const text = formatLynis(r);
    expect(text).toContain("LYNIS hardening index 71 (252 tests)");
    expect(text).toContain("ACCT-9628: Enable auditd to collect audit information [auditd]");
    expect(text).toContain("1 other suggestion(s) (in --json)");
  });

  it("a Lynis that cannot be installed or gives no index fails the check, with the reason", () => {
    const failed = parseLynisOutput(
      [`${M} installing`, `${M} install-failed`, "E: Unable to locate package lynis"].join("\n"),
    );
    expect(lynisCheck(failed)).toMatchObject({ pass: false });
    expect(failed.error).toMatch(/could not be installed: E: Unable to locate package lynis/);
    const empty = parseLynisOutput(
      [`${M} rc 1`, `${M} report`, `${M} tail`, "Fatal: x", `${M} end`].join("\n"),
    );
    expect(empty.error).toMatch(/lynis exited 1: Fatal: x/);
  });

  it("runs with the default profile (no upload) and removes its report", () => {
    const s = String(lynisScript());
    expect(s).toContain("lynis audit system --quick --no-colors --no-log --report-file");
    expect(s).not.toMatch(/--upload|--profile/);
    expect(s).toContain(`trap 'rm -rf "$lc_ld"' EXIT`);
  });
});

describe("installing Lynis", () => {
  it("runs the after-change hooks (AIDE's baseline) only when it installed the package", () => {
    const s = String(lynisScript());
    const install = s.indexOf("install --no-install-recommends lynis");
    const hooks = s.indexOf("/etc/lockclaw/after-change.d/*");
    const fi = s.indexOf("\nfi\nlynis audit system");
    expect(install).toBeGreaterThan(0);
    expect(hooks).toBeGreaterThan(install);
    expect(hooks).toBeLessThan(fi);
  });
});
