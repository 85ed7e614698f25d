import { describe, expect, it } from "vitest";
import { fillTerminalSize } from "../../../src/report/terminal-size.js";

describe("fillTerminalSize: a terminal nobody sized (0 × 0)", () => {
  it("gets $COLUMNS × $LINES, else 80 × 24", () => {
    const unsized = { isTTY: true, columns: 0, rows: 0 };
    fillTerminalSize(unsized, { COLUMNS: "132", LINES: "50" });
    expect(unsized).toMatchObject({ columns: 132, rows: 50 });
    const bare: { isTTY: boolean; columns?: number; rows?: number } = { isTTY: true };
    fillTerminalSize(bare, { COLUMNS: "0", LINES: "many" });
    expect(bare).toMatchObject({ columns: 80, rows: 24 });
  });

  it("leaves a known size, and a stream that is no terminal, alone", () => {
    const sized = { isTTY: true, columns: 100, rows: 30 };
    fillTerminalSize(sized, { COLUMNS: "132", LINES: "50" });
    expect(sized).toEqual({ isTTY: true, columns: 100, rows: 30 });
    const pipe = { isTTY: false, columns: 0 };
    fillTerminalSize(pipe, {});
    expect(pipe).toEqual({ isTTY: false, columns: 0 });
  });
});
