/**
 * Issue 10 case 1 on a real machine: a --var value used to run as root during the probe, even under
 * --check (`id > /var/tmp/p` wrote uid=0(root) on the host). The same payload through -e, --vars-file
 * and an inventory host var is now refused by its type before anything connects, and the file is not there.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useMachines } from "../support/lab.js";
import { cliFor, show, target } from "./support.js";

const PAYLOAD = "debian' in x) ;; esac; id > /var/tmp/p; case 'debian";

describe("a hostile variable value never reaches the host", () => {
  const m = useMachines(1, { prefix: "vr" });
  const cli = cliFor();
  const machine = () => m[0]!;

  it("refuses the docker_source payload from -e, a vars file and an inventory host; /var/tmp/p never appears", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-e2e-vars-"));
    const varsFile = join(dir, "vars.yml");
    writeFileSync(varsFile, `docker_source: "${PAYLOAD}"\n`);
    const inventory = join(dir, "inventory.yml");
    writeFileSync(
      inventory,
      `hosts:\n  box:\n    address: "${target(machine())}"\n    vars:\n      docker_source: "${PAYLOAD}"\n`,
    );
    const runs: Array<[string[], string]> = [
      [[target(machine()), "-e", `docker_source=${PAYLOAD}`], "--var (at docker_source)"],
      [[target(machine()), "--vars-file", varsFile], `${varsFile}:1:`],
      [["box", "-i", inventory], `${inventory}:5:`],
    ];
    for (const [args, where] of runs) {
      const r = await cli(["provision", "stack", ...args, "--check"]);
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr + r.stdout).toContain(where);
      expect(r.stderr + r.stdout).toContain("variable 'docker_source' must be one of debian, docker");
    }
    // the machine is reachable (so the check below means something) and the payload never ran
    const p = await machine().ssh("id -u; test -e /var/tmp/p && echo present || echo absent");
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toBe("0\nabsent\n");

    // a good value still goes through to the host under --check (it connects and probes)
    const ok = await cli(["provision", "stack", target(machine()), "--check", "-e", "docker_source=debian"]);
    expect(ok.stdout + ok.stderr, show(ok)).toMatch(/would|changed/);
  });
});
