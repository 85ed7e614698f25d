/**
 * The local login memory (issue 11.11): keyed by the machine, never by a name that another inventory or
 * lab directory reuses; `lab down` forgets its machine (labStatePrefix matches resolveLabTarget's key).
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HostStateStore, labStatePrefix, stateKeyOf } from "../../../src/engine/state.js";
import { resolveLabTarget } from "../../../src/lab/machine.js";
import { writeState, type MachineState } from "../../../src/lab/state.js";
import type { ConnectionTarget } from "../../../src/transport/types.js";

const target = (t: Partial<ConnectionTarget>): ConnectionTarget => ({
  name: "web1",
  host: "203.0.113.10",
  port: 22,
  user: "root",
  identityFiles: [],
  hostKeyPolicy: "strict",
  knownHostsFile: "/dev/null",
  ...t,
});

const machine = (name: string, createdAt: string): MachineState => ({
  name,
  distro: "trixie",
  subnet: 7,
  address: "10.213.7.2",
  hostAddress: "10.213.7.1",
  veth: `ve-${name}`,
  user: "root",
  sshSocket: false,
  rootfs: "/x",
  createdAt,
});

describe("host state keys", () => {
  it("an SSH target is keyed by its resolved address and jump host, not the name typed", () => {
    expect(stateKeyOf(target({}))).toBe("ssh:203.0.113.10:22");
    expect(stateKeyOf(target({ name: "other-name" }))).toBe("ssh:203.0.113.10:22");
    expect(stateKeyOf(target({ host: "2001:db8::1", port: 2222 }))).toBe("ssh:[2001:db8::1]:2222");
    expect(stateKeyOf(target({ host: "10.0.0.5", proxyJump: target({ host: "198.51.100.1" }) }))).toBe(
      "ssh:10.0.0.5:22 via ssh:198.51.100.1:22",
    );
  });

  it("lab:t1 of two lab directories, or t1 made again, are different machines", async () => {
    const a = mkdtempSync(join(tmpdir(), "lc-laba-"));
    const b = mkdtempSync(join(tmpdir(), "lc-labb-"));
    await writeState(a, machine("t1", "2026-01-01T00:00:00.000Z"));
    await writeState(b, machine("t1", "2026-01-02T00:00:00.000Z"));
    const ka = stateKeyOf(await resolveLabTarget("t1", a));
    const kb = stateKeyOf(await resolveLabTarget("t1", b));
    expect(ka).not.toBe(kb);
    expect(ka.startsWith(labStatePrefix(a, "t1"))).toBe(true);
    await writeState(a, machine("t1", "2026-03-01T00:00:00.000Z"));
    expect(stateKeyOf(await resolveLabTarget("t1", a))).not.toBe(ka);
  });

  it("get/set by key, forget a lab machine or a whole lab, drop old name-keyed entries, 0600", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-state-"));
    const file = join(dir, "lockclaw", "hosts.json");
    const s = new HostStateStore(file);
    const login = { host: "10.213.7.2", user: "deploy", port: 2222 };
    // what an older lockclaw wrote: keyed by the name typed
    s.set("ssh:203.0.113.10:22", { ...login, host: "203.0.113.10" });
    const old = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...old, "lab:t1": login, web1: login }));
    expect(s.get("lab:t1")).toBeUndefined();
    s.set(`${labStatePrefix("/l/a", "t1")}2026`, login);
    s.set(`${labStatePrefix("/l/a", "t10")}2026`, login);
    s.set(`${labStatePrefix("/l/b", "t1")}2026`, login);
    expect(Object.keys(JSON.parse(readFileSync(file, "utf8")) as object)).toEqual([
      "ssh:203.0.113.10:22",
      "lab:/l/a/t1@2026",
      "lab:/l/a/t10@2026",
      "lab:/l/b/t1@2026",
    ]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // lab down t1 in /l/a: not t10, not /l/b's t1
    expect(s.forget(labStatePrefix("/l/a", "t1"))).toBe(1);
    expect(s.get("lab:/l/a/t10@2026")).toMatchObject({ user: "deploy" });
    expect(s.get("lab:/l/b/t1@2026")).toMatchObject({ user: "deploy" });
    // lab down --all in /l/b
    expect(s.forget(labStatePrefix("/l/b"))).toBe(1);
    expect(Object.keys(JSON.parse(readFileSync(file, "utf8")) as object)).toEqual([
      "ssh:203.0.113.10:22",
      "lab:/l/a/t10@2026",
    ]);
  });
});
