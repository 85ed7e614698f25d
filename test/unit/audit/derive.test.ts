/**
 * The audit's expectation comes from the prepared plays, never from a copy of the playbook: a custom
 * playbook that opens another port is audited against it, and every other task is judged by its module's
 * own probe and plan (the probe run here by a real sh).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  coverageOf,
  covers,
  desiredRulesOf,
  evaluateAudit,
  evaluateTasks,
  expectedFromPlays,
  foldCovered,
  taskCheckId,
  taskFragments,
  type ModuleAudit,
} from "../../../src/audit/index.js";
import { builtinPlaybook } from "../../../src/engine/paths.js";
import { SectionWriter } from "../../../src/engine/sections.js";
import { raw } from "../../../src/core/sh.js";
import { AUDIT_M, prepared, sections } from "./support.js";

const dir = mkdtempSync(join(tmpdir(), "lc-audit-derive-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** host.yml with one more rule in the exact firewall task, and one more task. */
function customPlaybook(extraTask = ""): string {
  const file = join(dir, `custom-${Math.random().toString(36).slice(2)}.yml`);
  const text = readFileSync(builtinPlaybook("host"), "utf8").replace(
    "          comment: lockclaw admin\n",
    "          comment: lockclaw admin\n        - port: 8443\n          proto: tcp\n          comment: app\n",
  );
  expect(text).toContain("port: 8443");
  // the extra tasks go at the end of the task list (before the handlers)
  writeFileSync(file, text.replace("\nhandlers:\n", `\n${extraTask}handlers:\n`));
  return file;
}

const ports = (e: ReturnType<typeof expectedFromPlays>) =>
  [...new Set(desiredRulesOf(e.host).map((r) => `${r.port}/${r.proto} ${r.source}`))].filter(
    (r) => !r.startsWith("443/tcp") || r.endsWith("any"),
  );

describe("the audit's expectation, from the prepared plays", () => {
  it("the built-in host playbook: its sshd, ufw, fail2ban and keys, with the variables rendered", () => {
    const e = expectedFromPlays(prepared(builtinPlaybook("host"), { ssh_port: 2200, deploy_user: "ops" }));
    expect(e.host.sshd).toMatchObject({ port: 2200, settings: { AllowUsers: ["ops"] } });
    expect(e.host.ufw).toMatchObject({ mode: "exact", default_incoming: "deny" });
    expect(ports(e)).toEqual(["2200/tcp any"]);
    expect(e.host.fail2ban).toEqual([expect.objectContaining({ jail: "sshd", port: 2200, maxretry: 3 })]);
    expect(e.host.authorizedKeys).toHaveLength(1);
    // every other task that can verify itself is judged by its module (command cannot: it is an action)
    expect([...new Set(e.tasks.map((t) => t.kind.name))].sort()).toEqual([
      "audit_rules",
      "directory",
      "file",
      "package",
      "service",
      "sysctl",
      "template",
      "user",
    ]);
    expect(e.tasks.map((t) => t.name)).toContain("Sudoers for the deploy user");
    // the deeper parts, from the same plays: the kernel sysctls task's settings, the audit_rules task's
    expect(e.hardening).toMatchObject({ deployUser: "ops", banner: "/etc/issue.net" });
    expect(e.hardening.kernel).toMatchObject({ "kernel.kptr_restrict": "2", "fs.suid_dumpable": "0" });
    expect(e.packages.auditRules).toContain("-w /etc/sudoers -p wa -k lockclaw-sudoers");
  });

  it("a custom playbook's extra port is expected in ufw and may listen; the built-in one calls it rogue", () => {
    const custom = expectedFromPlays(prepared(customPlaybook())).host;
    const builtin = expectedFromPlays(prepared()).host;
    expect(desiredRulesOf(custom).some((r) => r.port === 8443)).toBe(true);
    expect(desiredRulesOf(builtin).some((r) => r.port === 8443)).toBe(false);
    const ss = sections({
      ss: [
        `${AUDIT_M} ss`,
        'tcp LISTEN 0 128 0.0.0.0:2222 0.0.0.0:* users:(("sshd",pid=1,fd=3))',
        'tcp LISTEN 0 128 0.0.0.0:8443 0.0.0.0:* users:(("app",pid=2,fd=3))',
        `${AUDIT_M} ss-rc 0`,
      ].join("\n"),
    });
    const listeners = (e: typeof custom) => evaluateAudit(ss, e).find((c) => c.id === "listeners.public")!;
    expect(listeners(custom)).toMatchObject({
      pass: true,
      title: expect.stringContaining("2222, 443, 8443"),
    });
    expect(listeners(builtin)).toMatchObject({ pass: false, evidence: "unexpected: tcp 0.0.0.0:8443 (app)" });
  });

  it("an ensure-mode ufw task after the exact one adds its rules; a task skipped by when adds nothing", () => {
    const file = customPlaybook(
      [
        "  - name: Later port",
        "    ufw:",
        "      mode: ensure",
        "      rules: [{ port: 9000, proto: udp }]",
        "  - name: Never",
        "    ufw:",
        "      mode: exact",
        "      rules: []",
        "    when: admin_cidrs",
        "",
      ].join("\n"),
    );
    const e = expectedFromPlays(prepared(file));
    expect(e.host.ufw!.mode).toBe("exact");
    expect(desiredRulesOf(e.host).filter((r) => r.port === 9000 || r.port === 8443).length).toBe(4);
  });

  it("a module with an audit of its own gets its tasks instead of the diff check", () => {
    const seen: string[] = [];
    const own: ModuleAudit = {
      fragments: (ts) => ts.map((t) => ({ id: `own-${t.id}`, script: raw("true") })),
      evaluate: (_s, ts) => ts.map((t) => ({ id: `sysctl.own`, title: t.name, pass: true, evidence: "" })),
    };
    const e = expectedFromPlays(prepared(), { sysctl: own });
    seen.push(...e.modules.flatMap((m) => m.tasks.map((t) => t.kind.name)));
    // the network and the kernel sysctls
    expect(seen).toEqual(["sysctl", "sysctl"]);
    expect(e.tasks.map((t) => t.kind.name)).not.toContain("sysctl");
  });
});

describe("every other task: its module's probe and diff", () => {
  it("passes when the probe finds the declared state and names the drift when not (probe run by sh)", () => {
    const path = join(dir, "motd");
    const file = join(dir, "files.yml");
    writeFileSync(
      file,
      [
        "name: files",
        "tasks:",
        "  - name: Message of the day",
        "    file:",
        `      path: ${path}`,
        '      content: "hello\\n"',
        "",
      ].join("\n"),
    );
    const e = expectedFromPlays(prepared(file, { authorized_keys: undefined }));
    expect(e.tasks.map((t) => t.name)).toEqual(["Message of the day"]);
    const run = () => {
      const w = new SectionWriter();
      const r = spawnSync(
        "/bin/sh",
        ["-c", String(w.script(taskFragments(e.tasks).map((f) => w.probe(f))))],
        {
          encoding: "utf8",
        },
      );
      return evaluateTasks(w.parse(r.stdout), e.tasks, {});
    };
    writeFileSync(path, "hello\n");
    expect(run()).toEqual([
      {
        id: "file.message-of-the-day",
        title: `Message of the day: file ${path} as declared`,
        pass: true,
        evidence: "nothing to change",
      },
    ]);
    writeFileSync(path, "hacked\n");
    const [bad] = run();
    expect(bad!.pass).toBe(false);
    expect(bad!.evidence).toMatch(/^drift: .*motd/);
    // a section that never came back fails, it is not passed
    expect(evaluateTasks(new Map(), e.tasks, {})[0]).toMatchObject({ pass: false });
  });
});

describe("one drift, one failure: a task a deeper part covers", () => {
  const e = expectedFromPlays(prepared());
  const task = (name: string) => e.tasks.find((t) => t.name === name)!;
  const coverage = coverageOf(e);
  const fail = (id: string, evidence = "x") => ({ id, title: id, pass: false, evidence });
  const sudoers = taskCheckId(task("Sudoers for the deploy user"));

  it("the covered task's drift is a SKIP naming the part's failing check; without one it fails", () => {
    expect(sudoers).toBe("template.sudoers-for-the-deploy-user");
    const drift = fail(sudoers, "drift: /etc/sudoers.d/deploy");
    const folded = foldCovered([drift, fail("sudo.use_pty")], e.tasks, coverage);
    expect(folded.filter((c) => !c.pass).map((c) => c.id)).toEqual(["sudo.use_pty"]);
    expect(folded[0]).toMatchObject({
      pass: true,
      skipped: true,
      evidence: "reported by sudo.use_pty (drift: /etc/sudoers.d/deploy)",
    });
    // a line the effective checks do not see (a comment): the task's own failure
    expect(foldCovered([drift], e.tasks, coverage)).toEqual([drift]);
    // another part failing does not hide it
    expect(foldCovered([drift, fail("journald.max_use")], e.tasks, coverage)[0]).toEqual(drift);
  });

  it("covers by file, package and service: the kernel sysctls, the updates part, auditd, AIDE", () => {
    const covered = (name: string) => coverage.filter((c) => covers(c, task(name))).flatMap((c) => c.checks);
    expect(covered("Kernel hardening sysctls")).toContain("kernel.kernel.sysrq");
    expect(covered("Network hardening sysctls")).toEqual([]);
    expect(covered("Unattended upgrades from the security origin only")).toEqual(["updates."]);
    expect(covered("Automatic security updates packages")).toEqual(["updates."]);
    expect(covered("APT daily timers")).toEqual(["updates."]);
    expect(covered("Audit rules")).toEqual(["auditd."]);
    expect(covered("AIDE configuration")).toEqual(["integrity."]);
    expect(covered("Persistent journald with a size cap")).toEqual(["journald."]);
    expect(covered("Legal banner for SSH logins")).toEqual(["sshd.banner_file"]);
    expect(covered("Legal banner for console logins")).toEqual([]);
  });
});
