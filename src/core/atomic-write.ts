/**
 * The one way lockclaw replaces a file on a host. The bytes go to a temp file in the target's own
 * directory (so `mv` is a rename on one filesystem, never a copy), which gets its final mode and owner
 * BEFORE it becomes visible, is optionally checked or validated, and only then replaces the target.
 * Every kind and the engine's uploads build their writes here.
 */
import { posix } from "node:path";
import { base64Heredoc, raw, sh, shJoin, type Sh } from "./sh.js";

/** Where the new file's bytes come from. */
export type WriteSource =
  /** Text known when the sh is built: a base64 here-document inside the script (optionally piped through `through`, a filter that prints the file). */
  | { content: string; through?: Sh }
  /** One pipeline or `{ …; }` group printing the new file (it may read the old one: the target is untouched until the rename). */
  | { command: Sh }
  /** The stdin of the exec itself: bytes the engine streams (an upload), never held in the script. */
  | { stdin: true };

export interface AtomicWriteOptions {
  /** The target path as an sh word (sh`${path}`, or a "$var"). */
  target: Sh;
  /** The target's directory as an sh word. */
  dir: Sh;
  source: WriteSource;
  /** Mode for the new file; undefined keeps the current file's mode, or `defaultMode` for a new one. */
  mode?: string;
  defaultMode?: string;
  owner?: string;
  group?: string;
  /**
   * Whether an owner or group that is not given is taken from the file being replaced (true, the
   * default: the file kinds), or left to whoever runs the write, root (the kinds that own their files).
   */
  keepOwner?: boolean;
  /** Command with %s standing for the temp file, e.g. `visudo -cf %s` (the playbook's sh). */
  validate?: string;
  /** A test of the temp file ("$lc_t") written by lockclaw; when it fails, `message` is the error. */
  check?: { test: Sh; message: string };
  /** Keep the replaced file as TARGET.lockclaw-bak.YYYYmmddHHMMSS. */
  backup?: boolean;
  /**
   * A missing directory: an error by default (a directory task must come first); `public` creates it
   * with the shell's umask, `private` with umask 077.
   */
  makeDir?: "public" | "private";
  /**
   * A fixed temp path instead of a fresh mktemp name: a write cut short and done again overwrites the
   * same part file instead of leaving one more (uploads of large files).
   */
  temp?: Sh;
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

const TMP = raw(`"$lc_t"`);

/**
 * The steps of an atomic write, each one complete sh command: joined by newlines in a `set -e`
 * fragment, or by ` && ` in a one-line exec. Uses the shell variable `lc_t` for the temp file. A
 * failed validation or check removes the temp file and exits 1 with the reason on stderr.
 */
export function atomicWriteSteps(o: AtomicWriteOptions): Sh[] {
  if (o.mode === undefined && o.defaultMode === undefined)
    throw new TypeError("atomicWrite: a mode or a defaultMode is needed");
  const lines: Sh[] = [];
  if (o.makeDir === "public") lines.push(sh`mkdir -p -- ${o.dir}`);
  else if (o.makeDir === "private") lines.push(sh`(umask 077 && mkdir -p -- ${o.dir})`);
  else
    lines.push(
      sh`[ -d ${o.dir} ] || { echo ${`${o.label}: directory`} ${o.dir} ${"does not exist (add a directory task before this one)"} >&2; exit 1; }`,
    );
  if (o.temp === undefined) {
    // mktemp creates 0600; the umask also covers anything the shell creates on the way
    lines.push(sh`lc_t=$(umask 077 && mktemp -- ${o.dir}/.lockclaw.XXXXXXXXXX)`);
  } else {
    // a part file of an earlier cut run is replaced, never written through (its mode may be anything)
    lines.push(sh`lc_t=${o.temp}`, sh`rm -f -- "$lc_t"`, sh`(umask 077 && : > "$lc_t")`);
  }
  const s = o.source;
  if ("stdin" in s) lines.push(sh`cat > "$lc_t"`);
  else if ("command" in s) lines.push(sh`${s.command} > "$lc_t"`);
  else lines.push(base64Heredoc(s.through ? sh`${s.through} > "$lc_t"` : raw(`cat > "$lc_t"`), s.content));
  if (o.check) {
    lines.push(
      sh`if ! ${o.check.test}; then rm -f -- "$lc_t"; echo ${`${o.label}: ${o.check.message}`} >&2; exit 1; fi`,
    );
  }
  // mode/owner on the temp file first, so the target never exists with the wrong ones
  lines.push(
    o.mode !== undefined
      ? sh`chmod ${o.mode} "$lc_t"`
      : sh`if [ -f ${o.target} ]; then chmod --reference=${o.target} "$lc_t"; else chmod ${o.defaultMode!} "$lc_t"; fi`,
  );
  const keep = o.keepOwner ?? true;
  if (keep && (o.owner === undefined || o.group === undefined))
    lines.push(sh`if [ -f ${o.target} ]; then chown --reference=${o.target} "$lc_t"; fi`);
  if (o.owner !== undefined || o.group !== undefined) lines.push(chownSh(TMP, o.owner, o.group));
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
  return lines;
}

/** sh that writes the target atomically, one step a line (for a `set -e` fragment). */
export function atomicWriteSh(o: AtomicWriteOptions): Sh {
  return shJoin(atomicWriteSteps(o));
}

/** The same write as one command line whose steps stop at the first failure (a bare exec). */
export function atomicWriteLine(o: AtomicWriteOptions): Sh {
  return shJoin(atomicWriteSteps(o), " && ");
}

/** The directory of an absolute path, as the writes need it for the temp file. */
export function dirOf(path: string): string {
  return posix.dirname(path);
}

/**
 * One command line that lands the exec's stdin at `remote` (root's, 0600, the directory made 0700 when
 * missing): the engine's uploads. The part file has a fixed name, so a cut upload is overwritten.
 */
export function uploadWriteLine(remote: string): Sh {
  return atomicWriteLine({
    target: sh`${remote}`,
    dir: sh`${dirOf(remote)}`,
    makeDir: "private",
    source: { stdin: true },
    temp: sh`${`${remote}.part`}`,
    mode: "0600",
    keepOwner: false,
    label: `upload ${remote}`,
  });
}
