import { describe, expect, it } from "vitest";
import { builtinVars } from "../../../src/cli/builtins.js";
import { builtinPlaybook } from "../../../src/engine/paths.js";
import { prepareRun, type HostEntry, type RunOptions } from "../../../src/engine/run.js";
import { parseVarOption, type VarOverride } from "../../../src/engine/vars.js";
import { VAGRANT_LEGACY_NOTICE, vagrantTargetDefaults } from "../../../src/lab/vagrant-defaults.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { fakeKey } from "../audit/support.js";

/** A host as resolveHosts makes it: the target's defaults, then the inventory's vars. */
function host(address: string, inventoryVars: VarOverride[] = []): HostEntry {
  return {
    target: {
      name: address,
      host: "127.0.0.1",
      port: 2222,
      user: "vagrant",
      identityFiles: [],
      hostKeyPolicy: "off",
      knownHostsFile: "/dev/null",
    },
    vars: [...vagrantTargetDefaults(address), ...inventoryVars],
  };
}

function run(playbooks: string[], h: HostEntry, vars: string[] = []): ReturnType<typeof prepareRun> {
  const opts: RunOptions = {
    playbookFile: playbooks.map((p) => builtinPlaybook(p)),
    kinds: resourceKinds,
    hosts: [h],
    overrides: [
      {
        name: "authorized_keys",
        value: [fakeKey(1, "op@laptop")],
        from: { file: "(login key)" },
        implicit: true,
      },
      ...vars.flatMap(parseVarOption),
    ],
    builtins: builtinVars(),
    connector: () => Promise.reject(new Error("prepareRun must not connect")),
    onEvent: () => undefined,
  };
  return prepareRun(opts);
}

const sshdSpecOf = (r: ReturnType<typeof prepareRun>) =>
  r.perHost[0]!.plays.flatMap((p) => p.tasks).find((t) => t.kind.name === "sshd")!.spec as {
    legacy_clients: boolean;
  };

describe("vagrant:NAME targets: ssh_legacy_clients on by default", () => {
  it("only vagrant targets get it, as an implicit default", () => {
    expect(vagrantTargetDefaults("vagrant:default")).toEqual([
      expect.objectContaining({ name: "ssh_legacy_clients", value: true, implicit: true }),
    ]);
    for (const a of ["lab:t1", "root@203.0.113.10:22", "web1", "vagrantbox"])
      expect(vagrantTargetDefaults(a)).toEqual([]);
  });
  it("the host play's sshd task gets legacy_clients, and the run says so once", () => {
    const r = run(["host"], host("vagrant:default"));
    expect(sshdSpecOf(r).legacy_clients).toBe(true);
    expect(r.perHost[0]!.notices).toEqual([VAGRANT_LEGACY_NOTICE]);
    expect(VAGRANT_LEGACY_NOTICE).toContain("-e ssh_legacy_clients=false");
  });
  it("-e ssh_legacy_clients=false and an inventory host's var win, and then nothing is said", () => {
    const viaVar = run(["host"], host("vagrant:default"), ["ssh_legacy_clients=false"]);
    expect(sshdSpecOf(viaVar).legacy_clients).toBe(false);
    expect(viaVar.perHost[0]!.notices).toEqual([]);
    const inv: VarOverride = { name: "ssh_legacy_clients", value: false, from: { file: "inventory.yml" } };
    const viaInventory = run(["host"], host("vagrant:default", [inv]));
    expect(sshdSpecOf(viaInventory).legacy_clients).toBe(false);
    expect(viaInventory.perHost[0]!.notices).toEqual([]);
  });
  it("any other target keeps exactly the hardened lists unless asked", () => {
    const lab = run(["host"], host("lab:t1"));
    expect(sshdSpecOf(lab).legacy_clients).toBe(false);
    expect(lab.perHost[0]!.notices).toEqual([]);
    expect(sshdSpecOf(run(["host"], host("lab:t1"), ["ssh_legacy_clients=true"])).legacy_clients).toBe(true);
  });
  it("`provision stack vagrant:X` (docker.yml, stack.yml: they do not declare it) is not refused", () => {
    const r = run(["docker", "stack"], host("vagrant:default"));
    expect(r.perHost[0]!.plays.length).toBe(2);
    expect(r.perHost[0]!.notices).toEqual([]);
    // while a user's own undeclared variable still is
    expect(() => run(["docker", "stack"], host("vagrant:default"), ["ssh_legacy_clients=true"])).toThrow(
      /unknown variable 'ssh_legacy_clients'/,
    );
    // and the whole host run (host, docker, stack) takes it
    expect(sshdSpecOf(run(["host", "docker", "stack"], host("vagrant:default"))).legacy_clients).toBe(true);
  });
});
