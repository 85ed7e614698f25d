import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCloudflareRanges } from "../../../src/cloudflare/ranges.js";
import {
  M,
  ufwKind,
  ufwSpec,
  parseUfwProbe,
  planUfw,
  desiredRules,
  USER_RULES,
  USER6_RULES,
  DEFAULTS_FILE,
  UFW_CONF,
  type UfwFacts,
} from "../../../src/resources/ufw.js";
import {
  parseRulesFile,
  parseTuple,
  renderRule,
  renderRulesSection,
} from "../../../src/resources/ufw/rules.js";
import { applyOf, changesOf } from "./helpers.js";

// Real files: the package's pristine rule files, files ufw 0.36.2 wrote itself (`ufw allow …`, including
// `ufw allow 8080`), the 24-rule Cloudflare set written by ufw, and `ufw status verbose` (run in a
// throwaway network namespace against a copy of /etc/ufw: this machine's firewall was never touched).
const fx = (name: string) => readFileSync(join(__dirname, "../audit/fixtures", name), "utf8");
const cf = loadCloudflareRanges();
const b64 = (s: string) => Buffer.from(s).toString("base64");
const DEFAULTS = `IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\nDEFAULT_FORWARD_POLICY="DROP"\n`;

function probe(
  o: {
    v4?: string;
    v6?: string;
    /** ufw loaded in the kernel: its user chains in iptables-save (what `ufw status` tests). */
    active?: boolean;
    enabled?: boolean;
    defaults?: string;
    missing?: boolean;
  } = {},
): UfwFacts {
  if (o.missing) return parseUfwProbe(`${M} missing\n${M} end\n`);
  const lines = [
    `${M} file ${USER_RULES}`,
    b64(o.v4 ?? fx("ufw-user.rules-pristine")),
    `${M} file ${USER6_RULES}`,
    b64(o.v6 ?? fx("ufw-user6.rules-pristine")),
    `${M} file ${DEFAULTS_FILE}`,
    b64(o.defaults ?? DEFAULTS),
    `${M} file ${UFW_CONF}`,
    b64(`ENABLED=${o.enabled ? "yes" : "no"}\nLOGLEVEL=low\n`),
    ...(o.active ? userChains() : []),
    `${M} end`,
  ];
  return parseUfwProbe(lines.join("\n") + "\n");
}

/** The live sections with only ufw's user chains: loaded, nothing for the live judge to look at. */
function userChains(p = { v4: "ufw", v6: "ufw6" }): string[] {
  const save = (pre: string) =>
    ["*filter", ...["input", "output", "forward"].map((d) => `:${pre}-user-${d} - [0:0]`), "COMMIT"].join(
      "\n",
    );
  return [
    `${M} fw-backend`,
    "iptables v1.8.11 (nf_tables)",
    `${M} fw-save4`,
    save(p.v4),
    `${M} fw-save4-rc 0`,
    `${M} fw-save6`,
    save(p.v6),
    `${M} fw-save6-rc 0`,
  ];
}

const exact = (ranges: { ipv4: string[]; ipv6: string[] } = cf) =>
  ufwSpec.parse({
    mode: "exact",
    rules: [
      { port: 2222, proto: "tcp", comment: "ssh" },
      { port: 443, proto: "tcp", from: ranges.ipv4, comment: "cloudflare" },
      { port: 443, proto: "tcp", from: ranges.ipv6, comment: "cloudflare" },
      { port: 443, proto: "tcp", from: ["198.51.100.7", "2001:db8::/48"], comment: "admin" },
    ],
  });
const byUfwV4 = fx("ufw-user.rules-cloudflare-by-ufw");
const byUfwV6 = fx("ufw-user6.rules-cloudflare-by-ufw");

describe("ufw spec", () => {
  it("defaults: exact, enabled, deny in, allow out, tcp", () => {
    expect(ufwSpec.parse({ rules: [{ port: "2222" }] })).toMatchObject({
      mode: "exact",
      state: "enabled",
      default_incoming: "deny",
      default_outgoing: "allow",
      rules: [{ port: 2222, proto: "tcp", if_empty: "none" }],
    });
  });
  it("rejects bad sources, protocols and ports, naming the problem", () => {
    expect(() => ufwSpec.parse({ rules: [{ port: 443, from: ["10.0.0.1/8"] }] })).toThrow(
      /did you mean 10.0.0.0\/8/,
    );
    expect(() => ufwSpec.parse({ rules: [{ port: 443, from: "example.com" }] })).toThrow(
      /not an IPv4 or IPv6/,
    );
    expect(() => ufwSpec.parse({ rules: [{ port: 443, proto: "any" }] })).toThrow(/tcp or udp/);
    expect(() => ufwSpec.parse({ rules: [{ port: 0 }] })).toThrow(/1-65535/);
    expect(() => ufwSpec.parse({ rules: [{ port: 22, limit: true }] })).toThrow();
    expect(() => ufwSpec.parse({ rules: [{ port: 22, comment: "a\nb" }] })).toThrow(/single line/);
  });
  it("expands sources: any → v4+v6, empty list → none (or any with if_empty), dedup", () => {
    const keys = (rules: unknown[]) => desiredRules(ufwSpec.parse({ rules })).map((r) => r.key);
    expect(keys([{ port: 22 }])).toEqual(["tcp 22 any v4", "tcp 22 any v6"]);
    expect(keys([{ port: 22, from: [] }])).toEqual([]);
    expect(keys([{ port: 22, from: [], if_empty: "any" }])).toEqual(["tcp 22 any v4", "tcp 22 any v6"]);
    expect(keys([{ port: 22, from: ["1.2.3.4", "1.2.3.4/32", "2001:DB8::/32"] }])).toEqual([
      "tcp 22 1.2.3.4/32 v4",
      "tcp 22 2001:db8::/32 v6",
    ]);
  });
});

describe("ufw rule files (ufw's tuple format)", () => {
  it("parses what ufw wrote, including a proto-any rule and comments", () => {
    const f = parseRulesFile(fx("ufw-user.rules-extra-8080"), false);
    expect(f.fullFormat).toBe(true);
    expect(f.rules.map((r) => r.key ?? `foreign:${r.proto} ${r.dport}`)).toEqual([
      "tcp 2222 any v4",
      "tcp 443 173.245.48.0/20 v4",
      "tcp 2222 10.1.2.3/32 v4",
      "udp 443 any v4",
      "tcp 2222 10.9.9.9/32 v4",
      "foreign:any 8080",
    ]);
    expect(f.rules[0]!.comment).toBe("ssh");
    expect(f.rules[5]!.block).toHaveLength(3); // tcp and udp iptables lines
    expect(parseRulesFile(fx("ufw-user.rules-pristine"), false)).toEqual({ fullFormat: false, rules: [] });
  });
  it("renders rules byte-for-byte as ufw does (24 Cloudflare rules + ssh + admin)", () => {
    const spec = exact();
    for (const [v6, file] of [
      [false, byUfwV4],
      [true, byUfwV6],
    ] as const) {
      const blocks = desiredRules(spec)
        .filter((r) => r.v6 === v6)
        .map(renderRule);
      const section = file.slice(file.indexOf("### RULES ###\n") + 14, file.indexOf("### END RULES ###"));
      expect(renderRulesSection(blocks)).toBe(section);
    }
  });
  it("round-trips: a rendered tuple parses back to the same key", () => {
    const [d] = desiredRules(
      ufwSpec.parse({ rules: [{ port: 443, from: "2606:4700::/32", comment: "cf" }] }),
    );
    const t = parseTuple(renderRule(d!)[0]!, true);
    expect(t.key).toBe(d!.key);
    expect(t.comment).toBe("cf");
  });
});

describe("ufw diff", () => {
  it("first run on a fresh host: 27 rules added, ufw enabled", () => {
    const plan = planUfw(exact(), probe());
    expect(plan.add).toHaveLength(2 + 15 + 7 + 2);
    expect(plan.add.length).toBeGreaterThanOrEqual(24);
    expect(plan.remove).toEqual([]);
    expect(plan.enable).toBe(true);
    expect(plan.changes.map((c) => c.summary)).toContain("add rule allow 443/tcp from 2a06:98c0::/29");
    expect(plan.changes.at(-1)!.summary).toBe("enable ufw (inactive → active)");
  });
  it("re-run on the converged host: nothing", () => {
    const f = probe({ v4: byUfwV4, v6: byUfwV6, active: true, enabled: true });
    expect(f.active).toBe(true);
    expect(changesOf(ufwKind, exact(), f, { check: false })).toEqual([]);
  });
  it("a range dropped from the snapshot: its rule is removed, nothing else", () => {
    const f = probe({ v4: byUfwV4, v6: byUfwV6, active: true, enabled: true });
    const fewer = {
      ipv4: cf.ipv4.filter((r) => r !== "131.0.72.0/22"),
      ipv6: cf.ipv6.filter((r) => r !== "2c0f:f248::/32"),
    };
    const s = changesOf(ufwKind, exact(fewer), f, { check: false }).map((c) => c.summary);
    expect(s).toEqual([
      "remove rule allow 443/tcp from 131.0.72.0/22 # cloudflare",
      "remove rule allow 443/tcp from 2c0f:f248::/32 # cloudflare",
    ]);
  });
  it("drift `ufw allow 8080` is named and removed in exact mode, kept in ensure mode", () => {
    const f = probe({
      v4: fx("ufw-user.rules-extra-8080"),
      v6: fx("ufw-user6.rules-extra-8080"),
      active: true,
      enabled: true,
    });
    const spec = ufwSpec.parse({ rules: [{ port: 2222, comment: "ssh" }] });
    const s = changesOf(ufwKind, spec, f, { check: false }).map((c) => c.summary);
    expect(s).toContain("remove rule allow 8080/any from any (v4)");
    expect(s).toContain("remove rule allow 8080/any from any (v6)");
    const ensure = ufwSpec.parse({ mode: "ensure", rules: [{ port: 2222, comment: "ssh" }, { port: 2223 }] });
    const plan = planUfw(ensure, f);
    expect(plan.remove).toEqual([]);
    expect(plan.changes.map((c) => c.summary)).toEqual([
      "add rule allow 2223/tcp from any (v4)",
      "add rule allow 2223/tcp from any (v6)",
    ]);
    expect(plan.enable).toBe(false);
    // ensure keeps every existing block verbatim and appends
    expect(plan.v4Section).toContain("### tuple ### allow any 8080 0.0.0.0/0 any 0.0.0.0/0 in");
    expect(plan.v4Section!.trimEnd().endsWith("-A ufw-user-input -p tcp --dport 2223 -j ACCEPT")).toBe(true);
  });
  it("policy drift and fail2ban's own ban rules", () => {
    const v4 = byUfwV4.replace(
      "### END RULES ###",
      "### tuple ### reject any any 0.0.0.0/0 any 203.0.113.9 in comment=6279204661696c3242616e206166746572203320617474656d70747320616761696e737420737368640a\n-A ufw-user-input -s 203.0.113.9 -j REJECT\n\n### END RULES ###",
    );
    const f = probe({
      v4,
      v6: byUfwV6,
      active: true,
      enabled: true,
      defaults: DEFAULTS.replace('INPUT_POLICY="DROP"', 'INPUT_POLICY="ACCEPT"'),
    });
    expect(changesOf(ufwKind, exact(), f, { check: false }).map((c) => c.summary)).toEqual([
      "default incoming allow → deny",
    ]);
  });
  it("a fail2ban ban stays ahead of the allows when exact mode rewrites; an allow with its comment goes", () => {
    const ban =
      "### tuple ### reject any any 0.0.0.0/0 any 203.0.113.9 in comment=6279204661696c3242616e206166746572203320617474656d70747320616761696e737420737368640a\n-A ufw-user-input -s 203.0.113.9 -j REJECT";
    const allow =
      "### tuple ### allow tcp 8443 0.0.0.0/0 any 0.0.0.0/0 in comment=6279204661696c3242616e206166746572203320617474656d707473\n-A ufw-user-input -p tcp --dport 8443 -j ACCEPT";
    const v4 = byUfwV4.replace("### END RULES ###", `${ban}\n\n${allow}\n\n### END RULES ###`);
    const plan = planUfw(exact(), probe({ v4, v6: byUfwV6, active: true, enabled: true }));
    expect(plan.changes.map((c) => c.summary)).toEqual([
      "remove rule allow 8443/tcp from any (v4) # by Fail2Ban after 3 attempts",
    ]);
    const section = plan.v4Section!;
    expect(section).not.toContain("8443");
    // ufw's fail2ban action prepends its bans: kept first, or the SSH allow would let the banned address in
    expect(section.indexOf("-s 203.0.113.9 -j REJECT")).toBeGreaterThan(-1);
    expect(section.indexOf("-s 203.0.113.9 -j REJECT")).toBeLessThan(section.indexOf("--dport 2222"));
  });
  it("ufw missing: reported, apply fails clearly", () => {
    const f = probe({ missing: true });
    expect(f.installed).toBe(false);
    expect(planUfw(exact(), f).changes[0]!.summary).toMatch(/not installed/);
    expect(String(applyOf(ufwKind, exact(), f))).toContain("not installed; add a package task");
  });
});

describe("ufw apply (one batch)", () => {
  it("rewrites the rule sections and reloads/enables once; never `ufw allow` per rule, never `limit`", () => {
    const script = String(applyOf(ufwKind, exact(), probe()));
    expect(script).toContain(`ufw logging low`); // pristine files → ufw writes its full layout first
    expect(script.match(/awk -v sect=/g)).toHaveLength(2);
    expect(script.match(/ufw --force enable/g)).toHaveLength(1);
    expect(script).not.toMatch(/ufw (allow|limit|insert|delete)\b/);
    const active = probe({ v4: byUfwV4, v6: byUfwV6, active: true, enabled: true });
    const fewer = { ipv4: cf.ipv4.slice(1), ipv6: cf.ipv6 };
    const s2 = String(applyOf(ufwKind, exact(fewer), active));
    expect(s2).toContain("ufw reload");
    expect(s2).not.toContain("--force enable");
    expect(s2.match(/awk -v sect=/g)).toHaveLength(2);
  });
  it("guard saves the four files and the active state, restore reloads or disables", () => {
    const g = ufwKind.guard!(exact())!;
    expect(ufwKind.guard!(ufwSpec.parse({ mode: "ensure", rules: [{ port: 2222 }] }))).toBeUndefined();
    for (const f of [USER_RULES, USER6_RULES, DEFAULTS_FILE, UFW_CONF]) expect(String(g.save)).toContain(f);
    expect(String(g.save)).toContain('"$LOCKCLAW_BACKUP/ufw/state"');
    expect(String(g.restore)).toMatch(
      /= active \]; then ufw reload \|\| ufw --force enable; else ufw disable; fi/,
    );
  });
  it("probe script reads files and the kernel's filter table only: no ufw process (its Python start-up)", () => {
    const s = String(ufwKind.probe(exact()).script);
    expect(s).toContain("iptables-save");
    expect(s).not.toMatch(/ufw (status|allow|enable|reload|default|logging)/);
  });
  it("active is ufw's own test: its user chains loaded in the kernel, v6 too with IPV6=yes", () => {
    expect(probe({ active: true }).active).toBe(true);
    expect(probe({ active: false }).active).toBe(false);
    // `ufw disable` (or a flush) removes the chains while ufw.conf still says ENABLED=yes
    expect(probe({ enabled: true }).active).toBe(false);
    const f = (v4: string, v6: string, defaults = DEFAULTS) => {
      const out = parseUfwProbe(
        [`${M} file ${DEFAULTS_FILE}`, b64(defaults), ...userChains({ v4, v6 }), `${M} end`].join("\n") +
          "\n",
      );
      return out.active;
    };
    expect(f("ufw", "ufw6")).toBe(true);
    expect(f("ufw", "none")).toBe(false); // IPv6 on and ufw6-user-* gone: ufw status fails
    expect(f("ufw", "none", DEFAULTS.replace("IPV6=yes", "IPV6=no"))).toBe(true);
    expect(f("none", "ufw6")).toBe(false);
  });
});
