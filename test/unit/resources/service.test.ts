import { describe, expect, it } from "vitest";
import { serviceKind, type ServiceFacts, type ServiceSpec } from "../../../src/resources/service.js";
import { verifies as isVerifiable } from "../../../src/engine/resource.js";
import { applyOf, changesOf, parseSpec, probeFacts, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): ServiceSpec => parseSpec(serviceKind, input);
const ctx = { check: false };
const f = (extra: Partial<ServiceFacts> = {}): ServiceFacts => ({
  systemd: true,
  load: "loaded",
  enabled: "enabled",
  active: "active",
  ...extra,
});

describe("service spec", () => {
  it("accepts good input", () => {
    expect(spec({ name: "ssh", enabled: "true", state: "started" })).toMatchObject({
      enabled: true,
      scope: "system",
      daemon_reload: false,
    });
    expect(spec({ name: "docker.service", scope: "user", user: "deploy" }).user).toBe("deploy");
  });
  it("rejects bad input", () => {
    expect(specError(serviceKind, { name: "ssh", state: "running" })).toMatch(
      /state must be one of "started"/,
    );
    expect(specError(serviceKind, { name: "ssh; reboot" })).toMatch(/systemd unit name/);
    expect(specError(serviceKind, { name: "docker", scope: "user" })).toMatch(/user: scope: user needs user/);
    expect(specError(serviceKind, { name: "docker", user: "deploy" })).toMatch(
      /only meaningful with scope: user/,
    );
  });
});

describe("service parse", () => {
  it("reads probe output", () => {
    const p = serviceKind.probe(spec({ name: "ssh" }));
    expect(p.parse("systemd=1\nLoadState=loaded\nActiveState=active\nenabled=enabled\n")).toEqual(f());
    expect(p.parse("systemd=1\nActiveState=inactive\nLoadState=not-found\nenabled=\n")).toEqual(
      f({ load: "not-found", enabled: "", active: "inactive" }),
    );
    expect(() => p.parse("")).toThrow(/no systemd= line/);
  });
  it("runs on this machine (with or without systemd as PID 1)", () => {
    const facts = probeFacts(serviceKind, spec({ name: "lockclaw-no-such-unit" }));
    expect(typeof facts.systemd).toBe("boolean");
    expect(facts.enabled).toBe("");
    expect(["inactive", "unknown", ""]).toContain(facts.active);
  });
  it("runs systemctl --user as the user with its runtime dir", () => {
    const script = String(serviceKind.probe(spec({ name: "docker", scope: "user", user: "deploy" })).script);
    expect(script).toContain(
      `runuser -u deploy -- env XDG_RUNTIME_DIR=/run/user/"$(id -u -- deploy)" systemctl --user show -p LoadState -p ActiveState -- docker`,
    );
  });
});

describe("service diff/apply", () => {
  it("no change when enabled and running; static units count as enabled", () => {
    expect(changesOf(serviceKind, spec({ name: "ssh", enabled: true, state: "started" }), f(), ctx)).toEqual(
      [],
    );
    expect(changesOf(serviceKind, spec({ name: "x", enabled: true }), f({ enabled: "static" }), ctx)).toEqual(
      [],
    );
  });
  it("enable + start, disable + stop", () => {
    const s = spec({ name: "fail2ban", enabled: true, state: "started", daemon_reload: true });
    const facts = f({ enabled: "disabled", active: "inactive" });
    expect(changesOf(serviceKind, s, facts, ctx).map((c) => c.summary)).toEqual([
      "enable fail2ban",
      "start fail2ban",
    ]);
    const sh = String(applyOf(serviceKind, s, facts));
    expect(sh).toMatch(/^systemctl daemon-reload\n/);
    expect(sh).toContain("unit not found");
    expect(sh).toMatch(/systemctl enable -- fail2ban\nsystemctl start -- fail2ban$/);
    expect(
      String(applyOf(serviceKind, spec({ name: "docker", enabled: false, state: "stopped" }), f())),
    ).toMatch(/systemctl disable -- docker\nsystemctl stop -- docker$/);
    expect(
      changesOf(
        serviceKind,
        spec({ name: "x", enabled: true }),
        f({ enabled: "masked", load: "masked" }),
        ctx,
      )[0]!.summary,
    ).toBe("unmask and enable x");
  });
  it("a unit missing at probe time is a clear change, not a crash", () => {
    const cs = changesOf(
      serviceKind,
      spec({ name: "fail2ban", enabled: true, state: "started" }),
      f({ load: "not-found", enabled: "", active: "inactive" }),
      ctx,
    );
    expect(cs.map((c) => c.summary)).toEqual([
      "enable fail2ban (unit not found at probe time)",
      "start fail2ban (unit not found at probe time)",
    ]);
  });
  it("restarted/reloaded are actions: always one change, not verifiable", () => {
    expect(changesOf(serviceKind, spec({ name: "ssh", state: "restarted" }), f(), ctx)).toEqual([
      { summary: "restart ssh" },
    ]);
    expect(String(applyOf(serviceKind, spec({ name: "ssh", state: "reloaded" }), f()))).toMatch(
      /systemctl reload-or-restart -- ssh$/,
    );
    expect(isVerifiable(serviceKind, spec({ name: "ssh", state: "restarted" }))).toBe(false);
    expect(isVerifiable(serviceKind, spec({ name: "ssh", state: "started" }))).toBe(true);
  });
  it("says clearly when systemd is not there", () => {
    expect(() =>
      changesOf(
        serviceKind,
        spec({ name: "ssh", state: "started" }),
        f({ systemd: false, active: "inactive" }),
        ctx,
      ),
    ).toThrow(/systemd is not running/);
    expect(() =>
      changesOf(
        serviceKind,
        spec({ name: "docker", scope: "user", user: "deploy", state: "started" }),
        f({ systemd: false, active: "" }),
        ctx,
      ),
    ).toThrow(/loginctl enable-linger deploy/);
  });
});
