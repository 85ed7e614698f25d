/**
 * Early logins over a real sshd: a host with a remembered login is reached while the run is still
 * preparing its plays (the connector is called before run-start, which comes after the preparation),
 * the run uses that very connection, bad input closes it unused, and rolling batches start none.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/core/errors.js";
import type { Connector } from "../../../src/engine/connect.js";
import { EarlyLogins } from "../../../src/engine/early-login.js";
import { runPlaybook, type RunOptions } from "../../../src/engine/run.js";
import { HostStateStore, stateKeyOf } from "../../../src/engine/state.js";
import { parseVarArg } from "../../../src/engine/vars.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import type { ConnectionTarget } from "../../../src/transport/types.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

const PLAYBOOK = join(__dirname, "../../../examples/hello/playbook.yml");

let sshd: SshdFixture;
let work: string;
beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-early-"));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The run's log: each connector call and close, and each event, in the order they happened. */
function recorded(extra: Partial<RunOptions> = {}, remember = true) {
  const log: string[] = [];
  const target = sshd.target({ name: "loop" });
  const state = new HostStateStore(join(work, `state-${Math.random()}.json`));
  if (remember) state.set(stateKeyOf(target), { host: target.host, user: target.user, port: target.port });
  const connector: Connector = async (t: ConnectionTarget) => {
    log.push(`connect ${t.user}@${t.port}`);
    const transport = await connect(t);
    const close = transport.close.bind(transport);
    transport.close = async () => {
      log.push("close");
      await close();
    };
    return transport;
  };
  const opts: RunOptions = {
    playbookFile: PLAYBOOK,
    kinds: resourceKinds,
    hosts: [{ target, vars: [] }],
    overrides: [parseVarArg(`root=${join(work, "hello")}`), parseVarArg("api_token=tok-early-1")],
    builtins: {},
    connector,
    state,
    onEvent: (e) => log.push(e.type),
    ...extra,
  };
  return { log, opts, target };
}

describe("early logins", () => {
  it("a remembered login starts before the plays are prepared, and the run uses that connection", async () => {
    const { log, opts, target } = recorded();
    const r = await runPlaybook(opts);
    expect(r.hosts[0]!.failed).toBe(0);
    const connects = log.filter((l) => l.startsWith("connect"));
    expect(connects).toEqual([`connect ${target.user}@${target.port}`]);
    expect(log.indexOf(connects[0]!)).toBeLessThan(log.indexOf("run-start"));
    expect(log.filter((l) => l === "close")).toHaveLength(1);
  });

  it("a host never seen before is reached after the preparation, as before", async () => {
    const { log, opts } = recorded({}, false);
    await runPlaybook(opts);
    expect(log.findIndex((l) => l.startsWith("connect"))).toBeGreaterThan(log.indexOf("run-start"));
  });

  it("bad input: the early login is closed unused and nothing runs", async () => {
    const { log, opts } = recorded({ overrides: [parseVarArg("no_such_var=1")] });
    await expect(runPlaybook(opts)).rejects.toBeInstanceOf(ConfigError);
    expect(log).toEqual([expect.stringMatching(/^connect /), "close"]);
  });

  it("logins the caller started are taken over: used by the run, closed unused on bad input", async () => {
    for (const bad of [false, true]) {
      const { log, opts } = recorded(bad ? { overrides: [parseVarArg("no_such_var=1")] } : {});
      const earlyLogins = EarlyLogins.start([opts.hosts[0]!.target], opts.state!, opts.connector);
      log.push("started");
      const running = runPlaybook({ ...opts, earlyLogins });
      if (bad) {
        await expect(running).rejects.toBeInstanceOf(ConfigError);
        expect(log).toEqual([expect.stringMatching(/^connect /), "started", "close"]);
      } else {
        expect((await running).hosts[0]!.failed).toBe(0);
        // the caller's login, not one of the run's own
        expect(log.filter((l) => l.startsWith("connect"))).toHaveLength(1);
        expect(log.indexOf("started")).toBeLessThan(log.indexOf("run-start"));
      }
    }
  });

  it("rolling batches (--serial) start no early login", async () => {
    const { log, opts } = recorded({ serial: [{ count: 1 }] });
    await runPlaybook(opts);
    expect(log.findIndex((l) => l.startsWith("connect"))).toBeGreaterThan(log.indexOf("run-start"));
  });
});
