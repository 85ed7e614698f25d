/**
 * A secret holding `"`, `\` and line breaks never shows, in any view: plain lines (a pipe), the live
 * TTY view, --json, with --diff and -v, and in the error of a task that prints it. Against a real sshd.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";
import { BUILD_TIMEOUT_MS, buildCli, cliEnv, lockclaw, lockclawTty, type CliResult } from "./cli.js";

const SECRET = 'alpha"quote\\back-01\nbravo-line\\"two\ncharlie-third-line';
// every line, and its JSON-escaped form, must be masked: one distinctive word of each line is enough
const LEAKS = /alpha|bravo|charlie/;

let sshd: SshdFixture;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await buildCli();
  sshd = await startSshd({ user: { sudo: true } });
  work = mkdtempSync(join(tmpdir(), "lc-secrets-"));
  env = cliEnv(join(work, "state"));
  writeFileSync(
    join(work, "playbook.yml"),
    [
      "name: secrets",
      "vars:",
      "  root: /tmp/never",
      "  token: default-token",
      "var_types: { root: abs_path }",
      "secret_vars: [token]",
      "multiline_vars: [token]",
      "tasks:",
      "  - name: Directory",
      '    directory: { path: "{{root}}" }',
      "  - name: Token file",
      '    file: { path: "{{root}}/token", content: "{{token}}", mode: "0600" }',
      "  - name: Print it and fail",
      '    command: { cmd: "cat {{root}}/token; cat {{root}}/token >&2; exit 3" }',
      "",
    ].join("\n"),
  );
  writeFileSync(join(work, "vars.yml"), JSON.stringify({ token: SECRET }));
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

let runs = 0;
const args = (...extra: string[]) => [
  "provision",
  "host",
  `${sshd.unprivilegedUser}@127.0.0.1:${sshd.port}`,
  "--playbook",
  join(work, "playbook.yml"),
  "--vars-file",
  join(work, "vars.yml"),
  // a fresh directory each run, so the token file is new and its diff shows
  "--var",
  `root=${join(work, `run${++runs}`)}`,
  "--key",
  sshd.clientKeyPath,
  "--known-hosts",
  sshd.knownHostsFile,
  ...extra,
];

function expectMasked(r: CliResult, what: string) {
  const all = r.stdout + r.stderr;
  // the run really happened and reached the failing task
  expect(all, what).toContain("Print it and fail");
  expect(all, what).toContain("********");
  expect(all.match(LEAKS)?.[0], `${what}:\n${all}`).toBeUndefined();
}

describe("secrets are masked in every view", () => {
  it("plain lines with --diff and -v", async () => {
    const r = await lockclaw(args("--diff", "-v"), env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("exit 3");
    expectMasked(r, "plain");
  });

  it("--json with --diff and -v", async () => {
    const r = await lockclaw(args("--json", "--diff", "-v"), env);
    expect(r.code).toBe(1);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; changes?: Array<{ diff?: string }> });
    // the content diff is there, masked
    const diffs = events.flatMap((e) => e.changes ?? []).flatMap((c) => (c.diff ? [c.diff] : []));
    expect(diffs.join("\n")).toContain("+********");
    expectMasked(r, "json");
  });

  it("the TTY view with --diff", async () => {
    const r = await lockclawTty(args("--diff"), env);
    expect(r.code).toBe(1);
    expectMasked(r, "tty");
  });

  it("--check --diff", async () => {
    const r = await lockclaw(args("--check", "--diff"), env);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("+********");
    expect(r.stdout.match(LEAKS)?.[0], r.stdout).toBeUndefined();
  });
});
