import { describe, expect, it } from "vitest";
import { YamlSource } from "../../../src/engine/yaml-source.js";

describe("YamlSource.locate", () => {
  const src = YamlSource.parse("tasks:\n  - file: { path: /x }\n  - note: { text: y }\n", "pb.yml");

  it("names the line and column of a path, or its nearest parent, the same each time it is asked", () => {
    const at = { file: "pb.yml", line: 3, column: 19, path: "tasks[1].note.text" };
    expect(src.locate(["tasks", 1, "note", "text"])).toEqual(at);
    expect(src.locate(["tasks", 1, "note", "text"])).toEqual(at);
    expect(src.locate(["tasks", 0, "file", "mode"])).toEqual({
      file: "pb.yml",
      line: 2,
      column: 11,
      path: "tasks[0].file.mode",
    });
    // a key holding a dot is another path than the keys it looks like
    expect(src.locate(["tasks.1"])).toEqual({ file: "pb.yml", line: 1, column: 1, path: "tasks.1" });
  });

  it("hands out a copy: a caller extending one location changes no later answer", () => {
    const a = src.locate(["tasks", 0]);
    a.path = "changed";
    a.line = 99;
    expect(src.locate(["tasks", 0])).toEqual({ file: "pb.yml", line: 2, column: 5, path: "tasks[0]" });
  });
});
