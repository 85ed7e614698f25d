import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, describe, expect, it } from "vitest";
import { loadIdentity } from "../../../src/transport/identity.js";

const dir = mkdtempSync(join(tmpdir(), "lc-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A passphrase-less key made by ssh-keygen, as an operator has one. */
function keygen(name: string, type: "ed25519" | "ecdsa" | "rsa", passphrase = ""): string {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", passphrase, "-C", "", "-f", file]);
  return file;
}

function ok(file: string) {
  const identity = loadIdentity(file);
  if (!identity.ok) throw new Error(identity.reason);
  return identity;
}

describe("identity files", () => {
  it("are parsed once per file and content: the same key for every host, a new one when the file changes", () => {
    const file = join(dir, "operator");
    copyFileSync(keygen("a", "ed25519"), file);
    const first = ok(file);
    expect(ok(file).key).toBe(first.key);
    copyFileSync(keygen("b", "ed25519"), file);
    const changed = ok(file);
    expect(changed.key).not.toBe(first.key);
    expect(changed.publicKey).toBe(readFileSync(`${join(dir, "b")}.pub`, "utf8").trim());
  });

  it("sign as ssh2 does: the same ed25519 signature, ecdsa and rsa signatures its verify() accepts", () => {
    const data = randomBytes(200);
    for (const [type, algo] of [
      ["ed25519", undefined],
      ["ecdsa", undefined],
      ["rsa", "sha512"],
    ] as const) {
      const file = keygen(`sig-${type}`, type);
      const own = ssh2.utils.parseKey(readFileSync(file));
      if (own instanceof Error) throw own;
      const pub = ssh2.utils.parseKey(readFileSync(`${file}.pub`));
      if (pub instanceof Error) throw pub;
      const { key } = ok(file);
      // twice: the second signature uses the key decoded for the first
      for (let i = 0; i < 2; i++) {
        const sig = key.sign(data, algo);
        expect(sig).toBeInstanceOf(Buffer);
        expect(pub.verify(data, sig, algo)).toBe(true);
        if (type === "ed25519") expect(sig).toEqual(own.sign(data));
      }
    }
  });

  it("say why a file cannot be used, without its content", () => {
    const enc = keygen("encrypted", "ed25519", "secret passphrase");
    const r = loadIdentity(enc);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/encrypted with a passphrase/) });
    expect(loadIdentity(`${enc}.pub`)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/public key/),
    });
    expect(loadIdentity(join(dir, "missing"))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/ENOENT/),
    });
    const junk = join(dir, "junk");
    writeFileSync(junk, "not a key\n");
    expect(loadIdentity(junk)).toMatchObject({ ok: false, reason: expect.stringMatching(/not a usable/) });
  });
});
