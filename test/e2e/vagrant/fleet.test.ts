/**
 * Vagrant boxes (vagrant-lxc) as the lab machines' tests see them, three at once: two Debian 13 boxes
 * and one Debian 12 box (`lab box --distro bookworm`, lockclaw/debian12) in a project of this file's
 * own. The lock-out faults (the same cases as host/lockout.test.ts) run on one fresh Debian 13 box; each
 * leaves it as it was, so that box then joins the fleet: `provision host vagrant:A vagrant:B vagrant:C
 * --forks 3` changes all three, a re-run changes nothing, and audit passes on each, Debian 12 included;
 * drift on the Debian 12 box is named by --check and fixed by a run that leaves the other two alone.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { linkExists } from "../../../src/lab/network.js";
import type { Distro } from "../../../src/lab/state.js";
import {
  BOX_NAMES,
  VAGRANT_BRIDGE,
  VAGRANT_NET_PREFIX,
  vagrantNetDir,
  vagrantNetDown,
} from "../../../src/lab/vagrant-box.js";
import { resolveVagrantTarget } from "../../../src/lab/vagrant.js";
import { lockclaw } from "../support/cli.js";
import { e2eContext, e2eMachineName, runSsh, type TestMachine } from "../support/lab.js";
import { lockoutCases } from "../host/lockout-cases.js";
import { cliFor, show } from "../host/support.js";
import { run, stepTimer } from "./support.js";

const BOXES: Array<{ name: string; distro: Distro }> = [
  { name: e2eMachineName("vfl13a"), distro: "trixie" },
  { name: e2eMachineName("vfl13b"), distro: "trixie" },
  { name: e2eMachineName("vfl12"), distro: "bookworm" },
];
/** Consecutive addresses of the bridge's /24 (.100-.197) from the prefix, so two prefixes do not share one. */
const BASE = 100 + (createHash("sha256").update(BOXES[0]!.name).digest()[0]! % 98);
const IP = (i: number) => `${VAGRANT_NET_PREFIX}.${BASE + i}`;

const { figures, timed } = stepTimer();

describe("lock-out faults and a fleet of 3 on Vagrant boxes (vagrant-lxc, Debian 13 and 12)", () => {
  let project = "";
  let labDir = "";
  let env: NodeJS.ProcessEnv = {};
  const vagrant = (args: string[], timeoutMs?: number) => run("vagrant", args, { env, timeoutMs });
  const stateCli = cliFor();
  const cli = (args: string[]) => stateCli(args, env);
  const targets = BOXES.map((b) => `vagrant:${b.name}`);
  const lockoutBox: TestMachine[] = [];

  async function teardown(): Promise<void> {
    if (existsSync(join(project, ".vagrant"))) {
      const r = await vagrant(["destroy", "-f"], 240_000);
      if (r.code !== 0) process.stderr.write(`vagrant destroy: ${show(r)}\n`);
    }
    // a container Vagrant lost track of (its .vagrant removed by hand) still holds the name
    for (const { name } of BOXES) {
      const container = `lockclaw-${name}`;
      if (existsSync(join("/var/lib/lxc", container))) {
        await run("lxc-stop", ["-k", "-n", container]);
        await run("lxc-destroy", ["-n", container]);
      }
    }
    await vagrantNetDown(labDir);
  }

  beforeAll(async () => {
    for (const tool of ["vagrant", "lxc-start", "dnsmasq"]) {
      if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) {
        throw new Error(`${tool} is not installed: run scripts/setup.sh (as root)`);
      }
    }
    labDir = e2eContext().labDir;
    project = join(labDir, "vagrant-fleet");
    env = { VAGRANT_CWD: project, LOCKCLAW_LAB_DIR: labDir, VAGRANT_DEFAULT_PROVIDER: "lxc" };
    if ((await linkExists(VAGRANT_BRIDGE)) && !existsSync(vagrantNetDir(labDir))) {
      throw new Error(`${VAGRANT_BRIDGE} exists and is not this lab's (${vagrantNetDir(labDir)}): in use`);
    }
    await teardown();
    rmSync(project, { recursive: true, force: true });
    mkdirSync(join(project, "vagrant"), { recursive: true });
    copyFileSync(join(import.meta.dirname, "..", "..", "..", "Vagrantfile"), join(project, "Vagrantfile"));
    const spec = Object.fromEntries(
      BOXES.map((b, i) => [b.name, { box: BOX_NAMES[b.distro], lxc_box: BOX_NAMES[b.distro], ip: IP(i) }]),
    );
    writeFileSync(join(project, "vagrant", "boxes.json"), JSON.stringify(spec));
    // the boxes (cached after the first build) and the network with DHCP for all three
    for (const distro of ["trixie", "bookworm"] as const) {
      const r = await timed(`lockclaw lab box --distro ${distro} (cached after the first build)`, () =>
        lockclaw(["lab", "box", "--distro", distro], { env }),
      );
      if (r.code !== 0) throw new Error(`lab box --distro ${distro}: ${show(r)}`);
    }
    // one `vagrant up` per box, at once (vagrant-lxc brings up one machine per process)
    const ups = await timed("vagrant up of 3 boxes (in parallel)", () =>
      Promise.all(BOXES.map((b) => vagrant(["up", b.name, "--provider=lxc"], 300_000))),
    );
    ups.forEach((r, i) => {
      if (r.code !== 0) throw new Error(`vagrant up ${BOXES[i]!.name}: ${show(r)}`);
    });
    const first = BOXES[0]!.name;
    const target = await resolveVagrantTarget(first, { cwd: project });
    lockoutBox.push({ name: first, target, ssh: (cmd, o) => runSsh(target, cmd, o) });
  });

  afterAll(async () => {
    try {
      await timed("vagrant destroy -f (3 boxes), bridge and DHCP removed", teardown);
    } finally {
      const total = figures.reduce((s, f) => s + f.seconds, 0);
      process.stdout.write(
        `\nVagrant fleet (${BOXES.map((b, i) => `${b.name} ${IP(i)}`).join(", ")}):\n` +
          figures.map((f) => `  ${f.seconds.toFixed(1).padStart(6)} s  ${f.step}`).join("\n") +
          `\n  ${total.toFixed(1).padStart(6)} s  total\n`,
      );
    }
  });

  describe(`lock-out guard on ${BOXES[0]!.name}`, () => {
    lockoutCases({ machine: () => lockoutBox[0]!, cli, env: () => env });
  });

  it("provisions the three boxes in one command with --forks 3 (Debian 12 included)", async () => {
    const r = await timed("provision host, 3 boxes, --forks 3 (first run)", () =>
      cli(["provision", "host", "--no-stack", ...targets, "--forks", "3"]),
    );
    expect(r.code, show(r)).toBe(0);
    for (const t of targets)
      expect(r.stdout, show(r)).toMatch(new RegExp(`${t}\\s+ok=\\d+\\s+changed=[1-9]\\d*\\s+failed=0`));
  });

  it("a second run changes nothing on any of them", async () => {
    const r = await timed("provision host, 3 boxes (no-op run)", () =>
      cli(["provision", "host", "--no-stack", ...targets, "--forks", "3"]),
    );
    expect(r.code, show(r)).toBe(0);
    for (const t of targets)
      expect(r.stdout, show(r)).toMatch(new RegExp(`${t}\\s+ok=\\d+\\s+changed=0\\s+failed=0`));
  });

  it("audit passes on each box", async () => {
    const r = await timed("audit, 3 boxes", () => cli(["audit", ...targets]));
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.match(/^AUDIT /gm)?.length, show(r)).toBe(3);
  });

  it("drift on the Debian 12 box: --check names it and changes nothing, a run fixes only that box", async () => {
    const box = BOXES[2]!.name;
    const onBox = (cmd: string) => vagrant(["ssh", box, "-c", cmd]);
    const drift = await onBox(
      [
        // read before lockclaw's 00-lockclaw.conf, in a Match block (sshd keeps the first value it reads)
        "printf 'Match all\\nPasswordAuthentication yes\\n' | sudo -n tee /etc/ssh/sshd_config.d/00-early.conf >/dev/null",
        "sudo -n systemctl reload ssh",
        "sudo -n ufw allow 8080 >/dev/null",
        "sudo -n systemctl stop fail2ban",
      ].join(" && "),
    );
    expect(drift.code, show(drift)).toBe(0);
    const check = await timed("provision host --check, 3 boxes, one drifted", () =>
      cli(["provision", "host", "--no-stack", ...targets, "--check"]),
    );
    expect(check.code, show(check)).toBe(2);
    expect(check.stdout).toMatch(/PasswordAuthentication/);
    expect(check.stdout).toMatch(/8080/);
    expect(check.stdout).toMatch(/fail2ban/i);
    expect(check.stdout, show(check)).toMatch(new RegExp(`${targets[2]}\\s+ok=\\d+\\s+changed=[1-9]`));
    for (const t of targets.slice(0, 2))
      expect(check.stdout, show(check)).toMatch(new RegExp(`${t}\\s+ok=\\d+\\s+changed=0\\s`));
    expect((await onBox("sudo -n ufw status")).stdout, "--check changed nothing").toMatch(/8080/);

    const fix = await timed("provision host, 3 boxes, one drifted (fix)", () =>
      cli(["provision", "host", "--no-stack", ...targets, "--forks", "3"]),
    );
    expect(fix.code, show(fix)).toBe(0);
    expect(fix.stdout, show(fix)).toMatch(new RegExp(`${targets[2]}\\s+ok=\\d+\\s+changed=[1-9]`));
    for (const t of targets.slice(0, 2))
      expect(fix.stdout, show(fix)).toMatch(new RegExp(`${t}\\s+ok=\\d+\\s+changed=0\\s`));
    expect((await onBox("sudo -n ufw status")).stdout).not.toMatch(/8080/);
    const after = await cli(["audit", targets[2]!]);
    expect(after.code, show(after)).toBe(0);
  });

  it("the Debian 12 box really is Debian 12, and vagrant ssh logs in to it as deploy", async () => {
    const r = await vagrant(["ssh", BOXES[2]!.name, "-c", "id -un; cat /etc/debian_version"]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^deploy\n12\./);
  });
});
