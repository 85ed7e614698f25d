import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalCidr, parseCidr, nonPublicOverlap } from "../../../src/core/cidr.js";
import {
  CLOUDFLARE_V4_URL,
  defaultRangesPath,
  loadCloudflareRanges,
  parseCloudflareList,
  updateCloudflareRanges,
  validateSnapshot,
} from "../../../src/cloudflare/ranges.js";
import { ConfigError } from "../../../src/core/errors.js";

describe("cidr", () => {
  it("canonicalises IPv6 (RFC 5952) and keeps IPv4", () => {
    expect(canonicalCidr("2400:CB00:0:0::/32")).toBe("2400:cb00::/32");
    expect(canonicalCidr("2001:db8:0:0:1:0:0:1/128")).toBe("2001:db8::1:0:0:1/128");
    expect(canonicalCidr("173.245.48.0/20")).toBe("173.245.48.0/20");
    expect(canonicalCidr("10.1.2.3")).toBe("10.1.2.3/32");
    expect(canonicalCidr("::ffff:1.2.3.4")).toBe("::ffff:102:304/128");
  });
  it("rejects garbage, bad prefixes and host bits", () => {
    expect(() => parseCidr("1.2.3")).toThrow(/not an IPv4 or IPv6/);
    expect(() => parseCidr("1.2.3.4/33")).toThrow(/prefix length must be 0-32/);
    expect(() => parseCidr("256.1.1.1/8")).toThrow();
    expect(() => parseCidr("10.0.0.1/8")).toThrow(/did you mean 10.0.0.0\/8/);
    expect(() => parseCidr("1:2:3:4:5:6:7:8:9")).toThrow();
    expect(() => parseCidr("<html>")).toThrow();
  });
  it("knows non-public ranges", () => {
    expect(nonPublicOverlap(parseCidr("192.168.1.0/24"))).toBe("192.168.0.0/16");
    expect(nonPublicOverlap(parseCidr("0.0.0.0/0"))).toBeDefined();
    expect(nonPublicOverlap(parseCidr("fd00::/8"))).toBe("fc00::/7");
    expect(nonPublicOverlap(parseCidr("104.16.0.0/13"))).toBeUndefined();
  });
});

describe("pinned snapshot", () => {
  it("holds SPEC §4's 15 IPv4 and 7 IPv6 ranges, valid, with a date", () => {
    const s = loadCloudflareRanges();
    expect(s.ipv4).toHaveLength(15);
    expect(s.ipv6).toHaveLength(7);
    expect(s.ipv4).toContain("173.245.48.0/20");
    expect(s.ipv6).toContain("2a06:98c0::/29");
    expect(s.updated).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });
  it("rejects a private range, a v6 in the v4 list, an empty list — naming the entry", () => {
    const base = JSON.parse(readFileSync(defaultRangesPath(), "utf8"));
    expect(() => validateSnapshot({ ...base, ipv4: [...base.ipv4, "10.0.0.0/8"] }, "x.json")).toThrow(
      /ipv4\[15\].*non-public range 10.0.0.0\/8/,
    );
    expect(() => validateSnapshot({ ...base, ipv4: ["2400:cb00::/32"] }, "x.json")).toThrow(
      /IPv6, expected IPv4/,
    );
    expect(() => validateSnapshot({ ...base, ipv6: [] }, "x.json")).toThrow(/IPv6 list is empty/);
    expect(() => validateSnapshot({ ...base, ipv4: ["1.2.3.0/24", "1.2.3.0/24"] }, "x.json")).toThrow(
      /duplicate/,
    );
    expect(() => validateSnapshot({ ...base, ipv4: ["1.2.3.0"] }, "x.json")).toThrow(ConfigError);
  });
});

describe("parseCloudflareList", () => {
  it("reads the published one-per-line format, tolerating blank lines and CRLF", () => {
    expect(parseCloudflareList("173.245.48.0/20\r\n103.21.244.0/22\n\n", 4)).toEqual([
      "173.245.48.0/20",
      "103.21.244.0/22",
    ]);
  });
  it("names the line of a bad entry (an HTML error page never becomes a rule)", () => {
    expect(() => parseCloudflareList("173.245.48.0/20\n<html><body>503</body></html>\n", 4)).toThrow(
      /line 2/,
    );
    expect(() => parseCloudflareList("173.245.48.0\n", 4)).toThrow(/no prefix length/);
    expect(() => parseCloudflareList("", 6)).toThrow(/empty/);
  });
});

describe("updateCloudflareRanges (injected fetcher, no network)", () => {
  const setup = () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-cf-"));
    const file = join(dir, "cloudflare-ranges.json");
    copyFileSync(defaultRangesPath(), file);
    return file;
  };
  const snap = loadCloudflareRanges();
  const fetcher = (v4: string[], v6: string[]) => async (url: string) =>
    (url === CLOUDFLARE_V4_URL ? v4 : v6).join("\n") + "\n";

  it("writes added/removed ranges and the date when the lists changed", async () => {
    const file = setup();
    const v4 = [...snap.ipv4.filter((r) => r !== "131.0.72.0/22"), "8.6.112.0/24"];
    const r = await updateCloudflareRanges({ fetch: fetcher(v4, snap.ipv6), file, today: "2030-01-02" });
    expect(r).toMatchObject({ written: true, added: ["8.6.112.0/24"], removed: ["131.0.72.0/22"] });
    const after = loadCloudflareRanges(file);
    expect(after.updated).toBe("2030-01-02");
    expect(after.ipv4).toContain("8.6.112.0/24");
  });
  it("leaves the file alone when nothing changed", async () => {
    const file = setup();
    const before = readFileSync(file, "utf8");
    const r = await updateCloudflareRanges({
      fetch: fetcher(snap.ipv4, snap.ipv6),
      file,
      today: "2030-01-02",
    });
    expect(r).toMatchObject({ written: false, added: [], removed: [] });
    expect(readFileSync(file, "utf8")).toBe(before);
  });
  it("never writes an invalid or suspiciously short list", async () => {
    const file = setup();
    const before = readFileSync(file, "utf8");
    await expect(
      updateCloudflareRanges({ fetch: fetcher(["192.168.0.0/16"], snap.ipv6), file }),
    ).rejects.toThrow(/non-public/);
    await expect(
      updateCloudflareRanges({ fetch: fetcher(["8.6.112.0/24"], snap.ipv6), file }),
    ).rejects.toThrow(/shrink/);
    await expect(
      updateCloudflareRanges({
        fetch: async () => {
          throw new Error("HTTP 503");
        },
        file,
      }),
    ).rejects.toThrow(/503/);
    expect(readFileSync(file, "utf8")).toBe(before);
    writeFileSync(file, before);
  });
});
