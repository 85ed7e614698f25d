import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  evaluateAudit,
  expectedFromPlays,
  hostAuditFragments,
  isLocalOnly,
  parseSs,
  type AuditCheck,
} from "../../../src/audit/index.js";
import type { SectionResult } from "../../../src/engine/sections.js";
import { AUDIT_M as M, F2B_M, UFW_M, b64, prepared, sections, sshdOutput, PRE_EXPLICIT } from "./support.js";

// Every sample here is real output captured on Debian 12: sshd -T with lockclaw's drop-in (and with an
// earlier drop-in re-enabling passwords), ss -tulpnH with listeners opened in a scratch network
// namespace, ufw's rule files and status, fail2ban-client status.
const fx = (name: string) => readFileSync(join(__dirname, "fixtures", name), "utf8");

interface Parts {
  sshdT?: string;
  ss?: string;
  /** `ufw disable` as the kernel shows it: ufw's user chains gone from the live filter. */
  inactive?: boolean;
  v4?: string;
  v6?: string;
  f2b?: string;
  f2bRc?: number;
  port?: string;
  /** iptables-save / ip6tables-save and /etc/ufw/before.rules (live-filter fixtures from a lab machine). */
  live4?: string;
  live6?: string;
  before?: string;
  noLive?: boolean;
}
const ufwFx = (name: string) => readFileSync(join(__dirname, "../resources/ufw/fixtures", name), "utf8");
function liveSections(p: Parts): string[] {
  if (p.noLive) return [];
  const off = (save: string) =>
    p.inactive ? save.replace(/^:ufw6?-user-(input|output|forward) .*\n/gm, "") : save;
  const out = [
    `${UFW_M} fw-backend`,
    "iptables v1.8.11 (nf_tables)",
    `${UFW_M} fw-save4`,
    off(p.live4 ?? ufwFx("iptables-save-provisioned.txt")),
    `${UFW_M} fw-save4-rc 0`,
    `${UFW_M} fw-save6`,
    off(p.live6 ?? ufwFx("ip6tables-save-provisioned.txt")),
    `${UFW_M} fw-save6-rc 0`,
  ];
  for (const f of ["before", "after", "before6", "after6"]) {
    const stock = ufwFx(`usr-share-ufw-iptables-${f}.rules`);
    out.push(
      `${UFW_M} fw-stock ${f}`,
      b64(stock),
      `${UFW_M} fw-etc ${f}`,
      b64(f === "before" ? (p.before ?? stock) : stock),
    );
  }
  return out;
}
/** What each fragment of the host audit prints on the hardened host, with the parts given replaced. */
function output(p: Parts = {}): Map<string, SectionResult> {
  return sections({
    sshd: sshdOutput(p.sshdT ?? fx("sshd-T-debian12-hardened.txt")),
    keys: "",
    ss: [`${M} ss`, p.ss ?? fx("ss-tulpnH-clean.txt"), `${M} ss-rc 0`].join("\n"),
    ufw: [
      `${UFW_M} file /etc/default/ufw`,
      b64(
        'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\nDEFAULT_FORWARD_POLICY="DROP"\n',
      ),
      `${UFW_M} file /etc/ufw/user.rules`,
      b64(p.v4 ?? fx("ufw-user.rules-cloudflare-by-ufw")),
      `${UFW_M} file /etc/ufw/user6.rules`,
      b64(p.v6 ?? fx("ufw-user6.rules-cloudflare-by-ufw")),
      ...liveSections(p),
      `${UFW_M} end`,
    ].join("\n"),
    "fail2ban-0": [
      `${F2B_M} installed`,
      `${F2B_M} active active`,
      `${F2B_M} enabled enabled`,
      `${F2B_M} jail`,
      p.f2b ?? fx("fail2ban-status-sshd.txt"),
      `${F2B_M} jail-rc ${p.f2bRc ?? 0}`,
      `${F2B_M} end`,
    ].join("\n"),
    "fail2ban-0-live": [
      `${M} f2b-get maxretry`,
      "3",
      `${M} f2b-get findtime`,
      "600",
      `${M} f2b-get bantime`,
      "3600",
      `${M} f2b-action-port nftables-multiport`,
      p.port ?? "2222",
    ].join("\n"),
  });
}

// the built-in host playbook as provision prepares it (ssh from anywhere, 443 from Cloudflare), plus the
// two admin sources of the fixtures' rule set
const expected = expectedFromPlays(prepared(undefined, PRE_EXPLICIT)).host;
expected.ufw!.rules.push({
  port: 443,
  proto: "tcp",
  from: ["198.51.100.7", "2001:db8::/48"],
  if_empty: "none",
});

const failing = (checks: AuditCheck[]) => checks.filter((c) => !c.pass);
const script = (e: typeof expected) =>
  hostAuditFragments(e)
    .map((f) => f.script)
    .join("\n");

describe("audit evaluation", () => {
  it("a hardened host passes every check", () => {
    const checks = evaluateAudit(output(), expected);
    expect(failing(checks)).toEqual([]);
    expect(checks.map((c) => c.id)).toEqual(
      expect.arrayContaining([
        "sshd.port",
        "sshd.PasswordAuthentication",
        "sshd.KexAlgorithms",
        "listeners.public",
        "ufw.active",
        "ufw.rules",
        "fail2ban.jail",
        "fail2ban.port",
      ]),
    );
    expect(checks.length).toBeGreaterThan(20);
  });
  it("the sshd task's explicit: (the host playbook's default) expects each directive scanners read", () => {
    // the task's spec says so, not a list in the audit: the fixture's host predates explicit:
    const explicit = expectedFromPlays(prepared()).host;
    const bad = failing(evaluateAudit(output(), explicit)).map((c) => `${c.id}: ${c.evidence}`);
    expect(bad).toEqual(
      expect.arrayContaining([
        "sshd.AllowTcpForwarding: allowtcpforwarding yes",
        "sshd.TCPKeepAlive: tcpkeepalive yes",
        "sshd.MaxSessions: maxsessions 10",
        "sshd.LogLevel: loglevel INFO",
        "sshd.Banner: banner none",
      ]),
    );
    // and without explicit: none of them (the pre-explicit fixture passes sshd, as above)
    expect(failing(evaluateAudit(output(), expected)).filter((c) => c.id.startsWith("sshd."))).toEqual([]);
  });
  it("the algorithm lists are exactly what the sshd task asks for: with ssh_legacy_clients and without", () => {
    // the host as provisioned with ssh_legacy_clients: the two legacy algorithms last
    const legacyT = fx("sshd-T-debian12-hardened.txt")
      .replace(/^(kexalgorithms .*)$/m, "$1,diffie-hellman-group-exchange-sha256")
      .replace(/^(ciphers .*)$/m, "$1,aes256-ctr");
    const legacy = expectedFromPlays(prepared(undefined, { ...PRE_EXPLICIT, ssh_legacy_clients: true })).host;
    legacy.ufw = expected.ufw;
    const algs = (checks: AuditCheck[]) =>
      checks.filter((c) => c.id === "sshd.KexAlgorithms" || c.id === "sshd.Ciphers");
    const withLegacy = algs(evaluateAudit(output({ sshdT: legacyT }), legacy));
    expect(withLegacy.map((c) => [c.pass, c.title])).toEqual([
      [
        true,
        "KexAlgorithms exactly the hardened list + diffie-hellman-group-exchange-sha256 (legacy_clients)",
      ],
      [true, "Ciphers exactly the hardened list + aes256-ctr (legacy_clients)"],
    ]);
    expect(failing(evaluateAudit(output({ sshdT: legacyT }), legacy))).toEqual([]);
    // not asked for: each legacy algorithm is named
    const notAsked = algs(failing(evaluateAudit(output({ sshdT: legacyT }), expected)));
    expect(notAsked.map((c) => c.evidence)).toEqual([
      expect.stringMatching(/^not allowed: diffie-hellman-group-exchange-sha256 /),
      expect.stringMatching(/^not allowed: aes256-ctr /),
    ]);
    // asked for but absent (Vagrant would not get in): named too
    const absent = algs(failing(evaluateAudit(output(), legacy)));
    expect(absent.map((c) => c.evidence)).toEqual([
      expect.stringMatching(/^missing: diffie-hellman-group-exchange-sha256 /),
      expect.stringMatching(/^missing: aes256-ctr /),
    ]);
  });
  it("re-enabled password login fails, naming the setting and value", () => {
    const bad = failing(evaluateAudit(output({ sshdT: fx("sshd-T-debian12-password-yes.txt") }), expected));
    expect(bad).toEqual([
      expect.objectContaining({ id: "sshd.PasswordAuthentication", evidence: "passwordauthentication yes" }),
    ]);
  });
  it("a stock sshd fails on port, root login, forwarding, algorithms", () => {
    const bad = failing(evaluateAudit(output({ sshdT: fx("sshd-T-debian12-default.txt") }), expected)).map(
      (c) => c.id,
    );
    expect(bad).toEqual(
      expect.arrayContaining([
        "sshd.port",
        "sshd.PermitRootLogin",
        "sshd.DisableForwarding",
        "sshd.AllowUsers",
        "sshd.Ciphers",
      ]),
    );
    const ciphers = evaluateAudit(output({ sshdT: fx("sshd-T-debian12-default.txt") }), expected).find(
      (c) => c.id === "sshd.Ciphers",
    )!;
    expect(ciphers.evidence).toContain("aes128-ctr");
  });
  it("a rogue listener (TCP 0.0.0.0:8080 and UDP wildcard *:5353) fails, naming both", () => {
    const bad = failing(evaluateAudit(output({ ss: fx("ss-tulpnH-rogue.txt") }), expected));
    expect(bad.map((c) => c.id)).toEqual(["listeners.public"]);
    expect(bad[0]!.evidence).toContain("tcp 0.0.0.0:8080 (python3)");
    expect(bad[0]!.evidence).toContain("udp *:5353 (python3)");
    expect(bad[0]!.evidence).not.toContain("6379"); // loopback-only is fine
  });
  it("an extra UFW rule (`ufw allow 8080`) fails, naming it", () => {
    const bad = failing(
      evaluateAudit(
        output({
          v4: fx("ufw-user.rules-extra-8080"),
          v6: fx("ufw-user6.rules-extra-8080"),
        }),
        expected,
      ),
    );
    const rules = bad.find((c) => c.id === "ufw.rules")!;
    expect(rules.evidence).toContain("extra: allow 8080/any from any (v4)");
    expect(rules.evidence).toContain("missing: allow 443/tcp from 103.21.244.0/22");
  });
  it("a live ACCEPT ufw did not put there fails quoting the rule: inserted by hand, or from before.rules", () => {
    // issue 10 case 6: ufw status and user.rules are clean, the kernel lets 443 in from anywhere
    const bad = failing(
      evaluateAudit(
        output({
          live4: ufwFx("iptables-save-drift.txt").replace(/^-A ufw(6)?-user-input .*8443.*\n/m, ""),
          live6: ufwFx("ip6tables-save-provisioned.txt"),
          before: ufwFx("etc-ufw-before.rules-drift"),
        }),
        expected,
      ),
    );
    expect(bad.map((c) => c.id)).toEqual(["ufw.live"]);
    expect(bad[0]!.evidence).toContain("iptables: -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT");
    expect(bad[0]!.evidence).toContain("iptables: -A ufw-before-input -p tcp -m tcp --dport 443 -j ACCEPT");
    expect(bad[0]!.evidence).toContain(
      "/etc/ufw/before.rules differs from ufw's stock file: + -A ufw-before-input -p tcp --dport 443 -j ACCEPT",
    );
    // the probe reads the live filter in the same script
    expect(script(expected)).toContain("iptables-save");
    expect(script(expected)).toContain("ip6tables-save");
    // a probe that did not read it cannot pass (nor say ufw is loaded)
    expect(failing(evaluateAudit(output({ noLive: true }), expected)).map((c) => c.id)).toEqual([
      "ufw.active",
      "ufw.default_incoming",
      "ufw.default_outgoing",
      "ufw.live",
    ]);
  });
  it("an allow rule commented `by Fail2Ban` is no ban: the audit names it (case 10)", () => {
    const bad = failing(
      evaluateAudit(
        output({
          v4: ufwFx("etc-ufw-user.rules-fail2ban-allow"),
          v6: ufwFx("etc-ufw-user6.rules-fail2ban-allow"),
          live4: ufwFx("iptables-save-drift.txt")
            .replace(/^-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\n/m, "")
            .replace(/^-A ufw-before-input -p tcp -m tcp --dport 443 -j ACCEPT\n/m, ""),
          live6: ufwFx("ip6tables-save-drift.txt"),
        }),
        expected,
      ),
    );
    const rules = bad.find((c) => c.id === "ufw.rules")!;
    expect(rules.evidence).toContain("extra: allow 8443/tcp from any (v4) # by Fail2Ban after 3 attempts");
    expect(rules.evidence).toContain("extra: allow 8443/tcp from any (v6) # by Fail2Ban after 3 attempts");
    expect(bad.find((c) => c.id === "ufw.live")!.evidence).toContain("--dport 8443 -j ACCEPT");
  });
  it("ufw inactive and fail2ban down fail", () => {
    const bad = failing(
      evaluateAudit(
        output({
          inactive: true,
          f2b: "Failed to access socket path: /var/run/fail2ban/fail2ban.sock. Is fail2ban running?",
          f2bRc: 255,
        }),
        expected,
      ),
    ).map((c) => c.id);
    expect(bad).toEqual(
      expect.arrayContaining(["ufw.active", "ufw.default_incoming", "fail2ban.jail", "fail2ban.port"]),
    );
  });
  it("jail on the wrong port fails", () => {
    const bad = failing(evaluateAudit(output({ port: "ssh" }), expected));
    expect(bad.map((c) => c.id)).toEqual(["fail2ban.port"]);
  });
  it("a truncated run fails", () => {
    const out = output();
    out.delete("fail2ban-0-live");
    out.set("fail2ban-0", { output: out.get("fail2ban-0")!.output.split(`${F2B_M} jail-rc`)[0]!, rc: -1 });
    const bad = failing(evaluateAudit(out, expected));
    expect(bad.map((c) => c.id)).toContain("audit.complete");
    expect(bad.find((c) => c.id === "audit.complete")!.evidence).toContain("fail2ban-0, fail2ban-0-live");
  });
});

describe("listeners", () => {
  it("parses ss -tulpnH, including wildcard and interface-scoped addresses", () => {
    const l = parseSs(
      fx("ss-tulpnH-rogue.txt") +
        'udp UNCONN 0 0 0.0.0.0%eth0:68 0.0.0.0:* users:(("systemd-network",pid=1,fd=15))\n',
    );
    expect(l).toHaveLength(9);
    expect(l.find((x) => x.port === 443)).toMatchObject({ proto: "tcp", address: "*" });
    expect(l.find((x) => x.port === 68)).toMatchObject({
      proto: "udp",
      address: "0.0.0.0%eth0",
      process: "systemd-network",
    });
  });
  it("local-only means loopback or link-local", () => {
    expect(isLocalOnly("127.0.0.53%lo")).toBe(true);
    expect(isLocalOnly("::1")).toBe(true);
    expect(isLocalOnly("fe80::1%eth0")).toBe(true);
    expect(isLocalOnly("*")).toBe(false);
    expect(isLocalOnly("0.0.0.0")).toBe(false);
    expect(isLocalOnly("::")).toBe(false);
    expect(isLocalOnly("10.0.0.5")).toBe(false);
  });
});

describe("audit script", () => {
  it("collects everything in one read-only script, through the modules' own probes", () => {
    const s = script(expected);
    for (const part of [
      '"$lc_sshd" -T',
      "ss -tulpnH",
      "iptables-save",
      "/etc/ufw/user6.rules",
      "fail2ban-client status sshd",
      "fail2ban-client get sshd",
    ])
      expect(s).toContain(part);
    // the one removal: the sshd probe's own temp dir for its concurrent queries
    expect(s.split('rm -rf "$lc_q"').length).toBe(2);
    expect(s.replace('rm -rf "$lc_q"', "")).not.toMatch(
      /\b(rm|mv|ufw (allow|enable|reload)|systemctl (restart|reload))\b/,
    );
  });
  it("a jail name reaches sh as one quoted word", () => {
    const jail = "sshd; touch /tmp/pwned";
    const s = script({ ...expected, fail2ban: [{ ...expected.fail2ban[0]!, jail }] });
    expect(s).toContain(`fail2ban-client get 'sshd; touch /tmp/pwned' "$lc_k"`);
    expect(s).not.toContain(`get ${jail}`);
  });
});
