/**
 * `directory`: a directory with mode and ownership, or its absence. Removing a non-empty directory needs
 * `recurse: true` (then `rm -rf`); without it `rmdir` refuses, so a typo cannot wipe a tree.
 */
import { posix } from "node:path";
import { z } from "zod";
import { planned, type Change, type ResourceKind } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import {
  attributeDrift,
  attributesLabel,
  parsePathState,
  pathProbeScript,
  type PathState,
} from "./common/fileState.js";
import { chownSh } from "../core/atomic-write.js";
import { absPath, bool, mode, presentAbsent, userName } from "./common/schema.js";

export const directorySpec = z
  .strictObject({
    path: absPath.describe("Absolute path of the directory."),
    mode: mode.optional().describe('Octal mode as a string, e.g. "0750"; left as it is when not given.'),
    owner: userName("owner").optional().describe("Owner (user name or uid); left as it is when not given."),
    group: userName("group").optional().describe("Group (name or gid); left as it is when not given."),
    state: presentAbsent.default("present").describe("present: the directory exists; absent: it is removed."),
    recurse: bool("recurse")
      .default(false)
      .describe(
        "With state absent: remove it with everything in it (otherwise only an empty directory is removed).",
      ),
  })
  .refine((s) => !(s.state === "absent" && s.path === "/"), { error: "refusing to remove /" })
  .meta({
    description: "A directory with its mode and ownership, or its absence.",
    examples: [{ path: "/srv/app", mode: "0750", owner: "root", group: "root" }],
  });
export type DirectorySpec = z.output<typeof directorySpec>;
export type DirectoryFacts = PathState;

interface DirPlan {
  create: boolean;
  remove: boolean;
  chmod: boolean;
  chown: boolean;
  changes: Change[];
}

function planDirectory(spec: DirectorySpec, facts: DirectoryFacts): DirPlan {
  const p: DirPlan = { create: false, remove: false, chmod: false, chown: false, changes: [] };
  if (spec.state === "absent") {
    if (facts.type === "absent") return p;
    if (facts.type !== "directory") {
      throw new Error(
        `${spec.path} is not a directory (it is a ${facts.type}); the directory kind will not remove it`,
      );
    }
    p.remove = true;
    p.changes.push({
      summary: `remove directory ${spec.path}${spec.recurse ? " and everything in it" : ""}`,
    });
    return p;
  }
  if (facts.type === "absent") {
    p.create = true;
    p.chmod = spec.mode !== undefined;
    p.chown = spec.owner !== undefined || spec.group !== undefined;
    const attrs = attributesLabel(spec);
    p.changes.push({ summary: `create directory ${spec.path}${attrs ? ` (${attrs})` : ""}` });
    return p;
  }
  if (facts.type !== "directory") {
    throw new Error(
      `${spec.path} exists and is a ${facts.type}, not a directory; remove it or choose another path`,
    );
  }
  const drift = attributeDrift(spec, facts);
  p.chmod = drift.chmod;
  p.chown = drift.chown;
  p.changes.push(...drift.changes);
  return p;
}

export const directoryKind: ResourceKind<DirectorySpec, DirectoryFacts, Omit<DirPlan, "changes">> = {
  name: "directory",
  spec: directorySpec,
  verifiable: true,
  describe: (spec) => `directory ${spec.path}`,
  probe: (spec) => ({
    script: pathProbeScript(spec.path),
    parse: (stdout) => parsePathState(stdout),
  }),
  plan: (spec, facts) => planned(planDirectory(spec, facts)),
  apply(spec, p) {
    const target = sh`${spec.path}`;
    if (p.remove) {
      return spec.recurse
        ? sh`rm -rf -- ${target}`
        : sh`rmdir -- ${target} || { echo ${`directory ${spec.path} is not empty; set recurse: true to remove it with its content`} >&2; exit 1; }`;
    }
    const out: Sh[] = [];
    // new directories start private and are opened up by chmod, never the other way round
    if (p.create) {
      // the parents get the usual umask; the directory itself starts private when a mode will be set,
      // so it is never briefly wider open than asked
      out.push(sh`mkdir -p -- ${posix.dirname(spec.path)}`);
      out.push(sh`mkdir ${raw(spec.mode !== undefined ? "-m 0700 " : "")}-- ${target}`);
    }
    if (p.chown) out.push(chownSh(target, spec.owner, spec.group));
    // the extra leading 0: GNU chmod keeps a directory's setgid/setuid bits unless the mode has 5 digits
    // (spec.mode is four octal digits, checked by the schema)
    if (p.chmod || (p.chown && spec.mode !== undefined))
      out.push(sh`chmod ${`0${spec.mode ?? ""}`} ${target}`);
    return shJoin(out);
  },
};
