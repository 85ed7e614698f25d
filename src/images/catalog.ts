/** The LockClaw images: where each build context lives, its tags, and what it is built from. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { packageRoot } from "../engine/paths.js";

export const IMAGE_NAMES = ["base", "ollama", "openclaw"] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

export interface ImageSpec {
  name: ImageName;
  /** First tag is the image's own; extra ones are aliases (openclaw is also `latest`). */
  tags: string[];
  /** Images this one is built FROM (built first). */
  dependsOn: ImageName[];
  /** Why it cannot be built without a registry, when that is the case. */
  needsRegistry?: string;
}

export const IMAGES: Record<ImageName, ImageSpec> = {
  base: { name: "base", tags: ["lockclaw:base"], dependsOn: [] },
  ollama: {
    name: "ollama",
    tags: ["lockclaw:ollama"],
    dependsOn: ["base"],
    needsRegistry:
      "the Ollama binary and runner libraries are copied from the pinned upstream image ollama/ollama, " +
      "which must be pulled from Docker Hub",
  },
  openclaw: { name: "openclaw", tags: ["lockclaw:openclaw", "lockclaw:latest"], dependsOn: ["base"] },
};

export function imagesDir(): string {
  return join(packageRoot(), "images");
}

export function contextDir(name: ImageName): string {
  return join(imagesDir(), name);
}

export function parseImageName(value: string): ImageName {
  if ((IMAGE_NAMES as readonly string[]).includes(value)) return value as ImageName;
  throw new ConfigError(`unknown image '${value}'`, undefined, `use one of: ${IMAGE_NAMES.join(", ")}`);
}

/** The images to build for a request, dependencies first, each once. */
export function buildOrder(names: ImageName[]): ImageName[] {
  const order: ImageName[] = [];
  const visit = (n: ImageName) => {
    for (const d of IMAGES[n].dependsOn) visit(d);
    if (!order.includes(n)) order.push(n);
  };
  for (const n of names.length > 0 ? names : IMAGE_NAMES) visit(n);
  return order;
}

/** `ARG NAME=value` defaults of a Dockerfile: the single place versions are pinned. */
export function dockerfileArgs(dockerfile: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const line of dockerfile.split("\n")) {
    const m = /^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) args[m[1]] ??= m[2].replace(/^"(.*)"$/, "$1");
  }
  return args;
}

export function readDockerfileArgs(name: ImageName): Record<string, string> {
  const file = join(contextDir(name), "Dockerfile");
  return dockerfileArgs(readFileSync(file, "utf8"));
}
