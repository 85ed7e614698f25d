/**
 * Debian 12 (bookworm) end to end, on ONE lab machine so the suite builds the bookworm rootfs once and
 * boots once: the host playbook (provision, no-op re-run, drift found by audit and --check and fixed),
 * then the whole stack on top (Debian 12's compose is v1: docker-compose 1.29, containers named
 * project_service_1), a no-op re-run, and an audit that passes with every container held to the compose
 * file. The Debian 13 files cover the rest in depth; this one proves the same promises on Debian 12.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { stackLabImages } from "../../../src/stack/lab-bundle.js";
import {
  cliFor,
  events,
  httpStatusLine,
  probePort,
  show,
  target,
  withSourceAddress,
} from "../host/support.js";
import { useMachines } from "../support/lab.js";

const log = (line: string) => process.stderr.write(`[debian12] ${line}\n`);
const PROJECT = "lockclaw";
const SERVICES = ["egress", "gateway", "ingress", "litellm", "redis", "socket-proxy"];

type Report = { checks: Array<{ id: string; pass: boolean; evidence: string }> };
const failedChecks = (stdout: string) =>
  (events(stdout) as Report[])[0]!.checks.filter((c) => !c.pass).map((c) => `${c.id}: ${c.evidence}`);

// In the default suite; LOCKCLAW_E2E_DEBIAN12=0 leaves it out (it builds the bookworm rootfs and deploys
// the stack once more: about 10 minutes of CI's 90).
describe.skipIf(process.env.LOCKCLAW_E2E_DEBIAN12 === "0")(
  "Debian 12: host, then the whole stack, on one bookworm lab machine",
  () => {
    const machines = useMachines(1, { prefix: "dt", distro: "bookworm" });
    const machine = () => machines[0]!;
    const cli = cliFor();
    const deploy = (cmd: string, timeoutMs = 120_000) =>
      machine().ssh(cmd, { user: "deploy", port: 2222, timeoutMs });
    const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      try {
        return await fn();
      } finally {
        log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    };
    let stackArgs: string[] = [];

    beforeAll(async () => {
      const images = await stackLabImages(log);
      const varsDir = mkdtempSync(join(tmpdir(), "lc-d12-vars-"));
      const varsFile = join(varsDir, "stack-vars.yml");
      // 0600, like a real vars file that would hold a provider key
      writeFileSync(varsFile, stringify(images.vars), { mode: 0o600 });
      chmodSync(varsFile, 0o600);
      stackArgs = ["--bundle", images.dir, "--vars-file", varsFile];
      const os = await machine().ssh("cat /etc/debian_version");
      log(`machine ${machine().name}: Debian ${os.stdout.trim()}`);
      expect(os.stdout).toMatch(/^12\./);
    }, 1_800_000); // a cold machine builds the lab image bundle first

    it("provision host hardens a fresh Debian 12 machine; the result is seen from outside; audit passes", async () => {
      const r = await timed("provision host --no-stack (fresh)", () =>
        cli(["provision", "host", "--no-stack", target(machine())]),
      );
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/\bchanged=[1-9]/);
      const who = await deploy("id -un && sudo -n true && echo sudo-ok");
      expect(who.code, who.stderr).toBe(0);
      expect(who.stdout).toContain("deploy\nsudo-ok");
      expect((await machine().ssh("true", { user: "root", port: 2222 })).code).not.toBe(0);
      const host = machine().target.host;
      expect(await probePort(host, 2222)).toBe("open");
      for (const port of [22, 80, 443]) expect(await probePort(host, port), `port ${port}`).toBe("filtered");
      const audit = await timed("audit (host)", () => cli(["audit", target(machine()), "--json"]));
      expect(failedChecks(audit.stdout), show(audit)).toEqual([]);
      expect(audit.code).toBe(0);
    });

    it("a re-run changes nothing", async () => {
      const r = await timed("provision host --no-stack (no-op)", () =>
        cli(["provision", "host", "--no-stack", target(machine()), "-v"]),
      );
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/connected as deploy on port 2222/);
      expect(r.stdout).toMatch(/changed=0/);
    });

    it("drift (an extra UFW rule, fail2ban stopped) fails the audit and --check, and a run fixes it", async () => {
      const drift = await deploy("sudo -n ufw allow 8080 >/dev/null && sudo -n systemctl stop fail2ban");
      expect(drift.code, drift.stderr).toBe(0);
      const audit = await cli(["audit", target(machine()), "--json"]);
      expect(audit.code, show(audit)).toBe(1);
      const failed = failedChecks(audit.stdout).join("\n");
      expect(failed).toMatch(/8080/);
      expect(failed).toMatch(/fail2ban/i);
      const check = await cli(["provision", "host", "--no-stack", target(machine()), "--check"]);
      expect(check.code, show(check)).toBe(2);
      const fix = await timed("provision host --no-stack (drift fixed)", () =>
        cli(["provision", "host", "--no-stack", target(machine())]),
      );
      expect(fix.code, show(fix)).toBe(0);
      expect(fix.stdout).toMatch(/\bchanged=[1-9]/);
      const after = await cli(["audit", target(machine()), "--json"]);
      expect(failedChecks(after.stdout), show(after)).toEqual([]);
    });

    it("the whole stack deploys on Debian 12 (compose v1), every container healthy", async () => {
      const r = await timed("provision host with the stack (docker + stack on the hardened host)", () =>
        cli(["provision", "host", target(machine()), ...stackArgs]),
      );
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/\bchanged=[1-9]/);
      // Debian 12 has no compose v2: the stack ran on docker-compose 1.29
      const v = await deploy("docker-compose version --short; docker compose version 2>&1 | head -n 1");
      expect(v.stdout, v.stdout + v.stderr).toMatch(/^1\.29\./);
      const ps = await deploy(
        `docker ps -a --filter label=com.docker.compose.project=${PROJECT} --format '{{.Names}} {{.State}} {{.Status}}'`,
      );
      const rows = ps.stdout.trim().split("\n").sort();
      expect(rows.map((l) => l.split(" ")[0])).toEqual(SERVICES.map((s) => `${PROJECT}_${s}_1`));
      for (const row of rows) expect(row, row).toMatch(/^\S+ running Up .*\(healthy\)/);
    }, 1_200_000);

    it("a second stack run changes nothing", async () => {
      const r = await timed("provision host with the stack (no-op)", () =>
        cli(["provision", "host", target(machine()), ...stackArgs]),
      );
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/changed=0/);
      expect(r.stdout, "the no-op is one SSH exec").toMatch(/\bexecs=1\b/);
    }, 600_000);

    it("the stack's 443 answers a Cloudflare source only, through the ingress to the gateway", async () => {
      const host = machine().target.host;
      expect(await probePort(host, 443)).toBe("filtered");
      const source = "173.245.50.12"; // inside 173.245.48.0/20, distinct from the other e2e files' addresses
      await withSourceAddress(machine(), source, async () => {
        expect(await probePort(host, 443, source)).toBe("open");
        expect(await httpStatusLine(host, 443, "/healthz", source)).toMatch(/^HTTP\/1\.[01] 200/);
      });
    }, 120_000);

    it("lockclaw audit passes on Debian 12 after the whole stack, each container held to the compose file", async () => {
      const audit = await timed("audit (host + stack)", () => cli(["audit", target(machine()), "--json"]));
      expect(failedChecks(audit.stdout), show(audit)).toEqual([]);
      expect(audit.code).toBe(0);
      const ids = (events(audit.stdout) as Report[])[0]!.checks.map((c) => c.id);
      for (const svc of SERVICES) {
        for (const what of ["caps", "nnp", "readonly", "networks"]) {
          expect(ids).toContain(`container.${PROJECT}_${svc}_1.${what}`);
        }
      }
    }, 300_000);
  },
);
