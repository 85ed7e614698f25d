/**
 * The libvirt leg (opt-in: LOCKCLAW_E2E_TARGET=vagrant-libvirt, after scripts/setup-libvirt.sh): the host
 * playbook against a QEMU VM with its own kernel, the way a user drives it: `lockclaw lab box --provider
 * libvirt` (cached), `vagrant up`, `lockclaw provision host vagrant:NAME --no-stack` (first time, on a
 * slow TCG guest), a no-op re-run, `lockclaw audit`; then what a container cannot show: auditd with
 * lockclaw's rules loaded in the kernel and an event for a watched file, the kernel sysctls set, the
 * module blacklist in effect, a removed audit rule put back into the kernel by a run. Then `vagrant
 * destroy -f`, and nothing is left: no domain, no libvirt network, bridge or dnsmasq, no LIBVIRT_* chain,
 * no NAT rule, ip_forward 0. The box lives in a project of this file's own.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quoteWord } from "../../../src/core/sh.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { lockclaw } from "../support/cli.js";
import { run, stepTimer } from "./support.js";
import { e2eTargetKind } from "../support/env.js";
import { e2eContext, e2eMachineName } from "../support/lab.js";
import { show } from "../host/support.js";

const REPO = join(import.meta.dirname, "..", "..", "..");
const NAME = e2eMachineName("lvirt13");
/** Not the lxc boxes' 192.168.56.0/24: lockclaw's lcvagrant0 bridge may hold that one at the same time. */
const IP = "192.168.57.13";
const MINUTE = 60_000;

const { figures, timed } = stepTimer();
/** Lines printed after the timings (not steps of this file). */
const notes: string[] = [];

const virsh = (...args: string[]) => run("virsh", ["-c", "qemu:///system", ...args]);
const lines = (s: string) =>
  s
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

/** The domains and networks libvirt has. */
async function hostState() {
  return {
    domains: lines((await virsh("list", "--all", "--name")).stdout),
    networks: lines((await virsh("net-list", "--all", "--name")).stdout),
  };
}

/** ip_forward 0 and no NAT anywhere: libvirt's isolated network must not have added any. */
async function expectNoForwardingNoNat(): Promise<void> {
  expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("0");
  for (const save of ["iptables-save", "ip6tables-save"]) {
    const ipt = await run(save, []);
    expect(ipt.code, show(ipt)).toBe(0);
    expect(ipt.stdout).not.toMatch(/MASQUERADE|SNAT|DNAT/);
  }
  // NAT rules, not the "priority srcnat" of an empty nat chain
  const nft = await run("nft", ["list", "ruleset"]);
  if (nft.code === 0) expect(nft.stdout).not.toMatch(/masquerade|snat to|dnat to/i);
}

describe.skipIf(e2eTargetKind() !== "vagrant-libvirt")(
  "host playbook on a libvirt VM (QEMU, its own kernel)",
  () => {
    let project = "";
    let env: NodeJS.ProcessEnv = {};
    let before: Awaited<ReturnType<typeof hostState>>;
    const vagrant = (args: string[], timeoutMs?: number) => run("vagrant", args, { env, timeoutMs });
    const cli = (args: string[], timeoutMs = 20 * MINUTE) => lockclaw(args, { env, timeoutMs });
    /** A command on the VM as root (vagrant ssh: the vagrant user first, deploy on 2222 once hardened). */
    const onVm = (script: string) =>
      vagrant(["ssh", NAME, "-c", `sudo sh -c ${quoteWord(script)}`], 2 * MINUTE);

    const setupLibvirt = (cmd: "start" | "stop") =>
      run("bash", [join(REPO, "scripts", "setup-libvirt.sh"), cmd], { timeoutMs: 2 * MINUTE });

    async function destroy(): Promise<void> {
      if (existsSync(join(project, ".vagrant"))) {
        const r = await vagrant(["destroy", "-f", NAME], 5 * MINUTE);
        if (r.code !== 0) process.stderr.write(`vagrant destroy ${NAME}: ${show(r)}\n`);
      }
      new HostStateStore().forget(`vagrant:${project}/`);
    }

    beforeAll(async () => {
      for (const tool of ["vagrant", "virsh", "qemu-system-x86_64", "qemu-img", "iptables-save"]) {
        if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) {
          throw new Error(`${tool} is not installed: run scripts/setup-libvirt.sh (as root)`);
        }
      }
      if ((await run("vagrant", ["plugin", "list"])).stdout.indexOf("vagrant-libvirt") < 0) {
        throw new Error(
          "the vagrant-libvirt plugin is not installed: run scripts/setup-libvirt.sh (as root)",
        );
      }
      // libvirtd runs for this file only: its LIBVIRT_* chains can go only once it is stopped (it makes
      // them once per run and could not start a network again without them)
      const start = await setupLibvirt("start");
      if (start.code !== 0) throw new Error(`scripts/setup-libvirt.sh start failed\n${show(start)}`);
      const labDir = e2eContext().labDir;
      project = join(labDir, "vagrant-libvirt-project");
      env = { VAGRANT_CWD: project, LOCKCLAW_LAB_DIR: labDir, VAGRANT_DEFAULT_PROVIDER: "libvirt" };
      await destroy();
      before = await hostState();
      // the NAT'ed "default" network must not exist, let alone run
      expect(before.networks).not.toContain("default");
      await expectNoForwardingNoNat();
      rmSync(project, { recursive: true, force: true });
      mkdirSync(join(project, "vagrant"), { recursive: true });
      copyFileSync(join(REPO, "Vagrantfile"), join(project, "Vagrantfile"));
      writeFileSync(
        join(project, "vagrant", "boxes.json"),
        JSON.stringify({ [NAME]: { box: "lockclaw/debian13", ip: IP, primary: true } }),
      );
    });

    afterAll(async () => {
      try {
        await timed("teardown (vagrant destroy -f, libvirtd stopped, LIBVIRT_* chains dropped)", async () => {
          await destroy();
          const stop = await setupLibvirt("stop");
          if (stop.code !== 0) process.stderr.write(`setup-libvirt.sh stop: ${show(stop)}\n`);
        });
      } finally {
        const total = figures.reduce((s, f) => s + f.seconds, 0);
        process.stdout.write(
          `\nlibvirt leg (${NAME}):\n` +
            figures.map((f) => `  ${f.seconds.toFixed(1).padStart(6)} s  ${f.step}`).join("\n") +
            `\n  ${total.toFixed(1).padStart(6)} s  total\n` +
            notes.map((n) => `  ${n}\n`).join(""),
        );
      }
    });

    it("lockclaw lab box --provider libvirt builds (or reuses) the box and adds it to Vagrant", async () => {
      const r = await timed("lockclaw lab box --provider libvirt (cached after the first build)", () =>
        cli(["lab", "box", "--provider", "libvirt"]),
      );
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/box: {2}lockclaw\/debian13 \(libvirt\)/);
      const list = await vagrant(["box", "list"]);
      expect(list.stdout).toMatch(/^lockclaw\/debian13\s+\(libvirt, /m);
    });

    it("vagrant up boots the VM on an isolated network only (no management network, forward mode none)", async () => {
      const r = await timed("vagrant up (fresh VM, TCG)", () =>
        vagrant(["up", NAME, "--provider=libvirt"], 15 * MINUTE),
      );
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toContain("Machine booted and ready!");
      const boot = await onVm("cat /proc/uptime; uname -r; systemd-analyze time || true");
      expect(boot.code, show(boot)).toBe(0);
      // a kernel of its own, not this host's
      expect(boot.stdout).toMatch(/\+deb13-amd64/);
      notes.push(
        `guest: up ${Number(boot.stdout.split(" ")[0]).toFixed(0)} s at first SSH; ${boot.stdout.split("\n")[2]?.trim() ?? ""}`,
      );
      const now = await hostState();
      const nets = now.networks.filter((n) => !before.networks.includes(n));
      expect(nets, "one network for the VM").toHaveLength(1);
      const xml = (await virsh("net-dumpxml", nets[0]!)).stdout;
      // isolated: libvirt writes no <forward> element for mode none
      expect(xml).not.toMatch(/<forward/);
      const dom = (
        await virsh(
          "dumpxml",
          now.domains.find((d) => !before.domains.includes(d))!,
        )
      ).stdout;
      expect((dom.match(/<interface /g) ?? []).length, "no management interface").toBe(1);
      expect(dom).toContain(`<source network='${nets[0]}'`);
      await expectNoForwardingNoNat();
    });

    it("a first provision host vagrant:NAME --no-stack succeeds on the slow guest", async () => {
      const r = await timed("provision host (first run)", () =>
        cli(["provision", "host", `vagrant:${NAME}`, "--no-stack"]),
      );
      expect(r.code, show(r)).toBe(0);
      const changed = /changed=(\d+)\s+failed=0/.exec(r.stdout + r.stderr);
      expect(changed, show(r)).not.toBeNull();
      expect(Number(changed![1])).toBeGreaterThan(0);
      expect(r.stdout + r.stderr).not.toMatch(/Keepalive timeout|connection lost/i);
      await expectNoForwardingNoNat();
    });

    it("a second run changes nothing", async () => {
      const r = await timed("provision host (no-op run)", () =>
        cli(["provision", "host", `vagrant:${NAME}`, "--no-stack"]),
      );
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout + r.stderr, show(r)).toMatch(/changed=0\s+failed=0/);
    });

    it("lockclaw audit passes, and the kernel-side checks PASS instead of SKIP", async () => {
      const r = await timed("audit", () => cli(["audit", `vagrant:${NAME}`]));
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/(\d+)\/\1 checks passed/);
      expect(r.stdout).toMatch(
        /PASS\s+auditd runs with lockclaw's rules loaded\s.*keys loaded: lockclaw-identity/,
      );
      expect(r.stdout).toMatch(/PASS\s+sysctl kernel\.kptr_restrict = 2\s+live 2/);
      expect(r.stdout).toMatch(/PASS\s+sysctl kernel\.yama\.ptrace_scope = 1\s+live 1/);
      expect(r.stdout).toMatch(/PASS\s+modules dccp, .* blacklisted/);
      // in a container these SKIP; on a VM only the stack's own checks may (the stack is not deployed)
      const skips = r.stdout.split("\n").filter((l) => /^\s*SKIP\s/.test(l));
      expect(
        skips.filter((l) => !/stack not deployed/.test(l)),
        show(r),
      ).toEqual([]);
    });

    it("the kernel audits a watched file, has the sysctls set and refuses a blacklisted module", async () => {
      const s = await onVm("auditctl -s; echo ==; auditctl -l");
      expect(s.code, show(s)).toBe(0);
      expect(s.stdout).toMatch(/^enabled 1$/m);
      expect(s.stdout).toContain("-w /etc/sudoers.d -p wa -k lockclaw-sudoers");
      // ausearch reads stdin when it is not a terminal: --input-logs reads the log
      const probe = "/etc/sudoers.d/lockclaw-e2e-probe";
      const ev = await onVm(
        `touch ${probe}; rm -f ${probe}; sleep 1; ausearch --input-logs -k lockclaw-sudoers -f ${probe} -i`,
      );
      expect(ev.code, show(ev)).toBe(0);
      expect(ev.stdout).toMatch(/type=SYSCALL .*comm=touch .*key=lockclaw-sudoers/);
      expect(ev.stdout).toContain(`name=${probe}`);
      const k = await onVm(
        "cat /proc/sys/kernel/kptr_restrict /proc/sys/kernel/dmesg_restrict /proc/sys/kernel/unprivileged_bpf_disabled /proc/sys/fs/suid_dumpable",
      );
      expect(lines(k.stdout)).toEqual(["2", "1", "1", "0"]);
      const mod = await onVm("modprobe dccp; echo rc=$?; grep -c '^dccp ' /proc/modules || true");
      expect(mod.stdout).toMatch(/rc=1/);
      expect(mod.stdout.trim().split("\n").pop()).toBe("0");
    });

    it("a rule removed from the kernel and the file is found by --check and put back by a run", async () => {
      const rules = "/etc/audit/rules.d/50-lockclaw.rules";
      const drift = await onVm(
        `sed -i '\\|-w /etc/sudoers.d |d' ${rules} && augenrules --load && auditctl -l`,
      );
      expect(drift.code, show(drift)).toBe(0);
      expect(drift.stdout).not.toContain("-w /etc/sudoers.d ");
      const check = await timed("provision --check (audit rule removed)", () =>
        cli(["provision", "host", `vagrant:${NAME}`, "--no-stack", "--check"]),
      );
      expect(check.code, show(check)).toBe(2);
      expect(check.stdout).toMatch(/Audit rules/);
      const fix = await timed("provision host (puts the rule back)", () =>
        cli(["provision", "host", `vagrant:${NAME}`, "--no-stack"]),
      );
      expect(fix.code, show(fix)).toBe(0);
      expect(fix.stdout).toMatch(/changed Audit rules/);
      const after = await onVm("auditctl -l");
      expect(after.stdout).toContain("-w /etc/sudoers.d -p wa -k lockclaw-sudoers");
    });

    it("vagrant destroy -f leaves no domain, network, bridge, dnsmasq, LIBVIRT_* chain or NAT rule", async () => {
      const r = await timed("vagrant destroy -f", () => vagrant(["destroy", "-f", NAME], 5 * MINUTE));
      expect(r.code, show(r)).toBe(0);
      const after = await hostState();
      expect(after.domains).toEqual(before.domains);
      expect(after.networks).toEqual(before.networks);
      const stop = await timed("setup-libvirt.sh stop (libvirtd, LIBVIRT_* chains)", () =>
        setupLibvirt("stop"),
      );
      expect(stop.code, show(stop)).toBe(0);
      expect((await run("pgrep", ["-x", "libvirtd"])).code, "libvirtd stopped").toBe(1);
      const links = await run("ip", ["-o", "link", "show", "type", "bridge"]);
      expect(links.stdout).not.toMatch(/virbr/);
      expect((await run("pgrep", ["-af", "/var/lib/libvirt/dnsmasq/"])).stdout.trim()).toBe("");
      for (const save of ["iptables-save", "ip6tables-save"]) {
        expect((await run(save, [])).stdout).not.toMatch(/LIBVIRT_/);
      }
      const nft = await run("nft", ["list", "ruleset"]);
      if (nft.code === 0) expect(nft.stdout).not.toMatch(/LIBVIRT_/);
      await expectNoForwardingNoNat();
      expect(existsSync(join(project, ".vagrant", "lockclaw", `${NAME}.json`))).toBe(false);
    });
  },
);
