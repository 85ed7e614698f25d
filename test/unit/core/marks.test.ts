import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { base64Body, findMarked, Marks } from "../../../src/core/marks.js";
import { sh, shJoin } from "../../../src/core/sh.js";

const marks = new Marks("@@lockclaw-test");

describe("Marks: sections within a probe's section", () => {
  it("writes the mark lines it splits on, through a real sh", () => {
    const script = shJoin([
      sh`echo 'before any mark'`,
      marks.open("one"),
      sh`printf 'a\\nb\\n'`,
      sh`echo "${marks.sh} rc $((1 + 1))"`,
      sh`echo ${marks.line("file /a b")}; printf x | base64 -w0; echo`,
      marks.open("end"),
    ]);
    const out = spawnSync("sh", ["-c", String(script)], { encoding: "utf8" }).stdout;
    const list = marks.splitComplete(out, "test");
    expect(list.map((s) => [s.head, s.name, s.arg])).toEqual([
      ["one", "one", ""],
      ["rc 2", "rc", "2"],
      ["file /a b", "file", "/a b"],
      ["end", "end", ""],
    ]);
    expect(findMarked(list, "one")?.body).toBe("a\nb");
    expect(base64Body(findMarked(list, "file /a b"))).toBe("x");
  });
  it("is the same sh as the hand-written echo it replaces", () => {
    expect(String(marks.open("sshd-T"))).toBe(`echo '@@lockclaw-test sshd-T'`);
    expect(String(sh`echo "${marks.sh} x $?"`)).toBe(`echo "@@lockclaw-test x $?"`);
  });
  it("refuses output cut before the end mark, and a marker that is not one", () => {
    expect(() => marks.splitComplete("@@lockclaw-test one\nx\n", "ufw")).toThrow(
      "ufw probe output is incomplete (no end marker)",
    );
    // a line that only looks like a mark (another marker, or no space after it) is body
    expect(marks.split("@@lockclaw-test a\n@@lockclaw-testb\n@@lockclaw-other c")[0]!.body).toBe(
      "@@lockclaw-testb\n@@lockclaw-other c",
    );
    expect(() => new Marks("@@lockclaw-x'y")).toThrow();
  });
  it("a head with a quote cannot break out of its echo", () => {
    const out = spawnSync("sh", ["-c", String(marks.open("x'; echo pwned; '"))], { encoding: "utf8" }).stdout;
    expect(out).toBe("@@lockclaw-test x'; echo pwned; '\n");
  });
});
