/**
 * The stack's images for the offline lab, as `docker save` tarballs for `lockclaw provision stack --bundle`.
 * No registry: the gateway is lockclaw:openclaw (built offline by src/images/build.ts); every other service
 * is a thin Dockerfile (images/stack/<service>) on ONE debootstrap rootfs holding all the Debian packages
 * the stand-ins need, imported once. Builds run with `--network=none` on the daemon given (the tests' private
 * dockerd). The tarballs are cached under ~/.cache/lockclaw/stack-images/<key>, keyed by every input, so a
 * rerun with nothing changed needs no daemon at all.
 */
import { createHash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
} from "node:fs";
import { renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { spawn } from "node:child_process";
import { pipeline } from "node:stream/promises";
import { ApplyError } from "../core/errors.js";
import { buildImages } from "../images/build.js";
import { imagesDir } from "../images/catalog.js";
import { docker, type DockerOptions } from "../images/docker.js";
import { hostMirror } from "../images/offline-base.js";
import { imagesCacheDir, openclawVersions } from "../images/openclaw-context.js";

/** The rootfs suite: the same Debian release as lockclaw:base's FROM. */
const SUITE = "bookworm";
const ROOTFS_TAG = "lockclaw-lab/stack-rootfs:latest";

/** Lab image per stack role; `builtFrom` is the images/stack directory, or undefined for lockclaw:openclaw. */
export const LAB_IMAGES = {
  openclaw: { tag: "lockclaw:openclaw", file: "openclaw.tar", builtFrom: undefined },
  socket_proxy: {
    tag: "lockclaw-lab/socket-proxy:latest",
    file: "socket-proxy.tar",
    builtFrom: "socket-proxy",
  },
  squid: { tag: "lockclaw-lab/squid:latest", file: "squid.tar", builtFrom: "squid" },
  litellm: {
    tag: "lockclaw-lab/litellm-standin:latest",
    file: "litellm-standin.tar",
    builtFrom: "litellm-standin",
  },
  redis: { tag: "lockclaw-lab/redis:latest", file: "redis.tar", builtFrom: "redis" },
} as const;
type Role = keyof typeof LAB_IMAGES;

export interface StackLabImages {
  /** Directory holding only the image tarballs: pass it to `--bundle`. */
  dir: string;
  /** Playbook variables pointing stack.yml at the lab tags (image_* and the lab's gateway settings). */
  vars: Record<string, string | boolean>;
  /** One line per image that is not what production runs. */
  substitutions: string[];
}

export const SUBSTITUTIONS = [
  "gateway: lockclaw:openclaw (openclaw from npm on lockclaw:base) instead of ghcr.io/openclaw/openclaw",
  "socket proxy: Debian haproxy with images/stack/socket-proxy/haproxy.cfg (tecnativa-style allowlist) instead of tecnativa/docker-socket-proxy",
  "egress proxy: Debian squid with lockclaw's squid.conf instead of ubuntu/squid (Canonical's image of squid)",
  "LiteLLM: a python3 stand-in on port 4000 answering /health/liveliness, routing nothing, instead of ghcr.io/berriai/litellm",
  "redis: Debian redis-server instead of redis",
  "ingress: Debian haproxy (the socket-proxy image with the ingress config) instead of haproxy",
];

export function labVars(): Record<string, string | boolean> {
  return {
    image_openclaw: LAB_IMAGES.openclaw.tag,
    image_socket_proxy: LAB_IMAGES.socket_proxy.tag,
    image_squid: LAB_IMAGES.squid.tag,
    image_litellm: LAB_IMAGES.litellm.tag,
    image_redis: LAB_IMAGES.redis.tag,
    image_ingress: LAB_IMAGES.socket_proxy.tag,
    // lockclaw:openclaw keeps its state under /home/lockclaw and its entrypoint refuses uid 0; the stack
    // runs the gateway as container root (= deploy under rootless Docker), so start the gateway directly.
    // start-openclaw.sh binds loopback unless OPENCLAW_CONFIG_PATH names a file: the stack sets it, so
    // openclaw.json's `bind: lan` decides and the ingress reaches the gateway on openclaw-net
    gateway_home: "/home/lockclaw",
    gateway_entrypoint: "/opt/lockclaw/start-openclaw.sh",
    // the lab's user manager has no cpu controller to delegate: Docker refuses NanoCPUs there
    cpu_limits: false,
  };
}

export function stackImagesCacheRoot(): string {
  return process.env.LOCKCLAW_STACK_IMAGES_CACHE ?? join(homedir(), ".cache", "lockclaw", "stack-images");
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

function rootfsPackages(): string[] {
  return readFileSync(join(imagesDir(), "stack", "rootfs-packages"), "utf8")
    .split(/\s+/)
    .filter(Boolean)
    .sort();
}

/** Hash of every input: images/{base,openclaw,stack} files, the openclaw/node versions, suite and mirror. */
export function stackImagesKey(): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ suite: SUITE, mirror: hostMirror(), versions: openclawVersions(), v: 1 }));
  for (const sub of ["base", "openclaw", "stack"]) {
    for (const f of filesUnder(join(imagesDir(), sub))) {
      // openclaw's prepared runtime/ is an output of the build, not an input
      if (relative(imagesDir(), f).startsWith(join("openclaw", "runtime"))) continue;
      h.update(relative(imagesDir(), f)).update("\0").update(readFileSync(f));
    }
  }
  return h.digest("hex").slice(0, 16);
}

function result(dir: string): StackLabImages {
  return { dir, vars: labVars(), substitutions: SUBSTITUTIONS };
}

/** The cached tarballs for the current inputs, or undefined. */
export function cachedStackImages(): StackLabImages | undefined {
  const dir = join(stackImagesCacheRoot(), stackImagesKey(), "bundle");
  const complete = Object.values(LAB_IMAGES).every((i) => existsSync(join(dir, i.file)));
  return complete ? result(dir) : undefined;
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.on("error", (e) => reject(new ApplyError("stack images", what, null, e.message, { cause: e })));
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new ApplyError("stack images", what, code, err)),
    );
  });
}

/** The one rootfs every stand-in builds on: debootstrap minbase + rootfs-packages, cached as a tarball. */
async function stackRootfsTarball(say: (l: string) => void): Promise<string> {
  const packages = rootfsPackages();
  const mirror = hostMirror();
  const key = createHash("sha256")
    .update(JSON.stringify({ suite: SUITE, mirror, packages, v: 1 }))
    .digest("hex")
    .slice(0, 16);
  const dir = imagesCacheDir();
  const tar = join(dir, `stack-rootfs-${SUITE}-${key}.tar`);
  if (existsSync(tar)) {
    say(`stack rootfs: cached ${tar}`);
    return tar;
  }
  mkdirSync(dir, { recursive: true });
  const root = join(dir, `stack-rootfs-${SUITE}-${key}.partial`);
  rmSync(root, { recursive: true, force: true });
  say(`stack rootfs: debootstrap --variant=minbase ${SUITE} (+ ${packages.join(", ")}) from ${mirror}`);
  const t0 = Date.now();
  await run(
    "debootstrap",
    ["--variant=minbase", `--include=${packages.join(",")}`, SUITE, root, mirror],
    "debootstrap",
  );
  await run(
    "sh",
    [
      "-c",
      'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc "$1"/usr/share/man',
      "sh",
      root,
    ],
    "trim rootfs",
  );
  await run("tar", ["-C", root, "-cf", `${tar}.partial`, "."], "tar rootfs");
  renameSync(`${tar}.partial`, tar);
  rmSync(root, { recursive: true, force: true });
  say(`stack rootfs: built in ${Math.round((Date.now() - t0) / 1000)}s, cached in ${tar}`);
  return tar;
}

async function save(tag: string, file: string, d: DockerOptions): Promise<void> {
  // docker save to stdout, streamed into a partial file renamed when complete (a killed run leaves no
  // tarball that looks finished)
  const env = { ...process.env, ...(d.host ? { DOCKER_HOST: d.host } : {}) };
  const child = spawn("docker", ["save", tag], { env, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  await pipeline(child.stdout, createWriteStream(`${file}.partial`));
  const code = await exited;
  if (code !== 0) throw new ApplyError("stack images", `docker save ${tag}`, code, err);
  renameSync(`${file}.partial`, file);
}

/** Builds every lab image on the daemon `d` (offline) and saves the tarballs; returns the cached set. */
export async function buildStackImages(
  d: DockerOptions,
  o: { progress?: (line: string) => void } = {},
): Promise<StackLabImages> {
  const say = o.progress ?? (() => {});
  const dir = join(stackImagesCacheRoot(), stackImagesKey(), "bundle");
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  await buildImages(["base", "openclaw"], { ...d, offline: true, reuseDependencies: true, progress: say });
  const tar = await stackRootfsTarball(say);
  if (!(await docker(["images", "-q", ROOTFS_TAG], d))) {
    say(`stack rootfs: docker import → ${ROOTFS_TAG}`);
    await docker(["import", "-", ROOTFS_TAG], { ...d, input: createReadStream(tar), what: "stack rootfs" });
  }
  for (const [role, img] of Object.entries(LAB_IMAGES) as [Role, (typeof LAB_IMAGES)[Role]][]) {
    if (img.builtFrom) {
      say(`${img.tag}: docker build (offline) from images/stack/${img.builtFrom}`);
      await docker(
        [
          "build",
          "--network=none",
          "--build-arg",
          `ROOTFS=${ROOTFS_TAG}`,
          "-t",
          img.tag,
          join(imagesDir(), "stack", img.builtFrom),
        ],
        { ...d, what: `stack image ${role}` },
      );
    }
    await save(img.tag, join(dir, img.file), d);
    say(
      `${img.tag}: saved ${join(dir, img.file)} (${Math.round(statSync(join(dir, img.file)).size / 1e6)} MB)`,
    );
  }
  writeFileSync(
    join(dir, "..", "built-at"),
    `${new Date().toISOString()} in ${Math.round((Date.now() - t0) / 1000)}s\n`,
  );
  return result(dir);
}
