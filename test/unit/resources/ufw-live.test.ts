import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCloudflareRanges } from "../../../src/cloudflare/ranges.js";
import { execFileSync } from "node:child_process";
import {
  M,
  DEFAULTS_FILE,
  UFW_CONF,
  USER6_RULES,
  USER_RULES,
  desiredRules,
  parseUfwProbe,
  planUfw,
  ufwKind,
  ufwProbeScript,
  ufwSpec,
} from "../../../src/resources/ufw.js";
import { base64Heredoc, raw } from "../../../src/core/sh.js";
import { Marks } from "../../../src/core/marks.js";
import { renderRule } from "../../../src/resources/ufw/rules.js";
import {
  canonicalRule,
  evaluateLive,
  liveProbeLines,
  parseIptablesSave,
  parseLiveSections,
  reachableFromInput,
  ruleWords,
  type LiveFacts,
} from "../../../src/resources/ufw/live.js";
import { applyOf, changesOf } from "./helpers.js";

// Real output captured on a lab machine (Debian 13, ufw 0.36.2, iptables 1.8.11 nf_tables) right after
// `lockclaw provision host`, and after three drifts: `iptables -I INPUT -p tcp --dport 443 -j ACCEPT`,
// `-A ufw-before-input -p tcp --dport 443 -j ACCEPT` added to /etc/ufw/before.rules + `ufw reload`, and
// `ufw allow 8443/tcp comment "by Fail2Ban after 3 attempts"`; plus ufw's stock files from
// /usr/share/ufw/iptables. (An unreachable `hand` chain with `-j ACCEPT` was left in the drift capture.)
const fx = (name: string) => readFileSync(join(__dirname, "ufw", "fixtures", name), "utf8");
const cf = loadCloudflareRanges();

function declared() {
  const spec = ufwSpec.parse({
    rules: [
      { port: 2222, from: [], if_empty: "any", comment: "lockclaw ssh" },
      { port: 443, from: [...cf.ipv4, ...cf.ipv6], comment: "lockclaw cloudflare" },
    ],
  });
  const d = desiredRules(spec);
  return { v4: d.filter((r) => !r.v6).map(renderRule), v6: d.filter((r) => r.v6).map(renderRule) };
}

function facts(v4: string, v6: string, before = fx("usr-share-ufw-iptables-before.rules")): LiveFacts {
  const stock = {
    before: fx("usr-share-ufw-iptables-before.rules"),
    after: fx("usr-share-ufw-iptables-after.rules"),
    before6: fx("usr-share-ufw-iptables-before6.rules"),
    after6: fx("usr-share-ufw-iptables-after6.rules"),
  };
  return {
    backend: "iptables v1.8.11 (nf_tables)",
    v4: parseIptablesSave(v4, false),
    v6: parseIptablesSave(v6, true),
    errors: [],
    stock,
    etc: { ...stock, before },
  };
}

describe("live filter parser", () => {
  it("reads the filter table of iptables-save: chains, policies, rules with their targets", () => {
    const t = parseIptablesSave(fx("iptables-save-provisioned.txt"), false);
    expect(t.chains.get("INPUT")).toBe("DROP");
    expect(t.chains.get("ufw-user-input")).toBe("-");
    expect(t.rules.filter((r) => r.chain === "INPUT").map((r) => r.target)).toEqual([
      "ufw-before-logging-input",
      "ufw-before-input",
      "ufw-after-input",
      "ufw-after-logging-input",
      "ufw-reject-input",
      "ufw-track-input",
    ]);
    expect(reachableFromInput(t).has("ufw-user-input")).toBe(true);
    expect(reachableFromInput(t).has("ufw-before-output")).toBe(false);
  });
  it("words of a line without quotes: any run of blanks splits, none at the ends", () => {
    expect(ruleWords("  -A\tufw-user-input  -p tcp --dport 22 -j ACCEPT \r")).toEqual([
      "-A",
      "ufw-user-input",
      "-p",
      "tcp",
      "--dport",
      "22",
      "-j",
      "ACCEPT",
    ]);
    expect(ruleWords("   ")).toEqual([]);
  });
  it("quoted words and the normal form: a file's rule equals what iptables-save prints for it", () => {
    expect(ruleWords(`-A x -j LOG --log-prefix "[UFW BLOCK] "`)).toEqual([
      "-A",
      "x",
      "-j",
      "LOG",
      "--log-prefix",
      "[UFW BLOCK] ",
    ]);
    const file = canonicalRule("c", ruleWords("-p udp -d 224.0.0.251 --dport 5353 -j ACCEPT"), false);
    const live = canonicalRule(
      "c",
      ruleWords("-d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT"),
      false,
    );
    expect(file).toBe(live);
    expect(
      canonicalRule("c", ruleWords("-p icmpv6 --icmpv6-type neighbor-solicitation -j ACCEPT"), true),
    ).toBe(canonicalRule("c", ruleWords("-p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT"), true));
    expect(canonicalRule("c", ruleWords("! -s 10.0.0.1 -j ACCEPT"), false)).not.toBe(
      canonicalRule("c", ruleWords("-s 10.0.0.1 -j ACCEPT"), false),
    );
  });
});

describe("live filter judged against what ufw should produce", () => {
  it("the provisioned host: every ACCEPT is ufw's stock or a declared rule (v4 and v6)", () => {
    const v = evaluateLive(
      facts(fx("iptables-save-provisioned.txt"), fx("ip6tables-save-provisioned.txt")),
      declared(),
      false,
    );
    expect(v).toEqual({ problems: [], files: [] });
  });
  it("a hand-inserted INPUT ACCEPT, a before.rules ACCEPT and an allow commented `by Fail2Ban` are quoted", () => {
    const v = evaluateLive(
      facts(fx("iptables-save-drift.txt"), fx("ip6tables-save-drift.txt"), fx("etc-ufw-before.rules-drift")),
      declared(),
      false,
    );
    expect(v.problems.map((p) => p.text)).toEqual([
      "iptables: -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT",
      "iptables: -A ufw-before-input -p tcp -m tcp --dport 443 -j ACCEPT",
      "iptables: -A ufw-user-input -p tcp -m tcp --dport 8443 -j ACCEPT",
      "ip6tables: -A ufw6-user-input -p tcp -m tcp --dport 8443 -j ACCEPT",
    ]);
    // only the rule outside ufw's chains needs deleting: a reload rebuilds ufw's own
    expect(v.problems.map((p) => p.deleteLine)).toEqual([
      "-D INPUT -p tcp -m tcp --dport 443 -j ACCEPT",
      undefined,
      undefined,
      undefined,
    ]);
    expect(v.files).toEqual([
      { file: "before", added: ["-A ufw-before-input -p tcp --dport 443 -j ACCEPT"], removed: [] },
    ]);
  });
  it("a foreign chain reached from INPUT that accepts is quoted; one that only bans is not", () => {
    const base = fx("iptables-save-provisioned.txt");
    const withChains = base
      .replace(":ufw-after-forward", ":f2b-sshd - [0:0]\n:open - [0:0]\n:ufw-after-forward")
      .replace(
        "-A INPUT -j ufw-before-logging-input",
        [
          "-A INPUT -p tcp -m multiport --dports 2222 -j f2b-sshd",
          "-A INPUT -j open",
          "-A INPUT -j ufw-before-logging-input",
        ].join("\n"),
      )
      .replace(
        "COMMIT",
        [
          "-A f2b-sshd -s 203.0.113.9/32 -j REJECT --reject-with icmp-port-unreachable",
          "-A f2b-sshd -j RETURN",
          `-A open -p tcp -m tcp --dport 8080 -m comment --comment "by hand" -j ACCEPT`,
          "COMMIT",
        ].join("\n"),
      );
    const v = evaluateLive(facts(withChains, fx("ip6tables-save-provisioned.txt")), declared(), false);
    expect(v.problems.map((p) => p.text)).toEqual([
      `iptables: -A open -p tcp -m tcp --dport 8080 -m comment --comment "by hand" -j ACCEPT`,
    ]);
  });
  it("native nft rules in ufw's table: a set shows wider, a verdict map without its verdict; both are caught", () => {
    // captured after `nft insert rule ip filter INPUT tcp dport 443 counter accept`,
    // `… tcp dport { 445, 446 } accept` and `… tcp dport vmap { 447 : accept }` (then a run, then the vmap again)
    const t = fx("iptables-save-nft-vmap.txt");
    expect(t).toMatch(/^-A INPUT -p tcp$/m);
    const v = evaluateLive(facts(t, fx("ip6tables-save-provisioned.txt")), declared(), false);
    expect(v.problems.map((p) => [p.text, p.deleteLine])).toEqual([
      [
        "iptables: -A INPUT -p tcp (no verdict shown: a native nft rule iptables cannot display, e.g. a verdict map)",
        "-D INPUT -p tcp",
      ],
    ]);
    const wider = fx("iptables-save-provisioned.txt").replace(
      "-A INPUT -j ufw-before-logging-input",
      "-A INPUT -p tcp -j ACCEPT\n-A INPUT -j ufw-before-logging-input",
    );
    expect(
      evaluateLive(facts(wider, fx("ip6tables-save-provisioned.txt")), declared(), false).problems.map(
        (p) => p.text,
      ),
    ).toEqual(["iptables: -A INPUT -p tcp -j ACCEPT"]);
  });
  it("an accepting INPUT policy, an unreadable table and a table iptables cannot show fail", () => {
    const f = facts(
      fx("iptables-save-provisioned.txt").replace(":INPUT DROP", ":INPUT ACCEPT"),
      "# Table `filter' is incompatible, use 'nft' tool.\n",
    );
    f.v6!.chains.set("ufw6-before-input", "-");
    f.errors.push("ip6tables-save failed (exit 1)");
    const texts = evaluateLive(f, declared(), false).problems.map((p) => p.text);
    expect(texts).toEqual(
      expect.arrayContaining([
        "iptables: INPUT policy ACCEPT (default incoming deny expected)",
        "ip6tables-save failed (exit 1)",
        expect.stringMatching(/ip6tables-save cannot show the filter table/),
      ]),
    );
  });
});

// the host playbook's exact rule set on the lab machine the fixtures come from
const hostSpec = () =>
  ufwSpec.parse({
    mode: "exact",
    rules: [
      { port: 2222, from: [], if_empty: "any", comment: "lockclaw ssh" },
      { port: 443, from: [...cf.ipv4, ...cf.ipv6], comment: "lockclaw cloudflare" },
    ],
  });
const b64 = (s: string) => Buffer.from(s).toString("base64");
const strip8443 = (s: string) => s.replace(/### tuple ### allow tcp 8443 [^\n]*\n[^\n]*\n\n/, "");
/** `ufw disable` as the kernel shows it: ufw's user chains gone (what `ufw status` and the probe test). */
const unloaded = (save: string) => save.replace(/^:ufw6?-user-(input|output|forward) .*\n/gm, "");

function ufwProbe(o: {
  live4?: string;
  live6?: string;
  before?: string;
  f2bAllow?: boolean;
  active?: boolean;
  etcSent?: boolean;
}) {
  const off = o.active === false ? unloaded : (x: string) => x;
  const v4 = fx("etc-ufw-user.rules-fail2ban-allow");
  const v6 = fx("etc-ufw-user6.rules-fail2ban-allow");
  const lines = [
    `${M} file ${USER_RULES}`,
    b64(o.f2bAllow ? v4 : strip8443(v4)),
    `${M} file ${USER6_RULES}`,
    b64(o.f2bAllow ? v6 : strip8443(v6)),
    `${M} file ${DEFAULTS_FILE}`,
    b64(`IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n`),
    `${M} file ${UFW_CONF}`,
    b64("ENABLED=yes\nLOGLEVEL=low\n"),
    `${M} fw-backend`,
    "iptables v1.8.11 (nf_tables)",
    `${M} fw-save4`,
    off(o.live4 ?? fx("iptables-save-provisioned.txt")),
    `${M} fw-save4-rc 0`,
    `${M} fw-save6`,
    off(o.live6 ?? fx("ip6tables-save-provisioned.txt")),
    `${M} fw-save6-rc 0`,
  ];
  for (const f of ["before", "after", "before6", "after6"]) {
    const stock = fx(`usr-share-ufw-iptables-${f}.rules`);
    lines.push(
      `${M} fw-stock ${f}`,
      b64(stock),
      // the probe sends /etc's copy only where it differs from the package's
      ...(f === "before" && o.before !== undefined
        ? [`${M} fw-etc ${f}`, b64(o.before)]
        : o.etcSent
          ? [`${M} fw-etc ${f}`, b64(stock)]
          : [`${M} fw-etc-same ${f}`]),
    );
  }
  lines.push(`${M} end`);
  return parseUfwProbe(lines.join("\n") + "\n");
}

describe("ufw exact mode holds the live filter (plan and apply)", () => {
  it("the probe reads the live filter in the same script as the rule files", () => {
    const script = String(ufwProbeScript());
    expect(script).toContain("iptables-save");
    expect(script).toContain("ip6tables-save");
    expect(script).toContain("/usr/share/ufw/iptables");
    expect(() => execFileSync("sh", ["-n"], { input: `(\n${script}\n)` })).not.toThrow();
  });
  it("/etc's rule files said to be the package's read as the package's, as if they were sent", () => {
    const same = ufwProbe({});
    const sent = ufwProbe({ etcSent: true });
    expect(same.live?.etc.before6).toContain("ufw6-before-input");
    expect(same.live?.etc).toEqual(sent.live?.etc);
    expect(planUfw(hostSpec(), same).changes).toEqual([]);
  });
  it("the provisioned lab machine: nothing to do", () => {
    const f = ufwProbe({});
    expect(f.live?.v4?.chains.get("INPUT")).toBe("DROP");
    expect(planUfw(hostSpec(), f).changes).toEqual([]);
  });
  it("--check names each drift; a run restores before.rules, reloads once, deletes the hand-inserted rule", () => {
    const f = ufwProbe({
      live4: fx("iptables-save-drift.txt"),
      live6: fx("ip6tables-save-drift.txt"),
      before: fx("etc-ufw-before.rules-drift"),
      f2bAllow: true,
    });
    const summaries = changesOf(ufwKind, hostSpec(), f, { check: true }).map((c) => c.summary);
    expect(summaries).toEqual(
      expect.arrayContaining([
        "remove rule allow 8443/tcp from any (v4) # by Fail2Ban after 3 attempts",
        "remove rule allow 8443/tcp from any (v6) # by Fail2Ban after 3 attempts",
        "live ACCEPT not from ufw: iptables: -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT",
        "live ACCEPT not from ufw: iptables: -A ufw-before-input -p tcp -m tcp --dport 443 -j ACCEPT",
        "/etc/ufw/before.rules differs from ufw's stock file: + -A ufw-before-input -p tcp --dport 443 -j ACCEPT",
      ]),
    );
    const script = String(applyOf(ufwKind, hostSpec(), f));
    expect(script).toContain('cat -- /usr/share/ufw/iptables/before.rules > "$lc_t"');
    expect(script).toContain('mv -f -- "$lc_t" /etc/ufw/before.rules');
    expect(script).not.toContain("/usr/share/ufw/iptables/after.rules");
    expect(script.match(/ufw reload/g)).toHaveLength(1);
    expect(script).not.toContain("--force enable");
    // the deletion goes through iptables-restore, after the reload; the rule text never meets sh
    const restore = script.indexOf("iptables-restore --noflush");
    expect(restore).toBeGreaterThan(script.indexOf("ufw reload"));
    expect(script).toContain(
      String(
        base64Heredoc(
          raw(
            "iptables-restore --noflush || echo 'ufw: could not delete live rule -D INPUT -p tcp -m tcp --dport 443 -j ACCEPT' >&2",
          ),
          "*filter\n-D INPUT -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT\n",
        ),
      ),
    );
    expect(script).not.toContain("ip6tables-restore"); // nothing stray outside ufw6's chains
    expect(script).not.toContain("8443");
    expect(() => execFileSync("sh", ["-n"], { input: `(\n${script}\n)` })).not.toThrow();
  });
  it("a stray ACCEPT alone (files clean) still reloads and deletes it", () => {
    const live4 = fx("iptables-save-provisioned.txt").replace(
      "-A INPUT -j ufw-before-logging-input",
      "-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\n-A INPUT -j ufw-before-logging-input",
    );
    const f = ufwProbe({ live4 });
    const plan = planUfw(hostSpec(), f);
    expect(plan.changes.map((c) => c.summary)).toEqual([
      "live ACCEPT not from ufw: iptables: -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT",
    ]);
    expect(plan.restoreFiles).toEqual([]);
    const script = String(applyOf(ufwKind, hostSpec(), f));
    expect(script).toContain("ufw reload");
    expect(script).not.toContain("awk -v sect="); // user.rules untouched
  });
  it("ensure mode never judges the live filter; an inactive ufw only gets its files restored before enable", () => {
    const drift = { live4: fx("iptables-save-drift.txt"), before: fx("etc-ufw-before.rules-drift") };
    const ensure = ufwSpec.parse({ mode: "ensure", rules: [{ port: 2222 }] });
    expect(planUfw(ensure, ufwProbe(drift)).changes).toEqual([]);
    const inactive = planUfw(hostSpec(), ufwProbe({ ...drift, active: false }));
    expect(inactive.deleteLive).toEqual([]);
    expect(inactive.restoreFiles).toEqual(["before"]);
    expect(inactive.enable).toBe(true);
  });
});

describe("the live probe's iptables-save sections", () => {
  // run under a real sh with stand-ins for iptables-save: the sections must hold the rules without the
  // timestamps and counters (the same rules give the same text on every host), and keep the exit status
  it("drop the timestamp comments and chain counters, and keep iptables-save's exit status", () => {
    const bin = mkdtempSync(join(tmpdir(), "lc-ipt-"));
    const save = (rc: number) =>
      [
        "#!/bin/sh",
        'echo "# Generated by iptables-save v1.8.11 (nf_tables) on Wed Dec  2 14:00:00 2026"',
        "echo '*filter'",
        "echo ':INPUT DROP [120:34500]'",
        "echo ':ufw-user-input - [0:0]'",
        "echo '-A ufw-user-input -p tcp -m tcp --dport 2222 -j ACCEPT'",
        "echo 'COMMIT'",
        'echo "# Completed on Wed Dec  2 14:00:00 2026"',
        `exit ${rc}`,
      ].join("\n");
    writeFileSync(join(bin, "iptables-save"), save(0), { mode: 0o755 });
    writeFileSync(join(bin, "ip6tables-save"), save(4), { mode: 0o755 });
    const marks = new Marks("@@lockclaw-t");
    const script = liveProbeLines(marks)
      .slice(0, 3)
      .map((l) => l.toString())
      .join("\n");
    const out = execFileSync("sh", ["-c", script], {
      encoding: "utf8",
      env: { PATH: `${bin}:${process.env.PATH ?? ""}` },
    });
    const sections = marks.split(out);
    const v4 = sections.find((s) => s.head === "fw-save4")!.body;
    expect(v4).not.toMatch(/Generated|Completed|\[\d+:\d+\]/);
    expect(v4).toContain(":INPUT DROP\n");
    expect(sections.map((s) => s.head)).toContain("fw-save4-rc 0");
    expect(sections.map((s) => s.head)).toContain("fw-save6-rc 4");
    const facts = parseLiveSections(sections)!;
    expect(facts.v4!.chains.get("INPUT")).toBe("DROP");
    expect(facts.v4!.rules.map((r) => r.chain)).toEqual(["ufw-user-input"]);
    expect(facts.errors).toEqual(["ip6tables-save failed (exit 4)"]);
  });
});
