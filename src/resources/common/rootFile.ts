/**
 * A whole file a module owns outright (sysctl's drop-in, audit_rules' rules file): root-owned, with a
 * fixed mode and content the module renders. Its plan (write it or not, and the change shown) and its
 * write are the same for every such module.
 */
import type { Change } from "../../engine/resource.js";
import { atomicWriteSh, dirOf } from "../../core/atomic-write.js";
import { sh, type Sh } from "../../core/sh.js";
import { contentDiff } from "./diffText.js";
import { sha256, type PathState } from "./fileState.js";

export interface RootFile {
  path: string;
  content: string;
  mode: "0644" | "0640" | "0600";
}

/** The change that (re)writes the file, or undefined when it is already as wanted. */
export function rootFileChange(want: RootFile, have: PathState): Change | undefined {
  if (have.type !== "absent" && have.type !== "file") {
    throw new Error(`${want.path} is a ${have.type}, not a regular file`);
  }
  const current = have.type === "absent" ? undefined : have;
  if (current && current.sha256 === sha256(want.content) && current.mode === want.mode) return undefined;
  return {
    summary: `${current ? "update" : "create"} ${want.path}`,
    diff: contentDiff(want.path, current ? (current.content ?? null) : undefined, want.content),
  };
}

/** sh writing the file atomically, root:root with its mode. */
export function rootFileWriteSh(want: RootFile, label: string): Sh {
  return atomicWriteSh({
    target: sh`${want.path}`,
    dir: sh`${dirOf(want.path)}`,
    source: { content: want.content },
    mode: want.mode,
    defaultMode: want.mode,
    owner: "root",
    group: "root",
    label,
  });
}
