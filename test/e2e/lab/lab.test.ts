/**
 * The lab itself, through the CLI as a user runs it: two machines up, listed, reachable with the printed
 * key under strict host-key checking, packages installable from the store with no network, a third
 * concurrent machine, and `lab down --all` leaving no process, veth or mount behind.
 */
import { REGISTRY_DIR } from "../../../src/lab/registry.js";
import { readFile, readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabListEntry, LabMachine } from "../../../src/lab/machine.js";
import { LabError } from "../../../src/lab/errors.js";
import { labDown, labUp } from "../../../src/lab/machine.js";
import { vethLinks } from "../../../src/lab/network.js";
import { mountsUnder, nspawnsUnder } from "../../../src/lab/procs.js";
import { runRaw } from "../../../src/lab/run.js";
import { storePackages } from "../../../src/lab/store.js";
import { lockclaw } from "../support/cli.js";
import { e2eContext, e2eMachineName, ownLabDir, runSsh, withMachine } from "../support/lab.js";

const ctx = e2eContext();
// this file's own lab dir: its `down --all` and `ls` assertions see its machines only, whatever
// another file left in the suite's lab dir (and never stop those)
let labDir = "";
const labArgs = () => ["--lab-dir", labDir];
const [T1, T2, T3] = ["t1", "t2", "t3"].map(e2eMachineName) as [string, string, string];

async function up(name: string): Promise<LabMachine> {
  const res = await lockclaw(["lab", "up", name, "--json", ...labArgs()]);
  expect(res.code, `lab up ${name} failed:\n${res.stderr}`).toBe(0);
  return JSON.parse(res.stdout) as LabMachine;
}

function sshTarget(m: LabMachine) {
  return {
    name: m.name,
    host: m.address,
    port: 22,
    user: m.user,
    identityFiles: [m.keyFile],
    hostKeyPolicy: "strict" as const,
    knownHostsFile: m.knownHostsFile,
  };
}

describe.runIf(ctx.kind === "lab")("lockclaw lab", () => {
  const machines: LabMachine[] = [];

  beforeAll(async () => {
    labDir = await ownLabDir("lab");
  });
  afterAll(async () => {
    // whatever the tests did, nothing of this file stays running
    await labDown({ all: true }, { labDir });
  });

  it("boots t1 and t2 and lists both as running", async () => {
    const started = Date.now();
    machines.push(...(await Promise.all([up(T1), up(T2)])));
    console.log(`lab: t1 and t2 up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const [t1, t2] = machines;
    expect(t1!.address).not.toBe(t2!.address);
    expect(t1!.user).toBe("root");

    const ls = await lockclaw(["lab", "ls", "--json", ...labArgs()]);
    expect(ls.code).toBe(0);
    const listed = JSON.parse(ls.stdout) as LabListEntry[];
    expect(listed.map((m) => [m.name, m.status])).toEqual([
      [T1, "running"],
      [T2, "running"],
    ]);
    const human = await lockclaw(["lab", "ls", ...labArgs()]);
    expect(human.stdout).toMatch(
      new RegExp(`${T1}\\s+running\\s+trixie\\s+root@${t1!.address.replace(/\./g, "\\.")}`),
    );
  });

  it("logs into both with the printed key, checking the pinned host key strictly", async () => {
    for (const m of machines) {
      const res = await runSsh(
        sshTarget(m),
        "hostname; ip -4 route show default | wc -l; stat -c %a /root/.ssh/authorized_keys",
      );
      expect(res.code, res.stderr).toBe(0);
      // hostname, no default route (no way out), authorized_keys 600 like a cloud image
      expect(res.stdout.trim().split("\n")).toEqual([m.name, "0", "600"]);
    }
    // the key file the user got is private
    const mode = (await import("node:fs")).statSync(machines[0]!.keyFile).mode & 0o777;
    expect(mode).toBe(0o600);
  });

  it("refuses a host whose key is not the pinned one", async () => {
    // t2's known_hosts does not hold t1's key: strict checking must refuse t1 under t2's file
    const [t1, t2] = machines;
    const res = await runSsh({ ...sshTarget(t1!), knownHostsFile: t2!.knownHostsFile }, "true");
    expect(res.code).toBe(255);
    expect(res.stderr).toMatch(/host key verification failed|no .*host key is known/i);
  });

  it("installs a playbook package from the machine's own store, with no network", async () => {
    const pkg = storePackages(ctx.playbooks).includes("ufw") ? "ufw" : storePackages(ctx.playbooks)[0]!;
    const res = await runSsh(
      sshTarget(machines[0]!),
      `set -e; cat /etc/apt/sources.list; ls /etc/apt/sources.list.d | wc -l; ` +
        `apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${pkg} >/dev/null; ` +
        `dpkg-query -W -f '\${Status}\\n' ${pkg}`,
      { timeoutMs: 300_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim().split("\n")).toEqual([
      "deb [trusted=yes] file:/srv/localrepo ./",
      "0",
      "install ok installed",
    ]);
  });

  it("boots a third machine while the first two run", async () => {
    const t3 = await up(T3);
    machines.push(t3);
    const res = await runSsh(sshTarget(t3), "systemctl is-system-running --wait");
    expect(res.stdout.trim()).toBe("running");
    const ls = JSON.parse((await lockclaw(["lab", "ls", "--json", ...labArgs()])).stdout) as LabListEntry[];
    expect(ls.filter((m) => m.status === "running").map((m) => m.name)).toEqual([T1, T2, T3]);
  });

  it("down --all leaves no nspawn process, veth or mount behind", async () => {
    // something mounted inside a machine's tree from the host must be unmounted, not fail the removal
    const extra = `${labDir}/machines/${T1}/root/mnt`;
    expect((await runRaw("mount", ["-t", "tmpfs", "lc-e2e", extra])).code).toBe(0);
    expect(await mountsUnder(labDir)).toEqual([extra]);
    const res = await lockclaw(["lab", "down", "--all", ...labArgs()]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`stopped: ${T1} ${T2} ${T3}`);

    expect(await nspawnsUnder(labDir)).toEqual([]);
    for (const m of machines) {
      expect(await readFile(`/proc/${m.pid}/cmdline`, "utf8").catch(() => "")).toBe("");
    }
    const links = await vethLinks();
    for (const m of machines) expect(links).not.toContain(m.veth);
    const mounts = await readFile("/proc/mounts", "utf8");
    expect(mounts).not.toContain(labDir);
    expect(await mountsUnder(labDir)).toEqual([]);
    expect(await readdir(`${labDir}/machines`)).toEqual([]);
    // and no host-wide subnet reservation of this lab dir is left
    const reservations = await readdir(REGISTRY_DIR).catch(() => [] as string[]);
    for (const f of reservations.filter((r) => r.startsWith("subnet-"))) {
      expect(await readFile(`${REGISTRY_DIR}/${f}`, "utf8")).not.toContain(labDir);
    }
    const ls = await lockclaw(["lab", "ls", ...labArgs()]);
    expect(ls.stdout.trim()).toBe("no lab machines");
  });
});

describe.runIf(ctx.kind === "lab")("lab machine options and failures", () => {
  beforeAll(async () => {
    labDir = await ownLabDir("lab");
  });
  afterAll(async () => {
    await labDown({ all: true }, { labDir });
  });

  it("serves SSH through ssh.socket when asked (socket activation, as Ubuntu 24.04)", async () => {
    await withMachine(
      e2eMachineName("sock"),
      async (m) => {
        const res = await m.ssh(
          "systemctl is-enabled ssh.service ssh.socket; systemctl is-active ssh.socket",
        );
        expect(res.stdout.trim().split("\n")).toEqual(["disabled", "enabled", "active"]);
      },
      { sshSocket: true, labDir },
    );
  });

  it("can start with a `debian` sudo user instead of root, like a Debian cloud image", async () => {
    await withMachine(
      e2eMachineName("deb"),
      async (m) => {
        expect(m.target.user).toBe("debian");
        const res = await m.ssh("id -un; sudo -n id -un");
        expect(res.stdout.trim().split("\n")).toEqual(["debian", "root"]);
        expect((await m.ssh("true", { user: "root" })).code).toBe(255);
      },
      { user: "debian", labDir },
    );
  });

  it("a machine whose sshd does not answer in time fails with its console lines and is stopped", async () => {
    const slow = e2eMachineName("slow");
    const err = await labUp({
      name: slow,
      labDir,
      playbooks: ctx.playbooks,
      bootTimeoutMs: 0,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LabError);
    expect((err as Error).message).toMatch(
      new RegExp(`lab machine ${slow} failed to come up: sshd on 10\\.213\\.\\d+\\.2:22 did not answer`),
    );
    expect((err as Error).message).toMatch(/last console lines|console log was empty/);
    expect(await nspawnsUnder(labDir)).toEqual([]);
    expect(await vethLinks()).not.toContain(`ve-${slow}`);
    expect(await readdir(`${labDir}/machines`)).not.toContain(slow);
  });
});
