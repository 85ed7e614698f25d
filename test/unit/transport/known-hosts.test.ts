import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionError, HostKeyMismatchError } from "../../../src/core/errors.js";
import {
  appendKnownHost,
  entryMatches,
  fingerprint,
  keyTypeOf,
  knownHostsName,
  lookupHostKeys,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  verifyHostKey,
} from "../../../src/transport/known-hosts.js";

// Real keys and the fingerprints and hashed lines `ssh-keygen -l` / `ssh-keygen -H` printed for them.
const KEY_A = "AAAAC3NzaC1lZDI1NTE5AAAAIJlXdYsGAKjPqwBpBpn4jxS/LWICJZwrpsK311sl7/57";
const FP_A = "SHA256:QsKC4AwvF12IX8y79TWfxP3DcGQxjWyz5cBUqHXbQL0";
const KEY_B = "AAAAC3NzaC1lZDI1NTE5AAAAINXPHSvQzFcAZUdFc6H5EFpyqjKrdVFdMxGtwesVQ402";
const FP_B = "SHA256:f+yQSNUNUp3iq0wIHuajJvBDdtORH4NalgmrflHgrWA";
const HASHED_22 = `|1|DY2yeEGQ+897CzHL69UkCfyNG0g=|MIRBTw9atR7y7o3/UMr8OY9AFXQ= ssh-ed25519 ${KEY_A}`; // example.org
const HASHED_2222 = `|1|oGReztvx8TmA1TI0420LVBadHdU=|1+P8IUNMYhssLyFkCxg9meGioho= ssh-ed25519 ${KEY_A}`; // [example.org]:2222
const blobA = Buffer.from(KEY_A, "base64");
const blobB = Buffer.from(KEY_B, "base64");

describe("fingerprint", () => {
  it("prints SHA256 like ssh-keygen -l (unpadded base64)", () => {
    expect(fingerprint(blobA)).toBe(FP_A);
    expect(fingerprint(blobB)).toBe(FP_B);
    expect(fingerprint(blobA)).not.toMatch(/=$/);
  });
  it("reads the key type from the blob", () => {
    expect(keyTypeOf(blobA)).toBe("ssh-ed25519");
    expect(() => keyTypeOf(Buffer.from([0, 0]))).toThrow(/too short/);
  });
});

describe("parseKnownHosts", () => {
  it("skips comments, blanks, unknown markers and bad lines; keeps line numbers", () => {
    const text = [
      "# a comment",
      "",
      `host1,192.0.2.1 ssh-ed25519 ${KEY_A} comment here`,
      `@cert-authority *.example.org ssh-ed25519 ${KEY_B}`,
      `@weird host2 ssh-ed25519 ${KEY_B}`,
      "host3 ssh-ed25519",
      `host4 ssh-rsa ${KEY_A}`, // type does not match the blob: skipped
      `@revoked host5 ssh-ed25519 ${KEY_B}`,
    ].join("\n");
    const entries = parseKnownHosts(text, "kh");
    expect(entries.map((e) => [e.patterns, e.marker, e.line])).toEqual([
      [["host1", "192.0.2.1"], undefined, 3],
      [["*.example.org"], "cert-authority", 4],
      [["host5"], "revoked", 8],
    ]);
  });
});

describe("matching", () => {
  it("uses [host]:port for non-22 ports", () => {
    expect(knownHostsName("Example.ORG", 22)).toBe("example.org");
    expect(knownHostsName("::1", 2222)).toBe("[::1]:2222");
    const [plain22, port2222] = parseKnownHosts(
      `example.org ssh-ed25519 ${KEY_A}\n[example.org]:2222 ssh-ed25519 ${KEY_B}\n`,
    );
    expect(entryMatches(plain22!, "example.org", 22)).toBe(true);
    expect(entryMatches(plain22!, "example.org", 2222)).toBe(false);
    expect(entryMatches(port2222!, "example.org", 2222)).toBe(true);
    expect(entryMatches(port2222!, "example.org", 22)).toBe(false);
  });
  it("matches hashed entries written by ssh-keygen -H", () => {
    const [h22, h2222] = parseKnownHosts(`${HASHED_22}\n${HASHED_2222}\n`);
    expect(entryMatches(h22!, "example.org", 22)).toBe(true);
    expect(entryMatches(h22!, "example.com", 22)).toBe(false);
    expect(entryMatches(h2222!, "example.org", 2222)).toBe(true);
    expect(entryMatches(h2222!, "example.org", 22)).toBe(false);
  });
  it("handles comma lists, wildcards and negation", () => {
    const [e] = parseKnownHosts(`a.example.org,*.lab,!bad.lab ssh-ed25519 ${KEY_A}`);
    expect(entryMatches(e!, "a.example.org", 22)).toBe(true);
    expect(entryMatches(e!, "t1.lab", 22)).toBe(true);
    expect(entryMatches(e!, "bad.lab", 22)).toBe(false);
    expect(entryMatches(e!, "other.org", 22)).toBe(false);
  });
  it("lookupHostKeys ignores marker lines and orders preferred algorithms", () => {
    const entries = parseKnownHosts(`@revoked h ssh-ed25519 ${KEY_B}\nh ssh-ed25519 ${KEY_A}\n`);
    expect(lookupHostKeys(entries, "h", 22).map((e) => e.key.equals(blobA))).toEqual([true]);
    expect(preferredHostKeyAlgorithms(lookupHostKeys(entries, "h", 22))).toEqual(["ssh-ed25519"]);
  });
});

describe("verifyHostKey", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const setup = (content?: string) => {
    dir = mkdtempSync(join(tmpdir(), "lc-kh-"));
    const file = join(dir, "ssh", "known_hosts");
    if (content !== undefined) {
      appendKnownHost(file, "placeholder", 22, blobB); // creates dir + file
      writeFileSync(file, content);
    }
    return file;
  };

  it("accepts a known key (hashed entry)", () => {
    const file = setup(`${HASHED_2222}\n`);
    expect(
      verifyHostKey({ host: "example.org", port: 2222, key: blobA, policy: "strict", knownHostsFile: file }),
    ).toEqual({
      ok: true,
      recorded: false,
    });
  });

  it("rejects a mismatch with both fingerprints, under every checking policy", () => {
    const file = setup(`[example.org]:2222 ssh-ed25519 ${KEY_A}\n`);
    for (const policy of ["strict", "accept-new"] as const) {
      const v = verifyHostKey({ host: "example.org", port: 2222, key: blobB, policy, knownHostsFile: file });
      expect(v.ok).toBe(false);
      if (v.ok) continue;
      expect(v.error).toBeInstanceOf(HostKeyMismatchError);
      expect(v.error.message).toContain(FP_A);
      expect(v.error.message).toContain(FP_B);
      expect(v.error.message).toContain(file);
    }
    // accept-new did not overwrite or add anything
    expect(readFileSync(file, "utf8")).toBe(`[example.org]:2222 ssh-ed25519 ${KEY_A}\n`);
  });

  it("a pinned key (trustedFingerprints) never overrides a conflicting known_hosts line", () => {
    const content = `[example.org]:2222 ssh-ed25519 ${KEY_A}\n`;
    const file = setup(content);
    for (const policy of ["strict", "accept-new"] as const) {
      const v = verifyHostKey({
        host: "example.org",
        port: 2222,
        key: blobB,
        policy,
        knownHostsFile: file,
        trustedFingerprints: [FP_B],
      });
      expect(v.ok).toBe(false);
      if (v.ok) continue;
      expect(v.error).toBeInstanceOf(HostKeyMismatchError);
      expect(v.error.message).toContain(FP_A);
      expect(v.error.message).toContain(FP_B);
    }
    expect(readFileSync(file, "utf8")).toBe(content);
  });

  it("a pinned key stands in only for a host:port known_hosts does not know, and is then recorded", () => {
    const file = setup(`[example.org]:2222 ssh-ed25519 ${KEY_A}\n`);
    const v = verifyHostKey({
      host: "example.org",
      port: 2200,
      key: blobA,
      policy: "strict",
      knownHostsFile: file,
      trustedFingerprints: [FP_A],
    });
    expect(v).toEqual({ ok: true, recorded: true });
    expect(readFileSync(file, "utf8")).toBe(
      `[example.org]:2222 ssh-ed25519 ${KEY_A}\n[example.org]:2200 ssh-ed25519 ${KEY_A}\n`,
    );
    // a pin for some other key does not let an unknown key through strict checking
    const other = verifyHostKey({
      host: "example.org",
      port: 2201,
      key: blobB,
      policy: "strict",
      knownHostsFile: file,
      trustedFingerprints: [FP_A],
    });
    expect(other.ok).toBe(false);
  });

  it("strict: unknown host is an error that names --accept-new-host-key and the fingerprint", () => {
    const file = setup();
    const v = verifyHostKey({
      host: "h.example",
      port: 22,
      key: blobA,
      policy: "strict",
      knownHostsFile: file,
    });
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.error).toBeInstanceOf(ConnectionError);
      expect(v.error).not.toBeInstanceOf(HostKeyMismatchError);
      expect(v.error.message).toContain("--accept-new-host-key");
      expect(v.error.message).toContain(FP_A);
    }
  });

  it("accept-new: records the host (dir 0700, file 0600) and then knows it", () => {
    const file = setup();
    const v = verifyHostKey({
      host: "h.example",
      port: 2200,
      key: blobA,
      policy: "accept-new",
      knownHostsFile: file,
    });
    expect(v).toEqual({ ok: true, recorded: true });
    expect(readFileSync(file, "utf8")).toBe(`[h.example]:2200 ssh-ed25519 ${KEY_A}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "ssh")).mode & 0o777).toBe(0o700);
    const again = verifyHostKey({
      host: "h.example",
      port: 2200,
      key: blobA,
      policy: "strict",
      knownHostsFile: file,
    });
    expect(again).toEqual({ ok: true, recorded: false });
  });

  it("appends on a new line even when the file lacks a trailing newline", () => {
    const file = setup(`other ssh-ed25519 ${KEY_B}`);
    verifyHostKey({ host: "h", port: 22, key: blobA, policy: "accept-new", knownHostsFile: file });
    expect(readFileSync(file, "utf8")).toBe(`other ssh-ed25519 ${KEY_B}\nh ssh-ed25519 ${KEY_A}\n`);
  });

  it("refuses a key marked @revoked", () => {
    const file = setup(`@revoked h ssh-ed25519 ${KEY_A}\n`);
    const v = verifyHostKey({ host: "h", port: 22, key: blobA, policy: "accept-new", knownHostsFile: file });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.error.message).toMatch(/revoked/);
  });

  it("off: no check at all", () => {
    const file = setup(`h ssh-ed25519 ${KEY_A}\n`);
    expect(verifyHostKey({ host: "h", port: 22, key: blobB, policy: "off", knownHostsFile: file }).ok).toBe(
      true,
    );
  });
});
