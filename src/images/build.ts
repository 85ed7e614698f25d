/** Builds LockClaw images with docker, dependencies first, reporting progress one line per step. */
import { ApplyError } from "../core/errors.js";
import { buildOrder, contextDir, IMAGES, type ImageName } from "./catalog.js";
import { docker, type DockerOptions } from "./docker.js";
import { ensureOfflineBase } from "./offline-base.js";
import { prepareOpenclawContext } from "./openclaw-context.js";

export interface BuildOptions extends DockerOptions {
  /** Build with `--network=none`: base from an imported debootstrap rootfs, openclaw from a context
   *  prepared on the host with npm. Images that need a registry fail with the reason. */
  offline?: boolean;
  /** openclaw only: use the host-prepared context even when online (hermetic build). */
  prepared?: boolean;
  /** Skip images the daemon already has under their tag (dependencies of what was asked for). */
  reuseDependencies?: boolean;
  progress?: (line: string) => void;
}

export interface BuiltImage {
  name: ImageName;
  tags: string[];
  id: string;
  seconds: number;
}

/** docker build's own step lines ("Step 3/16 : RUN …" or BuildKit's "#5 [2/6] RUN …"), shortened. */
export function progressLine(line: string): string | undefined {
  const classic = /^Step (\d+\/\d+) : (.*)$/.exec(line);
  if (classic) return `step ${classic[1]}: ${truncate(classic[2] ?? "")}`;
  const kit = /^#\d+ \[[^\]]*(\d+\/\d+)\] (.*)$/.exec(line);
  if (kit) return `step ${kit[1]}: ${truncate(kit[2] ?? "")}`;
  if (/^(install-runtime|lockclaw):/.test(line)) return line;
  return undefined;
}

function truncate(s: string, n = 100): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export async function buildImages(names: ImageName[], o: BuildOptions = {}): Promise<BuiltImage[]> {
  const say = o.progress ?? (() => {});
  const order = buildOrder(names);
  const built: BuiltImage[] = [];
  for (const name of order) {
    const spec = IMAGES[name];
    const asked = names.length === 0 || names.includes(name);
    if (!asked && o.reuseDependencies) {
      const have = await docker(["images", "-q", spec.tags[0] ?? ""], o);
      if (have) {
        say(`${spec.tags[0]}: present, not rebuilt (dependency)`);
        continue;
      }
    }
    if (o.offline && spec.needsRegistry) {
      throw new ApplyError(
        `image ${name}`,
        "docker build --network=none",
        null,
        `cannot be built offline: ${spec.needsRegistry}`,
      );
    }
    const started = Date.now();
    const args = ["build"];
    let context = contextDir(name);
    if (o.offline) args.push("--network=none");
    if (name === "base" && o.offline) await ensureOfflineBase(o, { progress: say });
    if (name === "openclaw" && (o.offline || o.prepared)) {
      context = await prepareOpenclawContext(say);
      args.push("--build-arg", "OPENCLAW_SOURCE=context");
    }
    for (const t of spec.tags) args.push("-t", t);
    args.push(context);
    say(`${spec.tags[0]}: docker build ${o.offline ? "(offline) " : ""}from ${context}`);
    await docker(args, {
      ...o,
      what: `image ${name}`,
      onLine: (line, stream) => {
        o.onLine?.(line, stream);
        const p = progressLine(line);
        if (p) say(`${spec.tags[0]}: ${p}`);
      },
    });
    const id = await docker(["images", "-q", spec.tags[0] ?? ""], o);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    say(`${spec.tags.join(", ")}: built ${id} in ${seconds}s`);
    built.push({ name, tags: spec.tags, id, seconds });
  }
  return built;
}
