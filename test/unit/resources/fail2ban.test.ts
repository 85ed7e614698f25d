import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  fail2banKind,
  fail2banSpec,
  parseFail2banProbe,
  renderJail,
  type Fail2banFacts,
} from "../../../src/resources/fail2ban.js";
import { applyOf, changesOf } from "./helpers.js";

// Real `fail2ban-client status sshd` of fail2ban 1.0.2 (Debian 12) running this jail file.
const STATUS = readFileSync(join(__dirname, "../audit/fixtures/fail2ban-status-sshd.txt"), "utf8");
const spec = fail2banSpec.parse({ port: "2222" });
const M = "@@lockclaw-fail2ban";
const probe = (
  o: { active?: string; enabled?: string; file?: string; rc?: number; status?: string } = {},
): Fail2banFacts =>
  parseFail2banProbe(
    [
      `${M} installed`,
      `${M} active ${o.active ?? "active"}`,
      `${M} enabled ${o.enabled ?? "enabled"}`,
      ...(o.file !== undefined ? [`${M} file`, Buffer.from(o.file).toString("base64")] : []),
      `${M} jail`,
      o.status ?? STATUS,
      `${M} jail-rc ${o.rc ?? 0}`,
      `${M} end`,
    ].join("\n"),
  );

describe("fail2ban", () => {
  it("renders SPEC §5's jail: port, systemd backend, 3/600/3600, nftables bans, Debian's ssh.service", () => {
    const j = renderJail(spec);
    expect(j).toContain("[sshd]\nenabled = true\nport = 2222\nbackend = systemd\n");
    expect(j).toContain(
      "journalmatch = _SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service + _COMM=sshd + _COMM=sshd-session",
    );
    expect(j).toMatch(/maxretry = 3\nfindtime = 600\nbantime = 3600\nbanaction = nftables-multiport\n/);
  });
  it("rejects values that could inject config", () => {
    expect(() => fail2banSpec.parse({ port: 22, banaction: "ufw\nenabled = false" })).toThrow(/single word/);
    expect(() => fail2banSpec.parse({ port: 22, path: "/etc/fail2ban/jail.local" })).toThrow(/jail.d/);
  });
  it("parses the real status output; converged → no changes", () => {
    const f = probe({ file: renderJail(spec) });
    expect(f.jailStatus).toContain("Status for the jail: sshd");
    expect(changesOf(fail2banKind, spec, f, { check: false })).toEqual([]);
  });
  it("drift: service stopped (jail not answering) → named, restarted", () => {
    const f = probe({
      file: renderJail(spec),
      active: "inactive",
      rc: 255,
      status: "Failed to access socket path: /var/run/fail2ban/fail2ban.sock. Is fail2ban running?",
    });
    expect(changesOf(fail2banKind, spec, f, { check: false }).map((c) => c.summary)).toEqual([
      "fail2ban service inactive → active",
    ]);
    const script = String(applyOf(fail2banKind, spec, f));
    expect(script).toContain("systemctl restart fail2ban");
    expect(script).toMatch(/until fail2ban-client status sshd/);
    expect(script).not.toContain("fail2ban-client -t"); // nothing written
  });
  it("fresh host: file created, tested with fail2ban-client -t before the restart, enabled, polled", () => {
    const f = probe({ active: "inactive", enabled: "disabled", rc: 255, status: "" });
    expect(changesOf(fail2banKind, spec, f, { check: false }).map((c) => c.summary)).toEqual([
      "create /etc/fail2ban/jail.d/lockclaw.local",
      "fail2ban service inactive → active",
      "fail2ban service disabled at boot → enabled",
    ]);
    const script = String(applyOf(fail2banKind, spec, f));
    expect(script.indexOf("fail2ban-client -t")).toBeLessThan(script.indexOf("systemctl restart fail2ban"));
    expect(script).toContain(`-gt ${30 * 5}`);
  });
  it("rejects truncated probe output", () => {
    expect(() => parseFail2banProbe(`${M} installed\n`)).toThrow(/incomplete/);
  });
});
