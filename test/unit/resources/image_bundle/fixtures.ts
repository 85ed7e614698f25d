/** docker save tarballs made for the tests: real GNU tar archives of the two layouts docker writes. */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

export interface FakeImage {
  tags: string[] | null;
  /** Layer contents (any bytes: only their digests matter here). */
  layers: string[];
}

/** The image's config as docker writes it, and its ID (the config's sha256). */
export function configOf(img: FakeImage): { json: string; id: string } {
  const json = JSON.stringify({
    architecture: "amd64",
    config: { Cmd: ["/bin/true"] },
    rootfs: { type: "layers", diff_ids: img.layers.map((l) => `sha256:${sha(l)}`) },
  });
  return { json, id: sha(json) };
}

/**
 * Writes `file` as docker save would: "legacy" (`<id>.json`, `<v1 id>/layer.tar`; the v1 ID differs per
 * tarball, as docker's does for the top layer) or "oci" (`blobs/sha256/…`; the manifest names the first
 * layer through a `<v1 id>/layer.tar` symlink, as some Docker versions write).
 */
export function saveTarball(file: string, images: FakeImage[], layout: "legacy" | "oci" = "legacy"): void {
  const tree = mkdtempSync(join(tmpdir(), "lc-save-"));
  const put = (p: string, data: string) => {
    mkdirSync(dirname(join(tree, p)), { recursive: true });
    writeFileSync(join(tree, p), data);
  };
  const manifest = images.map((img) => {
    const { json, id } = configOf(img);
    const salt = sha(file + id);
    if (layout === "legacy") {
      put(`${id}.json`, json);
      const layers = img.layers.map((l, i) => {
        const dir = sha(`${salt}${i}`);
        put(`${dir}/layer.tar`, l);
        put(`${dir}/VERSION`, "1.0");
        return `${dir}/layer.tar`;
      });
      return { Config: `${id}.json`, RepoTags: img.tags, Layers: layers };
    }
    put(`blobs/sha256/${id}`, json);
    const layers = img.layers.map((l, i) => {
      put(`blobs/sha256/${sha(l)}`, l);
      if (i > 0) return `blobs/sha256/${sha(l)}`;
      const link = `${sha(`${salt}${i}`)}/layer.tar`;
      mkdirSync(join(tree, dirname(link)), { recursive: true });
      symlinkSync(`../blobs/sha256/${sha(l)}`, join(tree, link));
      return link;
    });
    return { Config: `blobs/sha256/${id}`, RepoTags: img.tags, Layers: layers };
  });
  put("manifest.json", JSON.stringify(manifest));
  if (layout === "oci") put("oci-layout", '{"imageLayoutVersion":"1.0.0"}');
  execFileSync("tar", ["-C", tree, "-cf", file, "."]);
  rmSync(tree, { recursive: true, force: true });
}
