import { describe, expect, it } from "vitest";
import {
  evaluateAide,
  evaluatePackagesAudit,
  isSecurityOrigin,
  packagesAuditScript,
  packagesExpectedFromPlays,
  parseAptConfig,
  type PackagesAuditExpected,
} from "../../../src/audit/packages.js";
import { runSh } from "../resources/helpers.js";
import { prepared } from "./support.js";

const M = "@@lockclaw-pkgaudit";
const RULES = ["-w /etc/passwd -p wa -k lockclaw-identity", "-w /etc/sudoers -p wa -k lockclaw-sudoers"];
const expected: PackagesAuditExpected = {
  autoUpdates: true,
  autoReboot: false,
  autoRebootTime: "03:30",
  auditd: true,
  auditRules: RULES,
  auditRulesFile: "/etc/audit/rules.d/50-lockclaw.rules",
  fileIntegrity: true,
};
// `apt-config dump` on a provisioned lab machine (Debian 13), as the script filters it
const APT_OK = [
  'APT::Periodic "";',
  'APT::Periodic::Update-Package-Lists "1";',
  'APT::Periodic::Download-Upgradeable-Packages "1";',
  'APT::Periodic::Unattended-Upgrade "1";',
  'APT::Periodic::AutocleanInterval "7";',
  'Unattended-Upgrade::Allowed-Origins "";',
  'Unattended-Upgrade::Allowed-Origins:: "${distro_id}:${distro_codename}-security";',
  'Unattended-Upgrade::Allowed-Origins:: "${distro_id}ESMApps:${distro_codename}-apps-security";',
  'Unattended-Upgrade::Origins-Pattern "";',
  'Unattended-Upgrade::Automatic-Reboot "false";',
  'Unattended-Upgrade::Automatic-Reboot-Time "03:30";',
].join("\n");
// Debian's own 50unattended-upgrades (what lockclaw replaces): point releases too
const APT_DEBIAN = [
  'APT::Periodic::Update-Package-Lists "1";',
  'APT::Periodic::Unattended-Upgrade "1";',
  'Unattended-Upgrade::Origins-Pattern "";',
  'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian";',
  'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";',
].join("\n");
const AIDE_CLEAN = "state=checked 0\nNumber of entries:\t13941";
// aide --check after a planted file, a removed one and an edit (recorded on the lab, filtered as the script does)
const AIDE_CHANGED = [
  "state=checked 7",
  "  Total number of entries:\t13941",
  "  Added entries:\t\t1",
  "  Removed entries:\t\t1",
  "  Changed entries:\t\t3",
  "f++++++++++++++++++: /usr/local/bin/evil",
  "f------------------: /etc/motd",
  "d = ... mc.. ..    : /etc",
  "f > ... mc..H..    : /etc/issue",
  "d = ... mc.. ..    : /usr/local/bin",
].join("\n");

function output(
  o: { apt?: string; nr?: string; kernel?: string; file?: string; aide?: string } = {},
): string {
  return [
    `${M} apt-config`,
    o.apt ?? APT_OK,
    `${M} uu-installed yes`,
    `${M} uu-timer active`,
    `${M} needrestart`,
    o.nr ?? "$nrconf{restart} = 'l';",
    `${M} audit-kernel`,
    o.kernel ??
      "kernel=refused Error - audit support not in kernel Cannot open netlink audit socket\nactive=inactive",
    `${M} audit-file`,
    o.file ?? Buffer.from(`# Managed by lockclaw\n${RULES.join("\n")}\n`).toString("base64"),
    `${M} aide`,
    o.aide ?? AIDE_CLEAN,
    `${M} end`,
  ].join("\n");
}
const byId = (out: string, e = expected) => new Map(evaluatePackagesAudit(out, e).map((c) => [c.id, c]));

describe("packages audit", () => {
  it("passes a provisioned lab machine; auditd's live state is a SKIP with the kernel's answer", () => {
    const c = byId(output());
    for (const id of [
      "updates.periodic",
      "updates.origins",
      "updates.reboot",
      "updates.needrestart",
      "auditd.rules",
      "integrity.aide",
    ]) {
      expect(c.get(id), id).toMatchObject({ pass: true });
      expect(c.get(id)!.skipped, id).toBeFalsy();
    }
    expect(c.get("auditd.live")).toMatchObject({ pass: true, skipped: true });
    expect(c.get("auditd.live")!.evidence).toMatch(/kernel refuses audit here.*netlink/);
  });

  it("fails Debian's own origins (point releases too), naming the non-security one", () => {
    const c = byId(output({ apt: APT_DEBIAN })).get("updates.origins")!;
    expect(c.pass).toBe(false);
    expect(c.evidence).toBe("not a security origin: origin=Debian,codename=${distro_codename},label=Debian");
  });

  it("fails a reboot the operator did not ask for, and checks the time when asked", () => {
    const on = APT_OK.replace('Automatic-Reboot "false"', 'Automatic-Reboot "true"');
    expect(byId(output({ apt: on })).get("updates.reboot")!.pass).toBe(false);
    const want = { ...expected, autoReboot: true, autoRebootTime: "04:00" };
    expect(byId(output({ apt: on }), want).get("updates.reboot")!.pass).toBe(false);
    expect(byId(output({ apt: on.replace('"03:30"', '"04:00"') }), want).get("updates.reboot")!.pass).toBe(
      true,
    );
  });

  it("fails periodic runs turned off, and needrestart's default (which restarts)", () => {
    const off = APT_OK.replace('Unattended-Upgrade "1"', 'Unattended-Upgrade "0"');
    expect(byId(output({ apt: off })).get("updates.periodic")!.pass).toBe(false);
    expect(byId(output({ nr: "" })).get("updates.needrestart")!.pass).toBe(false);
    expect(byId(output({ nr: "$nrconf{restart} = 'a';" })).get("updates.needrestart")!.pass).toBe(false);
  });

  it("fails a removed rules file or rule, and rules not loaded where the kernel allows audit", () => {
    expect(byId(output({ file: "absent" })).get("auditd.rules")).toMatchObject({
      pass: false,
      evidence: "file missing",
    });
    const one = Buffer.from(`${RULES[0]}\n`).toString("base64");
    expect(byId(output({ file: one })).get("auditd.rules")!.evidence).toBe(`missing: ${RULES[1]}`);
    const live = byId(output({ kernel: "kernel=ok\nloaded=lockclaw-identity\nactive=active" })).get(
      "auditd.live",
    )!;
    expect(live).toMatchObject({ pass: false, evidence: "auditd active; keys not loaded: lockclaw-sudoers" });
    expect(live.skipped).toBeFalsy();
    const ok = byId(
      output({ kernel: "kernel=ok\nloaded=lockclaw-identity\nloaded=lockclaw-sudoers\nactive=active" }),
    );
    expect(ok.get("auditd.live")!.pass).toBe(true);
  });

  it("a part turned off is one SKIP naming its variable", () => {
    const c = evaluatePackagesAudit(output(), {
      ...expected,
      autoUpdates: false,
      auditd: false,
      fileIntegrity: false,
    });
    expect(c.map((x) => [x.id, x.skipped, x.evidence])).toEqual([
      ["updates", true, "turned off (auto_updates: false)"],
      ["auditd", true, "turned off (auditd: false)"],
      ["integrity", true, "turned off (file_integrity: false)"],
    ]);
  });

  it("an incomplete output is one failure", () => {
    expect(evaluatePackagesAudit(output().replace(`${M} end`, ""), expected)).toMatchObject([
      { id: "audit.packages", pass: false },
    ]);
  });
});

describe("AIDE check", () => {
  it("names the added, removed and changed paths", () => {
    const c = evaluateAide(AIDE_CHANGED);
    expect(c.pass).toBe(false);
    expect(c.evidence).toBe(
      "1 added, 1 removed, 3 changed: /usr/local/bin/evil, /etc/motd, /etc, /etc/issue, /usr/local/bin",
    );
  });
  it("passes no differences; fails no baseline, no config, no aide, an error", () => {
    expect(evaluateAide(AIDE_CLEAN)).toMatchObject({
      pass: true,
      evidence: "no differences (13941 entries)",
    });
    expect(evaluateAide("state=no-database").evidence).toMatch(/no baseline/);
    expect(evaluateAide("state=no-config").pass).toBe(false);
    expect(evaluateAide("state=not-installed").pass).toBe(false);
    expect(evaluateAide("state=checked 17\nERROR: cannot read").pass).toBe(false);
  });
  it("the script's filter keeps the summary and the entry lines of real aide output", () => {
    const script = String(packagesAuditScript(expected));
    const grep = /grep -E ('[^']+')/.exec(script.split("\n").find((l) => l.includes("Added entries"))!)![1]!;
    const real = [
      "Summary:",
      "  Total number of entries:\t13941",
      "  Added entries:\t\t1",
      "Added entries:",
      "f++++++++++++++++++: /usr/local/bin/evil",
      "d = ... mc.. ..    : /etc",
      "File: /etc/issue",
      " SHA256    : O6e/B5EJMOnpQ+YTHs4/MYLx075gegpM | I9WcD1OCQJeP3b8zRBJmilg6byEmIIwW",
    ];
    const r = runSh(`printf '%s\\n' ${real.map((l) => `'${l}'`).join(" ")} | grep -E ${grep}`);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([real[1], real[2], real[4], real[5]]);
  });
});

describe("apt-config dump", () => {
  it("reads scalars and lists", () => {
    const a = parseAptConfig(APT_OK);
    expect(a.get("APT::Periodic::Unattended-Upgrade")).toEqual(["1"]);
    expect(a.get("Unattended-Upgrade::Allowed-Origins")).toEqual([
      "${distro_id}:${distro_codename}-security",
      "${distro_id}ESMApps:${distro_codename}-apps-security",
    ]);
  });
  it("a security origin says so", () => {
    expect(isSecurityOrigin("origin=Debian,codename=${distro_codename}-security,label=Debian-Security")).toBe(
      true,
    );
    expect(isSecurityOrigin("${distro_id}:${distro_codename}-updates")).toBe(false);
  });
});

describe("expectation from the host play", () => {
  it("the built-in defaults check every part; a playbook without the variables (--playbook) checks none", () => {
    const plays = prepared();
    const e = packagesExpectedFromPlays(plays);
    expect(e).toMatchObject({ autoUpdates: true, auditd: true, fileIntegrity: true, autoReboot: false });
    expect(e.auditRules.length).toBeGreaterThan(10);
    expect(e.auditRulesFile).toBe("/etc/audit/rules.d/50-lockclaw.rules");
    const custom = packagesExpectedFromPlays([{ ...plays[0]!, tasks: [], vars: { deploy_user: "deploy" } }]);
    expect(evaluatePackagesAudit(output(), custom).map((c) => [c.id, c.skipped, c.evidence])).toEqual([
      ["updates", true, "not in the playbook (no auto_updates variable)"],
      ["auditd", true, "not in the playbook (no auditd variable)"],
      ["integrity", true, "not in the playbook (no file_integrity variable)"],
    ]);
    const off = packagesExpectedFromPlays(prepared(undefined, { auditd: false }));
    // the audit_rules task is skipped by its when: no rules expected
    expect(off.auditRules).toEqual([]);
    expect(evaluatePackagesAudit(output(), off).find((c) => c.id === "auditd")?.evidence).toBe(
      "turned off (auditd: false)",
    );
  });
});
