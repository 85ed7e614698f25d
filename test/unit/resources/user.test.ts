import { describe, expect, it } from "vitest";
import { parseUserFacts, userKind, type UserFacts, type UserSpec } from "../../../src/resources/user.js";
import { applyOf, changesOf, parseSpec, probeFacts, specError } from "./helpers.js";

const spec = (input: Record<string, unknown>): UserSpec => parseSpec(userKind, input);
const ctx = { check: false };
const deploy: UserFacts = {
  exists: true,
  uid: "1001",
  home: "/home/deploy",
  shell: "/bin/bash",
  primaryGroup: "deploy",
  groups: ["sudo"],
  locked: true,
  hasHash: false,
};

describe("user spec", () => {
  it("accepts good input with defaults", () => {
    expect(spec({ name: "deploy", shell: "/bin/bash", groups: ["sudo", "docker"] })).toMatchObject({
      append: true,
      system: false,
      state: "present",
    });
  });
  it("rejects bad input", () => {
    expect(specError(userKind, { name: "Deploy user" })).toMatch(/name: name must be a user\/group name/);
    expect(specError(userKind, { name: "deploy", groups: "sudo" })).toMatch(/groups must be a list/);
    expect(specError(userKind, { name: "deploy", shell: "bash" })).toMatch(/shell: path must be absolute/);
    expect(specError(userKind, { name: "deploy", password: "x" })).toMatch(/Unrecognized key: "password"/);
  });
});

describe("user parse", () => {
  it("reads an existing and a missing user", () => {
    const out =
      "passwd=deploy:x:1001:1001:Deploy,,,:/home/deploy:/bin/bash\nprimary=deploy\ngroups=deploy sudo docker\nlocked=1\nhash=0\n";
    expect(parseUserFacts(out, "deploy")).toEqual({ ...deploy, groups: ["sudo", "docker"] });
    expect(parseUserFacts("passwd=\n", "deploy")).toEqual({ exists: false });
    expect(() => parseUserFacts("", "deploy")).toThrow(/no passwd= line/);
    expect(() => parseUserFacts("passwd=other:x:1:1::/:/bin/sh\n", "deploy")).toThrow(
      /unexpected passwd line/,
    );
  });
  it("never asks the host for the hash itself", () => {
    const script = String(userKind.probe(spec({ name: "deploy" })).script);
    expect(script).toContain("getent shadow");
    expect(script).not.toMatch(/echo "?\$\(getent shadow/);
  });
  it("probes root and a missing user on this machine", () => {
    const root = probeFacts(userKind, spec({ name: "root" }));
    expect(root).toMatchObject({ exists: true, uid: "0", home: "/root", primaryGroup: "root" });
    expect(probeFacts(userKind, spec({ name: "lockclaw-nosuchuser" }))).toEqual({ exists: false });
  });
});

describe("user diff/apply", () => {
  it("no change", () => {
    expect(
      changesOf(
        userKind,
        spec({ name: "deploy", shell: "/bin/bash", groups: ["sudo"], password_locked: true }),
        deploy,
        ctx,
      ),
    ).toEqual([]);
    // the primary group in groups is not a drift
    expect(changesOf(userKind, spec({ name: "deploy", groups: ["deploy", "sudo"] }), deploy, ctx)).toEqual(
      [],
    );
  });
  it("creates a user", () => {
    const s = spec({ name: "deploy", shell: "/bin/bash", groups: ["sudo"] });
    expect(changesOf(userKind, s, { exists: false }, ctx)[0]!.summary).toBe(
      "create user deploy (shell /bin/bash, groups sudo)",
    );
    const sh = String(applyOf(userKind, s, { exists: false }));
    expect(sh).toContain("getent group sudo >/dev/null || {");
    expect(sh).toContain("useradd -m -s /bin/bash -G sudo -- deploy");
    expect(String(applyOf(userKind, spec({ name: "svc", system: true }), { exists: false }))).toBe(
      "useradd -r -- svc",
    );
  });
  it("appends missing groups, or sets them exactly", () => {
    const s = spec({ name: "deploy", groups: ["sudo", "docker"] });
    expect(changesOf(userKind, s, deploy, ctx)[0]!.summary).toBe("add user deploy to docker");
    expect(String(applyOf(userKind, s, deploy))).toMatch(/usermod -a -G docker -- deploy$/);
    const exact = spec({ name: "deploy", groups: ["docker"], append: false });
    expect(changesOf(userKind, exact, deploy, ctx)[0]!.summary).toBe("user deploy groups +docker -sudo");
    expect(String(applyOf(userKind, exact, deploy))).toMatch(/usermod -G docker -- deploy$/);
  });
  it("shell/home drift, locking, removal", () => {
    expect(
      String(applyOf(userKind, spec({ name: "deploy", shell: "/bin/sh", home: "/srv/d" }), deploy)),
    ).toBe("usermod -s /bin/sh -d /srv/d -- deploy");
    const unlocked = { ...deploy, locked: false, hasHash: true };
    expect(String(applyOf(userKind, spec({ name: "deploy", password_locked: true }), unlocked))).toBe(
      "usermod -L -- deploy",
    );
    // locked with no hash: unlocking would make a passwordless account, so it is left alone
    expect(changesOf(userKind, spec({ name: "deploy", password_locked: false }), deploy, ctx)).toEqual([]);
    expect(
      String(
        applyOf(userKind, spec({ name: "deploy", password_locked: false }), { ...deploy, hasHash: true }),
      ),
    ).toBe("usermod -U -- deploy");
    expect(changesOf(userKind, spec({ name: "deploy", state: "absent" }), deploy, ctx)[0]!.summary).toMatch(
      /remove user deploy/,
    );
    expect(String(applyOf(userKind, spec({ name: "deploy", state: "absent" }), deploy))).toBe(
      "userdel -- deploy",
    );
    expect(changesOf(userKind, spec({ name: "deploy", state: "absent" }), { exists: false }, ctx)).toEqual(
      [],
    );
  });
});
