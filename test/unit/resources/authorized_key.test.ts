import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  authorizedKeyKind,
  desiredContent,
  parseKeyLine,
  type AuthorizedKeyFacts,
  type AuthorizedKeySpec,
} from "../../../src/resources/authorized_key.js";
import type { PathState } from "../../../src/resources/common/fileState.js";
import { applyOf, changesOf, converge, parseSpec, probeFacts, specError } from "./helpers.js";

/** A syntactically real public key: the blob embeds its type, as ssh-keygen writes it. */
function fakeKey(type: string, seed: number, comment = ""): string {
  const t = Buffer.from(type);
  const body = Buffer.alloc(32, seed);
  const blob = Buffer.concat([u32(t.length), t, u32(body.length), body]).toString("base64");
  return `${type} ${blob}${comment ? ` ${comment}` : ""}`;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

const K1 = fakeKey("ssh-ed25519", 1, "alice@laptop");
const K2 = fakeKey("ssh-ed25519", 2, "bob@ci");
const K3 = fakeKey("ecdsa-sha2-nistp256", 3);
const spec = (input: Record<string, unknown>): AuthorizedKeySpec => parseSpec(authorizedKeyKind, input);
const ctx = { check: false };
const ps = (extra: Partial<PathState>): PathState => ({
  type: "file",
  mode: "0600",
  owner: "deploy",
  uid: "1001",
  group: "deploy",
  gid: "1001",
  ...extra,
});
const facts = (content: string | undefined, extra: Partial<AuthorizedKeyFacts> = {}): AuthorizedKeyFacts => ({
  userExists: true,
  home: "/home/deploy",
  sshDir: ps({ type: "directory", mode: "0700" }),
  file: content === undefined ? { type: "absent" } : ps({ content }),
  ...extra,
});

describe("authorized_key spec", () => {
  it("accepts key lines, with options and comments", () => {
    expect(spec({ user: "deploy", keys: [K1, `from="10.0.0.1",no-pty ${K2}`] }).exclusive).toBe(false);
    expect(parseKeyLine(`restrict ${K3}`)).toMatchObject({ type: "ecdsa-sha2-nistp256" });
  });
  it("rejects a bad key with a clear message", () => {
    expect(specError(authorizedKeyKind, { user: "deploy", keys: ["ssh-ed25519 notbase64!!"] })).toMatch(
      /keys\.0: not an SSH public key line: expected "TYPE BASE64 \[comment\]"/,
    );
    expect(specError(authorizedKeyKind, { user: "deploy", keys: [`${K1}\n${K2}`] })).toMatch(/single line/);
    // a blob whose embedded type does not match the declared type (a mangled paste)
    expect(
      specError(authorizedKeyKind, { user: "deploy", keys: [K1.replace("ssh-ed25519", "ssh-rsa")] }),
    ).toMatch(/not an SSH public key/);
    expect(
      specError(authorizedKeyKind, { user: "deploy", keys: ["-----BEGIN OPENSSH PRIVATE KEY-----"] }),
    ).toMatch(/not the private key/);
    expect(specError(authorizedKeyKind, { user: "deploy", keys: [] })).toMatch(/keys: keys is empty/);
    // an exclusive empty list would leave a user nobody can log in as
    expect(specError(authorizedKeyKind, { user: "deploy", keys: [], exclusive: true })).toMatch(
      /keys is empty/,
    );
    expect(specError(authorizedKeyKind, { user: "deploy", keys: K1 })).toMatch(/keys must be a list/);
  });
});

describe("authorized_key diff", () => {
  it("no change when the keys are there (comment differences do not matter)", () => {
    expect(
      changesOf(
        authorizedKeyKind,
        spec({ user: "deploy", keys: [K1] }),
        facts(`${K1.replace("alice@laptop", "old")}\n${K2}\n`),
        ctx,
      ),
    ).toEqual([]);
    expect(
      changesOf(
        authorizedKeyKind,
        spec({ user: "deploy", keys: [K1, K2], exclusive: true }),
        facts(`${K1}\n${K2}\n`),
        ctx,
      ),
    ).toEqual([]);
  });
  it("adds a missing key, keeping others", () => {
    const cs = changesOf(
      authorizedKeyKind,
      spec({ user: "deploy", keys: [K1, K3] }),
      facts(`${K2}\n${K1}\n`),
      ctx,
    );
    expect(cs).toHaveLength(1);
    expect(cs[0]!.summary).toBe("update /home/deploy/.ssh/authorized_keys: add 1 key(s)");
    expect(cs[0]!.diff).toContain(`+${K3}`);
    expect(desiredContent(spec({ user: "deploy", keys: [K3] }), K1)).toBe(`${K1}\n${K3}\n`);
  });
  it("exclusive removes other keys", () => {
    const cs = changesOf(
      authorizedKeyKind,
      spec({ user: "deploy", keys: [K1], exclusive: true }),
      facts(`${K1}\n${K2}\n`),
      ctx,
    );
    expect(cs[0]!.summary).toMatch(/remove 1 key/);
    expect(cs[0]!.diff).toContain(`-${K2}`);
  });
  it("exclusive names every undeclared key by fingerprint (as ssh-keygen -l) and comment", () => {
    const intruder = fakeKey("ssh-ed25519", 9, "backdoor@evil");
    const cs = changesOf(
      authorizedKeyKind,
      spec({ user: "deploy", keys: [K1], exclusive: true }),
      facts(`${K1}\n${intruder}\n${K3}\n`),
      ctx,
    );
    const fp = (k: string) =>
      `SHA256:${createHash("sha256")
        .update(Buffer.from(k.split(" ")[1]!, "base64"))
        .digest("base64")
        .replace(/=+$/, "")}`;
    expect(cs.map((c) => c.summary)).toEqual([
      "update /home/deploy/.ssh/authorized_keys: remove 2 key(s)",
      `remove undeclared key ${fp(intruder)} (backdoor@evil) from /home/deploy/.ssh/authorized_keys`,
      `remove undeclared key ${fp(K3)} (no comment) from /home/deploy/.ssh/authorized_keys`,
    ]);
  });
  it("never removes the key of the login in use: kept, with a warning, until a run logs in with a declared key", () => {
    const s = spec({ user: "deploy", keys: [K1], exclusive: true });
    const warnings: string[] = [];
    const login = { user: "deploy", keys: [K2.split(" ").slice(0, 2).join(" ")] };
    const intruder = fakeKey("ssh-ed25519", 9, "backdoor@evil");
    const f = facts(`${K1}\n${K2}\n${intruder}\n`);
    const cs = changesOf(authorizedKeyKind, s, f, { check: false, login, warn: (m) => warnings.push(m) });
    expect(cs.map((c) => c.summary)).toEqual([
      "update /home/deploy/.ssh/authorized_keys: remove 1 key(s)",
      expect.stringMatching(/^remove undeclared key SHA256:\S+ \(backdoor@evil\)/),
    ]);
    expect(warnings).toEqual([
      expect.stringMatching(/^keeping undeclared key SHA256:\S+ \(bob@ci\) .*logged in with it/),
    ]);
    expect(desiredContent(s, f.file!.content!, { login })).toBe(`${K1}\n${K2}\n`);
    const sh = String(applyOf(authorizedKeyKind, s, f, { check: false, login }));
    expect(sh.replace(/\n/g, "")).toContain(Buffer.from(`${K1}\n${K2}\n`).toString("base64"));
    // with only the login's key left over, nothing is a change (the run converges)
    expect(changesOf(authorizedKeyKind, s, facts(`${K1}\n${K2}\n`), { check: false, login })).toEqual([]);
    // the same key of ANOTHER user than the login's is removed
    expect(
      changesOf(authorizedKeyKind, s, facts(`${K1}\n${K2}\n`), {
        check: false,
        login: { ...login, user: "root" },
      }),
    ).toHaveLength(2);
  });
  it("fixes modes and creates .ssh", () => {
    const cs = changesOf(
      authorizedKeyKind,
      spec({ user: "deploy", keys: [K1] }),
      facts(`${K1}\n`, {
        sshDir: ps({ type: "directory", mode: "0755" }),
        file: ps({ content: `${K1}\n`, mode: "0644" }),
      }),
      ctx,
    );
    expect(cs.map((c) => c.summary)).toEqual([
      "/home/deploy/.ssh mode/owner 0755 deploy → 0700 deploy",
      "/home/deploy/.ssh/authorized_keys mode/owner 0644 deploy → 0600 deploy",
    ]);
    const created = changesOf(
      authorizedKeyKind,
      spec({ user: "deploy", keys: [K1] }),
      facts(undefined, { sshDir: { type: "absent" } }),
      ctx,
    );
    expect(created.map((c) => c.summary)).toEqual([
      "create /home/deploy/.ssh (0700)",
      "create /home/deploy/.ssh/authorized_keys: add 1 key(s)",
    ]);
  });
  it("plans the write for a user created earlier in the same run", () => {
    const cs = changesOf(authorizedKeyKind, spec({ user: "deploy", keys: [K1] }), { userExists: false }, ctx);
    expect(cs[0]!.summary).toMatch(/does not exist yet/);
  });
});

describe("authorized_key apply", () => {
  it("resolves the home on the host and appends only missing keys", () => {
    const sh = String(applyOf(authorizedKeyKind, spec({ user: "deploy", keys: [K1, K3] }), facts(`${K1}\n`)));
    expect(sh).toContain("lc_home=$(getent passwd deploy | cut -d: -f6)");
    expect(sh).toContain(`chmod 0700 "$lc_home/.ssh"`);
    expect(sh).toContain(`chmod 0600 "$lc_home/.ssh/authorized_keys"`);
    expect(sh).toContain(`grep -qF -- '${K3.split(" ").slice(0, 2).join(" ")}'`);
    expect(sh).toContain(`chown -- deploy:"$lc_grp" "$lc_home/.ssh/authorized_keys"`);
  });
  it("exclusive writes the whole file atomically", () => {
    const sh = String(
      applyOf(authorizedKeyKind, spec({ user: "deploy", keys: [K1], exclusive: true }), facts(`${K2}\n`)),
    );
    expect(sh).toContain(`mktemp -- "$lc_home/.ssh"/.lockclaw.`);
    expect(sh).toContain(`mv -f -- "$lc_t" "$lc_home/.ssh/authorized_keys"`);
  });
  it("probes root on this machine", () => {
    const f = probeFacts(authorizedKeyKind, spec({ user: "root", keys: [K1] }));
    expect(f.userExists).toBe(true);
    expect(f.home).toBe("/root");
    expect(["absent", "directory"]).toContain(f.sshDir!.type);
    expect(probeFacts(authorizedKeyKind, spec({ user: "lockclaw-nosuchuser", keys: [K1] }))).toEqual({
      userExists: false,
    });
  });
});

describe("authorized_key on this machine (home redirected to a temp dir)", () => {
  it("converges, appending and then exclusively rewriting", () => {
    const dir = mkdtempSync(join(tmpdir(), "lockclaw-ak-"));
    try {
      // a getent shim in PATH makes "root" live in the temp dir, so the real sh runs without touching /root
      const bin = join(dir, "bin");
      const home = join(dir, "home");
      mkdirSync(bin);
      mkdirSync(home);
      writeFileSync(
        join(bin, "getent"),
        `#!/bin/sh\n[ "$1" = passwd ] && [ "$2" = root ] && echo "root:x:0:0:root:${home}:/bin/sh" && exit 0\nexit 2\n`,
      );
      chmodSync(join(bin, "getent"), 0o755);
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };

      const r1 = converge(authorizedKeyKind, spec({ user: "root", keys: [K1] }), env);
      expect(r1.changes.map((c) => c.summary)).toEqual([
        `create ${home}/.ssh (0700)`,
        `create ${home}/.ssh/authorized_keys: add 1 key(s)`,
      ]);
      expect(r1.after).toEqual([]);
      expect(statSync(join(home, ".ssh")).mode & 0o777).toBe(0o700);
      expect(statSync(join(home, ".ssh/authorized_keys")).mode & 0o777).toBe(0o600);

      // a hand-added key without trailing newline survives and does not get glued to ours
      writeFileSync(join(home, ".ssh/authorized_keys"), `${K1}\n${K2}`);
      const r2 = converge(authorizedKeyKind, spec({ user: "root", keys: [K1, K3] }), env);
      expect(r2.after).toEqual([]);
      expect(readFileSync(join(home, ".ssh/authorized_keys"), "utf8")).toBe(`${K1}\n${K2}\n${K3}\n`);

      const r3 = converge(authorizedKeyKind, spec({ user: "root", keys: [K3], exclusive: true }), env);
      expect(r3.after).toEqual([]);
      expect(readFileSync(join(home, ".ssh/authorized_keys"), "utf8")).toBe(`${K3}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
