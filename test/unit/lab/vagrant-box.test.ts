import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  boxAddresses,
  dnsmasqArgs,
  lxcConfig,
  macForAddress,
  VAGRANT_BRIDGE,
} from "../../../src/lab/vagrant-box.js";
import {
  recordVagrantLogin,
  resolveVagrantTarget,
  vagrantLoginFile,
  vagrantProjectDir,
} from "../../../src/lab/vagrant.js";
import { stateKeyOf } from "../../../src/engine/state.js";

const BOXES = readFileSync(join(import.meta.dirname, "..", "..", "..", "vagrant", "boxes.json"), "utf8");

describe("the Vagrant boxes' network", () => {
  it("gives each box a locally administered MAC made of its address (as the Vagrantfile does)", () => {
    expect(macForAddress("192.168.56.13")).toBe("02:00:c0:a8:38:0d");
    expect(() => macForAddress("192.168.56")).toThrow(/not an IPv4 address/);
    expect(() => macForAddress("192.168.56.256")).toThrow(/not an IPv4 address/);
  });

  it("the Vagrantfile computes the same MAC (ruby)", () => {
    let ruby = "";
    try {
      ruby = execFileSync(
        "ruby",
        [
          "-e",
          'ip="192.168.56.12"; print "02:00:" + ip.split(".").map { |o| format("%02x", o.to_i) }.join(":")',
        ],
        { encoding: "utf8" },
      );
    } catch {
      return; // no ruby on this host (it comes with vagrant)
    }
    expect(ruby).toBe(macForAddress("192.168.56.12"));
  });

  it("dnsmasq serves DHCP only: no DNS, static leases for the boxes of boxes.json, no router, no resolver", () => {
    const hosts = boxAddresses(BOXES);
    expect(hosts.map((h) => h.name)).toEqual(["debian13", "debian12", "ubuntu2404"]);
    const args = dnsmasqArgs("/lab/vagrant-net", hosts);
    expect(args).toContain("--port=0");
    expect(args).toContain("--conf-file=/dev/null");
    expect(args).toContain(`--interface=${VAGRANT_BRIDGE}`);
    expect(args).toContain("--bind-interfaces");
    expect(args).toContain("--dhcp-host=02:00:c0:a8:38:0d,192.168.56.13");
    expect(args.filter((a) => a.startsWith("--dhcp-range="))).toEqual([
      "--dhcp-range=192.168.56.0,static,255.255.255.0,12h",
    ]);
    // empty router and DNS options: a box gets no default route and no resolver
    expect(args).toContain("--dhcp-option=3");
    expect(args).toContain("--dhcp-option=6");
    expect(args).toContain("--pid-file=/lab/vagrant-net/dnsmasq.pid");
  });

  it("the box's container sits on that bridge, nothing else (no lxc-net)", () => {
    const cfg = lxcConfig();
    expect(cfg).toMatch(new RegExp(`^lxc\\.net\\.0\\.link = ${VAGRANT_BRIDGE}$`, "m"));
    expect(cfg).not.toMatch(/lxcbr0/);
  });
});

describe("the Vagrant login lockclaw writes for the Vagrantfile", () => {
  const project = () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-vagrant-"));
    writeFileSync(join(dir, "Vagrantfile"), "");
    mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
    return dir;
  };

  it("finds the Vagrantfile from a subdirectory, or from VAGRANT_CWD", () => {
    const dir = project();
    expect(vagrantProjectDir(join(dir, "sub", "deeper"), {})).toBe(dir);
    expect(vagrantProjectDir("/", { VAGRANT_CWD: dir })).toBe(dir);
  });

  it("records user, port, keys and the box's index_uuid; nothing for a box Vagrant has not created", async () => {
    const dir = project();
    const login = { user: "deploy", port: 2222, keys: ["/k/private_key"] };
    expect(await recordVagrantLogin("debian13", login, { cwd: dir, env: {} })).toBeUndefined();
    mkdirSync(join(dir, ".vagrant", "machines", "debian13", "lxc"), { recursive: true });
    writeFileSync(join(dir, ".vagrant", "machines", "debian13", "lxc", "index_uuid"), "abc123\n");
    const file = await recordVagrantLogin("debian13", login, { cwd: dir, env: {} });
    expect(file).toBe(vagrantLoginFile(dir, "debian13"));
    expect(JSON.parse(readFileSync(file!, "utf8"))).toEqual({ ...login, index_uuid: "abc123" });
    // a name that is not a Vagrant machine name never becomes a path
    expect(await recordVagrantLogin("../x", login, { cwd: dir, env: {} })).toBeUndefined();
  });

  it("the local state knows a box by its project, name and index_uuid, not by the 127.0.0.1 port boxes share", async () => {
    const dir = project();
    const fake = join(dir, "vagrant");
    writeFileSync(
      fake,
      "#!/bin/sh\nprintf 'Host debian13\\n  HostName 127.0.0.1\\n  User vagrant\\n  Port 2222\\n'\n",
      { mode: 0o755 },
    );
    // not created yet (no index_uuid): the SSH address, like any host
    const before = await resolveVagrantTarget("debian13", { cwd: dir, vagrant: fake });
    expect(stateKeyOf(before)).toBe("ssh:127.0.0.1:2222");
    mkdirSync(join(dir, ".vagrant", "machines", "debian13", "lxc"), { recursive: true });
    writeFileSync(join(dir, ".vagrant", "machines", "debian13", "lxc", "index_uuid"), "abc123\n");
    const made = await resolveVagrantTarget("debian13", { cwd: dir, vagrant: fake });
    expect(stateKeyOf(made)).toBe(`vagrant:${dir}/debian13@abc123`);
    // destroyed and re-created: another box on the same port, another key
    writeFileSync(join(dir, ".vagrant", "machines", "debian13", "lxc", "index_uuid"), "def456\n");
    const again = await resolveVagrantTarget("debian13", { cwd: dir, vagrant: fake });
    expect(stateKeyOf(again)).not.toBe(stateKeyOf(made));
    expect({ host: again.host, port: again.port }).toEqual({ host: "127.0.0.1", port: 2222 });
  });
});
