/**
 * The CLI starts a remembered login before it loads the engine (the SSH handshake then overlaps the
 * loading and the preparation): a re-run without -i connects before zod or yaml is even loaded, and
 * bad input found after that (a --var, a playbook) is still refused with the login closed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostStateStore, stateKeyOf } from "../../../src/engine/state.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BIN, BUILD_TIMEOUT_MS, ROOT, buildCli, cliEnv, run } from "./cli.js";

let sshd: SshdFixture;
let work: string;
let hook: string;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-early-cli-"));
  // each module resolved and each TCP connect, in the order they happen
  hook = join(work, "hook.mjs");
  writeFileSync(
    hook,
    `import net from "node:net";\nimport { register } from "node:module";\n` +
      `const c = net.Socket.prototype.connect;\n` +
      `net.Socket.prototype.connect = function (...a) { process.stderr.write("CONNECT\\n"); return c.apply(this, a); };\n` +
      `register("data:text/javascript," + encodeURIComponent(${JSON.stringify(
        'export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith("file:")) process.stderr.write("LOADED " + r.url + "\\n"); return r; }',
      )}));\n`,
  );
  // the login a guarded change proved before: a re-run reaches the host there first
  const target = sshd.target();
  new HostStateStore(join(work, "state/lockclaw/hosts.json")).set(stateKeyOf(target), {
    host: target.host,
    user: target.user,
    port: target.port,
  });
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const provision = (extra: string[]) =>
  run(
    process.execPath,
    [
      "--import",
      hook,
      BIN,
      "provision",
      "host",
      `${sshd.user}@${sshd.target().host}:${sshd.port}`,
      "--key",
      sshd.clientKeyPath,
      "--known-hosts",
      sshd.knownHostsFile,
      "--var",
      `root=${join(work, "app")}`,
      ...extra,
    ],
    // the unbundled build: the packages it loads are seen by their paths
    cliEnv(join(work, "state"), { LOCKCLAW_NO_BUNDLE: "1" }),
  );
const hello = ["--playbook", join(ROOT, "examples/hello/playbook.yml")];
/** stderr's CONNECT and LOADED lines, the packages named by their name. */
const trace = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l === "CONNECT" || l.startsWith("LOADED "))
    .map((l) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(l)?.[1] ?? l);

describe("early login (CLI)", () => {
  it("a re-run without -i connects before it loads zod or yaml", async () => {
    const first = await provision(hello);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const again = await provision(hello);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/changed=0/);
    const t = trace(again.stderr);
    expect(t).toContain("CONNECT");
    expect(t).toContain("zod");
    expect(t.indexOf("CONNECT")).toBeLessThan(t.indexOf("zod"));
    expect(t.indexOf("CONNECT")).toBeLessThan(t.indexOf("yaml"));
  });

  it("bad input found after the login started is refused, and the login is closed (the process ends)", async () => {
    await provision(hello);
    const badVar = await provision([...hello, "--var", "no_such_var=1"]);
    expect(badVar.code, badVar.stderr).toBe(1);
    expect(badVar.stderr).toContain("CONNECT");
    expect(badVar.stderr).toMatch(/no_such_var/);
    expect(badVar.stdout).not.toMatch(/RECAP/);
    // read by the CLI itself, before the run starts
    const noFile = await provision([...hello, "--var", `@${join(work, "missing.yml")}`]);
    expect(noFile.code, noFile.stderr).toBe(1);
    expect(noFile.stderr).toContain("CONNECT");
    expect(noFile.stderr).toMatch(/missing\.yml/);
    const badPlaybook = join(work, "bad.yml");
    writeFileSync(badPlaybook, "- name: x\n  hosts: all\n  tasks: [{ name: t, no_such_kind: {} }]\n");
    const bad = await provision(["--playbook", badPlaybook]);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toContain("CONNECT");
    expect(bad.stderr).toMatch(/bad\.yml/);
  });
});
