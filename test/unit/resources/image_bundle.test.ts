import { execFileSync } from "node:child_process";
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import {
  familiarTag,
  imageBundleKind,
  parseImageBundleFacts,
  planImageBundle,
  type ImageBundleFacts,
  type ImageBundleSpec,
} from "../../../src/resources/image_bundle.js";
import { bundleMembers, readBundle } from "../../../src/resources/image_bundle/bundle.js";
import { readTarIndex, tarSize, tarStream } from "../../../src/resources/image_bundle/tar.js";
import { configOf, saveTarball, sha, type FakeImage } from "./image_bundle/fixtures.js";
import { applyOf, changesOf, parseSpec, uploadsOf } from "./helpers.js";

// the stack's shape: stand-ins on one shared base, and a gateway image on its own
const BASE = "debian base layer ".repeat(4000);
const REDIS: FakeImage = { tags: ["lockclaw-lab/redis:latest"], layers: [BASE] };
const SQUID: FakeImage = { tags: ["lockclaw-lab/squid:latest"], layers: [BASE, "squid conf"] };
const PROXY: FakeImage = { tags: ["lockclaw-lab/socket-proxy:latest"], layers: [BASE, "haproxy cfg", "x"] };
const GATEWAY: FakeImage = { tags: ["lockclaw:openclaw"], layers: ["other base ".repeat(3000), "openclaw"] };

function bundleDir(layout: "legacy" | "oci" = "legacy"): string {
  const dir = mkdtempSync(join(tmpdir(), "lc-bundle-"));
  saveTarball(join(dir, "redis.tar"), [REDIS], layout);
  saveTarball(join(dir, "squid.tar"), [SQUID], layout);
  saveTarball(join(dir, "socket-proxy.tar"), [PROXY], layout);
  saveTarball(join(dir, "openclaw.tar"), [GATEWAY], layout);
  return dir;
}

const prepared = (src: string): ImageBundleSpec =>
  imageBundleKind.prepareLocal!(parseSpec(imageBundleKind, { src, dir: "/var/lib/lockclaw/bundle" }), {
    playbookDir: "/",
  });

const facts = (over: Partial<ImageBundleFacts> = {}): ImageBundleFacts => ({
  userExists: true,
  daemon: true,
  ids: [],
  tags: {},
  record: {},
  leftovers: [],
  dirState: "700 root root",
  ...over,
});

/** Has the daemon hold these images (by ID, with their tags). */
const holding = (...imgs: FakeImage[]): Partial<ImageBundleFacts> => ({
  ids: imgs.map((i) => configOf(i).id).sort(),
  tags: Object.fromEntries(imgs.flatMap((i) => (i.tags ?? []).map((t) => [t, configOf(i).id]))),
});

/** The upload's bytes, written to a file and unpacked by GNU tar (an independent reader). */
async function unpackUpload(spec: ImageBundleSpec, f: ImageBundleFacts) {
  const [u] = uploadsOf(imageBundleKind, spec, f);
  const work = mkdtempSync(join(tmpdir(), "lc-upload-"));
  await pipeline(u!.open!(), createWriteStream(join(work, "up.tar")));
  const size = statSync(join(work, "up.tar")).size;
  mkdirSync(join(work, "x"));
  execFileSync("tar", ["-C", join(work, "x"), "-xf", join(work, "up.tar")]);
  const manifest = JSON.parse(readFileSync(join(work, "x", "manifest.json"), "utf8")) as {
    Config: string;
    RepoTags: string[] | null;
    Layers: string[];
  }[];
  return { upload: u!, size, root: join(work, "x"), manifest };
}

describe("image_bundle: reading docker save tarballs", () => {
  for (const layout of ["legacy", "oci"] as const) {
    it(`reads each image's ID (config sha256), tags and layers by diff ID (${layout} layout)`, () => {
      const b = readBundle(bundleDir(layout));
      const byTag = Object.fromEntries(b.images.map((i) => [i.tags[0], i]));
      expect(Object.keys(byTag).sort()).toEqual([
        "lockclaw-lab/redis:latest",
        "lockclaw-lab/socket-proxy:latest",
        "lockclaw-lab/squid:latest",
        "lockclaw:openclaw",
      ]);
      expect(byTag["lockclaw-lab/squid:latest"]!.id).toBe(configOf(SQUID).id);
      expect(byTag["lockclaw-lab/squid:latest"]!.layers).toEqual(SQUID.layers.map(sha));
      // the base is ONE layer, wherever and under whatever name each tarball holds it
      expect(Object.keys(b.layers).sort()).toEqual(
        [...new Set([...REDIS.layers, ...SQUID.layers, ...PROXY.layers, ...GATEWAY.layers].map(sha))].sort(),
      );
      const base = b.layers[sha(BASE)]!;
      const fd = readFileSync(base.file).subarray(base.offset, base.offset + base.size);
      expect(fd.toString()).toBe(BASE);
    });
  }

  it("one image saved in two tarballs is one image with both tarballs' tags", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-bundle-"));
    saveTarball(join(dir, "a.tar"), [REDIS]);
    saveTarball(join(dir, "b.tar"), [{ ...REDIS, tags: ["redis:7.4"] }, SQUID]);
    const b = readBundle(dir);
    expect(b.images.length).toBe(2);
    expect(b.images.find((i) => i.id === configOf(REDIS).id)!.tags).toEqual([
      "lockclaw-lab/redis:latest",
      "redis:7.4",
    ]);
  });

  it("refuses what is not a docker save tarball, naming the file, and a tag that is no image reference", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-bundle-"));
    writeFileSync(join(dir, "junk.tar"), "not a tarball at all".repeat(40));
    expect(() => readBundle(dir)).toThrow(/junk\.tar: not a docker save tarball/);
    const gz = mkdtempSync(join(tmpdir(), "lc-bundle-"));
    writeFileSync(join(gz, "redis.tar.gz"), "x");
    expect(() => readBundle(gz)).toThrow(/redis\.tar\.gz is not an image tarball.*decompress it first/);
    expect(() => readBundle(mkdtempSync(join(tmpdir(), "lc-bundle-")))).toThrow(/holds no image tarball/);
    const bad = mkdtempSync(join(tmpdir(), "lc-bundle-"));
    saveTarball(join(bad, "evil.tar"), [{ tags: ["x:1$(reboot)"], layers: ["l"] }]);
    expect(() => readBundle(bad)).toThrow(/evil\.tar: entry 0: "x:1\$\(reboot\)" is not an image tag/);
    const opt = mkdtempSync(join(tmpdir(), "lc-bundle-"));
    saveTarball(join(opt, "opt.tar"), [{ tags: ["--force:1"], layers: ["l"] }]);
    expect(() => readBundle(opt)).toThrow(/is not an image tag/);
  });

  it("tar index: names, offsets and sizes of what GNU tar wrote; our stream unpacks with GNU tar", async () => {
    const work = mkdtempSync(join(tmpdir(), "lc-tar-"));
    const long = `${"d".repeat(90)}/${"f".repeat(60)}.bin`; // past ustar's 100-byte name: GNU long name
    mkdirSync(join(work, "t", "d".repeat(90)), { recursive: true });
    writeFileSync(join(work, "t", long), "long-named");
    writeFileSync(join(work, "t", "empty"), "");
    writeFileSync(join(work, "t", "odd"), "x".repeat(513));
    execFileSync("tar", ["-C", join(work, "t"), "-cf", join(work, "a.tar"), "."]);
    const idx = new Map(readTarIndex(join(work, "a.tar")).map((e) => [e.name, e]));
    const buf = readFileSync(join(work, "a.tar"));
    for (const [name, want] of [
      [long, "long-named"],
      ["empty", ""],
      ["odd", "x".repeat(513)],
    ]) {
      const e = idx.get(name!)!;
      expect(e.type, name).toBe("file");
      expect(buf.subarray(e.offset, e.offset + e.size).toString(), name).toBe(want);
    }
    const members = [
      { name: "manifest.json", data: Buffer.from("[]") },
      { name: "odd", extent: { file: join(work, "a.tar"), offset: idx.get("odd")!.offset, size: 513 } },
      { name: "empty", data: Buffer.alloc(0) },
    ];
    await pipeline(tarStream(members), createWriteStream(join(work, "b.tar")));
    expect(statSync(join(work, "b.tar")).size).toBe(tarSize(members));
    mkdirSync(join(work, "out"));
    execFileSync("tar", ["-C", join(work, "out"), "-xf", join(work, "b.tar")]);
    expect(readdirSync(join(work, "out")).sort()).toEqual(["empty", "manifest.json", "odd"]);
    expect(readFileSync(join(work, "out", "odd"), "utf8")).toBe("x".repeat(513));
  });

  it("a tarball cut short is refused before anything connects", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-bundle-"));
    saveTarball(join(dir, "redis.tar"), [REDIS]);
    const whole = readFileSync(join(dir, "redis.tar"));
    writeFileSync(join(dir, "redis.tar"), whole.subarray(0, 4096));
    expect(() => readBundle(dir)).toThrow(/redis\.tar/);
  });
});

describe("image_bundle: what is sent", () => {
  it("a fresh host: every image in ONE tarball, each shared layer once, loadable as docker save output", async () => {
    const spec = prepared(bundleDir());
    const f = facts();
    const changes = changesOf(imageBundleKind, spec, f, { check: false });
    expect(changes[0]!.summary).toMatch(/^send 4 of 4 images as one tarball, each of its 6 layers once/);
    const { upload, size, root, manifest } = await unpackUpload(spec, f);
    expect(upload.remote).toBe("/var/lib/lockclaw/bundle/.images.tar");
    expect(size).toBe(upload.size);
    // the base is in it once although three images use it
    const layerFiles = readdirSync(root).filter((d) => statSync(join(root, d)).isDirectory());
    expect(layerFiles.length).toBe(6);
    expect(size).toBeLessThan(BASE.length * 2);
    for (const m of manifest) {
      const config = readFileSync(join(root, m.Config));
      const diffIds = (JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
      // docker load's checks: the config's digest is the ID; each layer file hashes to its diff ID
      expect(`${sha(config)}.json`).toBe(m.Config);
      expect(m.Layers.map((l) => `sha256:${sha(readFileSync(join(root, l)))}`)).toEqual(diffIds);
    }
  });

  it("what the daemon already has (by image ID) is not sent; nothing at all when it has everything", async () => {
    const spec = prepared(bundleDir());
    const some = facts(holding(REDIS, SQUID, GATEWAY));
    expect(planImageBundle(spec, some).load.map((i) => i.tags[0])).toEqual([
      "lockclaw-lab/socket-proxy:latest",
    ]);
    const { manifest, size } = await unpackUpload(spec, some);
    expect(manifest.map((m) => m.RepoTags)).toEqual([["lockclaw-lab/socket-proxy:latest"]]);
    expect(size).toBeLessThan(BASE.length + 8192);
    const all = facts(holding(REDIS, SQUID, GATEWAY, PROXY));
    expect(changesOf(imageBundleKind, spec, all, { check: false })).toEqual([]);
    expect(uploadsOf(imageBundleKind, spec, all)).toEqual([]);
  });

  it("a tag, not an ID, is no proof: an image with the bundle's tag but another ID is sent", () => {
    const spec = prepared(bundleDir());
    const f = facts({
      ...holding(SQUID, GATEWAY, PROXY),
      tags: { ...holding(SQUID, GATEWAY, PROXY).tags, "lockclaw-lab/redis:latest": "f".repeat(64) },
    });
    expect(planImageBundle(spec, f).load.map((i) => i.tags[0])).toEqual(["lockclaw-lab/redis:latest"]);
  });

  it("an image the daemon has without its tag is tagged again, nothing sent", () => {
    const spec = prepared(bundleDir());
    const h = holding(REDIS, SQUID, GATEWAY, PROXY);
    const f = facts({
      ...h,
      tags: { ...h.tags, "lockclaw-lab/redis:latest": undefined as unknown as string },
    });
    const changes = changesOf(imageBundleKind, spec, f, { check: false });
    expect(changes.map((c) => c.summary)).toEqual([
      `tag image sha256:${configOf(REDIS).id.slice(0, 12)} as lockclaw-lab/redis:latest`,
    ]);
    expect(uploadsOf(imageBundleKind, spec, f)).toEqual([]);
    expect(String(applyOf(imageBundleKind, spec, f))).toContain(
      `lc_dk tag sha256:${configOf(REDIS).id} lockclaw-lab/redis:latest`,
    );
  });

  it("the containerd store's own IDs count through the record written when they were loaded", () => {
    const spec = prepared(bundleDir());
    const h = holding(SQUID, GATEWAY, PROXY);
    const manifestId = "c".repeat(64);
    const f = facts({
      ids: [...h.ids!, manifestId].sort(),
      tags: { ...h.tags, "lockclaw-lab/redis:latest": manifestId },
      record: { [configOf(REDIS).id]: manifestId },
    });
    expect(changesOf(imageBundleKind, spec, f, { check: false })).toEqual([]);
    // the record alone is not enough: the daemon must have that ID
    const gone = facts({ ...h, record: { [configOf(REDIS).id]: manifestId } });
    expect(planImageBundle(spec, gone).load.map((i) => i.tags[0])).toEqual(["lockclaw-lab/redis:latest"]);
  });

  it("a daemon that does not answer: every image is sent, and the change says why", () => {
    const spec = prepared(bundleDir());
    const changes = changesOf(imageBundleKind, spec, facts({ ...holding(REDIS), daemon: false }), {
      check: false,
    });
    expect(changes[0]!.summary).toMatch(/send 4 of 4 images .*daemon not answering at probe time/);
    expect(changes.slice(1).map((c) => c.summary)).toHaveLength(4);
  });

  it("tarballs left in the directory (an earlier version kept them) are removed", () => {
    const spec = prepared(bundleDir());
    const f = facts({
      ...holding(REDIS, SQUID, GATEWAY, PROXY),
      leftovers: [{ name: "openclaw.tar", size: 871e6 }],
    });
    expect(changesOf(imageBundleKind, spec, f, { check: false }).map((c) => c.summary)).toEqual([
      "remove /var/lib/lockclaw/bundle/openclaw.tar (871 MB, no longer kept)",
    ]);
    expect(String(applyOf(imageBundleKind, spec, f))).toContain(
      "rm -f -- /var/lib/lockclaw/bundle/openclaw.tar",
    );
  });
});

describe("image_bundle: probe output and apply script", () => {
  it("the staging directory is kept root's and 0700; a symlink there is a change the apply refuses", () => {
    const spec = prepared(bundleDir());
    const all = holding(REDIS, SQUID, GATEWAY, PROXY);
    const loose = changesOf(imageBundleKind, spec, facts({ ...all, dirState: "755 deploy root" }), {
      check: false,
    });
    expect(loose.map((c) => c.summary)).toEqual([
      "/var/lib/lockclaw/bundle: 755 deploy root → 700 root root",
    ]);
    const sh = String(applyOf(imageBundleKind, spec, facts({ ...all, dirState: "symlink" })));
    expect(sh).toContain("[ ! -L /var/lib/lockclaw/bundle ] ||");
    expect(sh).toContain(
      "chown root:root -- /var/lib/lockclaw/bundle && chmod 0700 -- /var/lib/lockclaw/bundle",
    );
    // absent is no change of its own: the upload creates it (umask 077) when there is something to send
    expect(changesOf(imageBundleKind, spec, facts({ ...all, dirState: "" }), { check: false })).toEqual([]);
  });

  it("parses the daemon's IDs and tags, the record and the leftovers (only names it would delete)", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    const f = parseImageBundleFacts(
      [
        "user=present",
        "daemon=1",
        `img=${a} lockclaw-lab/redis:latest`,
        `img=${b} <none>:<none>`,
        `rec=${a} sha256:${b}`,
        "rec=garbage",
        "left=235 redis.tar",
        "left=10 .images.tar.part",
        "left=99 image-ids",
        "left=5 ../../etc/passwd.tar",
        "left=5 weird name.tar",
        "dir=700 root root",
      ].join("\n"),
    );
    expect(f).toEqual({
      userExists: true,
      daemon: true,
      ids: [a, b],
      tags: { "lockclaw-lab/redis:latest": a },
      record: { [a]: b },
      leftovers: [
        { name: ".images.tar.part", size: 10 },
        { name: "redis.tar", size: 235 },
      ],
      dirState: "700 root root",
    });
    expect(() => parseImageBundleFacts("daemon=1")).toThrow(/no valid user= line/);
    expect(() => parseImageBundleFacts("user=present\nimg=xyz foo:1")).toThrow(/bad image line/);
  });

  it("tags as the daemon prints them", () => {
    expect(familiarTag("docker.io/library/redis:7")).toBe("redis:7");
    expect(familiarTag("docker.io/x/y")).toBe("x/y:latest");
    expect(familiarTag("localhost:5000/x")).toBe("localhost:5000/x:latest");
    expect(familiarTag("ghcr.io/a/b:1.2")).toBe("ghcr.io/a/b:1.2");
  });

  it("the upload streams into docker load as the daemon's user (no staging file); apply records the IDs", async () => {
    const spec = prepared(bundleDir());
    const f = facts(holding(REDIS));
    const [u] = uploadsOf(imageBundleKind, spec, f);
    // the consumer under a real sh with stand-ins: runuser drops to "the user", docker load reads stdin
    const work = mkdtempSync(join(tmpdir(), "lc-load-"));
    const bin = join(work, "bin");
    mkdirSync(bin);
    const stub = (name: string, body: string) =>
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    stub("id", "echo 1000");
    stub("runuser", `[ "$1 $2 $3" = "-u lockclaw-agent --" ] || exit 9; shift 3; exec "$@"`);
    stub(
      "docker",
      `case "$1" in info) exit 0 ;; load) cat > ${join(work, "loaded.tar")} ;; *) exit 3 ;; esac`,
    );
    const sent = join(work, "sent.tar");
    await pipeline(u!.open!(), createWriteStream(sent));
    execFileSync("sh", ["-c", String(u!.into)], {
      input: readFileSync(sent),
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    expect(readFileSync(join(work, "loaded.tar")).equals(readFileSync(sent))).toBe(true);
    // a failing load fails the upload, with the daemon's last words
    stub("docker", `case "$1" in info) exit 0 ;; *) echo "unexpected EOF" >&2; exit 1 ;; esac`);
    expect(() =>
      execFileSync("sh", ["-c", String(u!.into)], {
        input: "x",
        env: { PATH: `${bin}:/usr/bin:/bin` },
        stdio: "pipe",
      }),
    ).toThrow(/unexpected EOF[\s\S]*docker load failed/);
    const sh = String(applyOf(imageBundleKind, spec, f));
    expect(sh).not.toContain("lc_dk load");
    expect(sh).toContain("runuser -u lockclaw-agent --");
    expect(sh).toContain('mv -f -- "$lc_t" /var/lib/lockclaw/bundle/image-ids');
    // a no-op has nothing to send
    expect(uploadsOf(imageBundleKind, spec, facts(holding(REDIS, SQUID, GATEWAY, PROXY)))).toEqual([]);
  });

  it("the probe only reads: docker image ls as the user, the record, a listing of the directory", () => {
    const spec = prepared(bundleDir());
    const sh = String(imageBundleKind.probe(spec).script);
    expect(sh).toContain("image ls -a --no-trunc");
    expect(sh).not.toMatch(/\b(rm|mv|load|tag|chmod)\b/);
  });

  it("bundleMembers lists manifest, configs, then each layer once", () => {
    const b = readBundle(bundleDir());
    const names = bundleMembers(b, b.images).map((m) => m.name);
    expect(names[0]).toBe("manifest.json");
    expect(names.length).toBe(1 + 4 + 6);
    expect(new Set(names).size).toBe(names.length);
  });
});
