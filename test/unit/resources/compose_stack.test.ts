import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  composeStackKind,
  healthOf,
  parseComposeStackFacts,
  type ComposeStackFacts,
  type ComposeStackSpec,
} from "../../../src/resources/compose_stack.js";
import { applyOf, changesOf, parseSpec, probeFacts, runSh, specError } from "./helpers.js";
import type { Sh } from "../../../src/core/sh.js";

const spec = (input: Record<string, unknown>): ComposeStackSpec => parseSpec(composeStackKind, input);
const ctx = { check: false };
const s = spec({ dir: "/home/deploy/lockclaw", project: "lockclaw" });
const base: ComposeStackFacts = {
  userExists: true,
  dirExists: true,
  compose: "v2",
  daemon: true,
  configError: "",
  want: { gateway: "aaa", redis: "bbb" },
  containers: [
    {
      service: "gateway",
      state: "running",
      hash: "aaa",
      status: "Up 2 minutes (healthy)",
      name: "lockclaw-gateway-1",
    },
    {
      service: "redis",
      state: "running",
      hash: "bbb",
      status: "Up 2 minutes (healthy)",
      name: "lockclaw-redis-1",
    },
  ],
  unpinned: [],
};

/** sh -n on a fragment: syntax only, nothing runs. */
function syntaxOk(script: string | Sh): void {
  const dir = mkdtempSync(join(tmpdir(), "lc-sh-"));
  try {
    writeFileSync(join(dir, "s.sh"), String(script));
    const r = runSh(`sh -n ${join(dir, "s.sh")}`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("compose_stack spec", () => {
  it("has defaults and takes one file or a list", () => {
    expect(s).toEqual({
      dir: "/home/deploy/lockclaw",
      project: "lockclaw",
      files: ["compose.yml"],
      files_v2: [],
      user: "lockclaw-agent",
      timeout: 300,
      images: {},
      repin: false,
      config_files: {},
    });
    expect(spec({ dir: "/x", project: "p", files: "a.yml" }).files).toEqual(["a.yml"]);
  });
  it("rejects bad names", () => {
    expect(specError(composeStackKind, { dir: "/x", project: "Lock Claw" })).toMatch(/lowercase/);
    expect(specError(composeStackKind, { dir: "/x", project: "p", files: ["../x.yml"] })).toMatch(
      /plain file name/,
    );
    expect(specError(composeStackKind, { dir: "/x", project: "p", bundle_dir: "rel" })).toMatch(/absolute/);
    expect(specError(composeStackKind, { dir: "/x", project: "p", images: { redis: "redis:7" } })).toMatch(
      /UPPER_SNAKE_CASE/,
    );
    expect(
      specError(composeStackKind, { dir: "/x", project: "p", config_files: { gateway: ["../etc/passwd"] } }),
    ).toMatch(/relative to dir, without '\.\.'/);
    expect(
      specError(composeStackKind, { dir: "/x", project: "p", config_files: { gateway: ["/etc/passwd"] } }),
    ).toMatch(/relative to dir/);
  });
});

describe("compose_stack probe parsing", () => {
  it("reads a running project", () => {
    const out = [
      "user=present",
      "dir=1",
      "compose=v1",
      "daemon=1",
      "config=ok",
      "want=gateway aaa",
      "want=redis bbb",
      "have=gateway\trunning\taaa\tUp 2 minutes (healthy)\tlockclaw-gateway-1",
      "have=redis\trunning\tbbb\tUp 2 minutes (healthy)\tlockclaw-redis-1",
    ].join("\n");
    expect(parseComposeStackFacts(out)).toEqual({ ...base, compose: "v1" });
  });
  it("reads a config error and a host without the user", () => {
    const f = parseComposeStackFacts(
      "user=present\ndir=1\ncompose=v2\ndaemon=1\nconfig=error\nconfig_error=secret file not found \n",
    );
    expect(f.configError).toBe("secret file not found");
    expect(parseComposeStackFacts("user=absent\n").userExists).toBe(false);
  });
  it("fails clearly on garbage", () => {
    expect(() => parseComposeStackFacts("nothing")).toThrow(/no valid user= line/);
    expect(() => parseComposeStackFacts("user=present\ncompose=v9\n")).toThrow(/bad compose=v9/);
    expect(() => parseComposeStackFacts("user=present\nwant=onlyone\n")).toThrow(/bad line/);
  });
  it("reads docker's health text", () => {
    expect(healthOf("Up 3 minutes (healthy)")).toBe("healthy");
    expect(healthOf("Up 3 seconds (health: starting)")).toBe("starting");
    expect(healthOf("Up 1 minute (unhealthy)")).toBe("unhealthy");
    expect(healthOf("Up 1 minute")).toBe("none");
  });
  it("the probe runs here (no such user) without changing anything", () => {
    const f = probeFacts(
      composeStackKind,
      spec({ dir: "/nonexistent", project: "p", user: "lc-no-such-user" }),
    );
    expect(f.userExists).toBe(false);
  });
});

describe("compose_stack diff", () => {
  it("nothing to do when every service runs healthy with its hash", () => {
    expect(changesOf(composeStackKind, s, base, ctx)).toEqual([]);
  });
  it("an image without a pin is a change that names the reference", () => {
    const withImages = spec({ dir: "/x", project: "p", images: { REDIS: "redis:7.4" } });
    expect(changesOf(composeStackKind, withImages, { ...base, unpinned: ["REDIS"] }, ctx)).toEqual([
      { summary: "p: pin image redis:7.4 by digest (first deploy)" },
    ]);
    expect(parseComposeStackFacts("user=present\nunpinned=REDIS\nunpinned=OPENCLAW\n").unpinned).toEqual([
      "REDIS",
      "OPENCLAW",
    ]);
  });
  it("under repin the task is not verified (every run resolves again, on purpose)", () => {
    expect(composeStackKind.isVerifiable!(spec({ dir: "/x", project: "p", repin: true }))).toBe(false);
    expect(composeStackKind.isVerifiable!(s)).toBe(true);
  });
  it("deploys when the host is not ready at probe time", () => {
    expect(changesOf(composeStackKind, s, { ...base, userExists: false }, ctx)[0]!.summary).toMatch(
      /not found at probe time/,
    );
    expect(changesOf(composeStackKind, s, { ...base, daemon: false }, ctx)[0]!.summary).toMatch(
      /not answering/,
    );
    expect(changesOf(composeStackKind, s, { ...base, compose: "none" }, ctx)[0]!.summary).toMatch(
      /no compose/,
    );
    expect(changesOf(composeStackKind, s, { ...base, configError: "bad key" }, ctx)[0]!.summary).toMatch(
      /compose config failed at probe time: bad key/,
    );
  });
  it("names missing, stopped, unhealthy, changed and orphaned containers", () => {
    const f: ComposeStackFacts = {
      ...base,
      want: { gateway: "aaa", redis: "bbb", litellm: "ccc", proxy: "ddd", egress: "eee" },
      containers: [
        { service: "gateway", state: "running", hash: "OLD", status: "Up (healthy)", name: "g" },
        { service: "redis", state: "exited", hash: "bbb", status: "Exited (1)", name: "r" },
        { service: "proxy", state: "running", hash: "ddd", status: "Up (unhealthy)", name: "p" },
        { service: "egress", state: "running", hash: "eee", status: "Up (health: starting)", name: "e" },
        { service: "old", state: "running", hash: "x", status: "Up", name: "lockclaw-old-1" },
      ],
    };
    expect(changesOf(composeStackKind, s, f, ctx).map((c) => c.summary)).toEqual([
      "lockclaw/gateway: configuration changed → recreate",
      "lockclaw/litellm: container missing → create",
      "lockclaw/proxy: unhealthy → recreate and wait for healthy",
      "lockclaw/redis: exited → start",
      "lockclaw: remove orphan lockclaw-old-1",
    ]);
    // only the unhealthy service with an unchanged config is force-recreated
    const sh = String(applyOf(composeStackKind, s, f));
    expect(sh).toContain("up -d --force-recreate proxy");
  });
});

describe("compose_stack scripts", () => {
  it("probe and apply are valid POSIX sh", () => {
    syntaxOk(composeStackKind.probe(s).script);
    const full = spec({
      dir: "/x",
      project: "p",
      images: { REDIS: "redis:7.4", GW: `gw@sha256:${"a".repeat(64)}` },
      config_files: { gateway: ["openclaw/openclaw.json"] },
    });
    syntaxOk(composeStackKind.probe(full).script);
    syntaxOk(applyOf(composeStackKind, full, base));
    syntaxOk(
      applyOf(
        composeStackKind,
        spec({ dir: "/x", project: "p", bundle_dir: "/var/lib/lockclaw/bundle" }),
        base,
      ),
    );
  });
  it("runs compose as the user with its runtime dir, v2 first, v1 otherwise", () => {
    const sh = String(composeStackKind.probe(s).script);
    expect(sh).toContain(
      'runuser -u lockclaw-agent -- env XDG_RUNTIME_DIR=/run/user/"$lc_uid" DOCKER_HOST=unix:///run/user/"$lc_uid"/docker.sock',
    );
    expect(sh).toContain("docker compose -p lockclaw -f compose.yml");
    expect(sh).toContain("docker-compose -p lockclaw -f compose.yml");
    expect(sh).toContain("config --hash '*'");
    expect(sh).toContain("label=com.docker.compose.project=lockclaw");
  });
  it("files_v2 only under compose v2 with a daemon at API 1.44+ (Engine 25), asked once the daemon answers", () => {
    const v2 = spec({ dir: "/x", project: "p", files_v2: ["compose.v2.yml"] });
    syntaxOk(composeStackKind.probe(v2).script);
    syntaxOk(applyOf(composeStackKind, v2, base));
    for (const sh of [
      String(composeStackKind.probe(v2).script),
      String(applyOf(composeStackKind, v2, base)),
    ]) {
      expect(sh).toContain('if [ -n "$lc_xf" ]; then');
      expect(sh).toContain("docker compose -p p -f compose.yml -f compose.v2.yml");
      // compose v1 never gets the file
      expect(sh).not.toContain("docker-compose -p p -f compose.yml -f compose.v2.yml");
      expect(sh.indexOf("lc_xf=1")).toBeGreaterThan(
        sh.indexOf("lc_up=1") > -1 ? sh.indexOf("lc_up=1") : sh.indexOf("lc_dk info"),
      );
    }
    // the API versions that take start_interval, and those that do not
    const m = /case "\$\(.*?\)" in (.*?)\) lc_xf=1/.exec(String(composeStackKind.probe(v2).script));
    expect(m).not.toBeNull();
    const takes = (v: string) =>
      runSh(`case ${v} in ${m![1]}) echo yes ;; *) echo no ;; esac`).stdout.trim() === "yes";
    for (const v of ["1.44", "1.45", "1.47", "1.52", "1.100", "2.0"]) expect(takes(v)).toBe(true);
    for (const v of ["1.41", "1.43", "1.4", "", "1.9"]) expect(takes(`'${v}'`)).toBe(false);
    // without files_v2 the daemon is not asked
    expect(String(composeStackKind.probe(s).script)).not.toContain("APIVersion");
  });
  it("hands compose the pins and configuration hashes as environment, never as compose file text", () => {
    const sh = String(
      composeStackKind.probe(
        spec({
          dir: "/x",
          project: "p",
          images: { REDIS: "redis:7.4" },
          config_files: { redis: ["r.conf"] },
        }),
      ).script,
    );
    expect(sh).toContain('LOCKCLAW_CONFIG_REDIS="$lc_cfg0" LOCKCLAW_IMAGE_REDIS="$lc_img0" docker compose');
    expect(sh).toContain('LOCKCLAW_CONFIG_REDIS="$lc_cfg0" LOCKCLAW_IMAGE_REDIS="$lc_img0" docker-compose');
  });
  it("apply loads the bundle, brings the project up and waits with a deadline", () => {
    const sh = String(
      applyOf(
        composeStackKind,
        spec({ dir: "/x", project: "p", bundle_dir: "/var/lib/lockclaw/bundle", timeout: 120 }),
        base,
      ),
    );
    expect(sh).toMatch(/lc_dk load\) < "\$lc_f"/);
    expect(sh).toContain("up -d --remove-orphans");
    expect(sh).toMatch(/-gt 120 \]/);
    // compose's own output is never echoed whole (it may quote values): only error lines
    expect(sh).toMatch(/grep -iE 'error\|denied/);
  });
  it("the health filter flags stopped, unhealthy and starting containers only", () => {
    const rows =
      "a\trunning\tUp 1 minute (healthy)\nb\trunning\tUp 1 minute\nc\texited\tExited (1)\nd\trunning\tUp (unhealthy)\ne\trunning\tUp (health: starting)\n";
    // the very awk program the apply script uses
    const awk = /awk -F'\\t' '[^']+'/.exec(String(applyOf(composeStackKind, s, base)))![0];
    const dir = mkdtempSync(join(tmpdir(), "lc-awk-"));
    writeFileSync(join(dir, "rows"), rows);
    const r = runSh(`${awk} ${join(dir, "rows")} | cut -f1`);
    rmSync(dir, { recursive: true, force: true });
    expect(r.stdout.trim().split("\n")).toEqual(["c", "d", "e"]);
  });
});
