import { describe, expect, it } from "vitest";
import { packageKind, type PackageSpec } from "../../../src/resources/package.js";
import { applyOf, changesOf, parseSpec, probeFacts, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): PackageSpec => parseSpec(packageKind, input);
const ctx = { check: false };

describe("package spec", () => {
  it("accepts one name or a list", () => {
    expect(spec({ name: "fail2ban" }).name).toEqual(["fail2ban"]);
    expect(spec({ name: ["ufw", "libc6:amd64", "g++"], update_cache: "yes" })).toMatchObject({
      name: ["ufw", "libc6:amd64", "g++"],
      update_cache: true,
    });
  });
  it("rejects bad names with the rule", () => {
    expect(specError(packageKind, { name: "Fail2Ban" })).toMatch(/not a Debian package name/);
    expect(specError(packageKind, { name: ["ufw", "x; rm -rf /"] })).toMatch(/not a Debian package name/);
    expect(specError(packageKind, { name: [] })).toMatch(/at least one package/);
    expect(specError(packageKind, { name: "ufw", state: "latest" })).toMatch(
      /state must be "present" or "absent"/,
    );
  });
});

describe("package probe", () => {
  it("parses dpkg-query output, multi-arch included", () => {
    const p = packageKind.probe(spec({ name: ["ufw", "libc6", "nginx"] }));
    expect(p.parse("ufw installed\nlibc6 not-installed\nlibc6 installed\nnginx config-files\n")).toEqual({
      ufw: "installed",
      libc6: "installed",
      nginx: "config-files",
    });
    expect(() => p.parse("dpkg-query: error\n")).toThrow(/unexpected dpkg-query line/);
  });
  it("probes this machine: coreutils installed, a made-up package unknown", () => {
    const f = probeFacts(packageKind, spec({ name: ["coreutils", "lockclaw-no-such-package"] }));
    expect(f).toEqual({ coreutils: "installed" });
  });
});

describe("package diff/apply", () => {
  it("no change when installed / already gone", () => {
    expect(changesOf(packageKind, spec({ name: ["ufw"] }), { ufw: "installed" }, ctx)).toEqual([]);
    expect(changesOf(packageKind, spec({ name: "ufw", state: "absent" }), {}, ctx)).toEqual([]);
    expect(
      changesOf(packageKind, spec({ name: "ufw", state: "absent" }), { ufw: "config-files" }, ctx),
    ).toEqual([]);
  });
  it("installs what is missing, noninteractively, updating the lists once if needed", () => {
    const s = spec({ name: ["ufw", "fail2ban"] });
    const f = { ufw: "installed", fail2ban: "config-files" };
    expect(changesOf(packageKind, s, f, ctx)).toEqual([{ summary: "install fail2ban" }]);
    const sh = String(applyOf(packageKind, s, f));
    expect(sh).toMatch(
      /^if ! DEBIAN_FRONTEND=noninteractive .*apt-get -q -y .* install --no-install-recommends fail2ban; then/,
    );
    // the needrestart and apt-listchanges dpkg hooks stay out of lockclaw's own apt runs
    expect(sh).toContain("NEEDRESTART_SUSPEND=1 APT_LISTCHANGES_FRONTEND=none apt-get");
    expect(sh).toContain("--force-confold");
    expect(sh).toContain("apt-get -q -y -o DPkg::Lock::Timeout=300");
    expect(sh).toContain(" update\n");
    expect(String(applyOf(packageKind, spec({ name: "ufw", update_cache: true }), {}))).toMatch(
      /update\n.*install --no-install-recommends ufw$/,
    );
  });
  it("removes or purges", () => {
    const f = { ufw: "installed", nginx: "config-files" };
    expect(changesOf(packageKind, spec({ name: ["ufw", "nginx"], state: "absent" }), f, ctx)).toEqual([
      { summary: "remove ufw" },
    ]);
    expect(
      changesOf(packageKind, spec({ name: ["ufw", "nginx"], state: "absent", purge: true }), f, ctx),
    ).toEqual([{ summary: "purge ufw nginx" }]);
    expect(
      String(applyOf(packageKind, spec({ name: ["ufw", "nginx"], state: "absent", purge: true }), f)),
    ).toMatch(/ purge ufw nginx$/);
  });
});
