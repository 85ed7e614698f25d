/** Several hosts at once (--forks 3), and a machine whose sshd is socket-activated (Ubuntu 24.04's default). */
import { describe, expect, it } from "vitest";
import { useMachines } from "../support/lab.js";
import { cliFor, show, target } from "./support.js";

describe("fleet", () => {
  const machines = useMachines(3, { prefix: "fl" });
  const cli = cliFor();

  it("provisions three machines in one command with --forks 3; all pass audit", async () => {
    const targets = machines.map(target);
    const r = await cli(["provision", "host", "--no-stack", ...targets, "--forks", "3"]);
    // a successful apply exits 0; what changed is in the recap
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/\bchanged=[1-9]/);
    for (const t of targets)
      expect(r.stdout).toMatch(new RegExp(`${t}\\s+ok=\\d+\\s+changed=\\d+\\s+failed=0`));
    const audit = await cli(["audit", ...targets]);
    expect(audit.code, show(audit)).toBe(0);
    expect(audit.stdout.match(/^AUDIT /gm)?.length).toBe(3);
  });
});

describe("socket-activated sshd", () => {
  const machines = useMachines(1, { prefix: "so", sshSocket: true });
  const cli = cliFor();

  it("ends on the configured port through ssh.socket", async () => {
    const m = machines[0]!;
    const before = await m.ssh("systemctl is-enabled ssh.socket; systemctl is-enabled ssh.service || true");
    expect(before.stdout).toMatch(/^enabled/);
    const r = await cli(["provision", "host", "--no-stack", target(m)]);
    // a successful apply exits 0; what changed is in the recap
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/\bchanged=[1-9]/);
    const after = await m.ssh("systemctl is-active ssh.socket && ss -tlnH | awk '{print $4}'", {
      user: "deploy",
      port: 2222,
    });
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/:2222\b/);
    expect(after.stdout).not.toMatch(/:22\b/);
    const audit = await cli(["audit", target(m)]);
    expect(audit.code, show(audit)).toBe(0);
    const again = await cli(["provision", "host", "--no-stack", target(m)]);
    expect(again.code, show(again)).toBe(0);
  });
});
