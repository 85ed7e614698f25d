import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadCloudflareRanges } from "../../../src/cloudflare/ranges.js";
import { renderDeep, renderTemplateFile } from "../../../src/engine/templates.js";
import { fail2banSpec } from "../../../src/resources/fail2ban.js";
import { desiredRules, ufwSpec } from "../../../src/resources/ufw.js";
import { sshdSpec } from "../../../src/resources/sshd.js";
import { auditRulesSpec, ruleKey } from "../../../src/resources/audit_rules.js";
import { isSecurityOrigin } from "../../../src/audit/packages.js";

const root = join(__dirname, "../../..");
const file = join(root, "playbooks/host.yml");
const play = parse(readFileSync(file, "utf8")) as {
  vars: Record<string, unknown>;
  reconnect: { user: string; port: string };
  tasks: Array<Record<string, unknown> & { name: string; tags?: string[] }>;
};
const CONTROL = new Set(["name", "tags", "notify", "when"]);
const kindOf = (t: Record<string, unknown>) => Object.keys(t).find((k) => !CONTROL.has(k))!;
const vars = {
  ...play.vars,
  authorized_keys: [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@laptop",
  ],
  cloudflare_ranges: loadCloudflareRanges(),
  login_user: "root",
};
const render = (t: Record<string, unknown>, i: number) =>
  renderDeep(t[kindOf(t)], vars, { file, path: `tasks[${i}].${kindOf(t)}` }) as Record<string, unknown>;

describe("playbooks/host.yml", () => {
  it("has the SPEC §1-5 defaults and reconnects as the deploy user on the SSH port", () => {
    expect(play.vars).toMatchObject({
      deploy_user: "deploy",
      ssh_port: 2222,
      admin_cidrs: [],
      authorized_keys: [],
    });
    expect(play.reconnect).toEqual({ user: "{{deploy_user}}", port: "{{ssh_port}}" });
  });

  it("keeps the lock-out-safe order: packages, user, key, sudoers, …, ufw ensure < sshd < ufw exact < fail2ban", () => {
    const kinds = play.tasks.map((t) =>
      kindOf(t) === "ufw" ? `ufw:${(t.ufw as { mode: string }).mode}` : kindOf(t),
    );
    // (issue 12's blocks follow, tested below)
    expect(kinds.slice(0, 23)).toEqual([
      // every package of the play, consecutive: the engine installs them in one apt-get run
      "package",
      "package",
      "package",
      "package",
      "user",
      "authorized_key",
      "template",
      "sysctl",
      "command", // ufw applies lockclaw's sysctl file, not its own (which resets log_martians)
      "ufw:ensure",
      "sshd",
      "ufw:exact",
      "template", // jail.local first: the fail2ban task's restart reads it
      "fail2ban",
      // deeper hardening (issue 12): banners, kernel, modules, login.defs, root, journald
      "template",
      "template",
      "sysctl",
      "directory",
      "template",
      "command",
      "command",
      "directory",
      "template",
    ]);
    // the deploy user can log in and sudo BEFORE sshd restricts logins to it
    expect(kinds.indexOf("authorized_key")).toBeLessThan(kinds.indexOf("sshd"));
    expect(kinds.indexOf("template")).toBeLessThan(kinds.indexOf("sshd"));
    // the new block is one contiguous run after fail2ban, each task behind its variable
    const first = play.tasks.findIndex((t) => t.name === "Legal banner for SSH logins");
    expect(first).toBe(kinds.indexOf("fail2ban") + 1);
    for (const t of play.tasks.slice(first)) expect(t.when, t.name).toMatch(/^[a-z_0-9]+$/);
  });

  it("tags every task from the documented set", () => {
    const allowed = new Set([
      "users",
      "ssh",
      "firewall",
      "fail2ban",
      "sysctl",
      "packages",
      "logs",
      "hardening",
      "updates",
      "auditd",
      "integrity",
    ]);
    for (const t of play.tasks) {
      expect(t.tags?.length, t.name).toBeGreaterThan(0);
      for (const tag of t.tags!) expect(allowed.has(tag), `${t.name}: ${tag}`).toBe(true);
    }
  });

  it("every template it references exists", () => {
    const srcs = play.tasks
      .filter((t) => kindOf(t) === "template")
      .map((t) => (t.template as { src: string }).src);
    expect(srcs.length).toBeGreaterThan(0);
    for (const s of srcs) expect(existsSync(join(root, "templates", s)), s).toBe(true);
  });

  it("the hardening tasks validate against their kinds with the default variables", () => {
    const args = (kind: string, mode?: string) => {
      const i = play.tasks.findIndex(
        (t) => kindOf(t) === kind && (!mode || (t.ufw as { mode: string }).mode === mode),
      );
      return render(play.tasks[i]!, i);
    };
    expect(sshdSpec.parse(args("sshd"))).toMatchObject({ port: 2222, settings: { AllowUsers: ["deploy"] } });
    expect(fail2banSpec.parse(args("fail2ban"))).toMatchObject({ port: 2222, jail: "sshd" });
    const ensure = ufwSpec.parse(args("ufw", "ensure"));
    expect(desiredRules(ensure).map((r) => r.key)).toEqual(["tcp 2222 any v4", "tcp 2222 any v6"]);
    const exact = ufwSpec.parse(args("ufw", "exact"));
    const keys = desiredRules(exact).map((r) => r.key);
    expect(keys).toHaveLength(2 + 15 + 7);
    expect(keys).toContain("tcp 443 2a06:98c0::/29 v6");
    expect(keys.filter((k) => k.startsWith("tcp 443 any"))).toEqual([]);
  });

  it("with admin_cidrs, SSH is open only to them and they also reach 443", () => {
    const i = play.tasks.findIndex(
      (t) => kindOf(t) === "ufw" && (t.ufw as { mode: string }).mode === "exact",
    );
    const a = renderDeep(
      play.tasks[i]!.ufw,
      { ...vars, admin_cidrs: ["198.51.100.0/24"] },
      { file, path: "x" },
    );
    const keys = desiredRules(ufwSpec.parse(a)).map((r) => r.key);
    expect(keys.filter((k) => k.startsWith("tcp 2222"))).toEqual(["tcp 2222 198.51.100.0/24 v4"]);
    expect(keys).toContain("tcp 443 198.51.100.0/24 v4");
  });

  it("the sudoers template gives NOPASSWD sudo and SPEC §1's hardening, and is validated with visudo", () => {
    const sudoers = (v: Record<string, unknown>) =>
      renderTemplateFile("sudoers-deploy.hbs", file, v, { file, path: "sudoers" });
    const t = sudoers(vars);
    expect(t).toContain("deploy ALL=(ALL:ALL) NOPASSWD: ALL");
    const hardening = [
      "Defaults use_pty",
      "Defaults logfile=/var/log/sudo.log",
      "Defaults timestamp_timeout=5",
    ];
    for (const d of hardening) expect(t).toContain(d);
    expect(sudoers({ ...vars, sudo_timestamp_timeout: 0 })).toContain("Defaults timestamp_timeout=0\n");
    // sudo_hardening: false drops the Defaults (the distribution's own sudoers may still set use_pty)
    const off = sudoers({ ...vars, sudo_hardening: false });
    for (const d of hardening) expect(off).not.toContain(d);
    expect(off).toContain("deploy ALL=(ALL:ALL) NOPASSWD: ALL");
    const task = play.tasks.find((x) => kindOf(x) === "template")!.template as Record<string, string>;
    expect(task).toMatchObject({ mode: "0440", validate: "visudo -cf %s" });
  });
});

describe("playbooks/host.yml, updates, audit and integrity (issue 12)", () => {
  const raw = parse(readFileSync(file, "utf8")) as { var_types: Record<string, unknown> };
  const ofBlock = (t: (typeof play.tasks)[number]) =>
    (t.tags ?? []).some((x) => ["updates", "auditd", "integrity"].includes(x));
  // its packages sit with the base packages (one apt-get run); the rest is one block at the end
  const first = play.tasks.findIndex((t) => ofBlock(t) && kindOf(t) !== "package");
  const block = play.tasks.slice(first);
  const packages = play.tasks.filter((t) => ofBlock(t) && kindOf(t) === "package");

  it("is one block at the end, each task behind a bool variable that is on by default", () => {
    expect(first).toBeGreaterThan(0);
    expect(readFileSync(file, "utf8")).toContain(
      "# --- deeper hardening (issue 12): updates, audit, integrity",
    );
    const switches = new Set([...block, ...packages].map((t) => t.when));
    expect([...switches].sort()).toEqual(["auditd", "auto_updates", "file_integrity"]);
    expect(packages.map((t) => t.name)).toEqual([
      "Automatic security updates packages",
      "auditd package",
      "AIDE package",
    ]);
    expect(play.tasks.indexOf(packages[0]!)).toBe(1);
    for (const v of switches) {
      expect(raw.var_types[v as string], v as string).toBe("bool");
      expect(play.vars[v as string], v as string).toBe(true);
    }
    expect(play.vars).toMatchObject({ auto_reboot: false, auto_reboot_time: "03:30" });
    expect(raw.var_types).toMatchObject({ auto_reboot: "bool", auto_reboot_time: "clock_time" });
  });

  it("audits identity files, sudoers, sshd, Docker's sockets, the clock, modules and mounts", () => {
    const t = block.find((x) => kindOf(x) === "audit_rules")!;
    const spec = auditRulesSpec.parse(t.audit_rules);
    const keys = new Set(spec.rules.map((r) => ruleKey(r)));
    for (const k of ["identity", "sudoers", "sshd", "docker", "time", "modules", "mounts"]) {
      expect(keys.has(`lockclaw-${k}`), k).toBe(true);
    }
    const watched = spec.rules.join("\n");
    for (const p of [
      "/etc/shadow",
      "/etc/sudoers.d",
      "/etc/ssh/sshd_config.d",
      "/run/docker.sock",
      "/var/run/docker.sock",
    ]) {
      expect(watched).toContain(`-w ${p} `);
    }
  });

  it("unattended-upgrades takes the security origin only and reboots only when asked", () => {
    const text = readFileSync(join(root, "templates/apt/50unattended-upgrades.hbs"), "utf8");
    const origins = [...text.matchAll(/^\s+"([^"]+)";$/gm)]
      .map((m) => m[1]!)
      .filter((o) => !o.startsWith("--"));
    expect(origins.length).toBeGreaterThan(0);
    for (const o of origins) expect(isSecurityOrigin(o), o).toBe(true);
    expect(text).not.toMatch(/Automatic-Reboot/);
    const reboot = block.find((x) => (x.file as { path?: string } | undefined)?.path?.includes("reboot"))!;
    const i = play.tasks.indexOf(reboot);
    expect((render(reboot, i) as { content: string }).content).toContain(
      'Unattended-Upgrade::Automatic-Reboot "false";',
    );
  });
});
