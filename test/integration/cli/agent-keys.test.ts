/**
 * Issue 11.2: with the login key only in ssh-agent, the deploy user's default keys are the agent's
 * identities (as ssh-copy-id); with none at all, the error says --authorized-key FILE, before connecting.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, buildCli, cliEnv, lockclaw, until } from "./cli.js";

let sshd: SshdFixture;
let work: string;
let agent: ChildProcess | undefined;
let sock: string;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-agent-"));
  sock = join(work, "agent.sock");
  agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
  await until("ssh-agent socket", () => {
    try {
      execFileSync("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: "ignore" });
      return true;
    } catch (err) {
      // exit 1: the agent answers and holds no key yet; 2: not listening yet
      return (err as { status?: number }).status === 1;
    }
  });
  execFileSync("ssh-add", [sshd.clientKeyPath], {
    env: { ...process.env, SSH_AUTH_SOCK: sock },
    stdio: "ignore",
  });
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  agent?.kill();
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("default authorized keys", () => {
  it("takes the agent's identities when no key file is given", async () => {
    // a home without ~/.ssh keys: the login key is only in the agent
    const home = join(work, "home");
    mkdirSync(home);
    const pb = join(work, "keys.yml");
    writeFileSync(
      pb,
      `name: keys\nvars: { authorized_keys: [], root: /tmp }\nvar_types: { authorized_keys: public_keys, root: abs_path }\n` +
        `tasks:\n  - name: keys\n    file: { path: "{{root}}/keys", content: "keys: {{authorized_keys}}", mode: "0600" }\n`,
    );
    const env = cliEnv(join(work, "state"), { HOME: home, SSH_AUTH_SOCK: sock });
    const r = await lockclaw(
      [
        "provision",
        "host",
        `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`,
        "--playbook",
        pb,
        "--known-hosts",
        sshd.knownHostsFile,
        "-e",
        `root=${work}`,
      ],
      env,
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const pub = readFileSync(`${sshd.clientKeyPath}.pub`, "utf8").split(" ")[1]!;
    expect(readFileSync(join(work, "keys"), "utf8")).toContain(pub);
  });

  it("with no key file and no agent key, says --authorized-key FILE before connecting", async () => {
    const home = join(work, "home2");
    mkdirSync(home);
    const env = cliEnv(join(work, "state2"), { HOME: home, SSH_AUTH_SOCK: "" });
    const r = await lockclaw(["provision", "host", "root@127.0.0.1:1", "--no-stack"], env);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain("no public key for the deploy user");
    expect(r.stderr).toContain("--authorized-key FILE");
    expect(r.stderr).not.toContain("host.yml");
    expect(r.stdout).not.toContain("connected");
  });
});
