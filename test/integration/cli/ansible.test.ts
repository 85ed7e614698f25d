/**
 * Ansible habits through the built binary against a real sshd on loopback (issue 11.5): an Ansible YAML
 * or INI inventory with no target (all its hosts), globs and groups, `-e @file` and `-e '{json}'`, `-u`,
 * `--private-key`, `-k` refused without swallowing a target, and `-vvv` printing each exec's sh masked.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, ROOT, buildCli, cliEnv, lockclaw as run } from "./cli.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-ansible-"));
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const lockclaw = (args: string[]) => run(args, cliEnv(join(work, "state")));
const hello = () => [
  "--playbook",
  join(ROOT, "examples/hello/playbook.yml"),
  "--known-hosts",
  sshd.knownHostsFile,
];
const file = (name: string, text: string) => {
  const f = join(work, name);
  writeFileSync(f, text);
  return f;
};

describe("Ansible habits", () => {
  it("-i an Ansible YAML inventory with no target runs all its hosts, -e @file and -e JSON set vars", async () => {
    const inv = file(
      "hosts.yml",
      `all:
  vars:
    greeting: from-all
  children:
    web:
      hosts:
        web1:
          ansible_host: 127.0.0.1
          ansible_port: ${sshd.port}
          ansible_user: ${sshd.unprivilegedUser}
          ansible_ssh_private_key_file: ${sshd.clientKeyPath}
`,
    );
    const vars = file("vars.yml", `root: ${join(work, "yaml")}\n`);
    const r = await lockclaw([
      "provision",
      "host",
      "-i",
      inv,
      ...hello(),
      "-e",
      `@${vars}`,
      "-e",
      '{"listen_port": 8081}',
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[web1\] connected as /);
    expect(r.stdout).toMatch(/web1\s+ok=\d+\s+changed=5/);
    const conf = readFileSync(join(work, "yaml", "app.conf"), "utf8");
    expect(conf).toContain("from-all");
    expect(conf).toContain("8081");

    // a JSON number is taken as written, so the decimal-only rule of a port holds for -e '{…}' too
    const hex = await lockclaw(["provision", "host", "-i", inv, ...hello(), "-e", '{"listen_port": 1e3}']);
    expect(hex.code, hex.stderr).toBe(1);
    expect(hex.stderr).toMatch(/--var \(at listen_port\): variable 'listen_port' must be/);
    expect(hex.stdout).not.toContain("connected");
  });

  it("an INI inventory, a glob target, -u and --private-key", async () => {
    const inv = file(
      "hosts",
      `[web]\nweb1 ansible_host=127.0.0.1 ansible_port=${sshd.port}\nweb2 ansible_host=127.0.0.1 ansible_port=1\n[web:vars]\nroot=${join(work, "ini")}\n`,
    );
    const r = await lockclaw([
      "provision",
      "host",
      "web*",
      "--limit",
      "web1",
      "-i",
      inv,
      ...hello(),
      "-u",
      sshd.unprivilegedUser!,
      "--private-key",
      sshd.clientKeyPath,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`\\[web1\\] connected as ${sshd.unprivilegedUser} on port ${sshd.port}`),
    );
    expect(r.stdout).not.toContain("web2");
    const list = await lockclaw(["provision", "host", "-i", inv, ...hello(), "-u", "ops", "--list-hosts"]);
    expect(list.stdout).toContain(`web1  ops@127.0.0.1:${sshd.port}`);
    expect(list.stdout).toContain("web2  ops@127.0.0.1:1");
  });

  it("-k is Ansible's ask-pass: refused, and the target after it is not taken for a key file", async () => {
    const r = await lockclaw(["provision", "host", ...hello(), "-k", `root@127.0.0.1:${sshd.port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("-k: lockclaw logs in with SSH keys only");
    expect(r.stderr).toContain("--key FILE (or --private-key FILE)");
    expect(r.stdout).not.toContain("connected");
  });

  it("-v shows execs, -vv their output, -vvv their generated sh with the secret masked", async () => {
    const secret = "s3cr3t-token-0123456789";
    const args = (v: string) => [
      "provision",
      "host",
      `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`,
      ...hello(),
      "--key",
      sshd.clientKeyPath,
      "-e",
      // a directory per run: each one creates the token file, so its apply script carries the secret
      `root=${join(work, `v${v.length}`)}`,
      "-e",
      `api_token=${secret}`,
      v,
    ];
    const v1 = await lockclaw(args("-v"));
    expect(v1.code, v1.stderr).toBe(0);
    expect(v1.stdout).toMatch(/debug: exec #1: probe of 5 tasks/);
    expect(v1.stdout).not.toContain("output:");
    expect(v1.stdout).not.toContain(": sh");
    const v2 = await lockclaw(args("-vv"));
    expect(v2.stdout).toMatch(/debug: exec #1 output:\nstdout: /);
    expect(v2.stdout).not.toContain(": sh");
    const v3 = await lockclaw(args("-vvv"));
    expect(v3.code, v3.stderr).toBe(0);
    expect(v3.stdout).toMatch(/debug: exec #1: probe of 5 tasks: sh( \(as root\))?:\n/);
    expect(v3.stdout).toContain(join(work, "v4"));
    expect(v3.stdout + v1.stdout + v2.stdout).not.toContain(secret);
    // nor in the base64 of the file's here-document
    expect(v3.stdout).toMatch(/bytes of base64 data, not shown/);
    const b64 = Buffer.from(secret).toString("base64");
    expect(v3.stdout).not.toContain(b64.slice(0, 16));
  });
});
