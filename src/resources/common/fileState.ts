import type { Change } from "../../engine/resource.js";
/**
 * Probing one filesystem path: what is there, its mode and ownership, its checksum and (for --diff) its
 * content. Shared by file/template, directory, authorized_key and sysctl, so every kind reads the same
 * facts the same way. Output is `PREFIXkey=value` lines, so several paths can share one probe section.
 */
import { createHash } from "node:crypto";
import { raw, sh, shJoin, type Sh } from "../../core/sh.js";
import { parseKeyValues } from "../../engine/resource.js";
import { normalizeMode } from "./schema.js";

/** Above this size the probe sends only the checksum, not the content (the diff then says so). */
export const MAX_PROBED_CONTENT = 256 * 1024;

export type PathType = "absent" | "file" | "directory" | "link" | "other";

export interface PathState {
  type: PathType;
  /** Four octal digits, e.g. "0640". Absent when type is "absent". */
  mode?: string;
  owner?: string;
  uid?: string;
  group?: string;
  gid?: string;
  size?: number;
  /** Hex sha256 of a regular file's bytes. */
  sha256?: string;
  /** A regular file's content as UTF-8, only when asked for and not larger than MAX_PROBED_CONTENT. */
  content?: string;
}

export interface PathProbeOptions {
  /** Also send the content (base64) when the file is small. Never for sensitive files. */
  content?: boolean;
  /** Also send the sha256 of a regular file. */
  checksum?: boolean;
  /**
   * With checksum: a file on the host remembering the sha256 of `path` with its identity (checksumMemoSh);
   * when the identity still matches, the sha256 is read from it instead of hashing gigabytes again.
   */
  checksumMemo?: string;
  /** An sh word to use instead of the quoted path, e.g. `"$lc_home/.ssh"` when the path is known only on the host. */
  shWord?: Sh;
}

/**
 * A file's identity for checksum memos: device, inode, size, mtime and ctime. ctime cannot be set back by
 * anyone (touch -d sets mtime only), so a file written after its memo never matches it.
 */
const FILE_IDENTITY = raw("stat -c '%d:%i:%s:%.9Y:%.9Z'");

/** sh recording that `path` (a regular file) has `sha256` now, for pathProbeScript's checksumMemo. */
export function checksumMemoSh(path: string, sha256: string, memo: string): Sh {
  return sh`mkdir -p -m 0700 -- "$(dirname -- ${memo})" && printf '%s %s\n' ${sha256} "$(${FILE_IDENTITY} -- ${path})" > ${memo}`;
}

/**
 * POSIX sh that prints the state of `path` as `${prefix}key=value` lines. Reads only; a symlink is
 * reported as a link (not followed): writing over it replaces the link, never its target.
 */
export function pathProbeScript(path: string, prefix = "", opts: PathProbeOptions = {}): Sh {
  const p = opts.shWord ?? sh`${path}`;
  const k = (key: string) => `${prefix}${key}`;
  const lines = [
    sh`if [ -L ${p} ]; then echo ${k("type=link")}`,
    sh`elif [ -d ${p} ]; then echo ${k("type=directory")}`,
    sh`elif [ -f ${p} ]; then echo ${k("type=file")}`,
    sh`elif [ -e ${p} ]; then echo ${k("type=other")}`,
    sh`else echo ${k("type=absent")}; fi`,
    // one stat call; %a has no leading zero, parse() pads it. Kept in lc_st: the content check below
    // takes the size from it (a second stat was one more process for every file of a probe)
    sh`lc_st=; if [ -e ${p} ] || [ -L ${p} ]; then lc_st=$(stat --printf ${`${prefix}mode=%a\\n${prefix}uid=%u\\n${prefix}owner=%U\\n${prefix}gid=%g\\n${prefix}group=%G\\n${prefix}size=%s\\n`} -- ${p}); [ -z "$lc_st" ] || printf '%s\\n' "$lc_st"; fi`,
  ];
  if (opts.checksum && opts.checksumMemo) {
    const m = opts.checksumMemo;
    lines.push(
      sh`if [ -f ${p} ] && [ ! -L ${p} ]; then printf '%s' ${k("sha256=")}; if [ -f ${m} ] && [ "$(cut -d' ' -f2 ${m})" = "$(${FILE_IDENTITY} -- ${p})" ]; then cut -d' ' -f1 ${m}; else sha256sum < ${p} | cut -d' ' -f1; fi; fi`,
    );
  } else if (opts.checksum && !opts.content) {
    lines.push(
      // the hash is the first word of sha256sum's line, cut by the shell (no cut process)
      sh`if [ -f ${p} ] && [ ! -L ${p} ]; then lc_h=$(sha256sum < ${p}); printf '%s%s\\n' ${k("sha256=")} "\${lc_h%% *}"; fi`,
    );
  }
  if (opts.content) {
    // the size is stat's last line above (size=N): the longest *size= prefix goes, whatever the names
    lines.push(
      sh`lc_sz=\${lc_st##*size=}; case "$lc_sz" in '' | *[!0-9]*) lc_sz=${MAX_PROBED_CONTENT + 1} ;; esac`,
    );
    lines.push(
      opts.checksumMemo
        ? sh`if [ -f ${p} ] && [ ! -L ${p} ] && [ "$lc_sz" -le ${MAX_PROBED_CONTENT} ]; then printf '%s' ${k("content_b64=")}; base64 -w0 < ${p}; echo; fi`
        : // a file small enough to be sent is hashed from its bytes by parsePathState: sha256sum runs
          // only for a larger one (a process fewer for each file of a probe)
          sh`if [ -f ${p} ] && [ ! -L ${p} ]; then if [ "$lc_sz" -le ${MAX_PROBED_CONTENT} ]; then printf '%s' ${k("content_b64=")}; base64 -w0 < ${p}; echo; else lc_h=$(sha256sum < ${p}); printf '%s%s\\n' ${k("sha256=")} "\${lc_h%% *}"; fi; fi`,
    );
  }
  return shJoin(lines);
}

/** Read the lines pathProbeScript printed. Throws when the type line is missing (the probe did not run). */
export function parsePathState(stdout: string | Map<string, string>, prefix = ""): PathState {
  const kv = typeof stdout === "string" ? parseKeyValues(stdout) : stdout;
  const get = (key: string) => kv.get(prefix + key);
  const type = get("type");
  if (!type || !["absent", "file", "directory", "link", "other"].includes(type)) {
    throw new Error(`path probe output has no valid ${prefix}type= line (got ${JSON.stringify(type)})`);
  }
  const st: PathState = { type: type as PathType };
  if (type === "absent") return st;
  const mode = get("mode");
  if (mode === undefined || !/^[0-7]{1,4}$/.test(mode)) {
    throw new Error(`path probe output has no valid ${prefix}mode= line (got ${JSON.stringify(mode)})`);
  }
  st.mode = normalizeMode(mode);
  st.uid = get("uid");
  st.owner = get("owner");
  st.gid = get("gid");
  st.group = get("group");
  const size = get("size");
  if (size !== undefined) st.size = Number(size);
  const sha = get("sha256");
  if (sha !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new Error(`path probe output has a bad ${prefix}sha256= line`);
    st.sha256 = sha;
  }
  const b64 = get("content_b64");
  if (b64 !== undefined) {
    const bytes = Buffer.from(b64, "base64");
    st.content = bytes.toString("utf8");
    // the probe sends a small file's bytes instead of their hash (pathProbeScript)
    st.sha256 ??= createHash("sha256").update(bytes).digest("hex");
  }
  return st;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The attributes a spec asks for, for a change's summary: `mode 0644, owner root` ("" when none). */
export function attributesLabel(spec: { mode?: string; owner?: string; group?: string }): string {
  return [
    spec.mode && `mode ${spec.mode}`,
    spec.owner && `owner ${spec.owner}`,
    spec.group && `group ${spec.group}`,
  ]
    .filter(Boolean)
    .join(", ");
}

/** Whether `want` (a name or numeric id) matches what the probe saw. */
export function sameOwner(
  want: string | undefined,
  name: string | undefined,
  id: string | undefined,
): boolean {
  if (want === undefined) return true;
  return /^[0-9]+$/.test(want) ? want === id : want === name;
}

/** The attribute drift of an existing path: what to chmod/chown, with one change line per attribute. */
export function attributeDrift(
  spec: { path: string; mode?: string; owner?: string; group?: string },
  facts: PathState,
): { chmod: boolean; chown: boolean; changes: Change[] } {
  const out = { chmod: false, chown: false, changes: [] as Change[] };
  if (spec.mode !== undefined && spec.mode !== facts.mode) {
    out.chmod = true;
    out.changes.push({ summary: `${spec.path} mode ${facts.mode} → ${spec.mode}` });
  }
  if (!sameOwner(spec.owner, facts.owner, facts.uid)) {
    out.chown = true;
    out.changes.push({ summary: `${spec.path} owner ${facts.owner} → ${spec.owner}` });
  }
  if (!sameOwner(spec.group, facts.group, facts.gid)) {
    out.chown = true;
    out.changes.push({ summary: `${spec.path} group ${facts.group} → ${spec.group}` });
  }
  return out;
}
