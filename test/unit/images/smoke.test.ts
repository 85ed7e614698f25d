import { describe, expect, it } from "vitest";
import { progressLine } from "../../../src/images/build.js";
import { describe as describeDocker } from "../../../src/images/docker.js";
import { hardenedRunArgs, parseSmokeOutput } from "../../../src/images/smoke.js";

describe("smoke output", () => {
  it("parses PASS/FAIL lines and ignores the summary", () => {
    const r = parseSmokeOutput(
      "PASS user: no process runs as root\nFAIL listeners: unexpected tcp 0.0.0.0:8080\nsmoke: 1 passed, 1 failed\n",
      1,
    );
    expect(r.checks).toEqual([
      { status: "PASS", check: "user", message: "no process runs as root" },
      { status: "FAIL", check: "listeners", message: "unexpected tcp 0.0.0.0:8080" },
    ]);
    expect([r.passed, r.failed, r.exitCode]).toEqual([1, 1, 1]);
  });

  it("runs images read-only, without capabilities or network", () => {
    const a = hardenedRunArgs().join(" ");
    expect(a).toContain("--read-only");
    expect(a).toContain("--cap-drop ALL");
    expect(a).toContain("--network none");
    expect(a).toContain("--security-opt no-new-privileges");
  });
});

describe("docker command rendering", () => {
  it("never shows environment values", () => {
    const s = describeDocker(["run", "-e", "ANTHROPIC_API_KEY=sk-ant-secret", "--env=X=y", "img"]);
    expect(s).not.toContain("sk-ant-secret");
    expect(s).toContain("ANTHROPIC_API_KEY=…");
    expect(s).not.toContain("=y");
  });

  it("turns docker build's step lines into progress lines", () => {
    expect(progressLine("Step 3/16 : RUN set -eu")).toBe("step 3/16: RUN set -eu");
    expect(progressLine("#7 [2/6] COPY runtime/ /opt/lockclaw/runtime/")).toBe(
      "step 2/6: COPY runtime/ /opt/lockclaw/runtime/",
    );
    expect(progressLine(" ---> Running in 1234")).toBeUndefined();
  });
});
