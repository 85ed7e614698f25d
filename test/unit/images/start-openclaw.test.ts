/**
 * images/openclaw/start-openclaw.sh, run for real with sh and an `openclaw` on PATH that prints its argv:
 * loopback-only unless the container is handed an OpenClaw config file (the compose stack), which then
 * decides bind and port.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SCRIPT = join(__dirname, "..", "..", "..", "images", "openclaw", "start-openclaw.sh");

function start(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "lockclaw-start-openclaw-"));
  mkdirSync(join(dir, "home", ".openclaw"), { recursive: true });
  writeFileSync(join(dir, "openclaw"), '#!/bin/sh\necho "openclaw $*"\n');
  chmodSync(join(dir, "openclaw"), 0o755);
  writeFileSync(join(dir, "openclaw.json"), "{}\n");
  const r = spawnSync("/bin/sh", [SCRIPT], {
    encoding: "utf8",
    env: { PATH: `${dir}:/usr/bin:/bin`, HOME: join(dir, "home"), ...env },
  });
  return { ...r, dir };
}

describe("start-openclaw.sh", () => {
  it("binds loopback when run alone (the image's guarantee)", () => {
    const r = start({});
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("openclaw gateway run --bind loopback --port 18789 --allow-unconfigured\n");
  });

  it("leaves bind and port to the config file the stack hands it", () => {
    const dir = start({}).dir;
    const r = start({ OPENCLAW_CONFIG_PATH: join(dir, "openclaw.json") });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("openclaw gateway run\n");
    expect(r.stderr).toContain("gateway bind and port from");
  });

  it("refuses a config path that is not a file rather than falling back to loopback", () => {
    const r = start({ OPENCLAW_CONFIG_PATH: "/nonexistent/openclaw.json" });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("OPENCLAW_CONFIG_PATH=/nonexistent/openclaw.json is not a file");
  });
});
