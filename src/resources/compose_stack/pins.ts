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
import { shq } from "../../engine/shell.js";

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
export function readPinsSh(dir: string, entries: PinEntry[], repin: boolean): string[] {
  const lock = shq(`${dir}/${LOCK_FILE}`);
  const out = [`lc_unpinned=`];
  for (const e of entries) {
    const ref = shq(e.ref);
    if (isDigestRef(e.ref)) {
      out.push(`${e.shellVar}=${ref}`);
      continue;
    }
    const lookup = repin
      ? ""
      : `[ -f ${lock} ] && ${e.shellVar}=$(awk -F'\\t' -v k=${shq(e.key)} -v r=${ref} '$1==k && $2==r {print $3; exit}' ${lock})`;
    out.push(
      `${e.shellVar}=`,
      ...(lookup ? [lookup] : []),
      `if [ -z "$${e.shellVar}" ]; then ${e.shellVar}=${ref}; lc_unpinned="$lc_unpinned ${e.key}"; fi`,
    );
  }
  return out;
}

/**
 * sh (apply) resolving every unpinned entry: the image is used if the host has it (a bundle was loaded),
 * pulled otherwise; its digest for this repository is the pin, or the image ID when it has none (an image
 * loaded from a tarball carries no registry digest: the ID is a content hash of it all the same). The
 * lock file is rewritten (owned by `user`, 0644: pins are not secret).
 */
export function resolvePinsSh(
  dir: string,
  user: string,
  entries: PinEntry[],
  fail: (msg: string) => string,
): string[] {
  const lock = shq(`${dir}/${LOCK_FILE}`);
  const out: string[] = [];
  for (const e of entries) {
    if (isDigestRef(e.ref)) continue;
    const ref = shq(e.ref);
    const repo = shq(`${repositoryOf(e.ref)}@sha256:`);
    out.push(
      `case " $lc_unpinned " in *" ${e.key} "*)`,
      `  if ! (cd / && lc_dk image inspect ${ref}) >/dev/null 2>&1; then`,
      `    lc_o=$( (cd / && lc_dk pull -q ${ref}) 2>&1 </dev/null) || { printf '%s\\n' "$lc_o" | tail -n 3 >&2; ${fail(`cannot pull ${e.ref} (no network? give the images with --bundle)`)}; }`,
      `  fi`,
      `  lc_p=$( (cd / && lc_dk image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' ${ref}) 2>/dev/null | grep -F -- ${repo} | head -n 1)`,
      `  [ -n "$lc_p" ] || lc_p=$( (cd / && lc_dk image inspect --format '{{.Id}}' ${ref}) 2>/dev/null)`,
      `  printf '%s\\n' "$lc_p" | grep -Eq 'sha256:[0-9a-f]{64}$' || ${fail(`no digest for ${e.ref}`)}`,
      `  ${e.shellVar}=$lc_p`,
      `  lc_t=$(mktemp ${shq(`${dir}/.${LOCK_FILE}.XXXXXX`)})`,
      `  { [ -f ${lock} ] && awk -F'\\t' -v k=${shq(e.key)} '$1!=k' ${lock}; printf '%s\\t%s\\t%s\\n' ${shq(e.key)} ${ref} "$lc_p"; } > "$lc_t"`,
      `  chown -- ${shq(user)}: "$lc_t" && chmod 0644 "$lc_t" && mv -f "$lc_t" ${lock}`,
      // the reference as one quoted word: inside "…" a $(…) in it would run as root
      `  printf 'pinned %s -> %s\\n' ${ref} "$lc_p" >&2`,
      `  ;;`,
      `esac`,
    );
  }
  return out;
}

/** `NAME="$shellvar"` words that hand the pins to compose. */
export const pinEnvWords = (entries: PinEntry[]) => entries.map((e) => `${imageVar(e.key)}="$${e.shellVar}"`);
