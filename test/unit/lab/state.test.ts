import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultLabDir, machinePaths, validateMachineName, vethName } from "../../../src/lab/paths.js";
import { nspawnRoot } from "../../../src/lab/procs.js";
import {
  allocateSubnet,
  listStates,
  readState,
  subnetAddresses,
  subnetsInIpAddrJson,
  writeState,
  type MachineState,
} from "../../../src/lab/state.js";

describe("subnet allocation", () => {
  it("takes the lowest free /24 and gives the host .1 and the machine .2", () => {
    expect(allocateSubnet([])).toBe(1);
    expect(allocateSubnet([1, 2, 4])).toBe(3);
    expect(subnetAddresses(3)).toEqual({
      network: "10.213.3.0/24",
      host: "10.213.3.1",
      machine: "10.213.3.2",
    });
  });

  it("fails clearly when all 254 are taken", () => {
    const all = Array.from({ length: 254 }, (_, i) => i + 1);
    expect(() => allocateSubnet(all)).toThrow(/no free lab subnet.*\n.*lab down --all/);
  });

  it("sees subnets already on host interfaces in `ip -j addr` output", () => {
    const json = JSON.stringify([
      { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1" }] },
      { ifname: "eth0", addr_info: [{ family: "inet", local: "10.2.13.5" }] },
      { ifname: "ve-x", addr_info: [{ family: "inet", local: "10.213.7.1" }] },
    ]);
    expect(subnetsInIpAddrJson(json)).toEqual([7]);
  });
});

describe("machine names and paths", () => {
  it("accepts short lowercase names whose veth name fits 15 bytes", () => {
    expect(validateMachineName("t1")).toBe("t1");
    expect(vethName("abcdefghijkl")).toHaveLength(15);
    for (const bad of ["", "T1", "1t", "abcdefghijklm", "a_b", "a/b", "../x"]) {
      expect(() => validateMachineName(bad)).toThrow(/invalid lab machine name/);
    }
  });

  it("defaults the lab dir to the XDG cache, overridable by LOCKCLAW_LAB_DIR", () => {
    expect(defaultLabDir({ XDG_CACHE_HOME: "/c" })).toBe("/c/lockclaw/lab");
    expect(defaultLabDir({ LOCKCLAW_LAB_DIR: "/x/lab", XDG_CACHE_HOME: "/c" })).toBe("/x/lab");
    expect(machinePaths("/l", "t1").root).toBe("/l/machines/t1/root");
  });
});

describe("state files", () => {
  it("round-trips and lists machine states", async () => {
    const labDir = mkdtempSync(join(tmpdir(), "lockclaw-lab-"));
    const s: MachineState = {
      name: "t1",
      distro: "trixie",
      subnet: 1,
      address: "10.213.1.2",
      hostAddress: "10.213.1.1",
      veth: "ve-t1",
      user: "root",
      sshSocket: false,
      pid: 42,
      rootfs: "/r",
      createdAt: "2025-01-01T00:00:00.000Z",
    };
    await writeState(labDir, s);
    expect(await readState(labDir, "t1")).toEqual(s);
    expect(await readState(labDir, "t2")).toBeUndefined();
    expect((await listStates(labDir)).map((x) => x.name)).toEqual(["t1"]);
  });
});

describe("nspawnRoot", () => {
  it("finds the -D directory of an nspawn command line only", () => {
    expect(nspawnRoot(["systemd-nspawn", "--boot", "-M", "t1", "-D", "/l/machines/t1/root"])).toBe(
      "/l/machines/t1/root",
    );
    expect(nspawnRoot(["/usr/bin/systemd-nspawn", "--directory=/r"])).toBe("/r");
    expect(nspawnRoot(["bash", "-D", "/r"])).toBeUndefined();
  });
});
