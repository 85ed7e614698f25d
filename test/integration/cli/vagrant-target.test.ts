/**
 * A vagrant:NAME target gets ssh_legacy_clients from lockclaw (a Vagrant box must keep letting Vagrant's
 * net-ssh in), as a host default: the run says so once, `-e ssh_legacy_clients=false` and an inventory
 * host's var win, and the plays that do not declare it (docker.yml, stack.yml) do not refuse it. The
 * built binary against a real sshd on loopback; `vagrant` is a script on PATH that prints what
 * `vagrant ssh-config` prints for that sshd (Vagrant itself is not needed to resolve a target).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, buildCli, cliEnv, lockclaw as run } from "./cli.js";

let sshd: SshdFixture;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-cli-vagrant-"));
  const bin = join(work, "bin");
  mkdirSync(bin);
  const sshConfig = [
    "Host box",
    "  HostName 127.0.0.1",
    "  User root",
    `  Port ${sshd.port}`,
    "  UserKnownHostsFile /dev/null",
    "  StrictHostKeyChecking no",
    "  PasswordAuthentication no",
    `  IdentityFile ${sshd.clientKeyPath}`,
    "  IdentitiesOnly yes",
    "  LogLevel FATAL",
  ].join("\n");
  writeFileSync(
    join(bin, "vagrant"),
    `#!/bin/sh\n[ "$1 $2" = "ssh-config box" ] || { echo "unexpected: $*" >&2; exit 1; }\ncat <<'EOF'\n${sshConfig}\nEOF\n`,
  );
  chmodSync(join(bin, "vagrant"), 0o755);
  // no Vagrantfile above the work dir: no box id, and nothing is written for Vagrant
  env = cliEnv(join(work, "state"), { PATH: `${bin}:${process.env.PATH}`, VAGRANT_CWD: work });
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A play that declares ssh_legacy_clients as the host playbook does, and shows the value it gets. */
function playbook(): string {
  const f = join(work, "legacy.yml");
  writeFileSync(
    f,
    [
      "name: Legacy value",
      "vars:",
      "  ssh_legacy_clients: false",
      "var_types:",
      "  ssh_legacy_clients: bool",
      "tasks:",
      "  - name: Show it",
      `    file: { path: "${work}/legacy.txt", content: "legacy={{ssh_legacy_clients}}\\n", mode: "0644" }`,
      "",
    ].join("\n"),
  );
  return f;
}
const check = (args: string[]) =>
  run(["provision", "host", "--playbook", playbook(), "--check", "--diff", ...args], env);
const warnings = (out: string) => out.split("\n").filter((l) => l.includes("WARNING"));

describe("vagrant:NAME: ssh_legacy_clients on by default", () => {
  it("the play gets true, and the run says so once, with the way to turn it off", async () => {
    const r = await check(["vagrant:box"]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toContain("+legacy=true");
    expect(warnings(r.stdout)).toEqual([
      expect.stringMatching(
        /^\[vagrant:box\] WARNING sshd also allows diffie-hellman-group-exchange-sha256 and aes256-ctr.*-e ssh_legacy_clients=false/,
      ),
    ]);
  });

  it("-e ssh_legacy_clients=false and an inventory host's var win over it, and nothing is said", async () => {
    const off = await check(["vagrant:box", "-e", "ssh_legacy_clients=false"]);
    expect(off.code, off.stdout + off.stderr).toBe(2);
    expect(off.stdout).toContain("+legacy=false");
    expect(warnings(off.stdout)).toEqual([]);
    const inv = join(work, "inventory.yml");
    writeFileSync(
      inv,
      "hosts:\n  box1:\n    address: vagrant:box\n    vars: { ssh_legacy_clients: false }\n  box2:\n    address: vagrant:box\n",
    );
    const r = await check(["-i", inv]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toMatch(/\[box1\][\s\S]*\+legacy=false/);
    // box2 is a Vagrant box with no say of its own: the default, said for it alone
    expect(warnings(r.stdout)).toEqual([expect.stringMatching(/^\[box2\] WARNING sshd also allows/)]);
  });

  it("any other target does not get it", async () => {
    const r = await check([
      `root@127.0.0.1:${sshd.port}`,
      "--key",
      sshd.clientKeyPath,
      "--known-hosts",
      sshd.knownHostsFile,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toContain("+legacy=false");
    expect(warnings(r.stdout)).toEqual([]);
  });

  it("`provision stack vagrant:X`: docker.yml and stack.yml do not declare it, and do not refuse it", async () => {
    // --check: the plays are prepared for the box and probe it (read only), and would change things
    const r = await run(["provision", "stack", "vagrant:box", "--check"], env);
    expect(r.stdout + r.stderr).not.toMatch(/unknown variable/);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toMatch(/^CHECK .*docker\.yml.*stack\.yml on vagrant:box$/m);
    expect(warnings(r.stdout)).toEqual([]);
    // a user's own --var of it still is refused there, before connecting
    const own = await run(
      ["provision", "stack", "vagrant:box", "--check", "-e", "ssh_legacy_clients=true"],
      env,
    );
    expect(own.code).toBe(1);
    expect(own.stderr).toContain("unknown variable 'ssh_legacy_clients'");
  });
});
