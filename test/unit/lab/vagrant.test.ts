import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LabError } from "../../../src/lab/errors.js";
import { parseVagrantSshConfig, vagrantTarget } from "../../../src/lab/vagrant.js";

const fixture = (f: string) => readFileSync(join(import.meta.dirname, "fixtures", f), "utf8");

describe("parseVagrantSshConfig", () => {
  it("reads a VirtualBox machine (forwarded port on loopback)", () => {
    const [cfg, ...rest] = parseVagrantSshConfig(fixture("vagrant-ssh-config-virtualbox.txt"));
    expect(rest).toHaveLength(0);
    expect(cfg).toEqual({
      host: "debian13",
      hostName: "127.0.0.1",
      user: "vagrant",
      port: 2222,
      identityFiles: ["/home/alice/src/lockclaw/.vagrant/machines/debian13/virtualbox/private_key"],
      strictHostKeyChecking: "no",
      userKnownHostsFile: "/dev/null",
    });
  });

  it("reads a libvirt machine (its own address, port 22)", () => {
    const [cfg] = parseVagrantSshConfig(fixture("vagrant-ssh-config-libvirt.txt"));
    expect(cfg?.hostName).toBe("192.168.121.57");
    expect(cfg?.port).toBe(22);
    expect(cfg?.identityFiles).toEqual([
      "/home/alice/src/lockclaw/.vagrant/machines/ubuntu2404/libvirt/private_key",
    ]);
  });

  it("reads several machines, quoted paths and several identity files", () => {
    const all = parseVagrantSshConfig(fixture("vagrant-ssh-config-all.txt"));
    expect(all.map((c) => [c.host, c.port])).toEqual([
      ["debian13", 2222],
      ["debian12", 2200],
    ]);
    expect(all[0]?.identityFiles).toEqual([
      "/Users/Alice Doe/lockclaw/.vagrant/machines/debian13/virtualbox/private_key",
    ]);
    expect(all[1]?.identityFiles).toHaveLength(2);
  });

  it("rejects a bad port and a key before any Host line, naming the line", () => {
    expect(() => parseVagrantSshConfig("Host x\n  Port 99999\n")).toThrow(/line 2: bad Port/);
    expect(() => parseVagrantSshConfig("  User vagrant\n")).toThrow(LabError);
  });
});

describe("vagrantTarget", () => {
  it("builds a connection target following Vagrant's host-key choice", () => {
    const [cfg] = parseVagrantSshConfig(fixture("vagrant-ssh-config-virtualbox.txt"));
    const t = vagrantTarget("debian13", cfg!);
    expect(t).toMatchObject({
      name: "vagrant:debian13",
      host: "127.0.0.1",
      port: 2222,
      user: "vagrant",
      hostKeyPolicy: "off",
      knownHostsFile: "/dev/null",
    });
  });

  it("refuses a ProxyCommand it would not run", () => {
    const [cfg] = parseVagrantSshConfig("Host w\n  HostName h\n  ProxyCommand ssh -W %h:%p jump\n");
    expect(() => vagrantTarget("w", cfg!)).toThrow(/ProxyCommand/);
  });
});
