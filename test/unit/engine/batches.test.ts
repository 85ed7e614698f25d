/** Rolling batches: Ansible's sizes (pct_to_int: a percentage of all hosts, rounded down, at least 1) and stop rule. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  batchSizes,
  inBatches,
  parseMaxFailPercentage,
  parseSerial,
  stopAfterBatch,
} from "../../../src/engine/batches.js";
import { ConfigError } from "../../../src/core/errors.js";
import { prepareRun } from "../../../src/engine/run.js";
import { resourceKinds } from "../../../src/resources/index.js";

const at = { file: "--serial" };

describe("rolling batches", () => {
  it("sizes batches as Ansible does", () => {
    expect(batchSizes(10, parseSerial("3", at))).toEqual([3, 3, 3, 1]);
    // 30% of 8 = 2.4, rounded down
    expect(batchSizes(8, parseSerial("30%", at))).toEqual([2, 2, 2, 2]);
    // 30% of 3 = 0.9 → at least 1
    expect(batchSizes(3, parseSerial("30%", at))).toEqual([1, 1, 1]);
    expect(batchSizes(7, parseSerial("100%", at))).toEqual([7]);
    // a list: its last item repeats, percentages are of all hosts (50% of 10 = 5)
    expect(batchSizes(10, parseSerial("1,50%", at))).toEqual([1, 5, 4]);
    expect(batchSizes(10, parseSerial([1, "20%", 3], at))).toEqual([1, 2, 3, 3, 1]);
    expect(batchSizes(4, undefined)).toEqual([4]);
    expect(batchSizes(0, parseSerial("2", at))).toEqual([]);
    expect(inBatches(["a", "b", "c"], parseSerial("2", at))).toEqual([["a", "b"], ["c"]]);
  });

  it("refuses what is not a batch size, naming the flag", () => {
    for (const bad of ["0", "-1", "1.5", "101%", "x", "", "1,,2", "10 %"]) {
      expect(() => parseSerial(bad, at), bad).toThrow(ConfigError);
    }
    expect(() => parseSerial("abc", at)).toThrow(/--serial: serial "abc" is not a batch size/);
    expect(() => parseMaxFailPercentage("101", { file: "--max-fail-percentage" })).toThrow(
      /--max-fail-percentage/,
    );
    for (const bad of ["", "-1", "x", "1e9"]) expect(() => parseMaxFailPercentage(bad, at), bad).toThrow();
    expect(parseMaxFailPercentage("49.5", at)).toBe(49.5);
  });

  it("stops when MORE than P% of a batch failed, or all of it", () => {
    // 2 of 4 is 50%: not above 50, above 49 (Ansible's own example)
    expect(stopAfterBatch(4, 2, 50)).toBeUndefined();
    expect(stopAfterBatch(4, 2, 49)).toMatch(
      /2 of 4 hosts of the batch failed \(50% > max fail percentage 49%\)/,
    );
    expect(stopAfterBatch(4, 1, 0)).toBeDefined();
    expect(stopAfterBatch(4, 0, 0)).toBeUndefined();
    // without a threshold only a batch that failed whole stops the run
    expect(stopAfterBatch(4, 3, undefined)).toBeUndefined();
    expect(stopAfterBatch(2, 2, undefined)).toMatch(/every host of the batch failed/);
  });
});

describe("serial: in plays", () => {
  it("the plays of a run that set serial: must agree (each host runs them all in one go)", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-serial-unit-"));
    try {
      const pb = (n: string, serial: string) => {
        writeFileSync(join(dir, n), `name: ${n}\nserial: ${serial}\ntasks: []\n`);
        return join(dir, n);
      };
      const opts = (files: string[], serial?: ReturnType<typeof parseSerial>) => ({
        playbookFile: files,
        kinds: resourceKinds,
        hosts: [],
        overrides: [],
        builtins: {},
        connector: () => Promise.reject(new Error("no connection in a unit test")),
        onEvent: () => undefined,
        ...(serial ? { serial } : {}),
      });
      const a = pb("a.yml", "2");
      const b = pb("b.yml", "30%");
      expect(() => prepareRun(opts([a, b]))).toThrow(/b\.yml:2:\d+.*serial differs between the plays/s);
      // the flag decides for the run
      expect(prepareRun(opts([a, b], parseSerial("1", at))).rolling.serial).toEqual([{ count: 1 }]);
      expect(prepareRun(opts([a, pb("c.yml", "2")])).rolling.serial).toEqual([{ count: 2 }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
