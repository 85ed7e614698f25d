/**
 * Private keys of identity files, read for each connection but parsed once per run.
 *
 * A fleet usually logs in to every host with the same operator key. ssh2 parses the file again for every
 * connection, and signs the login with the key's PEM text, which OpenSSL decodes again on every
 * signature (~0.8 ms of CPU each, issue 14). Here a key is parsed once per file and content (a file
 * changed during the run is parsed again), and its signer holds the decoded key object from its first
 * signature on. Nothing here logs or returns key material but the public half.
 */
import { createHash, createPrivateKey, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ParsedKey } from "ssh2";
import { ssh2Parts } from "./ssh2-parts.js";

export type Identity =
  /** `publicKey`: the `type base64` of the key's public half. */
  | { ok: true; key: ParsedKey; publicKey: string }
  /** Why the file cannot be used (unreadable, encrypted, not a private key). */
  | { ok: false; reason: string };

/** Per file: a digest of the content it was parsed from, and what it gave. */
const parsed = new Map<string, { digest: string; identity: Identity }>();

/** The identity in `file`, parsed at most once per content. */
export function loadIdentity(file: string): Identity {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    return {
      ok: false,
      reason: `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    };
  }
  const digest = createHash("sha256").update(data).digest("base64");
  const hit = parsed.get(file);
  if (hit?.digest === digest) return hit.identity;
  const identity = parseIdentity(file, data);
  parsed.set(file, { digest, identity });
  return identity;
}

function parseIdentity(file: string, data: Buffer): Identity {
  const result = ssh2Parts().parseKey(data);
  if (result instanceof Error) {
    return {
      ok: false,
      reason: /encrypted/i.test(result.message)
        ? `${file}: encrypted with a passphrase, which lockclaw does not prompt for (load it into ssh-agent: ssh-add ${file})`
        : `${file}: not a usable private key (${result.message})`,
    };
  }
  const key = Array.isArray(result) ? result[0] : result;
  if (!key || !key.isPrivateKey()) {
    return { ok: false, reason: `${file}: is a public key; pass the private key file instead` };
  }
  return {
    ok: true,
    key: withDecodedSigner(key),
    publicKey: `${key.type} ${key.getPublicSSH().toString("base64")}`,
  };
}

/**
 * The hash ssh2 signs with when it names none (its per-type default); undefined for a type not listed
 * here, which keeps ssh2's own signing.
 */
const DEFAULT_HASH: Record<string, string | null> = {
  "ssh-ed25519": null,
  "ecdsa-sha2-nistp256": "sha256",
  "ecdsa-sha2-nistp384": "sha384",
  "ecdsa-sha2-nistp521": "sha512",
  "ssh-rsa": "sha1",
};

/**
 * The key as ssh2 sees it (everything else is the parsed key's own, through the prototype), with a
 * sign() that decodes the PEM once. Signatures are what ssh2's sign() returns: crypto.sign's output, or
 * the Error instead of a throw.
 */
export function withDecodedSigner(key: ParsedKey): ParsedKey {
  let decoded: KeyObject | undefined;
  const signer = Object.create(key) as ParsedKey;
  const signWith = (data: Buffer | string, algo?: string): Buffer | Error => {
    const hash = algo || DEFAULT_HASH[key.type];
    if (hash === undefined) return key.sign(data, algo);
    try {
      decoded ??= createPrivateKey(key.getPrivatePEM());
      return sign(hash, typeof data === "string" ? Buffer.from(data) : data, decoded);
    } catch (err) {
      return err as Error;
    }
  };
  // the typings promise a Buffer; ssh2 returns (and its callers check for) the Error instead of throwing
  signer.sign = signWith as ParsedKey["sign"];
  return signer;
}
