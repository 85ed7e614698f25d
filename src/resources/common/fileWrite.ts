/**
 * The apply side of files: atomic writes, chmod/chown. Every write goes to a temp file in the target's
 * own directory (so `mv` is a rename on one filesystem, never a copy), gets its final mode and owner
 * BEFORE it becomes visible, is optionally validated, and only then replaces the target.
 */
import { posix } from "node:path";
import { base64Heredoc, raw, sh, shJoin, type Sh } from "../../engine/sh.js";

export interface AtomicWriteOptions {
  /** The target path as an sh word (sh`${path}`, or a "$var"). */
  target: Sh;
  /** The target's directory as an sh word. */
  dir: Sh;
  content: string;
  /** Mode for the new file; undefined keeps the current file's mode, or `defaultMode` for a new one. */
  mode?: string;
  defaultMode: string;
  owner?: string;
  group?: string;
  /** Command with %s standing for the temp file, e.g. `visudo -cf %s`. */
  validate?: string;
  /** Keep the replaced file as TARGET.lockclaw-bak.YYYYmmddHHMMSS. */
  backup?: boolean;
  /** Label for error messages, e.g. `file /etc/sudoers.d/deploy`. */
  label: string;
}

/** sh for one chown/chgrp of `target` (an sh word); empty when neither is wanted. */
export function chownSh(target: Sh, owner?: string, group?: string): Sh {
  if (owner !== undefined && group !== undefined) return sh`chown -- ${`${owner}:${group}`} ${target}`;
  if (owner !== undefined) return sh`chown -- ${owner} ${target}`;
  if (group !== undefined) return sh`chgrp -- ${group} ${target}`;
  return raw("");
}

/**
 * sh that writes `content` to the target atomically. Uses the shell variable `lc_t` for the temp file.
 * A failed validation removes the temp file and exits 1 with the validator's output on stderr.
 */
export function atomicWriteSh(o: AtomicWriteOptions): Sh {
  const lines: Sh[] = [
    sh`[ -d ${o.dir} ] || { echo ${`${o.label}: directory`} ${o.dir} ${"does not exist (add a directory task before this one)"} >&2; exit 1; }`,
    // mktemp creates 0600; the umask also covers anything the shell creates on the way
    sh`lc_t=$(umask 077 && mktemp -- ${o.dir}/.lockclaw.XXXXXXXXXX)`,
    base64Heredoc(raw(`cat > "$lc_t"`), o.content),
  ];
  // mode/owner on the temp file first, so the target never exists with the wrong ones
  lines.push(
    o.mode !== undefined
      ? sh`chmod ${o.mode} "$lc_t"`
      : sh`if [ -f ${o.target} ]; then chmod --reference=${o.target} "$lc_t"; else chmod ${o.defaultMode} "$lc_t"; fi`,
  );
  if (o.owner === undefined && o.group === undefined) {
    lines.push(sh`if [ -f ${o.target} ]; then chown --reference=${o.target} "$lc_t"; fi`);
  } else {
    if (o.owner === undefined || o.group === undefined) {
      lines.push(sh`if [ -f ${o.target} ]; then chown --reference=${o.target} "$lc_t"; fi`);
    }
    lines.push(chownSh(raw(`"$lc_t"`), o.owner, o.group));
  }
  if (o.validate !== undefined) {
    // the validator is the playbook's sh (its {{x}} already quoted by render-sh), %s the temp file
    const cmd = raw(o.validate.split("%s").join(`"$lc_t"`));
    lines.push(
      sh`if ! lc_out=$( (${cmd}) 2>&1 </dev/null); then rm -f -- "$lc_t"; printf '%s: validate failed (%s):\\n%s\\n' ${o.label} ${o.validate} "$lc_out" >&2; exit 1; fi`,
    );
  }
  if (o.backup) {
    lines.push(
      sh`if [ -f ${o.target} ]; then cp -p -- ${o.target} ${o.target}.lockclaw-bak.$(date +%Y%m%d%H%M%S); fi`,
    );
  }
  lines.push(sh`mv -f -- "$lc_t" ${o.target}`);
  return shJoin(lines);
}

/** The directory of an absolute path, as the file kinds need it for the temp file. */
export function dirOf(path: string): string {
  return posix.dirname(path);
}
