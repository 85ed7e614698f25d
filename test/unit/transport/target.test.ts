import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/core/errors.js";
import { parseSpec, resolveTarget, type ResolveTargetOptions } from "../../../src/transport/target.js";

describe("parseSpec", () => {
  it.each([
    ["host", { user: undefined, host: "host", port: undefined }],
    ["deploy@host", { user: "deploy", host: "host", port: undefined }],
    ["deploy@host:2222", { user: "deploy", host: "host", port: 2222 }],
    ["192.0.2.7:22", { user: undefined, host: "192.0.2.7", port: 22 }],
    ["[::1]:2222", { user: undefined, host: "::1", port: 2222 }],
    ["root@[fe80::1]", { user: "root", host: "fe80::1", port: undefined }],
    ["::1", { user: undefined, host: "::1", port: undefined }],
    ["ssh://u@h:2200", { user: "u", host: "h", port: 2200 }],
  ])("%s", (spec, want) => {
    expect(parseSpec(spec)).toEqual(want);
  });
  it.each(["", "@host", "host:0", "host:70000", "host:ab", "[::1", "[::1]x", "a b"])("rejects %j", (spec) => {
    expect(() => parseSpec(spec)).toThrow(ConfigError);
  });
});

describe("resolveTarget", () => {
  let home: string;
  let opts: ResolveTargetOptions;
  const key = (name: string) => {
    const p = join(home, ".ssh", name);
    writeFileSync(p, "not parsed here\n", { mode: 0o600 });
    return p;
  };
  const config = (text: string) => writeFileSync(join(home, ".ssh", "config"), text);

  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), "lc-target-"));
    mkdirSync(join(home, ".ssh"), { mode: 0o700 });
    opts = { homeDir: home, env: { SSH_AUTH_SOCK: "/tmp/agent.sock" } };
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it("without a config file: defaults, existing default keys only, agent from $SSH_AUTH_SOCK", () => {
    const ed = key("id_ed25519");
    const rsa = key("id_rsa");
    const t = resolveTarget("deploy@box", opts);
    expect(t).toEqual({
      name: "deploy@box",
      host: "box",
      port: 22,
      user: "deploy",
      identityFiles: [ed, rsa],
      agent: "/tmp/agent.sock",
      hostKeyPolicy: "strict",
      knownHostsFile: join(home, ".ssh", "known_hosts"),
    });
  });

  it("applies HostName, Port, User, IdentityFile (~ and %-tokens) from a matching Host block", () => {
    const k1 = key("box_key");
    const k2 = key("box.lab.example-deploy"); // %h is the HostName, as in OpenSSH
    key("id_ed25519"); // a default key: not used because IdentityFile is set
    config(
      [
        "Host box",
        "  HostName %h.lab.example",
        "  Port 2222",
        "  User deploy",
        "  IdentityFile ~/.ssh/box_key",
        "  IdentityFile %d/.ssh/%h-%r",
        "  IdentityFile ~/.ssh/does-not-exist",
        "Host *",
        "  User fallback",
        "  Port 2999",
      ].join("\n"),
    );
    const t = resolveTarget("box", opts);
    expect(t.host).toBe("box.lab.example");
    expect(t.port).toBe(2222); // first value wins, as in OpenSSH
    expect(t.user).toBe("deploy");
    expect(t.identityFiles).toEqual([k1, k2]); // the missing one is skipped, as OpenSSH does
    const other = resolveTarget("other", opts);
    expect([other.host, other.port, other.user]).toEqual(["other", 2999, "fallback"]);
  });

  it("explicit values beat the spec, which beats ssh config", () => {
    const cfgKey = key("cfg_key");
    const cliKey = key("cli_key");
    config(`Host box\n  HostName 192.0.2.10\n  Port 2222\n  User cfguser\n  IdentityFile ${cfgKey}\n`);
    const fromSpec = resolveTarget("specuser@box:2200", opts);
    expect([fromSpec.user, fromSpec.port, fromSpec.host]).toEqual(["specuser", 2200, "192.0.2.10"]);
    const fromCli = resolveTarget("specuser@box:2200", {
      ...opts,
      user: "cli",
      port: 2300,
      keyFiles: [cliKey],
    });
    expect([fromCli.user, fromCli.port]).toEqual(["cli", 2300]);
    expect(fromCli.identityFiles).toEqual([cliKey, cfgKey]); // -k offered first
  });

  it("a missing -k key file is a ConfigError naming the file", () => {
    expect(() => resolveTarget("box", { ...opts, keyFiles: [join(home, "nope")] })).toThrow(
      /nope does not exist/,
    );
  });

  it("resolves ProxyJump (and a chain) with each hop's own config", () => {
    key("id_ed25519");
    config(
      [
        "Host box",
        "  HostName 10.99.0.5",
        "  ProxyJump jumper@bastion:2022",
        "Host chained",
        "  ProxyJump first,second:2200",
        "Host bastion",
        "  HostName bastion.example",
        "Host first",
        "  User firstuser",
      ].join("\n"),
    );
    const t = resolveTarget("box", { ...opts, user: "deploy" });
    expect(t.user).toBe("deploy");
    expect(t.proxyJump).toMatchObject({
      host: "bastion.example",
      port: 2022,
      user: "jumper",
      name: "jumper@bastion:2022",
    });
    expect(t.proxyJump?.proxyJump).toBeUndefined();

    const c = resolveTarget("chained", opts);
    // target <- second <- first
    expect(c.proxyJump).toMatchObject({ host: "second", port: 2200 });
    expect(c.proxyJump?.proxyJump).toMatchObject({ host: "first", user: "firstuser", port: 22 });
  });

  it("stops a ProxyJump loop with a clear error", () => {
    config("Host *\n  ProxyJump bastion\n");
    expect(() => resolveTarget("box", opts)).toThrow(/ProxyJump chain .* deeper/);
  });

  it("honours UserKnownHostsFile and IdentityAgent none; explicit options win", () => {
    config("Host box\n  UserKnownHostsFile ~/kh/known\n  IdentityAgent none\n");
    const t = resolveTarget("box", opts);
    expect(t.knownHostsFile).toBe(join(home, "kh", "known"));
    expect(t.agent).toBeUndefined();
    const o = resolveTarget("box", {
      ...opts,
      knownHostsFile: "/x/kh",
      hostKeyPolicy: "accept-new",
      agent: "/a.sock",
    });
    expect([o.knownHostsFile, o.hostKeyPolicy, o.agent]).toEqual(["/x/kh", "accept-new", "/a.sock"]);
  });

  it("a bad Port in the config names the config file", () => {
    config("Host box\n  Port many\n");
    let err: unknown;
    try {
      resolveTarget("box", opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(join(home, ".ssh", "config"));
    expect((err as Error).message).toContain('"many"');
  });

  it("uses the given sshConfigPath", () => {
    const alt = join(home, "alt_config");
    writeFileSync(alt, "Host box\n  Port 2022\n");
    expect(resolveTarget("box", { ...opts, sshConfigPath: alt }).port).toBe(2022);
    expect(resolveTarget("box", { ...opts, sshConfigPath: join(home, "absent") }).port).toBe(22);
  });
});
