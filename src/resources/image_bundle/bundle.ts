/**
 * A bundle of `docker save` tarballs read on the control machine: every image's ID (the sha256 of its
 * config, the classic image ID), tags and layers (by diff ID, from the config), and where each layer's
 * bytes are. Images that share layers (the stack's five share their Debian base) then travel as ONE
 * tarball holding each layer once, and only the images the host lacks are in it.
 *
 * Both layouts docker save writes are read: the legacy one (`<id>.json`, `<v1 id>/layer.tar`) and the
 * OCI one of Docker 25+ (`blobs/sha256/…`); both list `manifest.json`, which is all this needs.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { IMAGE_REF } from "../../engine/var-types.js";
import { readTarIndex, resolveEntry, tarSize, type Extent, type TarEntry, type TarMember } from "./tar.js";

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_JSON = 16 << 20;

export interface BundleImage {
  /** sha256 of the config, hex: the image ID Docker's classic store gives it. */
  id: string;
  tags: string[];
  config: Extent;
  /** Diff IDs (hex), base first. */
  layers: string[];
  /** The tarball it came from (for messages). */
  source: string;
}

export interface Bundle {
  images: BundleImage[];
  /** diff ID (hex) → where its bytes are (the first tarball holding it). */
  layers: Record<string, Extent>;
}

function readExtent(e: Extent): Buffer {
  const fd = openSync(e.file, "r");
  try {
    const b = Buffer.alloc(e.size);
    let n = 0;
    while (n < e.size) {
      const r = readSync(fd, b, n, e.size - n, e.offset + n);
      if (r === 0) throw new Error(`${e.file}: truncated`);
      n += r;
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The image tarballs of `src`: a directory of `.tar` files, or one `.tar` file. */
export function bundleFiles(src: string): string[] {
  let st;
  try {
    st = statSync(src);
  } catch {
    throw new Error(`bundle ${src} does not exist on this machine`);
  }
  if (!st.isDirectory()) return [src];
  const files = readdirSync(src)
    .filter((f) => !f.startsWith(".") && statSync(join(src, f)).isFile())
    .sort();
  for (const f of files) {
    if (!f.endsWith(".tar")) {
      throw new Error(
        `bundle ${src}: ${f} is not an image tarball (.tar from docker save)` +
          (/\.(tgz|tar\.gz|gz|zst|xz)$/.test(f) ? "; decompress it first (layers are read by offset)" : ""),
      );
    }
  }
  if (!files.length) throw new Error(`bundle ${src} holds no image tarball (.tar from docker save)`);
  return files.map((f) => join(src, f));
}

function readTarball(file: string): BundleImage[] & { layerExtents?: Map<string, Extent> } {
  const where = basename(file);
  const fail = (msg: string): never => {
    throw new Error(`bundle ${file}: ${msg}`);
  };
  let entries: TarEntry[];
  try {
    entries = readTarIndex(file);
  } catch (err) {
    return fail(`not a docker save tarball: ${(err as Error).message}`);
  }
  const index = new Map(entries.map((e) => [e.name, e]));
  const extentOf = (name: unknown, what: string): Extent => {
    if (typeof name !== "string") return fail(`manifest.json: ${what} is not a path`);
    const e = resolveEntry(index, name);
    if (!e) return fail(`manifest.json names ${what} ${JSON.stringify(name)}, not in the tarball`);
    return { file, offset: e.offset, size: e.size };
  };
  const json = (x: Extent, what: string): unknown => {
    if (x.size > MAX_JSON) fail(`${what} is larger than ${MAX_JSON} bytes`);
    try {
      return JSON.parse(readExtent(x).toString("utf8")) as unknown;
    } catch {
      return fail(`${what} is not JSON`);
    }
  };
  if (!index.has("manifest.json")) fail("no manifest.json (not a docker save tarball)");
  const manifest = json(extentOf("manifest.json", "manifest.json"), "manifest.json");
  if (!Array.isArray(manifest) || !manifest.length) fail("manifest.json lists no image");
  const out: BundleImage[] & { layerExtents?: Map<string, Extent> } = [];
  const layerExtents = new Map<string, Extent>();
  for (const [i, m] of (manifest as unknown[]).entries()) {
    if (!isObject(m)) return fail(`manifest.json entry ${i} is not an object`);
    const config = extentOf(m.Config, `entry ${i}'s Config`);
    const raw = readExtent(config);
    const id = createHash("sha256").update(raw).digest("hex");
    const conf = json(config, `the config of entry ${i}`);
    const diffIds = isObject(conf) && isObject(conf.rootfs) ? conf.rootfs.diff_ids : undefined;
    const layerPaths = m.Layers;
    if (!Array.isArray(diffIds) || !Array.isArray(layerPaths) || diffIds.length !== layerPaths.length) {
      return fail(`entry ${i}: its config's rootfs.diff_ids and its Layers do not match`);
    }
    const layers = diffIds.map((d: unknown) => {
      const hex = typeof d === "string" ? d.replace(/^sha256:/, "") : "";
      if (typeof d !== "string" || !d.startsWith("sha256:") || !HEX64.test(hex)) {
        return fail(`entry ${i}: bad diff ID ${JSON.stringify(d)}`);
      }
      return hex;
    });
    layerPaths.forEach((p: unknown, j) => {
      if (!layerExtents.has(layers[j]!)) layerExtents.set(layers[j]!, extentOf(p, `entry ${i}'s layer ${j}`));
    });
    const tags = m.RepoTags ?? [];
    if (!Array.isArray(tags)) return fail(`entry ${i}: RepoTags is not a list`);
    for (const t of tags) {
      // a tag reaches `docker tag` on the host: only what an image reference can be
      if (typeof t !== "string" || t.length > 512 || !IMAGE_REF.test(t) || t.includes("@")) {
        fail(`entry ${i}: ${JSON.stringify(t)} is not an image tag (name:tag)`);
      }
    }
    out.push({ id, tags: [...new Set(tags as string[])].sort(), config, layers, source: where });
  }
  out.layerExtents = layerExtents;
  return out;
}

/** Reads every tarball of the bundle (headers, manifests and configs only: no layer is read). */
export function readBundle(src: string): Bundle {
  const byId = new Map<string, BundleImage>();
  const layers: Record<string, Extent> = {};
  for (const file of bundleFiles(src)) {
    const imgs = readTarball(file);
    for (const [d, x] of imgs.layerExtents ?? []) layers[d] ??= x;
    for (const img of imgs) {
      const known = byId.get(img.id);
      if (known) known.tags = [...new Set([...known.tags, ...img.tags])].sort();
      else byId.set(img.id, img);
    }
  }
  return { images: [...byId.values()].sort((a, b) => a.id.localeCompare(b.id)), layers };
}

/**
 * The members of one `docker load`-able tarball (legacy layout, read by every Docker version) holding
 * the given images, each layer once.
 */
export function bundleMembers(b: Bundle, images: BundleImage[]): TarMember[] {
  const manifest = images.map((img) => ({
    Config: `${img.id}.json`,
    RepoTags: img.tags.length ? img.tags : null,
    Layers: img.layers.map((d) => `${d}/layer.tar`),
  }));
  const members: TarMember[] = [{ name: "manifest.json", data: Buffer.from(JSON.stringify(manifest)) }];
  for (const img of images) members.push({ name: `${img.id}.json`, extent: img.config });
  const seen = new Set<string>();
  for (const img of images) {
    for (const d of img.layers) {
      if (seen.has(d)) continue;
      seen.add(d);
      members.push({ name: `${d}/layer.tar`, extent: b.layers[d]! });
    }
  }
  return members;
}

/** Bytes of the tarball bundleMembers() makes. */
export const bundleTarSize = (b: Bundle, images: BundleImage[]) => tarSize(bundleMembers(b, images));
