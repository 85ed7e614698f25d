/**
 * `image_bundle`: the images of a local bundle of `docker save` tarballs (`--bundle`) present in a
 * rootless Docker user's daemon, for an air-gapped host.
 *
 * The facts are the daemon's own: its image IDs and tags, read as the user. An image of the bundle whose
 * ID the daemon has is not sent at all; the images it lacks travel as ONE tarball assembled on the
 * control machine from the bundle's tarballs (image_bundle/bundle.ts), each layer once, streamed over
 * the upload's stdin straight into `docker load` (no staging file: nothing written to disk and read
 * back, and the daemon unpacks while the rest still arrives). Nothing of the bundle stays on the host: the next run compares image IDs again. A missing tag of an image the daemon has is put
 * back with `docker tag` (no bytes sent).
 *
 * Image IDs are digests: the classic store's ID is the sha256 of the image's config (computed here from
 * the bytes sent, never read from a file name), and docker load checks every layer against the config's
 * diff IDs. Docker's containerd store names an image by its manifest instead: the ID it gave each loaded
 * image is recorded in `dir/image-ids` (root, 0600) and compared on later runs the same way.
 */
import { z } from "zod";
import type { Change, ResourceKind, Upload } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { atomicWriteSh } from "../core/atomic-write.js";
import { absPath, singleLine, userName } from "./common/schema.js";
import { asRootlessUser } from "./docker_rootless.js";
import { bundleMembers, readBundle, type Bundle, type BundleImage } from "./image_bundle/bundle.js";
import { tarSize, tarStream } from "./image_bundle/tar.js";
import { isAbsolute, resolve } from "node:path";

/** What the upload is called in messages (it is streamed into docker load, never written there). */
export const STAGED = ".images.tar";
/** Bundle image ID → the ID the daemon gave it, one `<hex> <hex>` line each (root, 0600). */
export const RECORD = "image-ids";
/** What earlier lockclaw versions left in dir (whole tarballs), or a run cut short: deleted. */
const LEFTOVER = /^[A-Za-z0-9._-]+\.(tar|tar\.gz|part|lockclaw-new)$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** The record's directory: root's alone. */
const DIR_STATE = "700 root root";

export const imageBundleSpec = z
  .strictObject({
    src: singleLine("src").describe(
      "A local directory of docker save tarballs, or one tarball, on the control machine (relative to the playbook's directory).",
    ),
    user: userName("user")
      .default("lockclaw-agent")
      .describe("The rootless Docker daemon's user (playbooks/docker.yml's docker_user)."),
    dir: absPath.describe(
      "Root-owned directory on the host (kept 0700) for the record of loaded image IDs (the images are streamed into docker load, never staged).",
    ),
  })
  .meta({
    description:
      "The images of a local bundle of docker save tarballs present in a rootless Docker user's daemon, for an air-gapped host: only the images the daemon lacks (by image ID) are sent, as one tarball with each shared layer once, loaded and deleted.",
    examples: [{ src: "bundle", user: "lockclaw-agent", dir: "/var/lib/lockclaw/bundle" }],
  });
export type ImageBundleSpec = z.output<typeof imageBundleSpec> & {
  /** Filled on the control machine before connecting: what the bundle holds. */
  bundle?: Bundle;
};

export interface ImageBundleFacts {
  userExists: boolean;
  daemon: boolean;
  /** Image IDs (hex) in the daemon. */
  ids: string[];
  /** tag → image ID (hex) in the daemon. */
  tags: Record<string, string>;
  /** Bundle image ID → the daemon's ID for it (dir/image-ids). */
  record: Record<string, string>;
  /** Files to delete from dir, with their size. */
  leftovers: { name: string; size: number }[];
  /** dir's `mode owner group` ("" when absent): kept 0700 root root. */
  dirState: string;
}

/** A tag as the daemon prints it (`redis:7`, not `docker.io/library/redis:7`; `:latest` explicit). */
export function familiarTag(t: string): string {
  const s = t.replace(/^docker\.io\/library\//, "").replace(/^docker\.io\//, "");
  return s.lastIndexOf(":") > s.lastIndexOf("/") ? s : `${s}:latest`;
}

const bundleOf = (spec: ImageBundleSpec): Bundle => {
  if (!spec.bundle)
    throw new Error(`image_bundle ${spec.src}: not prepared on the control machine (engine bug)`);
  return spec.bundle;
};

const label = (img: BundleImage) => (img.tags.length ? img.tags.join(", ") : `sha256:${img.id.slice(0, 12)}`);
const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;

function header(spec: ImageBundleSpec): Sh[] {
  return [
    sh`lc_uid=$(id -u -- ${spec.user} 2>/dev/null) || lc_uid=`,
    sh`lc_dk() { ${asRootlessUser(spec.user)} docker "$@"; }`,
  ];
}

export function imageBundleProbeSh(spec: ImageBundleSpec): Sh {
  const dir = spec.dir;
  return shJoin([
    ...header(spec),
    raw(`if [ -z "$lc_uid" ]; then echo user=absent; else echo user=present; fi`),
    // one docker call: it fails while the daemon is down (then every image is to be loaded)
    raw(
      `if [ -n "$lc_uid" ] && lc_o=$( (cd / && lc_dk image ls -a --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}') 2>/dev/null); then`,
    ),
    raw(`  echo daemon=1; printf '%s\\n' "$lc_o" | sed -n 's/^sha256:/img=/p'`),
    raw(`else echo daemon=0; fi`),
    sh`[ -f ${`${spec.dir}/${RECORD}`} ] && sed 's/^/rec=/' ${`${spec.dir}/${RECORD}`}`,
    sh`if [ -L ${dir} ]; then echo dir=symlink; elif [ -d ${dir} ]; then stat -c 'dir=%a %U %G' ${dir}; fi`,
    sh`[ -d ${dir} ] && find ${dir} -maxdepth 1 -type f -printf 'left=%s %f\\n' 2>/dev/null`,
    raw(`true`),
  ]);
}

export function parseImageBundleFacts(stdout: string): ImageBundleFacts {
  const lines = stdout.split("\n");
  const user = lines.find((l) => l.startsWith("user="))?.slice(5);
  if (user !== "present" && user !== "absent") {
    throw new Error(`image_bundle probe printed no valid user= line (got ${JSON.stringify(user)})`);
  }
  const f: ImageBundleFacts = {
    userExists: user === "present",
    daemon: lines.includes("daemon=1"),
    ids: [],
    tags: {},
    record: {},
    leftovers: [],
    dirState: lines.find((l) => l.startsWith("dir="))?.slice(4) ?? "",
  };
  const ids = new Set<string>();
  for (const l of lines) {
    if (l.startsWith("img=")) {
      const [id = "", tag = ""] = l.slice(4).split(" ");
      if (!HEX64.test(id)) throw new Error(`image_bundle probe: bad image line ${JSON.stringify(l)}`);
      ids.add(id);
      if (tag && !tag.includes("<none>")) f.tags[tag] = id;
    } else if (l.startsWith("rec=")) {
      const m = /^rec=([0-9a-f]{64}) sha256:([0-9a-f]{64})$/.exec(l);
      if (m) f.record[m[1]!] = m[2]!;
    } else if (l.startsWith("left=")) {
      const m = /^left=(\d+) (.+)$/.exec(l);
      if (m && LEFTOVER.test(m[2]!)) f.leftovers.push({ name: m[2]!, size: Number(m[1]) });
    }
  }
  f.ids = [...ids].sort();
  f.leftovers.sort((a, b) => a.name.localeCompare(b.name));
  return f;
}

export interface ImageBundlePlan {
  /** Images the daemon lacks: sent in one tarball and loaded. */
  load: BundleImage[];
  /** Tags to put back on an image the daemon has: [daemon's ID, tag]. */
  retag: [string, string][];
  leftovers: ImageBundleFacts["leftovers"];
}

/** The daemon's ID for a bundle image, or undefined when it does not have it. */
function hostId(img: BundleImage, f: ImageBundleFacts): string | undefined {
  if (!f.daemon) return undefined;
  if (f.ids.includes(img.id)) return img.id;
  const rec = f.record[img.id];
  return rec && f.ids.includes(rec) ? rec : undefined;
}

export function planImageBundle(spec: ImageBundleSpec, f: ImageBundleFacts): ImageBundlePlan {
  const b = bundleOf(spec);
  const load: BundleImage[] = [];
  const retag: [string, string][] = [];
  for (const img of b.images) {
    const id = hostId(img, f);
    if (!id) load.push(img);
    else for (const t of img.tags) if (f.tags[familiarTag(t)] !== id) retag.push([id, t]);
  }
  return { load, retag, leftovers: f.leftovers };
}

function bundleChanges(spec: ImageBundleSpec, f: ImageBundleFacts, p: ImageBundlePlan): Change[] {
  const c: Change[] = [];
  if (p.load.length) {
    const b = bundleOf(spec);
    const why = !f.userExists
      ? ` (user ${spec.user} not found at probe time)`
      : !f.daemon
        ? ` (${spec.user}'s Docker daemon not answering at probe time)`
        : "";
    const layers = new Set(p.load.flatMap((i) => i.layers)).size;
    c.push({
      summary: `send ${p.load.length} of ${b.images.length} images as one tarball, each of its ${layers} layers once (${mb(tarSize(bundleMembers(b, p.load)))})${why}`,
    });
    for (const img of p.load) c.push({ summary: `load image ${label(img)} (sha256:${img.id.slice(0, 12)})` });
  }
  for (const [id, t] of p.retag) c.push({ summary: `tag image sha256:${id.slice(0, 12)} as ${t}` });
  for (const l of p.leftovers)
    c.push({ summary: `remove ${spec.dir}/${l.name} (${mb(l.size)}, no longer kept)` });
  // absent is fine: the upload creates it root's, 0700, when there is something to send
  if (f.dirState && f.dirState !== DIR_STATE)
    c.push({ summary: `${spec.dir}: ${f.dirState} → ${DIR_STATE}` });
  return c;
}

/** The daemon may be restarting (a handler of the docker play restarts the user manager): wait for it. */
const waitDaemonSh = (user: string, fail: (msg: string) => Sh): Sh =>
  sh`lc_i=0; until (cd / && lc_dk info --format '{{.ID}}') >/dev/null 2>&1; do lc_i=$((lc_i + 1)); [ "$lc_i" -le 90 ] || ${fail(`${user}'s Docker daemon does not answer`)}; sleep 1; done`;

/**
 * The upload's consumer: the one tarball streamed from the exec's stdin straight into `docker load` as
 * the user (who could not read a root-only file anyway): no staging file written and read back, and
 * the daemon unpacks layers while the rest still arrives. A cut stream or a bad layer fails the load.
 */
export function imageBundleLoadSh(spec: ImageBundleSpec): Sh {
  const fail = (msg: string): Sh => sh`{ echo ${`image_bundle: ${msg}`} >&2; exit 1; }`;
  return shJoin([
    ...header(spec),
    sh`[ -n "$lc_uid" ] || ${fail(`user ${spec.user} does not exist`)}`,
    waitDaemonSh(spec.user, fail),
    sh`if ! lc_o=$(cd / && lc_dk load -q 2>&1); then printf '%s\n' "$lc_o" | tail -n 5 >&2; ${fail("docker load failed")}; fi`,
  ]);
}

export function imageBundleApplySh(spec: ImageBundleSpec, p: ImageBundlePlan): Sh {
  const b = bundleOf(spec);
  const fail = (msg: string): Sh => sh`{ echo ${`image_bundle: ${msg}`} >&2; exit 1; }`;
  const record = `${spec.dir}/${RECORD}`;
  const out: Sh[] = [
    ...header(spec),
    sh`[ -n "$lc_uid" ] || ${fail(`user ${spec.user} does not exist`)}`,
    // the daemon may be restarting (a handler of the docker play restarts the user manager)
    waitDaemonSh(spec.user, fail),
    // a symlink there is refused, not followed
    sh`[ ! -L ${spec.dir} ] || ${fail(`${spec.dir} is a symlink`)}`,
    sh`mkdir -p -- ${spec.dir} && chown root:root -- ${spec.dir} && chmod 0700 -- ${spec.dir}`,
  ];
  for (const [id, t] of p.retag) {
    out.push(sh`(cd / && lc_dk tag ${`sha256:${id}`} ${t}) || ${fail(`cannot tag ${t}`)}`);
  }
  // the daemon's ID of every tagged image (its config digest in the classic store, its manifest's in
  // the containerd store), found by its first tag
  const tagged = b.images.filter((i) => i.tags.length);
  if (p.load.length && tagged.length) {
    out.push(
      sh`lc_ids=$( (cd / && lc_dk image inspect --format '{{.Id}}' ${tagged.map((i) => i.tags[0]!)}) 2>/dev/null) || ${fail("an image of the bundle is not in the daemon after docker load")}`,
      atomicWriteSh({
        target: sh`${record}`,
        dir: sh`${spec.dir}`,
        source: {
          command: sh`printf '%s\\n' "$lc_ids" | awk -v ids=${tagged.map((i) => i.id).join(" ")} 'BEGIN{n=split(ids,a," ")} NR<=n && /^sha256:[0-9a-f]+$/ {print a[NR], $0}'`,
        },
        mode: "0600",
        keepOwner: false,
        label: `image_bundle ${spec.dir}/${RECORD}`,
      }),
    );
  }
  for (const l of p.leftovers) out.push(sh`rm -f -- ${`${spec.dir}/${l.name}`}`);
  return shJoin(out);
}

export const imageBundleKind: ResourceKind<ImageBundleSpec, ImageBundleFacts, ImageBundlePlan> = {
  name: "image_bundle",
  spec: imageBundleSpec,
  verifiable: true,
  describe: (spec) => `image_bundle ${spec.src} → ${spec.user}'s Docker`,
  prepareLocal: (spec, ctx) => {
    const src = isAbsolute(spec.src) ? spec.src : resolve(ctx.playbookDir, spec.src);
    return { ...spec, bundle: readBundle(src) };
  },
  // one docker client call as the user
  probe: (spec) => ({ script: imageBundleProbeSh(spec), parse: parseImageBundleFacts, cost: 60 }),
  plan(spec, facts) {
    const plan = planImageBundle(spec, facts);
    return { changes: bundleChanges(spec, facts, plan), plan };
  },
  uploads: (spec, p): Upload[] => {
    if (!p.load.length) return [];
    const members = bundleMembers(bundleOf(spec), p.load);
    return [
      {
        local: `${spec.src} (${p.load.length} images, one tarball)`,
        remote: `${spec.dir}/${STAGED}`,
        size: tarSize(members),
        open: () => tarStream(members),
        into: imageBundleLoadSh(spec),
      },
    ];
  },
  apply: imageBundleApplySh,
};
