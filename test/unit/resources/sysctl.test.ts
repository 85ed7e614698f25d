import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  procPath,
  sysctlFileContent,
  sysctlKind,
  type SysctlFacts,
  type SysctlSpec,
} from "../../../src/resources/sysctl.js";
import { sha256 } from "../../../src/resources/common/fileState.js";
import { applyOf, changesOf, converge, parseSpec, probeFacts, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): SysctlSpec => parseSpec(sysctlKind, input);
const ctx = { check: false };
const withFile = (s: SysctlSpec, keys: SysctlFacts["keys"]): SysctlFacts => {
  const content = sysctlFileContent(s);
  return {
    file: {
      type: "file",
      mode: "0644",
      owner: "root",
      uid: "0",
      group: "root",
      gid: "0",
      sha256: sha256(content),
      content,
    },
    keys,
  };
};

describe("sysctl spec", () => {
  it("accepts settings with numbers, strings, booleans", () => {
    const s = spec({
      settings: {
        "net.ipv4.tcp_syncookies": 1,
        "net.ipv4.tcp_rmem": "4096 131072 6291456",
        "kernel.kptr_restrict": true,
      },
    });
    expect(s.file).toBe("/etc/sysctl.d/99-lockclaw.conf");
    expect(s.settings).toEqual({
      "net.ipv4.tcp_syncookies": "1",
      "net.ipv4.tcp_rmem": "4096 131072 6291456",
      "kernel.kptr_restrict": "1",
    });
  });
  it("rejects bad input", () => {
    expect(specError(sysctlKind, { settings: {} })).toMatch(/at least one key/);
    expect(specError(sysctlKind, { settings: { "net..x": 1 } })).toMatch(/empty components/);
    expect(specError(sysctlKind, { settings: { "net.x": "1\nkernel.y = 2" } })).toMatch(/single line/);
    expect(specError(sysctlKind, { file: "/etc/sysctl.d/x", settings: { "net.x": 1 } })).toMatch(
      /must end in \.conf/,
    );
    expect(specError(sysctlKind, { name: "net.x", value: 1 })).toMatch(/Unrecognized key/);
  });
  it("maps keys to /proc/sys", () => {
    expect(procPath("net.ipv4.conf.all.rp_filter")).toBe("/proc/sys/net/ipv4/conf/all/rp_filter");
    expect(procPath("net/ipv4/conf/eth0.100/rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
  });
});

describe("sysctl parse/diff/apply", () => {
  const s = spec({
    file: "/etc/sysctl.d/99-x.conf",
    settings: {
      "net.ipv4.tcp_syncookies": 1,
      "net.ipv4.tcp_rmem": "4096 131072 6291456",
      "kernel.kptr_restrict": 2,
    },
  });
  it("parses probe output", () => {
    const out =
      "file.type=absent\nkey.net.ipv4.tcp_syncookies=rw 1\nkey.net.ipv4.tcp_rmem=rw 4096 131072 6291456 \nkey.kernel.kptr_restrict=ro 1\n";
    expect(sysctlKind.probe(s).parse(out)).toEqual({
      file: { type: "absent" },
      keys: {
        "net.ipv4.tcp_syncookies": { status: "rw", value: "1" },
        "net.ipv4.tcp_rmem": { status: "rw", value: "4096 131072 6291456" },
        "kernel.kptr_restrict": { status: "ro", value: "1" },
      },
    });
    expect(() => sysctlKind.probe(s).parse("file.type=absent\n")).toThrow(
      /no valid line for net.ipv4.tcp_syncookies/,
    );
  });
  it("no change when file and live values match; a read-only key only counts in the file", () => {
    const keys = {
      "net.ipv4.tcp_syncookies": { status: "rw" as const, value: "1" },
      "net.ipv4.tcp_rmem": { status: "rw" as const, value: "4096 131072 6291456" },
      "kernel.kptr_restrict": { status: "ro" as const, value: "0" },
    };
    expect(changesOf(sysctlKind, s, withFile(s, keys), ctx)).toEqual([]);
  });
  it("file drift and live drift", () => {
    const keys = {
      "net.ipv4.tcp_syncookies": { status: "rw" as const, value: "0" },
      "net.ipv4.tcp_rmem": { status: "rw" as const, value: "4096 131072 6291456" },
      "kernel.kptr_restrict": { status: "missing" as const },
    };
    const facts: SysctlFacts = { file: { type: "absent" }, keys };
    const cs = changesOf(sysctlKind, s, facts, ctx);
    expect(cs.map((c) => c.summary)).toEqual([
      "create /etc/sysctl.d/99-x.conf",
      "net.ipv4.tcp_syncookies 0 → 1",
    ]);
    expect(cs[0]!.diff).toContain("+net.ipv4.tcp_syncookies = 1");
    const sh = String(applyOf(sysctlKind, s, facts));
    expect(sh).toContain(
      "if [ -w /proc/sys/net/ipv4/tcp_syncookies ]; then sysctl -q -w net.ipv4.tcp_syncookies=1",
    );
    expect(sh).not.toContain("sysctl -q -w net.ipv4.tcp_rmem");
    expect(sh).toContain("LOCKCLAW_WARNING: sysctl kernel.kptr_restrict does not exist on this kernel");
  });
});

describe("sysctl on this machine (custom file in a temp dir)", () => {
  it("probes live values and read-only keys, then converges writing only the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "lockclaw-sysctl-"));
    try {
      const file = join(dir, "90-test.conf");
      const live = readFileSync("/proc/sys/net/ipv4/tcp_syncookies", "utf8").trim();
      // keep the writable key at its current value: the test must not change this machine's kernel
      const s = spec({
        file,
        settings: { "net.ipv4.tcp_syncookies": live, "kernel.ostype": "NotLinux", "lockclaw.nosuch": 1 },
      });
      const facts = probeFacts(sysctlKind, s);
      expect(facts.keys["kernel.ostype"]).toEqual({ status: "ro", value: "Linux" }); // 0444 even for root
      expect(facts.keys["lockclaw.nosuch"]).toEqual({ status: "missing" });
      expect(facts.keys["net.ipv4.tcp_syncookies"]!.value).toBe(live);

      const r = converge(sysctlKind, s);
      expect(r.changes.map((c) => c.summary)).toEqual([`create ${file}`]);
      expect(r.after).toEqual([]);
      expect(r.warnings).toEqual([
        `sysctl kernel.ostype is read-only here (live Linux, wanted NotLinux); kept in ${file}`,
        `sysctl lockclaw.nosuch does not exist on this kernel; kept in ${file}`,
      ]);
      expect(readFileSync(file, "utf8")).toContain("kernel.ostype = NotLinux\n");
      expect(statSync(file).mode & 0o777).toBe(0o644);
      expect(readFileSync("/proc/sys/kernel/ostype", "utf8").trim()).toBe("Linux");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
