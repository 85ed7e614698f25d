/**
 * The stack's lab images as tarballs for `--bundle`: from the cache when their inputs are unchanged,
 * otherwise built on a private dockerd (no network: --iptables=false --bridge=none, --network=none
 * builds) that is stopped by PID right after. Used by `lockclaw lab stack-images`, the demo and the e2e.
 */
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { dockerdUnavailable, startPrivateDockerd } from "../images/private-dockerd.js";
import { LabError } from "../lab/errors.js";
import { buildStackImages, cachedStackImages, type StackLabImages } from "./lab-images.js";

export async function stackLabImages(log: (line: string) => void): Promise<StackLabImages> {
  const cached = cachedStackImages();
  if (cached) {
    log(`stack images: cached in ${cached.dir}`);
    return cached;
  }
  const why = dockerdUnavailable();
  if (why) throw new LabError(`cannot build the lab's stack images: ${why}`);
  const t0 = Date.now();
  const d = await startPrivateDockerd(log);
  try {
    return await buildStackImages({ host: d.host }, { progress: log });
  } finally {
    await d.stop();
    log(`stack images: built in ${Math.round((Date.now() - t0) / 1000)}s`);
  }
}

/**
 * The vars file `lab stack-images --vars-out` writes (the demo's): the variables selecting the lab images
 * and the bundle. 0600 like any vars file, since a user may add a provider key to it.
 */
export function writeStackVarsFile(file: string, images: StackLabImages): void {
  writeFileSync(file, stringify({ ...images.vars, bundle_src: images.dir }), { mode: 0o600 });
}
