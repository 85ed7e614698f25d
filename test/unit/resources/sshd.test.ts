import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  sshdKind,
  sshdSpec,
  parseSshdProbe,
  planSshd,
  socketPorts,
  type SshdFacts,
} from "../../../src/resources/sshd.js";
import {
  DEFAULT_DROPIN,
  DISABLED_PREFIX,
  SSHD_CONFIG,
  commentOutLines,
  intersectAlgorithms,
  parseSshdT,
  readOrder,
  DEFAULT_ALGORITHMS,
} from "../../../src/resources/sshd/config.js";
import { M } from "../../../src/resources/sshd/scripts.js";
import { applyOf } from "./helpers.js";

// Real outputs captured on Debian 12 (OpenSSH 9.2p1): sshd -T of the stock config, of the stock config
// plus lockclaw's drop-in, and ssh -Q answers.
const fx = (name: string) => readFileSync(join(__dirname, "../audit/fixtures", name), "utf8");
const DEFAULT_T = fx("sshd-T-debian12-default.txt");
const HARDENED_T = fx("sshd-T-debian12-hardened.txt");
const Q = {
  kex: fx("ssh-Q-kex-debian12.txt"),
  cipher: fx("ssh-Q-cipher-debian12.txt"),
  mac: fx("ssh-Q-mac-debian12.txt"),
  keySig: fx("ssh-Q-key-sig-debian12.txt"),
};
const DEBIAN_SSHD_CONFIG = `Include /etc/ssh/sshd_config.d/*.conf\n\n#Port 22\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\n`;

const spec = sshdSpec.parse({ port: 2222, settings: { AllowUsers: ["deploy"] } });
const b64 = (s: string) => Buffer.from(s).toString("base64");

interface ProbeOpts {
  t?: string;
  rc?: number;
  files?: Record<string, string>;
  q?: Partial<typeof Q>;
  socket?: string[];
  override?: string;
  /** `sshd -T -C` outputs, by connection spec. */
  perConnection?: Record<string, string>;
}
function probeOutput(o: ProbeOpts = {}): string {
  const q = { ...Q, ...o.q };
  const files = o.files ?? { [SSHD_CONFIG]: DEBIAN_SSHD_CONFIG };
  const lines = [`${M} sshd-T`, o.t ?? DEFAULT_T, `${M} sshd-T-rc ${o.rc ?? 0}`];
  if ((o.rc ?? 0) !== 0)
    lines.push(
      `${M} sshd-t-error`,
      b64("/etc/ssh/sshd_config.d/x.conf line 1: Bad configuration option: Foo"),
    );
  for (const [c, t] of Object.entries(o.perConnection ?? {}))
    lines.push(`${M} sshd-TC ${c}`, t, `${M} sshd-TC-rc 0`);
  for (const k of ["kex", "cipher", "mac", "keySig"] as const) lines.push(`${M} q ${k}`, q[k].trimEnd());
  for (const [p, c] of Object.entries(files)) lines.push(`${M} file ${p}`, b64(c));
  if (o.override !== undefined) lines.push(`${M} socket-override`, b64(o.override));
  lines.push(
    `${M} unit ssh.socket`,
    "LoadState=loaded",
    ...(o.socket ?? ["ActiveState=inactive", "UnitFileState=disabled", "Listen=[::]:22 (Stream)"]),
  );
  lines.push(`${M} unit ssh.service`, "Id=ssh.service", "LoadState=loaded", "ActiveState=active");
  lines.push(`${M} unit sshd.service`, "Id=ssh.service", "LoadState=loaded", "ActiveState=active");
  lines.push(`${M} end`);
  return lines.join("\n") + "\n";
}
const facts = (o?: ProbeOpts): SshdFacts => parseSshdProbe(probeOutput(o));
const summaries = (f: SshdFacts, s = spec) => planSshd(s, f).changes.map((c) => c.summary);
const hardenedFiles = () => {
  const f = facts();
  return { [SSHD_CONFIG]: DEBIAN_SSHD_CONFIG, [DEFAULT_DROPIN]: planSshd(spec, f).dropin };
};

describe("sshd spec", () => {
  it("fills SPEC §2 defaults and accepts templated strings", () => {
    const s = sshdSpec.parse({
      port: "2222",
      settings: { AllowUsers: "deploy", PasswordAuthentication: "no" },
    });
    expect(s).toMatchObject({
      port: 2222,
      dropin: DEFAULT_DROPIN,
      settings: { AllowUsers: ["deploy"], PasswordAuthentication: false },
    });
  });
  it("rejects injection and nonsense", () => {
    expect(() =>
      sshdSpec.parse({ port: 2222, settings: { AllowUsers: ["deploy\nPermitRootLogin yes"] } }),
    ).toThrow(/single word/);
    expect(() => sshdSpec.parse({ port: 2222, settings: { AllowUsers: ["deploy root"] } })).toThrow(
      /single word/,
    );
    expect(() => sshdSpec.parse({ port: 2222, kex: ["curve25519-sha256 x"] })).toThrow(/single word/);
    expect(() => sshdSpec.parse({ port: 70000 })).toThrow(/at most 65535/);
    expect(() => sshdSpec.parse({ port: 2222, settings: { PermitRootLogin: "maybe" } })).toThrow(
      /PermitRootLogin/,
    );
    expect(() => sshdSpec.parse({ port: 2222, settings: { UseDNS: "no" } })).toThrow(/unknown sshd setting/);
    expect(() => sshdSpec.parse({ port: 2222, kex: [] })).toThrow(/must not be empty/);
    expect(() => sshdSpec.parse({ port: 2222, dropin: "/etc/ssh/other.conf" })).toThrow(/sshd_config.d/);
  });
});

describe("sshd probe parsing (real Debian 12 output)", () => {
  it("reads sshd -T with lowercase keys and repeated values", () => {
    const t = parseSshdT(HARDENED_T);
    expect(t.get("port")).toEqual(["2222"]);
    expect(t.get("passwordauthentication")).toEqual(["no"]);
    expect(t.get("allowusers")).toEqual(["deploy"]);
    expect(t.get("hostkey")).toHaveLength(3);
  });
  it("reads the facts: files, supported algorithms, units", () => {
    const f = facts();
    expect(f.sshdTRc).toBe(0);
    expect(f.files.map((x) => x.path)).toEqual([SSHD_CONFIG]);
    expect(f.supported.keySig).toContain("rsa-sha2-512");
    expect(f.supported.kex).toContain("sntrup761x25519-sha512@openssh.com");
    expect(f.serviceName).toBe("ssh");
    expect(f.systemd).toBe(true);
  });
  it("rejects truncated output", () => {
    expect(() => parseSshdProbe(probeOutput().replace(`${M} end\n`, ""))).toThrow(/incomplete/);
  });
  it("the probe script is read-only sh with sshd -T and ssh -Q", () => {
    const s = String(sshdKind.probe(spec).script);
    expect(s).toContain('"$lc_sshd" -T');
    expect(s).toContain("ssh -Q key-sig");
    // the one removal is of the temp dir the probe itself made for its concurrent queries
    expect(s).toContain("lc_q=$(mktemp -d) || exit 1");
    expect(s.split('rm -rf "$lc_q"').length).toBe(2);
    expect(s.replace('rm -rf "$lc_q"', "")).not.toMatch(/\b(rm|mv|sed -i|systemctl (reload|restart))\b/);
  });
});

describe("sshd diff", () => {
  it("a stock host: every SPEC §2 value drifts, with human summaries", () => {
    const s = summaries(facts());
    expect(s).toContain("Port 22 → 2222");
    expect(s).toContain("PasswordAuthentication yes → no");
    expect(s).toContain("PermitRootLogin without-password → no");
    expect(s).toContain("AllowUsers (unset) → deploy");
    expect(s).toContain("DisableForwarding no → yes");
    expect(s).toContain(`create ${DEFAULT_DROPIN}`);
    expect(s.some((x) => x.startsWith("KexAlgorithms "))).toBe(true);
  });
  it("no drift: hardened sshd -T + our drop-in → no changes", () => {
    expect(summaries(facts({ t: HARDENED_T, files: hardenedFiles() }))).toEqual([]);
  });
  it("drop-in edited by hand → rewritten, with a diff", () => {
    const files = hardenedFiles();
    files[DEFAULT_DROPIN] += "X11Forwarding yes\n";
    const plan = planSshd(spec, facts({ t: HARDENED_T, files }));
    expect(plan.changes.map((c) => c.summary)).toEqual([`update ${DEFAULT_DROPIN}`]);
    expect(plan.changes[0]!.diff).toContain("-X11Forwarding yes");
  });
  it("an EARLIER drop-in with PasswordAuthentication yes wins over ours: commented out", () => {
    const files = {
      ...hardenedFiles(),
      "/etc/ssh/sshd_config.d/00-aaa.conf": "# early\nPasswordAuthentication yes\n",
    };
    const s = summaries(facts({ t: fx("sshd-T-debian12-password-yes.txt"), files }));
    expect(s).toEqual([
      "PasswordAuthentication yes → no",
      `comment out /etc/ssh/sshd_config.d/00-aaa.conf:2 "PasswordAuthentication yes" (is read before lockclaw's drop-in and wins)`,
    ]);
  });
  it("a LATER drop-in (50-cloud-init.conf) with the same first-wins key is harmless; a Port there is not", () => {
    const files = {
      ...hardenedFiles(),
      "/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication yes\nPort 22\nAllowUsers root\n",
    };
    const s = summaries(facts({ t: HARDENED_T, files }));
    expect(s).toEqual([
      `comment out /etc/ssh/sshd_config.d/50-cloud-init.conf:2 "Port 22" (adds port 22)`,
      `comment out /etc/ssh/sshd_config.d/50-cloud-init.conf:3 "AllowUsers root" (also allows root)`,
    ]);
  });
  it("a line in sshd_config above the Include, and one inside a Match block, conflict", () => {
    const main = `PermitRootLogin yes\n${DEBIAN_SSHD_CONFIG}Match User bob\n  PasswordAuthentication yes\n`;
    const files = { ...hardenedFiles(), [SSHD_CONFIG]: main };
    const plan = planSshd(spec, facts({ t: HARDENED_T, files }));
    expect(plan.conflicts.map((c) => `${c.line} ${c.key}`)).toEqual([
      "1 permitrootlogin",
      "12 passwordauthentication",
    ]);
  });
  it("`Match all` opens a Match block (it does not end one): its lines replace the global values", () => {
    const files = {
      ...hardenedFiles(),
      "/etc/ssh/sshd_config.d/50-x.conf":
        "Match User bob\n  X11Forwarding yes\nMatch all\nPasswordAuthentication yes\n",
    };
    const plan = planSshd(spec, facts({ t: HARDENED_T, files }));
    expect(plan.conflicts.map((c) => `${c.file}:${c.line} ${c.reason}`)).toEqual([
      "/etc/ssh/sshd_config.d/50-x.conf:4 overrides it inside a Match block",
    ]);
  });
  it("an Include inside a drop-in is expanded at any depth; a Match block two files down is found and commented out", () => {
    const files = {
      ...hardenedFiles(),
      "/etc/ssh/sshd_config.d/50-team.conf": "Include /etc/ssh/team/*.conf\n",
      "/etc/ssh/team/10-more.conf": "Include deeper/*.conf\n",
      "/etc/ssh/deeper/pw.conf":
        "Match User deploy\n  PasswordAuthentication yes\n  KbdInteractiveAuthentication no\n",
    };
    const deployC = "user=deploy,host=lockclaw-check.invalid,addr=203.0.113.7,lport=2222";
    const f = facts({
      t: HARDENED_T,
      files,
      perConnection: {
        [deployC]: HARDENED_T.replace("passwordauthentication no", "passwordauthentication yes"),
      },
    });
    const order = readOrder(f.files, DEFAULT_DROPIN);
    expect(order.lines.filter((l) => l.file === "/etc/ssh/deeper/pw.conf").map((l) => l.inMatch)).toEqual([
      true,
      true,
      true,
    ]);
    const plan = planSshd(spec, f);
    expect(plan.changes.map((c) => c.summary)).toEqual([
      "PasswordAuthentication yes → no for a login user=deploy,addr=203.0.113.7,lport=2222 (a Match block)",
      `comment out /etc/ssh/deeper/pw.conf:2 "PasswordAuthentication yes" (overrides it inside a Match block)`,
    ]);
    // the run comments the line out where it is, after checking the file is still what the probe read
    const script = String(applyOf(sshdKind, spec, f));
    expect(script).toContain("/etc/ssh/deeper/pw.conf");
    expect(script).toContain(
      Buffer.from(commentOutLines(files["/etc/ssh/deeper/pw.conf"], [2]))
        .toString("base64")
        .slice(0, 40),
    );
  });
  it("the drop-in ends with a `Match all` block of the Match-capable settings (first among Match values)", () => {
    const d = planSshd(spec, facts()).dropin;
    const block = d.slice(d.indexOf("\nMatch all\n") + 1);
    expect(block.split("\n").filter(Boolean)).toEqual([
      "Match all",
      "\tPermitRootLogin no",
      "\tPasswordAuthentication no",
      "\tKbdInteractiveAuthentication no",
      "\tPermitEmptyPasswords no",
      "\tPubkeyAuthentication yes",
      "\tMaxAuthTries 3",
      "\tClientAliveInterval 300",
      "\tClientAliveCountMax 2",
      "\tDisableForwarding yes",
    ]);
    // everything sshd only takes globally comes before it
    expect(d.indexOf("KexAlgorithms")).toBeLessThan(d.indexOf("Match all"));
    expect(d.indexOf("AllowUsers")).toBeLessThan(d.indexOf("Match all"));
  });
  it("the probe reads every Included file and asks sshd -T -C for the deploy user and root", () => {
    const s = String(sshdKind.probe(spec).script);
    expect(s).toContain(
      `"$lc_sshd" -T -C 'user=deploy,host=lockclaw-check.invalid,addr=203.0.113.7,lport=2222'`,
    );
    expect(s).toContain(
      `"$lc_sshd" -T -C 'user=root,host=lockclaw-check.invalid,addr=203.0.113.7,lport=2222'`,
    );
    expect(s).toContain("lc_sshd_files | while IFS= read -r lc_f");
  });
  it("no Include of sshd_config.d → added at the top", () => {
    const files = { [SSHD_CONFIG]: "Port 22\nPasswordAuthentication yes\n" };
    const f = facts({ files });
    const plan = planSshd(spec, f);
    expect(plan.addInclude).toBe(true);
    expect(readOrder(f.files, DEFAULT_DROPIN).includesDropins).toBe(false);
    const script = String(applyOf(sshdKind, spec, f));
    expect(script).toContain(
      Buffer.from("Include /etc/ssh/sshd_config.d/*.conf\n").toString("base64").slice(0, 20),
    );
  });
  it("sshd -T failing is reported, and the drop-in is still (re)written", () => {
    const plan = planSshd(spec, facts({ rc: 255, t: "" }));
    expect(plan.changes[0]!.summary).toMatch(/sshd -T fails.*Bad configuration option/);
    expect(plan.writeDropin).toBe(true);
  });
  it("socket activation: port drift in ssh.socket and the override file", () => {
    const socket = ["ActiveState=active", "UnitFileState=enabled", "Listen=[::]:22 (Stream)"];
    const s = summaries(facts({ t: HARDENED_T, files: hardenedFiles(), socket }));
    expect(s).toEqual([
      "ssh.socket listens on 22 → 2222",
      "create /etc/systemd/system/ssh.socket.d/00-lockclaw.conf",
    ]);
    const converged = ["ActiveState=active", "UnitFileState=enabled", "Listen=[::]:2222 (Stream)"];
    const override = planSshd(spec, facts({ socket })).socketOverride;
    expect(override).toContain("ListenStream=\nListenStream=2222");
    expect(summaries(facts({ t: HARDENED_T, files: hardenedFiles(), socket: converged, override }))).toEqual(
      [],
    );
    expect(socketPorts(["0.0.0.0:22 (Stream)", "[::]:22 (Stream)"])).toEqual([22]);
  });
});

describe("algorithm intersection", () => {
  it("drops what the host lacks, keeps order", () => {
    const old = {
      kex: ["curve25519-sha256", "curve25519-sha256@libssh.org"],
      cipher: Q.cipher.split("\n"),
      mac: Q.mac.split("\n"),
      keySig: Q.keySig.split("\n"),
    };
    const r = intersectAlgorithms(DEFAULT_ALGORITHMS, old);
    expect(r.kex).toEqual(["curve25519-sha256", "curve25519-sha256@libssh.org"]);
    expect(r.host_key_algorithms).toEqual(["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"]);
  });
  it("never produces an empty list: explains instead", () => {
    expect(() =>
      intersectAlgorithms(DEFAULT_ALGORITHMS, {
        kex: ["diffie-hellman-group14-sha1"],
        cipher: [],
        mac: [],
        keySig: [],
      }),
    ).toThrow(/supports none of the KexAlgorithms.*diffie-hellman-group14-sha1/);
  });
  it("an unknown answer (ssh -Q failed) keeps the desired list for sshd -t to judge", () => {
    expect(intersectAlgorithms(DEFAULT_ALGORITHMS, { kex: [], cipher: [], mac: [], keySig: [] })).toEqual(
      DEFAULT_ALGORITHMS,
    );
  });
  it("the drop-in on this OpenSSH lists exactly the hardened, supported lists", () => {
    const d = planSshd(spec, facts()).dropin;
    expect(d).toContain(
      "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org\n",
    );
    expect(d).toContain(
      "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com\n",
    );
    expect(d).toContain("MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com\n");
    expect(d).toContain("HostKeyAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256\n");
    expect(d).not.toMatch(/diffie-hellman|-ctr|-cbc|sha1/);
    expect(d.split("\n")[2]).toBe("Port 2222");
  });
});

describe("legacy_clients", () => {
  it("the default lists are exactly SPEC §2's (no legacy algorithm unless asked for)", () => {
    expect(DEFAULT_ALGORITHMS).toEqual({
      kex: ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org"],
      ciphers: ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"],
      macs: ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com"],
      host_key_algorithms: ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"],
    });
    expect(spec.legacy_clients).toBe(false);
  });
  it("is a boolean: anything else is refused with its name", () => {
    expect(sshdSpec.parse({ port: 2222, legacy_clients: true }).legacy_clients).toBe(true);
    expect(() => sshdSpec.parse({ port: 2222, legacy_clients: "sometimes" })).toThrow(/legacy_clients/);
  });
  it("appends diffie-hellman-group-exchange-sha256 and aes256-ctr LAST; MACs and host keys unchanged", () => {
    const legacy = sshdSpec.parse({ port: 2222, legacy_clients: true, settings: { AllowUsers: ["deploy"] } });
    const d = planSshd(legacy, facts()).dropin;
    expect(d).toContain(
      "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org," +
        "diffie-hellman-group-exchange-sha256\n",
    );
    expect(d).toContain(
      "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr\n",
    );
    expect(d).toContain("MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com\n");
    expect(d).toContain("HostKeyAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256\n");
    // turning it on is drift on a host with exactly the hardened lists, and turning it off again too
    const s = planSshd(legacy, facts({ t: HARDENED_T, files: hardenedFiles() })).changes.map(
      (c) => c.summary,
    );
    expect(s).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^KexAlgorithms .*libssh\.org → .*,diffie-hellman-group-exchange-sha256$/),
        expect.stringMatching(/^Ciphers .*aes128-gcm@openssh\.com → .*,aes256-ctr$/),
      ]),
    );
  });
  it("is appended to a task's own list too, once, and intersected with what the host supports", () => {
    const own = sshdSpec.parse({
      port: 2222,
      legacy_clients: true,
      kex: ["curve25519-sha256", "diffie-hellman-group-exchange-sha256"],
    });
    const d = planSshd(own, facts()).dropin;
    expect(d).toContain("KexAlgorithms curve25519-sha256,diffie-hellman-group-exchange-sha256\n");
    // an OpenSSH without aes256-ctr keeps the hardened ciphers
    const noCtr = facts();
    noCtr.supported.cipher = noCtr.supported.cipher.filter((c) => c !== "aes256-ctr");
    const legacy = sshdSpec.parse({ port: 2222, legacy_clients: true });
    expect(planSshd(legacy, noCtr).dropin).toContain(
      "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com\n",
    );
  });
});

describe("sshd apply script", () => {
  it("validates with sshd -t BEFORE reloading, and restores without reloading when it fails", () => {
    const files = {
      ...hardenedFiles(),
      "/etc/ssh/sshd_config.d/00-aaa.conf": "PasswordAuthentication yes\n",
    };
    const f = facts({ t: fx("sshd-T-debian12-password-yes.txt"), files });
    const script = String(applyOf(sshdKind, spec, f));
    const test = script.indexOf('"$lc_sshd" -t');
    const reload = script.indexOf("systemctl reload-or-restart");
    expect(test).toBeGreaterThan(0);
    expect(reload).toBeGreaterThan(test);
    const failBranch = script.slice(test, script.indexOf("\nfi\n", test));
    expect(failBranch).toContain('cp -a "$lc_bk/0" /etc/ssh/sshd_config.d/00-aaa.conf');
    expect(failBranch).toContain("exit 1");
    expect(failBranch).not.toContain("systemctl");
    // the file is checked against what the probe read before being overwritten
    expect(script).toContain("sha256sum -c --status");
    expect(script).toContain(
      Buffer.from(commentOutLines("PasswordAuthentication yes\n", [1]))
        .toString("base64")
        .slice(0, 40),
    );
    expect(commentOutLines("PasswordAuthentication yes\n", [1])).toBe(
      `${DISABLED_PREFIX}PasswordAuthentication yes\n`,
    );
  });
  it("in socket mode stops ssh.service (sessions survive only with KillMode=process) before re-listening", () => {
    const script = String(applyOf(sshdKind, spec, facts()));
    expect(script).toMatch(
      /KillMode --value ssh.service\)" != process \]; then\n\s+systemctl reload ssh.service[\s\S]*else\n\s+systemctl stop ssh.service\n\s+systemctl restart ssh.socket/,
    );
    expect(script).not.toMatch(/systemctl restart ssh(d)?(\.service)?\s*$/m);
  });
  it("guard saves and restores sshd_config, the drop-in dir and the socket override, then reloads", () => {
    const g = sshdKind.guard!(spec)!;
    expect(String(g.save)).toContain('cp -a /etc/ssh/sshd_config.d "$LOCKCLAW_BACKUP/sshd/sshd_config.d"');
    expect(String(g.restore)).toContain('cp -a "$lc_b/sshd_config" /etc/ssh/sshd_config');
    expect(String(g.restore)).toContain("ssh.socket.d");
    expect(String(g.restore)).toContain("systemctl reload-or-restart");
    // files an Include reaches outside sshd_config.d are saved and put back too
    expect(String(g.save)).toContain("lc_sshd_files");
    expect(String(g.restore)).toContain('"$lc_b"/other/*.path');
    expect(sshdKind.verifiable).toBe(true);
  });
});

describe("sshd explicit: true (issue 12: each directive scanners read)", () => {
  const explicit = sshdSpec.parse({
    port: 2222,
    explicit: true,
    settings: { AllowUsers: ["deploy"], MaxSessions: 3 },
  });
  it("writes every forwarding directive, Compression, TCPKeepAlive, LogLevel, Banner; settings win", () => {
    const plan = planSshd(explicit, parseSshdProbe(probeOutput({ t: HARDENED_T })));
    const [global, match] = plan.dropin.split("Match all\n");
    for (const line of [
      "AllowTcpForwarding no",
      "AllowAgentForwarding no",
      "AllowStreamLocalForwarding no",
      "X11Forwarding no",
      "PermitTunnel no",
      "Compression no",
      "TCPKeepAlive no",
      "MaxSessions 3",
      "LogLevel VERBOSE",
      "Banner /etc/issue.net",
    ])
      expect(global).toContain(`\n${line}\n`);
    // a Match block elsewhere cannot loosen them; Compression and TCPKeepAlive are not allowed in Match
    expect(match).toContain("\tAllowTcpForwarding no\n");
    expect(match).toContain("\tMaxSessions 3\n");
    expect(match).not.toContain("Compression");
    expect(match).not.toContain("TCPKeepAlive");
    // sshd -T of a host without them: each one is drift
    const summaries = plan.changes.map((c) => c.summary);
    expect(summaries).toContain("X11Forwarding yes → no");
    expect(summaries).toContain("TCPKeepAlive yes → no");
    expect(summaries).toContain("LogLevel INFO → VERBOSE");
  });
  it("is off by default and refuses values sshd -T would print differently", () => {
    expect(planSshd(spec, parseSshdProbe(probeOutput({ t: HARDENED_T }))).dropin).not.toContain(
      "X11Forwarding",
    );
    expect(() => sshdSpec.parse({ port: 22, settings: { LogLevel: "verbose" } })).toThrow(/upper case/);
    expect(() => sshdSpec.parse({ port: 22, settings: { AllowTcpForwarding: "all" } })).toThrow(/one of/);
    expect(() => sshdSpec.parse({ port: 22, settings: { Banner: "/etc/issue net" } })).toThrow(/Banner/);
    expect(sshdSpec.parse({ port: 22, settings: { PermitTunnel: false } }).settings.PermitTunnel).toBe("no");
  });
});
