import { describe, expect, it } from "vitest";
import {
  Throttle,
  formatBytes,
  formatDuration,
  formatTransfer,
  throttledProgress,
  transferFigures,
} from "../../../src/engine/progress.js";

describe("Throttle", () => {
  it("lets the first event through, then at most one per interval", () => {
    let now = 1000;
    const t = new Throttle(500, () => now);
    expect(t.take()).toBe(true);
    expect(t.take()).toBe(false);
    now += 499;
    expect(t.take()).toBe(false);
    now += 1;
    expect(t.take()).toBe(true);
    // a refused event does not push the next window back
    now += 200;
    expect(t.take()).toBe(false);
    now += 300;
    expect(t.take()).toBe(true);
  });

  it("a burst of 10 000 chunks over 2 s gives 5 events at 500 ms", () => {
    let now = 0;
    const t = new Throttle(500, () => now);
    let passed = 0;
    for (let i = 0; i < 10_000; i++) {
      now = (i * 2000) / 10_000;
      if (t.take()) passed++;
    }
    expect(passed).toBe(4);
    now = 2000;
    expect(t.take()).toBe(true);
  });

  it("an interval of 0 lets every event through", () => {
    const t = new Throttle(0, () => 5);
    expect([t.take(), t.take(), t.take()]).toEqual([true, true, true]);
  });
});

describe("transfer figures", () => {
  it("rate from the bytes and the time so far, ETA from what is left", () => {
    expect(transferFigures(50 * 1024 * 1024, 200 * 1024 * 1024, 2000)).toEqual({
      bytes: 50 * 1024 * 1024,
      total: 200 * 1024 * 1024,
      rate: 25 * 1024 * 1024,
      etaSeconds: 6,
    });
    // no time yet: no rate, no ETA
    expect(transferFigures(0, 100, 0)).toEqual({ bytes: 0, total: 100, rate: 0 });
    expect(transferFigures(100, 100, 0)).toEqual({ bytes: 100, total: 100, rate: 0, etaSeconds: 0 });
  });

  it("prints bytes, rate and ETA as a terminal line", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(2 * 1024 ** 3)).toBe("2.0 GiB");
    expect(formatDuration(42)).toBe("42s");
    expect(formatDuration(75)).toBe("1m15s");
    expect(formatDuration(3 * 3600 + 120)).toBe("3h02m");
    expect(formatTransfer(transferFigures(12 * 1024 ** 2, 2 * 1024 ** 3, 1000))).toBe(
      "12.0 MiB / 2.0 GiB, 12.0 MiB/s, ETA 2m50s",
    );
    // done: no ETA
    expect(formatTransfer(transferFigures(1024, 1024, 10))).toBe("1.0 KiB / 1.0 KiB, 100.0 KiB/s");
  });
});

describe("throttledProgress", () => {
  it("a file's start and end always, the reads between at most once per interval, with rate and ETA", () => {
    let now = 0;
    const out: Array<{ file: string; bytes: number; rate: number; etaSeconds?: number; done?: boolean }> = [];
    const p = throttledProgress(
      500,
      (f) => out.push(f),
      () => now,
    );
    p({ file: "a", bytes: 0, total: 1000 });
    for (let b = 100; b <= 1000; b += 100) {
      now += 100;
      p({ file: "a", bytes: b, total: 1000 });
    }
    p({ file: "a", bytes: 1000, total: 1000, done: true });
    // 0 ms (start), 500 ms, 1000 ms (the read of the last chunk), then done
    expect(out.map((e) => [e.bytes, e.done ?? false])).toEqual([
      [0, false],
      [500, false],
      [1000, false],
      [1000, true],
    ]);
    expect(out[1]).toMatchObject({ file: "a", rate: 1000, etaSeconds: 1 });
    expect(out.at(-1)).toMatchObject({ rate: 1000, etaSeconds: 0, done: true });
    // the next file starts at once, its figures from its own start
    now += 10_000;
    p({ file: "b", bytes: 0, total: 10 });
    expect(out.at(-1)).toMatchObject({ file: "b", bytes: 0, rate: 0 });
  });
});
