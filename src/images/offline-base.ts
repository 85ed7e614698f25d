/**
 * The base image's FROM (debian:bookworm-slim) without a registry: a debootstrap minbase rootfs with the
 * packages lockclaw:base installs, imported under the FROM name so the Dockerfile builds unchanged with
 * `--network=none` (its RUN finds the packages installed and skips apt). The tarball is cached, keyed by
 * suite, mirror and package list. Needs root and debootstrap.
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ApplyError } from "../core/errors.js";
import { readDockerfileArgs } from "./catalog.js";
import { docker, type DockerOptions } from "./docker.js";
import { imagesCacheDir } from "./openclaw-context.js";

const run = promisify(execFile);

export interface OfflineBaseOptions {
  /** Debian mirror; default: the first deb.debian.org-style URI of this host's apt sources. */
  mirror?: string;
  progress?: (line: string) => void;
}

/** `debian:bookworm-slim` → bookworm. */
export function suiteOf(image: string): string {
  const m = /^debian:([a-z]+)/.exec(image);
  if (!m?.[1]) {
    throw new ApplyError("image base", "offline base", null, `cannot tell the Debian suite of '${image}'`);
  }
  return m[1];
}

/** The first Debian mirror URI from the host's apt sources (deb822 or one-line format). */
export function hostMirror(): string {
  const files = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"];
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, "utf8");
    const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
    if (m?.[1] && !m[1].includes("security")) return m[1];
  }
  return "http://deb.debian.org/debian";
}

function exec(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.on("error", (e) => reject(new ApplyError("image base", what, null, e.message, { cause: e })));
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new ApplyError("image base", what, code, err)),
    );
  });
}

/** Builds (or reuses) the rootfs tarball; returns its path. */
export async function offlineBaseTarball(
  o: OfflineBaseOptions = {},
): Promise<{ tar: string; image: string }> {
  const args = readDockerfileArgs("base");
  const image = args.BASE_IMAGE ?? "debian:bookworm-slim";
  const suite = suiteOf(image);
  const packages = (args.LOCKCLAW_PACKAGES ?? "").split(/\s+/).filter(Boolean).sort();
  const mirror = o.mirror ?? hostMirror();
  const key = createHash("sha256")
    .update(JSON.stringify({ suite, mirror, packages, v: 1 }))
    .digest("hex")
    .slice(0, 16);
  const dir = imagesCacheDir();
  const tar = join(dir, `rootfs-${suite}-${key}.tar`);
  if (existsSync(tar)) {
    o.progress?.(`offline base: cached rootfs ${tar}`);
    return { tar, image };
  }
  mkdirSync(dir, { recursive: true });
  const root = join(dir, `rootfs-${suite}-${key}.partial`);
  rmSync(root, { recursive: true, force: true });
  o.progress?.(
    `offline base: debootstrap --variant=minbase ${suite} (+ ${packages.join(", ")}) from ${mirror}`,
  );
  await exec(
    "debootstrap",
    ["--variant=minbase", `--include=${packages.join(",")}`, suite, root, mirror],
    `debootstrap ${suite}`,
  );
  // What the slim image lacks too: package caches and lists, and host keys made at install time.
  await run("sh", [
    "-c",
    'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/etc/ssh/ssh_host_*',
    "sh",
    root,
  ]);
  await exec("tar", ["-C", root, "-cf", `${tar}.partial`, "."], "tar rootfs");
  renameSync(`${tar}.partial`, tar);
  rmSync(root, { recursive: true, force: true });
  o.progress?.(`offline base: rootfs cached in ${tar}`);
  return { tar, image };
}

/** Imports the offline rootfs under the base image's FROM name, unless the daemon has that image already. */
export async function ensureOfflineBase(d: DockerOptions, o: OfflineBaseOptions = {}): Promise<string> {
  const { tar, image } = await offlineBaseTarball(o);
  const have = await docker(["images", "-q", image], d);
  if (have) {
    o.progress?.(`offline base: ${image} already present`);
    return image;
  }
  o.progress?.(`offline base: docker import → ${image}`);
  await docker(["import", "-", image], { ...d, input: createReadStream(tar), what: "image base" });
  return image;
}
