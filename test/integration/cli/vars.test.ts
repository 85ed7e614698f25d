/**
 * The built `lockclaw` binary refuses bad variable values before it connects: exit 1, the flag, vars file
 * or inventory host named, the fix given, no secret shown, and not one TCP connection to the target.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "../../..");
const BIN = join(ROOT, "bin/lockclaw.js");
const PAYLOAD = "debian' in x) ;; esac; id > /var/tmp/p; case 'debian";
let work: string;
let server: Server;
let port = 0;
let connections = 0;

beforeAll(async () => {
  const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: ROOT, encoding: "utf8" });
  expect(build.status, build.stdout + build.stderr).toBe(0);
  work = mkdtempSync(join(tmpdir(), "lc-cli-vars-"));
  // stands in for the host: counts every connection lockclaw opens (none may be opened)
  server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
}, 300_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  rmSync(work, { recursive: true, force: true });
});

function lockclaw(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, XDG_STATE_HOME: join(work, "state"), SSH_AUTH_SOCK: "" },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}
const target = () => `root@127.0.0.1:${port}`;
const file = (name: string, text: string) => {
  const f = join(work, name);
  writeFileSync(f, text);
  return f;
};

describe("lockclaw provision/audit: bad variable values", () => {
  it("refuses the case 1 payload from -e, --vars-file and an inventory host, under --check, without connecting", () => {
    const viaVar = lockclaw(["provision", "stack", target(), "--check", "-e", `docker_source=${PAYLOAD}`]);
    expect(viaVar.code, viaVar.out).toBe(1);
    expect(viaVar.out).toContain(
      "--var (at docker_source): variable 'docker_source' must be one of debian, docker",
    );
    expect(viaVar.out).toContain("fix: for example --var docker_source=debian");

    const vf = file("vars.yml", `docker_source: "${PAYLOAD}"\n`);
    const viaFile = lockclaw(["provision", "stack", target(), "--check", "--vars-file", vf]);
    expect(viaFile.code, viaFile.out).toBe(1);
    expect(viaFile.out).toContain(`${vf}:1:16 (at docker_source): variable 'docker_source' must be one of`);

    const inv = file(
      "inventory.yml",
      `hosts:\n  web1:\n    address: "${target()}"\n    vars: { docker_source: "${PAYLOAD}" }\n`,
    );
    const viaInv = lockclaw(["provision", "stack", "web1", "-i", inv, "--check"]);
    expect(viaInv.code, viaInv.out).toBe(1);
    expect(viaInv.out).toContain(`lockclaw: ${inv}:4:28 (at hosts.web1.vars.docker_source)`);
    expect(viaInv.out).not.toMatch(/unexpected error|at .*\.js:\d+/);
    expect(connections).toBe(0);
  });

  it("names the flag and the fix for the values of issue 11.2 / 13, and refuses a typo in inventory vars", () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ["-e", "admin_cidrs=10.0.0.0/33"],
        /^lockclaw: --var \(at admin_cidrs\):.*prefix length must be 0-32/m,
      ],
      [["-e", "admin_cidrs=0.0.0.0/0,::/0"], /whole IPv4 internet[\s\S]*--allow-world/],
      [["-e", "deploy_user=Root"], /^lockclaw: --var \(at deploy_user\): .*not a lowercase POSIX user name/m],
      [["-e", "deploy_user=root"], /root is not a deploy user/],
      [["-e", "ssh_port=0x8AE"], /^lockclaw: --var \(at ssh_port\): .*in decimal/m],
      [["-e", "ssh_port=1e3"], /in decimal/],
    ];
    for (const [args, re] of cases) {
      const r = lockclaw(["provision", "host", target(), "--no-stack", ...args]);
      expect(r.code, r.out).toBe(1);
      expect(r.out).toMatch(re);
      expect(r.out).not.toContain("host.yml");
    }
    const inv = file(
      "typo.yml",
      `hosts:\n  web1:\n    address: "${target()}"\n    vars: { ssh_prot: 2200 }\n`,
    );
    const typo = lockclaw(["provision", "host", "web1", "-i", inv, "--no-stack"]);
    expect(typo.code, typo.out).toBe(1);
    expect(typo.out).toMatch(
      /typo\.yml:4:\d+ \(at hosts\.web1\.vars\.ssh_prot\): unknown variable 'ssh_prot'/,
    );

    const audit = lockclaw(["audit", target(), "-e", "admin_cidrs=::/0"]);
    expect(audit.code, audit.out).toBe(1);
    expect(audit.out).toContain("::/0 is the whole IPv6 internet");
    // an inventory shared with provision: audit knows docker.yml's variables, and checks their values
    const shared = file(
      "shared.yml",
      `hosts:\n  web1:\n    address: "${target()}"\n    vars: { docker_source: "${PAYLOAD}" }\n`,
    );
    const sharedAudit = lockclaw(["audit", "web1", "-i", shared]);
    expect(sharedAudit.code, sharedAudit.out).toBe(1);
    expect(sharedAudit.out).toContain("variable 'docker_source' must be one of debian, docker");
    expect(connections).toBe(0);
  });

  it("never prints a secret's value, and reports a YAML alias bomb with its file and line, no stack trace", () => {
    const secret = "sk-ant-0123456789abcdef";
    const r = lockclaw(["provision", "stack", target(), "-e", `anthropic_api_key=${secret}\u0007`]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain("variable 'anthropic_api_key'");
    expect(r.out).not.toContain(secret);

    const bomb = file(
      "bomb.yml",
      "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    );
    const b = lockclaw(["provision", "stack", target(), "--vars-file", bomb]);
    expect(b.code, b.out).toBe(1);
    expect(b.out).toMatch(new RegExp(`${bomb}:\\d+:\\d+: YAML aliases expand too far`));
    expect(b.out).not.toMatch(/unexpected error|ReferenceError|\n\s+at /);
    expect(connections).toBe(0);
  });
});
