/**
 * Image pinning for a compose project: every image the project runs is pinned by digest, trust on first
 * use. A reference already pinned (`IMAGE@sha256:<64 hex>`) is used as given. A tag (`redis:7.4`) is
 * resolved ONCE, on the host, to the digest of the image the host then has (pulled, or loaded from an
 * air-gapped bundle), and recorded in a lock file beside the compose files; later runs use the recorded
 * digest and never move to whatever the tag points at by then (as a package lock, or our never-rotated
 * secrets). `repin` resolves the tags again, on purpose.
 *
 * The compose file reads each pin from an environment variable (`LOCKCLAW_IMAGE_<KEY>`) that compose_stack
 * sets when it runs compose, so the pins are also part of compose's config hash: a new pin recreates the
 * service that uses it, and nothing else.
 *
 * Lock file: one line per key, `KEY<TAB>reference as given<TAB>pinned reference`; a key whose reference
 * in the playbook changed is resolved again.
 */
import { raw, safeWord, sh, type Sh } from "../../core/sh.js";
import { atomicWriteSteps } from "../../core/atomic-write.js";

export const LOCK_FILE = "images.lock";
const DIGEST_REF = /@sha256:[0-9a-f]{64}$/;

export const imageVar = (key: string) => `LOCKCLAW_IMAGE_${key}`;
export const isDigestRef = (ref: string) => DIGEST_REF.test(ref);

/**
 * The repository part of a reference as Docker prints it in RepoDigests (`redis`, not
 * `docker.io/library/redis`), to find the digest that belongs to this repository.
 */
export function repositoryOf(ref: string): string {
  const noDigest = ref.replace(/@.*$/, "");
  const lastSlash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  const repo = colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
  return repo.replace(/^docker\.io\/library\//, "").replace(/^docker\.io\//, "");
}

export interface PinEntry {
  key: string;
  ref: string;
  /** Shell variable (in the generated script) holding the reference compose gets. */
  shellVar: string;
}

export function pinEntries(images: Record<string, string>): PinEntry[] {
  return Object.entries(images)
    .filter(([, ref]) => ref !== "")
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, ref], i) => ({ key, ref, shellVar: `lc_img${i}` }));
}

/**
 * sh setting each entry's shell variable to its pin (the reference itself when it is a digest, else the
 * lock file's entry for exactly this reference). Entries without a pin get the reference as given and are
 * listed in `lc_unpinned` (space-separated keys).
 */
export function readPinsSh(dir: string, entries: PinEntry[], repin: boolean): Sh[] {
  const lock = `${dir}/${LOCK_FILE}`;
  const out: Sh[] = [raw(`lc_unpinned=`)];
  for (const e of entries) {
    const ref = e.ref;
    const v = raw(e.shellVar);
    if (isDigestRef(e.ref)) {
      out.push(sh`${v}=${ref}`);
      continue;
    }
    const lookup = repin
      ? undefined
      : sh`[ -f ${lock} ] && ${v}=$(awk -F'\\t' -v k=${e.key} -v r=${ref} '$1==k && $2==r {print $3; exit}' ${lock})`;
    out.push(
      sh`${v}=`,
      ...(lookup ? [lookup] : []),
      // the key is UPPER_SNAKE_CASE (schema): a safe word inside "…"
      sh`if [ -z "$${v}" ]; then ${v}=${ref}; lc_unpinned="$lc_unpinned ${safeWord(e.key)}"; fi`,
    );
  }
  return out;
}

/** `image inspect` format: the ID, then every registry digest, on one line per image. */
const INSPECT_FORMAT = "{{.Id}}{{range .RepoDigests}} {{.}}{{end}}";

/**
 * awk printing, from `INSPECT_FORMAT` line `n`, the digest of repository `r` (`r@sha256:…`), or the image
 * ID when the image has none (an image loaded from a tarball carries no registry digest).
 */
const pickPinAwk = (n: number, repo: string): Sh =>
  sh`awk -v n=${String(n)} -v r=${repo} 'NR==n { for (i = 2; i <= NF; i++) if (index($i, r) == 1) { print $i; exit } print $1; exit }'`;

/**
 * sh (apply) resolving every unpinned entry: the image is used if the host has it (a bundle was loaded),
 * pulled otherwise; its digest for this repository is the pin, or the image ID when it has none (an image
 * loaded from a tarball carries no registry digest: the ID is a content hash of it all the same). The
 * lock file is rewritten once, for every new pin (owned by `user`, 0644: pins are not secret).
 *
 * Every docker client call costs ~0.1 s on a small host: ONE `image inspect` of all tag references
 * answers when the host has every image (a first deploy from a bundle, or a repin), one line each in
 * order; only when it fails (an image to pull) is each entry looked up, and pulled, on its own.
 */
export function resolvePinsSh(
  dir: string,
  user: string,
  entries: PinEntry[],
  fail: (msg: string) => Sh,
): Sh[] {
  const lock = `${dir}/${LOCK_FILE}`;
  const tagged = entries.filter((e) => !isDigestRef(e.ref));
  if (!tagged.length) return [];
  const out: Sh[] = [
    raw(`lc_ins=; lc_pins=; lc_pinkeys=`),
    sh`[ -z "$lc_unpinned" ] || lc_ins=$( (cd / && lc_dk image inspect --format ${INSPECT_FORMAT} ${tagged.map((e) => e.ref)}) 2>/dev/null) || lc_ins=`,
  ];
  tagged.forEach((e, i) => {
    const ref = e.ref;
    const v = raw(e.shellVar);
    const repo = `${repositoryOf(e.ref)}@sha256:`;
    out.push(
      sh`case " $lc_unpinned " in *" ${safeWord(e.key)} "*)`,
      sh`  lc_p=; [ -z "$lc_ins" ] || lc_p=$(printf '%s\n' "$lc_ins" | ${pickPinAwk(i + 1, repo)})`,
      sh`  if [ -z "$lc_p" ]; then`,
      sh`    if ! (cd / && lc_dk image inspect ${ref}) >/dev/null 2>&1; then`,
      sh`      lc_o=$( (cd / && lc_dk pull -q ${ref}) 2>&1 </dev/null) || { printf '%s\n' "$lc_o" | tail -n 3 >&2; ${fail(`cannot pull ${e.ref} (no network? give the images with --bundle)`)}; }`,
      sh`    fi`,
      sh`    lc_p=$( (cd / && lc_dk image inspect --format ${INSPECT_FORMAT} ${ref}) 2>/dev/null | ${pickPinAwk(1, repo)})`,
      sh`  fi`,
      sh`  printf '%s\n' "$lc_p" | grep -Eq '^[^[:space:]]*sha256:[0-9a-f]{64}$' || ${fail(`no digest for ${e.ref}`)}`,
      sh`  ${v}=$lc_p`,
      // key and reference as printf arguments (quoted words), the pin checked above: one lock line
      sh`  lc_pins=$lc_pins$(printf '%s\t%s\t%s' ${e.key} ${ref} "$lc_p")$(printf '\n_'); lc_pins=\${lc_pins%_}`,
      sh`  lc_pinkeys="$lc_pinkeys ${safeWord(e.key)}"`,
      // the reference as one quoted word: inside "…" a $(…) in it would run as root
      sh`  printf 'pinned %s -> %s\n' ${ref} "$lc_p" >&2`,
      sh`  ;;`,
      sh`esac`,
    );
  });
  out.push(
    sh`if [ -n "$lc_pinkeys" ]; then`,
    ...atomicWriteSteps({
      target: sh`${lock}`,
      dir: sh`${dir}`,
      source: {
        command: sh`{ [ -f ${lock} ] && awk -F'\t' -v ks="$lc_pinkeys" 'BEGIN { n = split(ks, a, " "); for (i = 1; i <= n; i++) d[a[i]] = 1 } !($1 in d)' ${lock}; printf '%s' "$lc_pins"; }`,
      },
      mode: "0644",
      // the user and the user's login group
      owner: `${user}:`,
      keepOwner: false,
      label: `compose_stack ${lock}`,
    }).map((l) => sh`  ${l}`),
    sh`fi`,
  );
  return out;
}

/** `NAME="$shellvar"` words that hand the pins to compose. */
export const pinEnvWords = (entries: PinEntry[]): Sh[] =>
  entries.map((e) => sh`${safeWord(imageVar(e.key))}="$${safeWord(e.shellVar)}"`);
