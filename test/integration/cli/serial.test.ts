/**
 * `--serial` / `serial:` and `--max-fail-percentage` through the built CLI against a real sshd: three
 * inventory hosts on one sshd, the second fails; the text recap and the --json recap name the host never
 * started. Bad sizes are refused before connecting.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, buildCli, cliEnv, lockclaw as run } from "./cli.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-cli-serial-"));
  const addr = `root@127.0.0.1:${sshd.port}`;
  writeFileSync(
    join(work, "inventory.yml"),
    [
      "hosts:",
      ...["a", "b", "c"].map((n) => `  ${n}: { address: "${addr}", vars: { root: ${join(work, n)} } }`),
    ].join("\n") + "\n",
  );
  const play = (serial: string) =>
    [
      "name: serial",
      `serial: ${serial}`,
      "vars: { root: /tmp/x }",
      "var_types: { root: abs_path }",
      "tasks:",
      "  - name: dir",
      '    directory: { path: "{{root}}", mode: "0755" }',
      "  - name: b breaks",
      // the command fails on host b only (its root ends in /b)
      "    command: { cmd: 'case {{root}} in */b) exit 3;; esac' }",
      "",
    ].join("\n");
  writeFileSync(join(work, "serial1.yml"), play("1"));
  writeFileSync(join(work, "serial-list.yml"), play("[1, 2]"));
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const lockclaw = (args: string[]) => run(args, cliEnv(join(work, "state")));
const common = (pb: string) => [
  "--playbook",
  join(work, pb),
  "-i",
  join(work, "inventory.yml"),
  "--key",
  sshd.clientKeyPath,
  "--known-hosts",
  sshd.knownHostsFile,
];

describe("lockclaw provision --serial (CLI)", () => {
  it("a play's serial: 1 with --max-fail-percentage 0: b fails, c is never started, and both recaps say so", async () => {
    const text = await lockclaw([
      "provision",
      "host",
      "all",
      ...common("serial1.yml"),
      "--max-fail-percentage",
      "0",
    ]);
    expect(text.code, text.stdout + text.stderr).toBe(1);
    expect(text.stdout).toContain("BATCH 1/3: a");
    expect(text.stdout).toContain("BATCH 2/3: b");
    expect(text.stdout).not.toContain("BATCH 3/3");
    expect(text.stdout).toMatch(/stopped after batch 2 of 3: 1 of 1 hosts of the batch failed/);
    expect(text.stdout).toMatch(/never started \(nothing done on them\): c\n/);
    expect(existsSync(join(work, "c"))).toBe(false);

    rmSync(join(work, "a"), { recursive: true });
    rmSync(join(work, "b"), { recursive: true });
    const json = await lockclaw([
      "provision",
      "host",
      "all",
      ...common("serial1.yml"),
      "--max-fail-percentage",
      "0",
      "--json",
    ]);
    expect(json.code).toBe(1);
    const events = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    const recap = events.find((e) => e.type === "recap")!;
    expect(recap.notStarted).toEqual(["c"]);
    expect(recap.stopped).toMatch(/stopped after batch 2 of 3/);
    expect((recap.hosts as Array<{ host: string }>).map((h) => h.host)).toEqual(["a", "b"]);
    expect(events.filter((e) => e.type === "batch-start").map((e) => e.hosts)).toEqual([["a"], ["b"]]);
    expect(existsSync(join(work, "c"))).toBe(false);
  });

  it("--serial wins over the play's; without a threshold a batch with one failure of two goes on", async () => {
    const r = await lockclaw(["provision", "host", "all", ...common("serial1.yml"), "--serial", "2"]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain("BATCH 1/2: a, b");
    expect(r.stdout).toContain("BATCH 2/2: c");
    expect(r.stdout).not.toContain("never started");
    expect(existsSync(join(work, "c"))).toBe(true);
  });

  it("refuses a bad --serial, --max-fail-percentage or serial: before connecting", async () => {
    const before = sshd.logs().length;
    const bad = await lockclaw(["provision", "host", "all", ...common("serial1.yml"), "--serial", "0"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--serial: serial "0" is not a batch size\n\s+fix: give a whole number/);
    const pct = await lockclaw([
      "provision",
      "host",
      "all",
      ...common("serial1.yml"),
      "--max-fail-percentage",
      "150",
    ]);
    expect(pct.code).toBe(1);
    expect(pct.stderr).toMatch(/--max-fail-percentage: max fail percentage "150" is not a percentage/);
    writeFileSync(
      join(work, "bad.yml"),
      readFileSync(join(work, "serial1.yml"), "utf8").replace("serial: 1", "serial: 1x"),
    );
    const play = await lockclaw(["provision", "host", "all", ...common("bad.yml")]);
    expect(play.code).toBe(1);
    expect(play.stderr).toMatch(/bad\.yml:2:\d+.*serial "1x" is not a batch size/);
    // sshd logs every connection: none of the refused runs opened one
    expect(sshd.logs().length).toBe(before);
    // a list in the play; the help documents both flags
    const list = await lockclaw(["provision", "host", "all", ...common("serial-list.yml"), "--check"]);
    expect(list.stdout).toContain("BATCH 2/2: b, c");
    const help = await lockclaw(["provision", "host", "--help"]);
    expect(help.stdout).toContain("--serial <size>");
    expect(help.stdout).toContain("--max-fail-percentage <p>");
  });
});
