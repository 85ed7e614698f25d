/**
 * The CLI's own surface, through the built binary: usage errors are short, help is clean and reachable
 * as `lockclaw help provision host`, the version is package.json's, a tag typo is an error, and the
 * --list-* options print without connecting to anything.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, BUILD_TIMEOUT_MS, ROOT, buildCli, cliEnv, lockclaw, run } from "./cli.js";

let work: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  await buildCli();
  work = mkdtempSync(join(tmpdir(), "lc-usage-"));
  env = cliEnv(join(work, "state"));
}, BUILD_TIMEOUT_MS);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const hello = ["--playbook", join(ROOT, "examples/hello/playbook.yml")];
// port 1: a run that tried to connect would end unreachable (exit 4), not with a usage error
const nowhere = "root@127.0.0.1:1";

describe("usage errors and help", () => {
  it("an unknown flag prints the error and where to look, not the whole help", async () => {
    const r = await lockclaw(["provision", "host", nowhere, "--chek"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option '--chek'");
    expect(r.stderr).toContain("see: lockclaw provision host --help");
    expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(3);
    expect(r.stdout + r.stderr).not.toContain("Usage:");
    const audit = await lockclaw(["audit", nowhere, "--bogus"], env);
    expect(audit.stderr).toContain("see: lockclaw audit --help");
  });

  it("help shows no (default: []) and `lockclaw help provision host` is that subcommand's help", async () => {
    const h = await lockclaw(["help", "provision", "host"], env);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: lockclaw provision host /);
    expect(h.stdout).toContain("--vars-file");
    expect(h.stdout).not.toContain("(default: [])");
    const direct = await lockclaw(["provision", "host", "--help"], env);
    expect(direct.stdout).toBe(h.stdout);
    const audit = await lockclaw(["audit", "--help"], env);
    expect(audit.stdout).not.toContain("(default: [])");
  });

  it("--version is package.json's, whatever the environment says", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const r = await lockclaw(["--version"], { ...env, npm_package_version: "9.9.9" });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });
});

describe("start-up (issue 11.12)", () => {
  /** The modules a run of the built CLI loads (a resolve hook prints each), as paths under the checkout. */
  async function loaded(
    args: string[],
    extraEnv: NodeJS.ProcessEnv = { LOCKCLAW_NO_BUNDLE: "1" },
  ): Promise<string[]> {
    const hook = join(work, "hook.mjs");
    writeFileSync(
      hook,
      `import { register } from "node:module";\n` +
        `register("data:text/javascript," + encodeURIComponent(${JSON.stringify(
          'export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith("file:")) process.stderr.write("LOADED " + r.url + "\\n"); return r; }',
        )}));\n`,
    );
    const r = await run(process.execPath, ["--import", hook, BIN, ...args], { ...env, ...extraEnv });
    expect(r.code, r.stderr).toBe(0);
    return [...r.stderr.matchAll(/^LOADED (\S+)$/gm)].map((m) => decodeURIComponent(m[1]!));
  }
  /**
   * A run of the bundled CLI (one CommonJS file compiled through the code cache): the packages it
   * requires, whether zod was evaluated, and whether the run went through the cache (it wrote one).
   */
  async function loadedByBundle(
    args: string[],
  ): Promise<{ required: string[]; zod: boolean; cached: boolean }> {
    const hook = join(work, "require-hook.mjs");
    writeFileSync(
      hook,
      `import Module from "node:module";\n` +
        `const load = Module._load;\n` +
        `Module._load = function (id, ...rest) { if (!id.startsWith("node:") && !Module.isBuiltin(id)) process.stderr.write("REQUIRED " + id + "\\n"); return load.call(this, id, ...rest); };\n` +
        `process.on("exit", () => process.stderr.write("ZOD " + ("__zod_globalConfig" in globalThis) + "\\n"));\n`,
    );
    const cache = mkdtempSync(join(work, "cache-"));
    const r = await run(process.execPath, ["--import", hook, BIN, ...args], {
      ...env,
      XDG_CACHE_HOME: cache,
    });
    expect(r.code, r.stderr).toBe(0);
    return {
      required: [...r.stderr.matchAll(/^REQUIRED (\S+)$/gm)].map((m) => m[1]!),
      zod: /^ZOD true$/m.test(r.stderr),
      cached: readdirSync(join(cache, "lockclaw/compile-cache")).some((f) => f.endsWith(".bin")),
    };
  }
  const packages = (urls: string[]) =>
    [...new Set(urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []))].sort();

  it("--version loads nothing but the launcher; declaring the commands loads commander and no engine", async () => {
    expect(await loaded(["--version"])).toEqual([`file://${BIN}`]);
    for (const args of [
      ["--help"],
      ["provision", "host", "--help"],
      ["audit", "--help"],
      ["lab", "box", "--help"],
      ["lab", "net", "--help"],
    ]) {
      const urls = await loaded(args);
      expect(packages(urls), args.join(" ")).toEqual(["commander"]);
      // the engine, the transport, the audit and the lab's machinery load when a command runs
      const heavy = urls.filter((u) =>
        /\/dist\/src\/(engine\/(run|host-run|prepare|vars|state)|transport\/ssh|(audit|resources)\/[\w/-]+|lab\/(machine|vagrant|vagrant-box|rootfs))\.js$/.test(
          u,
        ),
      );
      expect(heavy, args.join(" ")).toEqual([]);
      // the bundled build (what bin runs after npm run build) keeps them lazy too: it requires no ssh2
      // and evaluates no engine (zod, which the engine's schemas need, marks globalThis when it runs)
      const bundled = await loadedByBundle(args);
      expect(bundled.cached, args.join(" ")).toBe(true);
      expect(bundled.required, args.join(" ")).toEqual([]);
      expect(bundled.zod, args.join(" ")).toBe(false);
    }
  });
});

describe("tags", () => {
  it("an unknown tag is an error that lists the known tags, before connecting", async () => {
    const r = await lockclaw(["provision", "host", nowhere, ...hello, "--check", "-t", "file"], env);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain("--tags: unknown tag 'file'");
    expect(r.stderr).toContain("the known tags are: always, files, secrets");
    const skip = await lockclaw(["provision", "host", nowhere, ...hello, "--skip-tags", "secret"], env);
    expect(skip.code).toBe(1);
    expect(skip.stderr).toContain("--skip-tags: unknown tag 'secret'");
    // the built-in playbooks: the issue's own example
    const ssh = await lockclaw(["provision", "host", nowhere, "--check", "-t", "sshd"], env);
    expect(ssh.code).toBe(1);
    expect(ssh.stderr).toMatch(/unknown tag 'sshd'.*\n.*\bssh\b/);
  });

  it("--list-tags, --list-tasks (honouring --tags) and --list-hosts print and connect to nothing", async () => {
    const tags = await lockclaw(["provision", "host", nowhere, ...hello, "--list-tags"], env);
    expect(tags.code).toBe(0);
    expect(tags.stdout.trim()).toBe("tags: always, files, secrets");
    const tasks = await lockclaw(
      ["provision", "host", nowhere, ...hello, "--list-tasks", "-t", "files"],
      env,
    );
    expect(tasks.code).toBe(0);
    expect(tasks.stdout).toContain("play: Hello lockclaw");
    expect(tasks.stdout).toContain("  App config  [files]");
    expect(tasks.stdout).not.toContain("API token");
    const hosts = await lockclaw(["provision", "host", nowhere, "deploy@10.0.0.1:2222", "--list-hosts"], env);
    expect(hosts.code).toBe(0);
    expect(hosts.stdout).toContain("root@127.0.0.1:1  root@127.0.0.1:1");
    expect(hosts.stdout).toContain("deploy@10.0.0.1:2222");
  });
});
