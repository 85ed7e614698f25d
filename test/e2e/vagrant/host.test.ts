/**
 * The host playbook against a real Vagrant box (vagrant-lxc), the way a user drives it: `lockclaw lab
 * box`, `vagrant up`, `lockclaw provision host vagrant:NAME` (changes, then none), `lockclaw audit`,
 * `vagrant ssh` on the hardened box, `vagrant halt` + `vagrant up` (Vagrant's own SSH client must still
 * negotiate with the hardened sshd), ssh-audit, `vagrant destroy -f`; the bridge and DHCP server are
 * gone afterwards. The box lives in a project of this file's own (the repository's Vagrantfile, its own
 * boxes.json), so a developer's boxes and `.vagrant` are never touched.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostStateStore } from "../../../src/engine/state.js";
import { linkExists } from "../../../src/lab/network.js";
import {
  VAGRANT_BRIDGE,
  VAGRANT_NET_PREFIX,
  vagrantNetDir,
  vagrantNetDown,
  vagrantNetStatus,
} from "../../../src/lab/vagrant-box.js";
import { lockclaw } from "../support/cli.js";
import { run, stepTimer } from "./support.js";
import { e2eContext, e2eMachineName } from "../support/lab.js";
import { show, sshAuditFromStore } from "../host/support.js";

const REPO = join(import.meta.dirname, "..", "..", "..");
const NAME = e2eMachineName("vhost13");
/** An address of the bridge's /24 per machine name (.100-.199), so two prefixes do not share one. */
const IP = `${VAGRANT_NET_PREFIX}.${100 + (createHash("sha256").update(NAME).digest()[0]! % 100)}`;

const { figures, timed } = stepTimer();

describe("host playbook on a Vagrant box (vagrant-lxc)", () => {
  let project = "";
  let labDir = "";
  let env: NodeJS.ProcessEnv = {};
  const vagrant = (args: string[], timeoutMs?: number) => run("vagrant", args, { env, timeoutMs });
  const cli = (args: string[]) => lockclaw(args, { env });

  /** Removes this file's box and network, also what a crashed earlier run left. */
  async function teardown(): Promise<void> {
    if (existsSync(join(project, ".vagrant"))) {
      const r = await vagrant(["destroy", "-f", NAME], 120_000);
      if (r.code !== 0) process.stderr.write(`vagrant destroy ${NAME}: ${show(r)}\n`);
    }
    // a container Vagrant lost track of (its .vagrant removed by hand) still holds the name
    const container = `lockclaw-${NAME}`;
    if (existsSync(join("/var/lib/lxc", container))) {
      await run("lxc-stop", ["-k", "-n", container]);
      await run("lxc-destroy", ["-n", container]);
    }
    await vagrantNetDown(labDir);
    new HostStateStore().forget(`vagrant:${project}/`);
  }

  beforeAll(async () => {
    for (const tool of ["vagrant", "lxc-start", "dnsmasq"]) {
      if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) {
        throw new Error(`${tool} is not installed: run scripts/setup.sh (as root)`);
      }
    }
    labDir = e2eContext().labDir;
    project = join(labDir, "vagrant-project");
    env = { VAGRANT_CWD: project, LOCKCLAW_LAB_DIR: labDir, VAGRANT_DEFAULT_PROVIDER: "lxc" };
    // the bridge is host-wide: one another lab dir made (a user's boxes, another checkout's run) stays
    if ((await linkExists(VAGRANT_BRIDGE)) && !existsSync(vagrantNetDir(labDir))) {
      throw new Error(`${VAGRANT_BRIDGE} exists and is not this lab's (${vagrantNetDir(labDir)}): in use`);
    }
    await teardown();
    rmSync(project, { recursive: true, force: true });
    mkdirSync(join(project, "vagrant"), { recursive: true });
    copyFileSync(join(REPO, "Vagrantfile"), join(project, "Vagrantfile"));
    writeFileSync(
      join(project, "vagrant", "boxes.json"),
      JSON.stringify({
        [NAME]: { box: "lockclaw/debian13", lxc_box: "lockclaw/debian13", ip: IP, primary: true },
      }),
    );
  });

  afterAll(async () => {
    try {
      await timed("vagrant destroy -f, bridge and DHCP removed", teardown);
    } finally {
      const total = figures.reduce((s, f) => s + f.seconds, 0);
      process.stdout.write(
        `\nVagrant leg (${NAME}, ${IP}):\n` +
          figures.map((f) => `  ${f.seconds.toFixed(1).padStart(6)} s  ${f.step}`).join("\n") +
          `\n  ${total.toFixed(1).padStart(6)} s  total\n`,
      );
    }
  });

  it("lockclaw lab box builds (or reuses) the box and brings up the bridge with DHCP for this box", async () => {
    const r = await timed("lockclaw lab box (cached after the first build)", () => cli(["lab", "box"]));
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/box: {2}lockclaw\/debian13 \(lxc\)/);
    const net = await vagrantNetStatus(labDir);
    expect(net.bridge).toBe(true);
    expect(net.dnsmasqPid).toBeGreaterThan(0);
    // the DHCP server knows this project's box (its MAC → its address)
    const argv = readFileSync(`/proc/${net.dnsmasqPid}/cmdline`, "utf8").split("\0");
    expect(argv).toContain(
      `--dhcp-host=02:00:${IP.split(".")
        .map((o) => Number(o).toString(16).padStart(2, "0"))
        .join(":")},${IP}`,
    );
    // a host-only network: nothing routed, nothing masqueraded
    expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("0");
    expect(execFileSync("iptables", ["-t", "nat", "-S"], { encoding: "utf8" })).not.toMatch(/MASQUERADE/);
  });

  it("vagrant up starts the box", async () => {
    const r = await timed("vagrant up (fresh box)", () => vagrant(["up", NAME, "--provider=lxc"]));
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain("Machine booted and ready!");
  });

  it("lockclaw provision host vagrant:NAME --no-stack hardens it", async () => {
    const r = await timed("provision host (first run)", () =>
      cli(["provision", "host", `vagrant:${NAME}`, "--no-stack"]),
    );
    expect(r.code, show(r)).toBe(0);
    const changed = /changed=(\d+)\s+failed=0/.exec(r.stdout + r.stderr);
    expect(changed, show(r)).not.toBeNull();
    expect(Number(changed![1])).toBeGreaterThan(0);
    expect(r.stderr + r.stdout).toMatch(/vagrant ssh now logs in as deploy on port 2222/);
    // the legacy clients' kex and cipher are a vagrant:NAME target's default, and the run says so once
    expect(
      (r.stdout.match(/WARNING sshd also allows diffie-hellman-group-exchange-sha256/g) ?? []).length,
    ).toBe(1);
    const login = JSON.parse(readFileSync(join(project, ".vagrant", "lockclaw", `${NAME}.json`), "utf8"));
    expect(login).toMatchObject({ user: "deploy", port: 2222 });
  });

  it("a second run changes nothing", async () => {
    const r = await timed("provision host (no-op run)", () =>
      cli(["provision", "host", `vagrant:${NAME}`, "--no-stack"]),
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout + r.stderr, show(r)).toMatch(/changed=0\s+failed=0/);
  });

  it("lockclaw audit vagrant:NAME passes", async () => {
    const r = await timed("audit", () => cli(["audit", `vagrant:${NAME}`]));
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/(\d+)\/\1 checks passed/);
  });

  it("-e ssh_legacy_clients=false: audit and --check name the legacy algorithms as not asked for", async () => {
    const audit = await timed("audit (ssh_legacy_clients=false)", () =>
      cli(["audit", `vagrant:${NAME}`, "-e", "ssh_legacy_clients=false"]),
    );
    expect(audit.code, show(audit)).toBe(1);
    expect(audit.stdout).toMatch(/not allowed: diffie-hellman-group-exchange-sha256/);
    expect(audit.stdout).toMatch(/not allowed: aes256-ctr/);
    const check = await timed("provision --check (ssh_legacy_clients=false)", () =>
      cli([
        "provision",
        "host",
        `vagrant:${NAME}`,
        "--no-stack",
        "--check",
        "-e",
        "ssh_legacy_clients=false",
      ]),
    );
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout).toMatch(/KexAlgorithms .*,diffie-hellman-group-exchange-sha256 → .*libssh\.org$/m);
    expect(check.stdout).not.toMatch(/WARNING sshd also allows/);
  });

  it("vagrant ssh still logs in after hardening (deploy, port 2222)", async () => {
    const r = await timed("vagrant ssh -c (hardened box)", () => vagrant(["ssh", NAME, "-c", "id -un"]));
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe("deploy");
  });

  it("vagrant halt and vagrant up of the hardened box work (Vagrant's net-ssh negotiates with sshd)", async () => {
    const halt = await timed("vagrant halt (hardened box)", () => vagrant(["halt", NAME], 120_000));
    expect(halt.code, show(halt)).toBe(0);
    expect((await vagrant(["status", NAME])).stdout).toMatch(/stopped/);
    // before the sshd lists kept one kex and cipher net-ssh 7.0 knows, this waited for SSH forever
    const up = await timed("vagrant up (halted hardened box)", () => vagrant(["up", NAME], 150_000));
    expect(up.code, show(up)).toBe(0);
    expect(up.stdout).toContain(`SSH address: ${IP}:2222`);
    expect(up.stdout).toContain("Machine booted and ready!");
    const ssh = await vagrant(["ssh", NAME, "-c", "true"]);
    expect(ssh.code, show(ssh)).toBe(0);
  });

  // Not asserted yet: `lockclaw audit` after the restart fails integrity.aide. Every `vagrant up` runs
  // `sed -i` on /etc/fstab (Vagrant's fstab capability, even with nothing to mount: new inode, mtime,
  // and /etc's mtime), and in a container the boot's augenrules writes /etc/audit/audit.rules anew
  // (the provisioning run could not load the rules, so the file held none of them).
  it("after the restart, provision changes nothing", async () => {
    const p = await timed("provision host (no-op, after restart)", () =>
      cli(["provision", "host", `vagrant:${NAME}`, "--no-stack"]),
    );
    expect(p.code, show(p)).toBe(0);
    expect(p.stdout + p.stderr, show(p)).toMatch(/changed=0\s+failed=0/);
  });

  it("ssh-audit finds no failure and no warning on the box's sshd (the kex and cipher kept for Vagrant included)", async () => {
    const audit = await sshAuditFromStore();
    const r = await timed("ssh-audit", () =>
      run(audit.command, [...audit.args, "-p", "2222", IP], { env: audit.env, timeoutMs: 120_000 }),
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/diffie-hellman-group-exchange-sha256 \(3072-bit\)/);
    expect(r.stdout).toMatch(/\(enc\) aes256-ctr/);
    expect(r.stdout).not.toMatch(/\[(fail|warn)\]/);
    // its probes fail to negotiate on purpose, which fail2ban counts: unban this host so teardown's
    // graceful halt over SSH is not refused
    const id = readFileSync(join(project, ".vagrant", "machines", NAME, "lxc", "id"), "utf8").trim();
    await run("lxc-attach", ["-n", id, "--", "fail2ban-client", "unban", "--all"]);
  });

  it("vagrant destroy -f removes the box; lab net down leaves no bridge, DHCP server or pid file", async () => {
    const r = await timed("vagrant destroy -f", () => vagrant(["destroy", "-f", NAME], 120_000));
    expect(r.code, show(r)).toBe(0);
    expect(existsSync(join(project, ".vagrant", "lockclaw", `${NAME}.json`))).toBe(false);
    const pid = (await vagrantNetStatus(labDir)).dnsmasqPid;
    const down = await timed("lockclaw lab net down", () => cli(["lab", "net", "down"]));
    expect(down.code, show(down)).toBe(0);
    expect(await linkExists(VAGRANT_BRIDGE)).toBe(false);
    expect(existsSync(vagrantNetDir(labDir))).toBe(false);
    if (pid) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(existsSync(join("/var/lib/lxc", `lockclaw-${NAME}`))).toBe(false);
  });
});
