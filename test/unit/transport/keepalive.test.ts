/** The keepalive setting: parsed strictly, per target over $LOCKCLAW_SSH_KEEPALIVE over the default. */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/core/errors.js";
import {
  DEFAULT_KEEPALIVE,
  KEEPALIVE_ENV,
  keepaliveBudget,
  keepaliveOf,
  parseKeepalive,
} from "../../../src/transport/ssh.js";
import type { ConnectionTarget } from "../../../src/transport/types.js";

const target: ConnectionTarget = {
  name: "h",
  host: "h",
  port: 22,
  user: "root",
  identityFiles: [],
  hostKeyPolicy: "strict",
  knownHostsFile: "/dev/null",
};

describe("keepalive settings", () => {
  it("the default tolerates a host silent for minutes", () => {
    expect((DEFAULT_KEEPALIVE.countMax + 1) * DEFAULT_KEEPALIVE.intervalMs).toBeGreaterThanOrEqual(180_000);
    expect(keepaliveBudget(DEFAULT_KEEPALIVE)).toBe("195 s (a keepalive every 15 s, 12 unanswered)");
    expect(keepaliveOf(target, {})).toEqual(DEFAULT_KEEPALIVE);
  });

  it("parses SECONDS[,COUNT]", () => {
    expect(parseKeepalive("30", "--x")).toEqual({ intervalMs: 30_000, countMax: DEFAULT_KEEPALIVE.countMax });
    expect(parseKeepalive("5,3", "--x")).toEqual({ intervalMs: 5000, countMax: 3 });
    expect(parseKeepalive(" 0.5 , 2 ", "--x")).toEqual({ intervalMs: 500, countMax: 2 });
  });

  it.each(["", "0", "-1", "abc", "5,0", "5,", ",3", "5;3", "4000", "5,1001", "1e3", "5,3,1"])(
    "refuses %j naming where it came from",
    (text) => {
      let err: unknown;
      try {
        parseKeepalive(text, KEEPALIVE_ENV);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(
        `${KEEPALIVE_ENV} ${JSON.stringify(text)} is not SECONDS[,COUNT]`,
      );
      expect((err as Error).message).toMatch(/fix: e\.g\. 15,12/);
    },
  );

  it("a target's own setting wins over the environment, which wins over the default", () => {
    expect(keepaliveOf(target, { [KEEPALIVE_ENV]: "60,4" })).toEqual({ intervalMs: 60_000, countMax: 4 });
    const own = { ...target, keepalive: { intervalMs: 1000, countMax: 1 } };
    expect(keepaliveOf(own, { [KEEPALIVE_ENV]: "60,4" })).toEqual({ intervalMs: 1000, countMax: 1 });
    expect(() => keepaliveOf(target, { [KEEPALIVE_ENV]: "fast" })).toThrow(ConfigError);
  });
});
