import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { JAIL_STATUS_CLIENT, jailStatusSh } from "../../../../src/resources/fail2ban/jail-status.js";
import { fail2banProbeScript, fail2banSpec } from "../../../../src/resources/fail2ban.js";

describe("the jail's status from the server's socket", () => {
  it("is valid sh around valid Python, the jail one quoted argument", () => {
    const s = String(jailStatusSh("ss'hd"));
    expect(() => execFileSync("sh", ["-n"], { input: s })).not.toThrow();
    expect(s).toContain(`'ss'\\''hd'`);
    const r = spawnSync("python3", ["-c", "import sys; compile(sys.stdin.read(), 'client', 'exec')"], {
      input: JAIL_STATUS_CLIENT,
    });
    expect(r.status, String(r.stderr)).toBe(0);
  });
  it("no server on the socket: no answer, and fail2ban-client is asked instead", () => {
    // this machine runs no fail2ban: the client exits 3, the fallback finds no fail2ban-client (127)
    const out = execFileSync("sh", ["-c", `${String(jailStatusSh("sshd"))}\necho "rc=$lc_rc"`], {
      encoding: "utf8",
      env: { PATH: `/nonexistent:${process.env.PATH ?? ""}` },
    });
    expect(out.trim()).toMatch(/^rc=(127|255|1)$/);
    expect(out).not.toContain("rc=0");
  });
  it("the probe no longer starts fail2ban-client on the fast path", () => {
    const s = String(fail2banProbeScript(fail2banSpec.parse({ port: 2222 })));
    expect(s).toContain("python3 -I -S -c");
    expect(s).toContain("/var/run/fail2ban/fail2ban.sock");
  });
});
