import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSshdProbe, socketMode } from "../../../../src/resources/sshd.js";
import { M, probeScript } from "../../../../src/resources/sshd/scripts.js";

// `systemctl show -p Id -p LoadState -p ActiveState -p UnitFileState -p Listen ssh.socket ssh.service
// sshd.service` on a provisioned lab machine (Debian 13): one block per unit, in the order asked
const SHOW = readFileSync(join(__dirname, "systemctl-show-units-trixie.txt"), "utf8");

describe("sshd probe: the three units from one systemctl", () => {
  it("splits systemctl's blocks into one section per unit, in the order asked", () => {
    const script = String(probeScript());
    expect(script.match(/systemctl show/g)).toHaveLength(1);
    const awk = script.split("\n").find((l) => l.trimStart().startsWith("awk -v m="))!;
    const out = execFileSync("sh", ["-c", awk], { input: SHOW, encoding: "utf8" });
    const facts = parseSshdProbe(`${M} sshd-T\nport 2222\n${M} sshd-T-rc 0\n${out}${M} end\n`);
    expect(facts.systemd).toBe(true);
    expect(facts.socket).toMatchObject({
      loadState: "loaded",
      activeState: "inactive",
      unitFileState: "disabled",
    });
    expect(facts.socket!.listen).toEqual(["[::]:22 (Stream)"]);
    expect(socketMode(facts)).toBe(false);
    expect(facts.serviceName).toBe("ssh");
    // a socket that runs is told apart from the service that follows it
    const active = SHOW.replace("ActiveState=inactive", "ActiveState=active");
    const f2 = parseSshdProbe(
      `${M} sshd-T\nport 2222\n${M} sshd-T-rc 0\n${execFileSync("sh", ["-c", awk], { input: active, encoding: "utf8" })}${M} end\n`,
    );
    expect(socketMode(f2)).toBe(true);
  });
});
