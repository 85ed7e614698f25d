/**
 * Typed variables (issue 10): which values the built-in playbooks accept, wherever a value comes from
 * (--var, a vars file, an inventory host), refused before anything connects, with the source named and
 * never a secret's value.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCloudflareRanges } from "../../../src/cloudflare/ranges.js";
import { ConfigError } from "../../../src/core/errors.js";
import { loadInventory } from "../../../src/engine/inventory.js";
import { builtinPlaybook } from "../../../src/engine/paths.js";
import { loadPlaybook } from "../../../src/engine/playbook/loader.js";
import { prepareRun, type RunOptions } from "../../../src/engine/run.js";
import { namedType, TYPE_NAMES } from "../../../src/engine/var-types.js";
import { parseVarArg, readVarsFile, type VarOverride } from "../../../src/engine/vars.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { testTarget } from "./target.fixture.js";

const dir = mkdtempSync(join(tmpdir(), "lc-vars-"));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const PAYLOAD = "debian' in x) ;; esac; id > /var/tmp/p; case 'debian";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@laptop";

function run(
  which: "host" | "stack" | "all",
  o: { vars?: string[]; overrides?: VarOverride[]; hostVars?: VarOverride[]; allowWorld?: boolean } = {},
) {
  const files =
    which === "host"
      ? [builtinPlaybook("host")]
      : which === "stack"
        ? [builtinPlaybook("docker"), builtinPlaybook("stack")]
        : [builtinPlaybook("host"), builtinPlaybook("docker"), builtinPlaybook("stack")];
  const opts: RunOptions = {
    playbookFile: files,
    kinds: resourceKinds,
    hosts: [
      {
        target: testTarget("h"),
        vars: [
          { name: "authorized_keys", value: [KEY], from: { file: "(login key)" }, implicit: true },
          ...(o.hostVars ?? []),
        ],
      },
    ],
    overrides: [...(o.overrides ?? []), ...(o.vars ?? []).map(parseVarArg)],
    builtins: { cloudflare_ranges: loadCloudflareRanges() },
    connector: () => Promise.reject(new Error("prepareRun must not connect")),
    onEvent: () => undefined,
    allowWorld: o.allowWorld,
  };
  return prepareRun(opts);
}

function refusal(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  return expect.unreachable("accepted");
}

describe("typed variables of the built-in playbooks", () => {
  it("types every variable of host.yml, docker.yml and stack.yml (and each default fits its type)", () => {
    for (const name of ["host", "docker", "stack"] as const) {
      const play = loadPlaybook(builtinPlaybook(name), resourceKinds).plays[0]!;
      expect(Object.keys(play.varTypes).sort(), name).toEqual(Object.keys(play.vars).sort());
    }
    expect(() => run("all")).not.toThrow();
  });

  it("refuses the docker_source payload of case 1 from --var, a vars file and an inventory host", () => {
    const viaVar = refusal(() => run("stack", { vars: [`docker_source=${PAYLOAD}`] }));
    expect(viaVar.message).toMatch(
      /^--var \(at docker_source\): variable 'docker_source' must be one of debian, docker/,
    );
    expect(viaVar.fix).toContain("--var docker_source=debian");

    const file = write("payload-vars.yml", `stack_timeout: 300\ndocker_source: "${PAYLOAD}"\n`);
    const viaFile = refusal(() => run("stack", { overrides: readVarsFile(file) }));
    expect(viaFile.location).toMatchObject({ file, line: 2, path: "docker_source" });
    expect(viaFile.message).toContain("must be one of debian, docker");

    const inv = write(
      "payload-inv.yml",
      `hosts:\n  web1:\n    address: lab:x\n    vars:\n      docker_source: "${PAYLOAD}"\n`,
    );
    const viaInventory = refusal(() =>
      run("stack", { hostVars: loadInventory(inv).hosts.get("web1")!.vars }),
    );
    expect(viaInventory.location).toMatchObject({
      file: inv,
      line: 5,
      path: "hosts.web1.vars.docker_source",
    });
  });

  it("refuses an egress_proxy or image_smokescreen that is not an enum word / an image reference", () => {
    expect(refusal(() => run("stack", { vars: ["egress_proxy=squid'; id; '"] })).message).toContain(
      "must be one of squid, smokescreen",
    );
    expect(
      refusal(() => run("stack", { vars: ["image_smokescreen=x' ] || id > /tmp/p || [ '"] })).message,
    ).toContain("must be a container image reference");
    expect(() =>
      run("stack", { vars: ["image_smokescreen=registry.example:5000/smokescreen:1.0"] }),
    ).not.toThrow();
  });

  it("refuses deploy_user root and anything not a lowercase POSIX user name, blaming --var", () => {
    const root = refusal(() => run("host", { vars: ["deploy_user=root"] }));
    expect(root.message).toMatch(
      /^--var \(at deploy_user\): variable 'deploy_user' must be a lowercase POSIX user name/,
    );
    expect(root.message).toContain("root is not a deploy user");
    const upper = refusal(() => run("host", { vars: ["deploy_user=Root"] }));
    expect(upper.message).toContain("not a lowercase POSIX user name");
    expect(upper.location?.file).toBe("--var");
    expect(() => run("host", { vars: ["deploy_user=ops-1"] })).not.toThrow();
  });

  it("takes ports and counts in decimal only (0x8AE and 1e3 refused, from --var and from a vars file)", () => {
    for (const v of ["0x8AE", "1e3", " 2222", "+2222", "2222.0", "0", "65536"]) {
      const err = refusal(() => run("host", { vars: [`ssh_port=${v}`] }));
      expect(err.message, v).toContain("variable 'ssh_port' must be a TCP port 1-65535 in decimal");
    }
    const file = write("hex.yml", "ssh_port: 0x8AE\n");
    expect(refusal(() => run("host", { overrides: readVarsFile(file) })).location).toMatchObject({
      file,
      line: 1,
    });
    const { perHost } = run("host", { overrides: readVarsFile(write("dec.yml", "ssh_port: 2200\n")) });
    expect(perHost[0]!.plays[0]!.vars.ssh_port).toBe(2200);
    expect(refusal(() => run("stack", { vars: ["stack_timeout=1e3"] })).message).toContain("in decimal");
  });

  it("refuses a world CIDR in admin_cidrs unless --allow-world, and a bad CIDR blames --var, not host.yml", () => {
    const world = refusal(() => run("host", { vars: ["admin_cidrs=0.0.0.0/0,::/0"] }));
    expect(world.message).toContain("0.0.0.0/0 is the whole IPv4 internet");
    expect(world.fix).toContain("--allow-world");
    expect(refusal(() => run("host", { vars: ["admin_cidrs=10.0.0.0/8,::/0"] })).message).toContain(
      "::/0 is the whole IPv6 internet",
    );
    // a /0 of any address is the world too (refused as such, or for its host bits)
    expect(refusal(() => run("host", { vars: ["admin_cidrs=1.2.3.4/0"] })).message).toMatch(
      /host bits|internet/,
    );
    const { perHost } = run("host", { vars: ["admin_cidrs=0.0.0.0/0,::/0"], allowWorld: true });
    expect(perHost[0]!.plays[0]!.vars.admin_cidrs).toEqual(["0.0.0.0/0", "::/0"]);

    const bad = refusal(() => run("host", { vars: ["admin_cidrs=10.0.0.0/33"] }));
    expect(bad.location).toEqual({ file: "--var", path: "admin_cidrs" });
    expect(bad.message).toContain("prefix length must be 0-32");
  });

  it("never shows a secret variable's value in an error", () => {
    const secret = "sk-ant-very-secret-value";
    for (const arg of [`anthropic_api_key=${secret}\u0007`, `openai_api_key=${secret}\u001b[2J`]) {
      const err = refusal(() => run("stack", { vars: [arg] }));
      expect(err.message).toContain("a secret: value not shown");
      expect(err.message).not.toContain(secret);
    }
  });

  it("refuses an inventory variable that no play declares (ssh_prot: 2200), naming the host's line", () => {
    const inv = write("typo.yml", "hosts:\n  web1:\n    address: lab:x\n    vars: { ssh_prot: 2200 }\n");
    const err = refusal(() => run("host", { hostVars: loadInventory(inv).hosts.get("web1")!.vars }));
    expect(err.message).toContain("unknown variable 'ssh_prot'");
    expect(err.location).toMatchObject({ file: inv, line: 4, path: "hosts.web1.vars.ssh_prot" });
    // lockclaw's own implicit authorized_keys is not refused by a run whose plays do not declare it
    expect(() => run("stack")).not.toThrow();
  });

  it("types each value tightly: sizes, image references, domain patterns, origins, paths", () => {
    const ok = (t: string, v: unknown) => "value" in namedType(t)!.accept(v, { allowWorld: false });
    expect(ok("size", "1g") && ok("size", "512m") && ok("size", "10")).toBe(true);
    expect(ok("size", "1g; id") || ok("size", "0x10") || ok("size", "")).toBe(false);
    expect(ok("image_ref", "redis:7.4-bookworm")).toBe(true);
    expect(ok("image_ref", `redis@sha256:${"a".repeat(64)}`)).toBe(true);
    expect(ok("image_ref", "redis:7 ; id") || ok("image_ref", "$(id)")).toBe(false);
    expect(ok("domain_pattern_list", ["*.anthropic.com", ".openai.com"])).toBe(true);
    expect(
      ok("domain_pattern_list", ["*"]) || ok("domain_pattern_list", ["a.com\nhttp_access allow all"]),
    ).toBe(false);
    expect(ok("origin_list", ["https://claw.example.com"])).toBe(true);
    expect(ok("origin_list", ["*"]) || ok("origin_list", ["https://a.com/path"])).toBe(false);
    expect(ok("abs_path", "/home/deploy")).toBe(true);
    expect(ok("abs_path", "/home/../etc") || ok("abs_path", "/a b") || ok("abs_path", "rel")).toBe(false);
    expect(ok("public_keys", [KEY])).toBe(true);
    expect(ok("public_keys", ["not a key"])).toBe(false);
    // every type's own example is accepted (the fix an error prints must work)
    for (const name of TYPE_NAMES.filter((n) => !["public_keys", "secret_token"].includes(n))) {
      const t = namedType(name)!;
      expect(ok(name, t.example), name).toBe(true);
    }
  });
});

describe("YAML alias bombs", () => {
  const bomb =
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";

  it("is a located ConfigError in a vars file, an inventory and a playbook (no ReferenceError)", () => {
    const vf = write("bomb-vars.yml", bomb);
    const inv = write("bomb-inv.yml", `${bomb}hosts: {}\n`);
    const pb = write("bomb-pb.yml", `vars:\n  ${bomb.replace(/\n(?=.)/g, "\n  ")}tasks: []\n`);
    for (const [file, f] of [
      [vf, () => readVarsFile(vf)],
      [inv, () => loadInventory(inv)],
      [pb, () => loadPlaybook(pb, resourceKinds)],
    ] as const) {
      const err = refusal(f);
      expect(err.message).toContain("YAML aliases expand too far");
      expect(err.location?.file).toBe(file);
      expect(err.location?.line).toBeGreaterThan(1);
    }
  });
});

describe("-e as Ansible takes it", () => {
  it("reads key=value, @file and a JSON mapping, numbers as written", async () => {
    const { parseVarOption } = await import("../../../src/engine/vars.js");
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    expect(parseVarOption("a=1")).toEqual([{ name: "a", value: "1", from: { file: "--var", path: "a" } }]);
    expect(parseVarOption('{"ssh_port": 1e3, "admin_cidrs": ["10.0.0.0/8"]}')).toEqual([
      { name: "ssh_port", value: "1e3", from: { file: "--var", path: "ssh_port" } },
      { name: "admin_cidrs", value: ["10.0.0.0/8"], from: { file: "--var", path: "admin_cidrs" } },
    ]);
    const f = join(mkdtempSync(join(tmpdir(), "lc-vars-")), "v.yml");
    writeFileSync(f, "x: 1\ny: [a]\n");
    expect(parseVarOption(`@${f}`).map((o) => [o.name, o.value, o.from.line])).toEqual([
      ["x", "1", 1],
      ["y", ["a"], 2],
    ]);
    expect(() => parseVarOption('{"a": ')).toThrowError(/--var.*YAML syntax error/);
    expect(() => parseVarOption('{"a b": 1}')).toThrowError(/not a variable name/);
    expect(() => parseVarOption("@/nonexistent/v.yml")).toThrowError(/cannot read vars file/);
  });
});
