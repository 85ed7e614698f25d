import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  LOCK_FILE,
  isDigestRef,
  pinEntries,
  readPinsSh,
  repositoryOf,
} from "../../../../src/resources/compose_stack/pins.js";
import { runSh } from "../helpers.js";

const DIGEST = `sha256:${"c".repeat(64)}`;

describe("image pins", () => {
  it("knows a digest reference and the repository Docker names in RepoDigests", () => {
    expect(isDigestRef(`redis@${DIGEST}`)).toBe(true);
    expect(isDigestRef("redis:7.4")).toBe(false);
    expect(repositoryOf("redis:7.4")).toBe("redis");
    expect(repositoryOf("docker.io/library/redis:7.4")).toBe("redis");
    expect(repositoryOf("docker.io/tecnativa/docker-socket-proxy:v0.4.2")).toBe(
      "tecnativa/docker-socket-proxy",
    );
    expect(repositoryOf("registry.local:5000/team/gw:1")).toBe("registry.local:5000/team/gw");
    expect(repositoryOf("registry.local:5000/team/gw")).toBe("registry.local:5000/team/gw");
    expect(repositoryOf(`ghcr.io/openclaw/openclaw:2026.9.6@${DIGEST}`)).toBe("ghcr.io/openclaw/openclaw");
  });

  it("skips empty references (a service this deployment does not run)", () => {
    expect(pinEntries({ B: "b:1", A: "a:1", C: "" }).map((e) => e.key)).toEqual(["A", "B"]);
  });

  it("reads the lock: a pin only for the very reference it was taken from; digests as given", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-pins-"));
    writeFileSync(join(dir, LOCK_FILE), `REDIS\tredis:7.4\tredis@${DIGEST}\nGW\tgw:1\tgw@${DIGEST}\n`);
    const entries = pinEntries({ REDIS: "redis:7.4", GW: "gw:2", PROXY: `p@${DIGEST}`, NEW: "new:1" });
    const show = entries.map((e) => `echo "${e.key}=$${e.shellVar}"`).join("\n");
    const r = runSh([...readPinsSh(dir, entries, false), show, 'echo "unpinned=$lc_unpinned"'].join("\n"));
    expect(r.code).toBe(0);
    const out = r.stdout.trim().split("\n");
    expect(out).toContain(`REDIS=redis@${DIGEST}`);
    // GW's reference changed in the playbook (gw:1 → gw:2): resolved again
    expect(out).toContain("GW=gw:2");
    expect(out).toContain(`PROXY=p@${DIGEST}`);
    expect(out).toContain("NEW=new:1");
    expect(out.at(-1)!.split("=")[1]!.trim().split(" ").sort()).toEqual(["GW", "NEW"]);

    const again = runSh([...readPinsSh(dir, entries, true), 'echo "$lc_unpinned"'].join("\n"));
    expect(again.stdout.trim().split(" ").sort()).toEqual(["GW", "NEW", "REDIS"]);
    // reading changed nothing
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toContain("REDIS\tredis:7.4");
  });
});
