/**
 * Rolling batches against a REAL sshd on loopback: six hosts (one sshd, six target names, each with its own
 * directory), one of which fails its task. A failure over --max-fail-percentage stops the run before the
 * next batch: the hosts of the later batches are never connected to, and the recap names them.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSerial } from "../../../src/engine/batches.js";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { runPlaybook, type RunOptions } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;
let playbook: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-serial-"));
  playbook = join(work, "playbook.yml");
  writeFileSync(
    playbook,
    [
      "name: serial",
      "vars: { root: /tmp/x, broken: false }",
      "var_types: { root: abs_path, broken: bool }",
      "tasks:",
      "  - name: dir",
      '    directory: { path: "{{root}}", mode: "0755" }',
      "  - name: breaks",
      "    command: { cmd: 'echo broken >&2; exit 3' }",
      "    when: broken",
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const NAMES = ["h1", "h2", "h3", "h4", "h5", "h6"];

/** Six hosts; `bad` fail. Each run gets fresh directories under its own dir. */
function options(
  run: string,
  bad: string[],
  extra: Partial<RunOptions>,
): RunOptions & { events: LockclawEvent[] } {
  const events: LockclawEvent[] = [];
  const dir = join(work, run);
  return {
    playbookFile: playbook,
    kinds: resourceKinds,
    hosts: NAMES.map((n) => ({
      target: sshd.target({ name: n }),
      vars: [
        { name: "root", value: join(dir, n), from: { file: "(test)" } },
        { name: "broken", value: bad.includes(n), from: { file: "(test)" } },
      ],
    })),
    overrides: [],
    builtins: {},
    connector: connect,
    state: new HostStateStore(join(work, `${run}-state.json`)),
    onEvent: (e) => events.push(e),
    events,
    forks: 10,
    ...extra,
  };
}

const touched = (run: string) => NAMES.filter((n) => existsSync(join(work, run, n)));
const batches = (events: LockclawEvent[]) =>
  events.flatMap((e) => (e.type === "batch-start" ? [e.hosts.join(",")] : []));
const recapOf = (events: LockclawEvent[]) =>
  events.find((e): e is Extract<LockclawEvent, { type: "recap" }> => e.type === "recap")!;
const at = { file: "--serial" };

describe("rolling batches over a real sshd", () => {
  it("a host that fails over --max-fail-percentage 0 stops the next batch; the recap names the hosts never started", async () => {
    const o = options("stop", ["h2"], { serial: parseSerial("2", at), maxFailPercentage: 0 });
    const r = await runPlaybook(o);
    expect(r.exitCode).toBe(1);
    expect(batches(o.events)).toEqual(["h1,h2"]);
    expect(r.hosts.map((h) => [h.host, h.failed > 0])).toEqual([
      ["h1", false],
      ["h2", true],
    ]);
    expect(r.notStarted).toEqual(["h3", "h4", "h5", "h6"]);
    // nothing connected to them: no directory, no host-start event
    expect(touched("stop")).toEqual(["h1", "h2"]);
    expect(o.events.filter((e) => e.type === "host-start").map((e) => (e as { host: string }).host)).toEqual([
      "h1",
      "h2",
    ]);
    const recap = recapOf(o.events);
    expect(recap.stopped).toMatch(
      /stopped after batch 1 of 3: 1 of 2 hosts of the batch failed \(50% > max fail percentage 0%\)/,
    );
    expect(recap.notStarted).toEqual(["h3", "h4", "h5", "h6"]);
  });

  it("goes on while the failures stay at or under the percentage (1 of 2 is not more than 50%)", async () => {
    const o = options("goon", ["h2"], { serial: parseSerial("2", at), maxFailPercentage: 50 });
    const r = await runPlaybook(o);
    expect(r.exitCode).toBe(1);
    expect(batches(o.events)).toEqual(["h1,h2", "h3,h4", "h5,h6"]);
    expect(r.notStarted).toEqual([]);
    expect(touched("goon")).toEqual(NAMES);
    expect(recapOf(o.events).stopped).toBeUndefined();
  });

  it("30% of 6 hosts is a batch of 1 (rounded down); a batch that failed whole stops the run even without a threshold", async () => {
    const o = options("pct", ["h3"], { serial: parseSerial("30%", at) });
    const r = await runPlaybook(o);
    expect(batches(o.events)).toEqual(["h1", "h2", "h3"]);
    expect(r.notStarted).toEqual(["h4", "h5", "h6"]);
    expect(touched("pct")).toEqual(["h1", "h2", "h3"]);
    expect(recapOf(o.events).stopped).toMatch(/every host of the batch failed/);
  });

  it("a batch starts only once the last one is done (one host at a time with --serial 1, even at --forks 10)", async () => {
    const o = options("order", [], { serial: parseSerial("1,50%", at) });
    const r = await runPlaybook(o);
    expect(r.exitCode).toBe(0);
    expect(batches(o.events)).toEqual(["h1", "h2,h3,h4", "h5,h6"]);
    // every host of a batch has its recap before the next batch's first host starts
    const seq = o.events.flatMap((e) =>
      e.type === "host-start" ? [`start ${e.host}`] : e.type === "host-recap" ? [`done ${e.recap.host}`] : [],
    );
    const order = (s: string) => seq.indexOf(s);
    expect(order("done h1")).toBeLessThan(order("start h2"));
    for (const h of ["h2", "h3", "h4"]) expect(order(`done ${h}`)).toBeLessThan(order("start h5"));
  });
});
