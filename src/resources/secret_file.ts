/**
 * `secret_file`: a random secret generated ON THE HOST the first time it is needed and never rotated
 * afterwards (gateway token, LiteLLM master key, Redis password).
 *
 * The value never exists on the control machine: it is drawn from the host's /dev/urandom inside the
 * apply fragment, written under umask 077 into a temp file next to the target, given its mode and owner,
 * and renamed into place. The probe reports only existence, type, mode, owner and size (no checksum, no
 * content), so nothing about the value can reach probe output, logs or --json. A present, non-empty file
 * is kept as it is: re-runs never rotate a secret (rotation = delete the file and run again).
 *
 * Secrets a user GIVES (provider API keys) are not generated: they come from secret vars and are written
 * with the `file` kind and `sensitive: true`.
 */
import { z } from "zod";
import { planned, type Change, type ResourceKind } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { parsePathState, pathProbeScript, attributeDrift, type PathState } from "./common/fileState.js";
import { atomicWriteSh, chownSh, dirOf } from "../core/atomic-write.js";
import { absPath, mode, userName } from "./common/schema.js";

/** Characters a generated secret is made of; each is safe in env files, URLs and config values. */
export const SECRET_CHARSETS = {
  alnum: "A-Za-z0-9",
  hex: "0-9a-f",
  base64url: "A-Za-z0-9_-",
} as const;
export type SecretCharset = keyof typeof SECRET_CHARSETS;

export const secretFileSpec = z
  .strictObject({
    path: absPath.describe("Absolute path of the secret file."),
    owner: userName("owner").optional().describe("Owner (user name or uid); left as it is when not given."),
    group: userName("group").optional().describe("Group (name or gid); left as it is when not given."),
    mode: mode.default("0600").describe('Octal mode, e.g. "0600".'),
    /** Characters in the generated value. 48 alnum characters ≈ 285 bits. */
    length: z.coerce
      .number({ error: "length must be a number of characters" })
      .int({ error: "length must be a whole number" })
      .min(16, { error: "length must be at least 16 characters (a shorter secret is guessable)" })
      .max(4096, { error: "length must be at most 4096 characters" })
      .default(48)
      .describe("Characters in the generated value (at least 16)."),
    charset: z
      .enum(["alnum", "hex", "base64url"], { error: 'charset must be one of "alnum", "hex", "base64url"' })
      .default("alnum")
      .describe("alnum (A-Z a-z 0-9), hex or base64url."),
  })
  .meta({
    description:
      "A random secret generated ON THE HOST once and never changed after (its value never reaches the control machine or a log).",
    examples: [{ path: "/srv/lockclaw/secrets/gateway_token", owner: "root", mode: "0600", length: 48 }],
  });
export type SecretFileSpec = z.output<typeof secretFileSpec>;
export type SecretFileFacts = PathState;

interface SecretPlan {
  generate: boolean;
  chmod: boolean;
  chown: boolean;
  changes: Change[];
}

function planSecretFile(spec: SecretFileSpec, f: SecretFileFacts): SecretPlan {
  const p: SecretPlan = { generate: false, chmod: false, chown: false, changes: [] };
  if (f.type === "directory" || f.type === "other" || f.type === "link") {
    throw new Error(
      `${spec.path} exists and is a ${f.type === "link" ? "symlink" : f.type === "directory" ? "directory" : "special file"}, ` +
        `not a regular file; a secret is never written through it (remove it and run again)`,
    );
  }
  // an empty file holds no secret (a crashed earlier write, a `touch`): filling it rotates nothing
  if (f.type === "absent" || f.size === 0) {
    p.generate = true;
    p.changes.push({
      summary: `generate secret ${spec.path} (${spec.length} ${spec.charset} characters, mode ${spec.mode}${spec.owner ? `, owner ${spec.owner}` : ""})`,
    });
    return p;
  }
  const drift = attributeDrift(spec, f);
  p.chmod = drift.chmod;
  p.chown = drift.chown;
  p.changes.push(...drift.changes);
  return p;
}

/**
 * sh that creates the secret unless a non-empty file is already there. The check is repeated on the
 * host at apply time (an earlier task, or another run, may have created it since the probe).
 */
export function generateSecretSh(spec: SecretFileSpec): Sh {
  const target = sh`${spec.path}`;
  const dir = sh`${dirOf(spec.path)}`;
  return shJoin([
    sh`if [ -L ${target} ] || { [ -e ${target} ] && [ ! -f ${target} ]; }; then echo ${`${spec.path} is not a regular file; not writing a secret through it`} >&2; exit 1; fi`,
    sh`if [ ! -s ${target} ]; then`,
    atomicWriteSh({
      target,
      dir,
      // tr keeps only the charset's bytes; head stops the endless stream. No newline: consumers read raw.
      source: {
        command: sh`LC_ALL=C tr -dc ${SECRET_CHARSETS[spec.charset]} </dev/urandom | head -c ${spec.length}`,
      },
      check: {
        test: sh`[ "$(wc -c < "$lc_t")" -eq ${spec.length} ]`,
        message: "could not read enough random bytes",
      },
      mode: spec.mode,
      owner: spec.owner,
      group: spec.group,
      keepOwner: false,
      label: `secret_file ${spec.path}`,
    }),
    raw(`fi`),
  ]);
}

export const secretFileKind: ResourceKind<SecretFileSpec, SecretFileFacts, Omit<SecretPlan, "changes">> = {
  name: "secret_file",
  spec: secretFileSpec,
  verifiable: true,
  describe: (spec) => `secret_file ${spec.path}`,

  probe(spec) {
    // no checksum, no content: nothing derived from the value leaves the host
    return { script: pathProbeScript(spec.path), parse: (stdout) => parsePathState(stdout) };
  },

  plan: (spec, facts) => planned(planSecretFile(spec, facts)),

  apply(spec, p) {
    if (p.generate) return generateSecretSh(spec);
    const target = sh`${spec.path}`;
    const out: Sh[] = [];
    if (p.chown) out.push(chownSh(target, spec.owner, spec.group));
    // chmod after chown: chown clears setuid/setgid bits (and always restore the wanted mode)
    if (p.chmod || p.chown) out.push(sh`chmod ${spec.mode} ${target}`);
    return shJoin(out);
  },
};
