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
  resolvePinsSh,
} from "../../../../src/resources/compose_stack/pins.js";
import { raw, sh, shJoin } from "../../../../src/core/sh.js";
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

  /**
   * A stand-in for the user's docker client (the sh function the apply script defines): it knows the
   * images in `have` (ref → `image inspect` line) and logs each call, so the test counts client calls.
   */
  const resolve = (dir: string, images: Record<string, string>, have: Record<string, string>) => {
    const entries = pinEntries(images);
    const known = Object.entries(have)
      .map(([ref, line]) => `${ref}) printf '%s\\n' "${line}" ;;`)
      .join("\n      ");
    const dk = [
      `lc_dk() {`,
      `  echo "$*" >> ${dir}/calls`,
      `  [ "$1 $2" = "image inspect" ] || { [ "$1" = pull ] && exit 9; return 1; }`,
      `  shift 2; [ "$1" = --format ] && shift 2; lc_rc=0`,
      `  for r in "$@"; do case "$r" in`,
      `      ${known}`,
      `      *) echo "No such image: $r" >&2; lc_rc=1 ;;`,
      `  esac; done; return $lc_rc`,
      `}`,
    ].join("\n");
    const show = entries.map((e) => `echo "${e.key}=$${e.shellVar}"`).join("\n");
    const script = shJoin([
      raw(dk),
      ...readPinsSh(dir, entries, false),
      ...resolvePinsSh(dir, "root", entries, (msg) => sh`{ echo ${msg} >&2; exit 1; }`),
      raw(show),
    ]);
    return runSh(script);
  };
  const ID = (c: string) => `sha256:${c.repeat(64)}`;

  it("pins every image the host has with ONE docker call, and writes the lock once", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-pins-"));
    writeFileSync(join(dir, LOCK_FILE), `OLD\told:1\told@${DIGEST}\nGW\tgw:1\tgw@${DIGEST}\n`);
    const r = resolve(
      dir,
      { GW: "gw:2", REDIS: "redis:7.4", PROXY: "lab/proxy:1", INGRESS: "lab/proxy:1", PINNED: `p@${DIGEST}` },
      {
        "gw:2": ID("a"),
        // a registry digest of another repository first: this repository's is the pin
        "redis:7.4": `${ID("b")} other/redis@${ID("e")} redis@${ID("d")}`,
        "lab/proxy:1": ID("f"),
      },
    );
    expect(r.stderr).not.toMatch(/No such image|no digest/);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "calls"), "utf8").trim().split("\n")).toHaveLength(1);
    const out = r.stdout.trim().split("\n");
    expect(out).toEqual(
      expect.arrayContaining([
        `GW=${ID("a")}`,
        `REDIS=redis@${ID("d")}`,
        `PROXY=${ID("f")}`,
        `INGRESS=${ID("f")}`,
        `PINNED=p@${DIGEST}`,
      ]),
    );
    const lock = readFileSync(join(dir, LOCK_FILE), "utf8").trim().split("\n").sort();
    expect(lock).toEqual(
      [
        `GW\tgw:2\t${ID("a")}`,
        `INGRESS\tlab/proxy:1\t${ID("f")}`,
        `OLD\told:1\told@${DIGEST}`,
        `PROXY\tlab/proxy:1\t${ID("f")}`,
        `REDIS\tredis:7.4\tredis@${ID("d")}`,
      ].sort(),
    );
  });

  it("looks each image up on its own when one is missing, and pulls that one", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-pins-"));
    const r = resolve(dir, { GW: "gw:2", REDIS: "redis:7.4" }, { "gw:2": ID("a") });
    // the stand-in's pull fails: the run stops at the missing image, naming it
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("cannot pull redis:7.4");
    expect(readFileSync(join(dir, "calls"), "utf8")).toContain("pull -q redis:7.4");
  });
});
