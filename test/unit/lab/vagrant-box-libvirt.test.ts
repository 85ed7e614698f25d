import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { libvirtBoxInputs, libvirtBoxVagrantfile } from "../../../src/lab/vagrant-box-libvirt.js";

const REPO_VAGRANTFILE = readFileSync(join(import.meta.dirname, "..", "..", "..", "Vagrantfile"), "utf8");

describe("the libvirt box", () => {
  it("boots the kernel and initrd shipped beside its Vagrantfile, with no management network", () => {
    const v = libvirtBoxVagrantfile();
    expect(v).toContain('lv.kernel = File.join(__dir__, "vmlinuz")');
    expect(v).toContain('lv.initrd = File.join(__dir__, "initrd.img")');
    expect(v).toContain('lv.cmd_line = "root=/dev/vda rw console=ttyS0"');
    // vagrant-libvirt's management network is NAT: the box never asks for it
    expect(v).toContain("lv.mgmt_attach = false");
  });

  it("its Vagrantfile is Ruby Vagrant can load (ruby -c)", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-libvirt-box-"));
    writeFileSync(join(dir, "Vagrantfile"), libvirtBoxVagrantfile());
    let out = "";
    try {
      out = execFileSync("ruby", ["-c", join(dir, "Vagrantfile")], { encoding: "utf8" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // no ruby on this host (it comes with vagrant)
      throw e;
    }
    expect(out).toMatch(/Syntax OK/);
  });

  it("a changed box Vagrantfile makes another box (the hash covers it)", () => {
    expect(JSON.stringify(libvirtBoxInputs("/r", "k"))).toContain(JSON.stringify(libvirtBoxVagrantfile()));
  });

  it("the project's Vagrantfile gives libvirt boxes an isolated private network (no NAT, no forwarding)", () => {
    const block = REPO_VAGRANTFILE.slice(REPO_VAGRANTFILE.indexOf("m.vm.provider :libvirt"));
    expect(block.split("\n").find((l) => l.includes('"private_network"'))).toContain(
      'libvirt__forward_mode: "none"',
    );
  });
});
