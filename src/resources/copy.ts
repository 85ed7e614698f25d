/**
 * `copy`: files from the control machine to the host — one file, or every regular file of a directory
 * (an air-gapped bundle of .deb packages or image tarballs). Large bytes never go through the batched
 * script: the engine streams each changed file on its own exec's stdin to a root-only staging path, and
 * apply() installs it with its mode and owner. Unchanged files (same sha256) are not sent again.
 */
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import type { Change, LocalProgress, ResourceKind, Upload } from "../engine/resource.js";
import { sh, shJoin, type Sh } from "../core/sh.js";
import {
  attributeDrift,
  checksumMemoSh,
  parsePathState,
  pathProbeScript,
  type PathState,
} from "./common/fileState.js";
import { atomicWriteSh, chownSh, dirOf } from "../core/atomic-write.js";
import { localSha256 } from "./common/localHash.js";
import { parseKeyValues } from "../engine/resource.js";
import { absPath, mode, singleLine, userName } from "./common/schema.js";

const STAGING = "/var/lib/lockclaw/uploads";
/** Checksum memos of copied files (root only): a no-op run does not hash a bundle of gigabytes again. */
const SUMS = "/var/lib/lockclaw/sums";
const memoOf = (dest: string) => `${SUMS}/${createHash("sha256").update(dest).digest("hex").slice(0, 32)}`;

const entrySpec = z.strictObject({ local: z.string(), dest: absPath, sha256: z.string(), size: z.number() });

export const copySpec = z
  .strictObject({
    /** A local file or directory; relative to the playbook's directory. */
    src: singleLine("src").describe(
      "A local file or directory on the control machine, relative to the playbook's directory.",
    ),
    /** The destination file (src is a file) or directory (src is a directory). */
    path: absPath.describe("Where it lands: the file (src is a file) or the directory (src is a directory)."),
    mode: mode.default("0644").describe('Octal mode of every file copied, e.g. "0644".'),
    owner: userName("owner").optional().describe("Owner (user name or uid); left as it is when not given."),
    group: userName("group").optional().describe("Group (name or gid); left as it is when not given."),
    /** Filled on the control machine before connecting: what will be sent. */
    entries: z
      .array(entrySpec)
      .optional()
      .describe("Internal: what will be sent, filled by lockclaw before connecting."),
  })
  .meta({
    description:
      "Local files or a directory tree copied to the host, streamed once and only when their checksum differs.",
    examples: [
      { src: "files/app.conf", path: "/etc/app/app.conf", mode: "0640", owner: "root", group: "root" },
    ],
  });
export type CopySpec = z.output<typeof copySpec>;
type Entry = z.output<typeof entrySpec>;
export type CopyFacts = PathState[];

/** What src stands for, file by file, hashed locally. */
export function localEntries(spec: CopySpec, playbookDir: string, progress?: LocalProgress): Entry[] {
  const src = isAbsolute(spec.src) ? spec.src : resolve(playbookDir, spec.src);
  let st;
  try {
    st = statSync(src);
  } catch {
    throw new Error(`copy: ${src} does not exist on this machine`);
  }
  const files = st.isDirectory()
    ? readdirSync(src)
        .filter((f) => statSync(join(src, f)).isFile())
        .sort()
        .map((f) => ({ local: join(src, f), dest: `${spec.path}/${f}` }))
    : [{ local: src, dest: spec.path }];
  if (files.length === 0) throw new Error(`copy: ${src} holds no regular file to copy`);
  return files.map((f) => ({
    ...f,
    sha256: localSha256(f.local, undefined, progress),
    size: statSync(f.local).size,
  }));
}

const entriesOf = (spec: CopySpec): Entry[] => {
  if (!spec.entries) throw new Error(`copy ${spec.src}: not prepared on the control machine (engine bug)`);
  return spec.entries;
};

interface EntryPlan {
  entry: Entry;
  send: boolean;
  chmod: boolean;
  chown: boolean;
  changes: Change[];
}

/** Entry by entry: send it (changed bytes), or fix its mode/owner; with the changes each shows. */
export type CopyPlan = EntryPlan[];

function planCopy(spec: CopySpec, facts: CopyFacts): CopyPlan {
  return entriesOf(spec).map((entry, i) => {
    const f = facts[i]!;
    if (f.type !== "file" || f.sha256 !== entry.sha256) {
      const what = f.type === "absent" ? "send" : f.type === "file" ? "replace" : `replace the ${f.type} at`;
      return {
        entry,
        send: true,
        chmod: true,
        chown: true,
        changes: [{ summary: `${what} ${entry.dest} (${entry.size} bytes from ${basename(entry.local)})` }],
      };
    }
    const drift = attributeDrift({ ...spec, path: entry.dest }, f);
    return { entry, send: false, ...drift };
  });
}

const staged = (e: Entry) => `${STAGING}/${e.sha256}`;

export const copyKind: ResourceKind<CopySpec, CopyFacts, CopyPlan> = {
  name: "copy",
  spec: copySpec,
  verifiable: true,
  describe: (spec) => `copy ${spec.src} → ${spec.path}`,
  prepareLocal: (spec, ctx) => ({ ...spec, entries: localEntries(spec, ctx.playbookDir, ctx.progress) }),
  probe(spec) {
    const entries = entriesOf(spec);
    return {
      script: shJoin(
        entries.map((e, i) =>
          pathProbeScript(e.dest, `f${i}.`, { checksum: true, checksumMemo: memoOf(e.dest) }),
        ),
      ),
      parse: (stdout) => {
        const kv = parseKeyValues(stdout);
        return entries.map((_, i) => parsePathState(kv, `f${i}.`));
      },
    };
  },
  plan(spec, facts) {
    const plan = planCopy(spec, facts);
    return { changes: plan.flatMap((p) => p.changes), plan };
  },
  uploads: (_spec, plan): Upload[] =>
    plan.filter((p) => p.send).map((p) => ({ local: p.entry.local, remote: staged(p.entry) })),
  apply(spec, plan) {
    const lines: Sh[] = [];
    for (const p of plan) {
      const dest = sh`${p.entry.dest}`;
      const up = staged(p.entry);
      if (p.send) {
        // the staged bytes are checked again on the host before they replace anything
        lines.push(
          sh`[ "$(sha256sum < ${up} | cut -d' ' -f1)" = ${p.entry.sha256} ] || { echo ${`copy: ${p.entry.dest}: upload corrupted`} >&2; exit 1; }`,
          atomicWriteSh({
            target: dest,
            dir: sh`${dirOf(p.entry.dest)}`,
            makeDir: "public",
            source: { command: sh`cat -- ${up}` },
            // a fixed name: a copy cut short leaves one file that the next run replaces (image_bundle
            // deletes it too), never one more copy of a large file
            temp: sh`${dest}.lockclaw-new`,
            mode: spec.mode,
            owner: spec.owner,
            group: spec.group,
            keepOwner: false,
            label: `copy ${p.entry.dest}`,
          }),
          sh`rm -f -- ${up}`,
        );
      } else {
        if (p.chmod) lines.push(sh`chmod ${spec.mode} -- ${dest}`);
        if (p.chown) lines.push(chownSh(dest, spec.owner, spec.group));
      }
      // after the last write to it (chmod/chown change its ctime): the file now is the entry
      if (p.changes.length) lines.push(checksumMemoSh(p.entry.dest, p.entry.sha256, memoOf(p.entry.dest)));
    }
    return shJoin(lines.filter((l) => String(l) !== ""));
  },
};
