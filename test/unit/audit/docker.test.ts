import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dockerAuditScript, evaluateDockerAudit } from "../../../src/audit/docker.js";

const E = { user: "lockclaw-agent", operator: "deploy", project: "lockclaw", stackDir: "/srv/lockclaw" };
/** What the audit reads of a daemon user made by playbooks/docker.yml (no sudo, locked, nologin). */
const AGENT = [
  "groups=lockclaw-agent",
  "sudo=User lockclaw-agent is not allowed to run sudo on host. ",
  "pw=!",
  "shell=/usr/sbin/nologin",
  "operator_groups=deploy,sudo",
];
const M = "@@lockclaw-docker";
const COMPOSE = `
x-hardening: &hardening
  read_only: true
networks:
  openclaw-net: { internal: true }
  egress-net: {}
services:
  redis:
    <<: *hardening
    networks: [openclaw-net]
  egress:
    <<: *hardening
    networks: [openclaw-net, egress-net]
  writable:
    networks: { openclaw-net: {} }
`;
const out = (
  containers: string[],
  exposed: string[] = [],
  rootful = "inactive inactive",
  roots = "0",
  compose = COMPOSE,
  daemonUser = AGENT,
) =>
  [
    `${M} installed`,
    "yes",
    `${M} rootful`,
    rootful,
    roots,
    `${M} daemon-user`,
    ...daemonUser,
    `${M} info`,
    '["name=seccomp,profile=builtin","name=rootless","name=cgroupns","name=no-new-privileges"]',
    `${M} containers`,
    ...containers,
    `${M} compose`,
    ...(compose ? [Buffer.from(compose).toString("base64")] : []),
    `${M} exposed`,
    ...exposed,
    `${M} end`,
  ].join("\n");
const line = (name: string, service: string, readonly: string, nets: string) =>
  `/${name}|4242|running|healthy|false|${readonly}|["ALL"]|["no-new-privileges:true"]|${service}|${nets}|CapEff: 0000000000000000 NoNewPrivs: 1 `;
const GOOD = line("lockclaw-redis-1", "redis", "true", "lockclaw_openclaw-net ");

describe("docker audit", () => {
  it("is valid sh", () => {
    execFileSync("sh", ["-n", "-c", String(dockerAuditScript(E))]);
  });

  it("passes a rootless daemon with a hardened, healthy container", () => {
    const checks = evaluateDockerAudit(out([GOOD]), E);
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(checks.map((c) => c.id)).toEqual([
      "docker.rootful",
      "docker.user.sudo",
      "docker.user.login",
      "docker.rootless",
      "container.lockclaw-redis-1.running",
      "container.lockclaw-redis-1.caps",
      "container.lockclaw-redis-1.nnp",
      "container.lockclaw-redis-1.readonly",
      "container.lockclaw-redis-1.networks",
      "containers.secrets",
    ]);
  });

  it("holds each container to the compose file: read-only where asked, exactly the declared networks", () => {
    const checks = evaluateDockerAudit(
      out([
        // egress lost its read-only root and sits on a network it was never given
        line("lockclaw-egress-1", "egress", "false", "lockclaw_openclaw-net lockclaw_egress-net bridge "),
        // not asked to be read-only: a writable root is fine
        line("lockclaw-writable-1", "writable", "false", "lockclaw_openclaw-net "),
        line("stray", "miner", "true", "bridge "),
      ]),
      E,
    );
    const failed = checks.filter((c) => !c.pass).map((c) => `${c.id}: ${c.evidence}`);
    expect(failed).toEqual([
      "container.lockclaw-egress-1.readonly: read_only in compose: true; ReadonlyRootfs: false",
      "container.lockclaw-egress-1.networks: declared lockclaw_egress-net lockclaw_openclaw-net; attached bridge lockclaw_egress-net lockclaw_openclaw-net",
      expect.stringMatching(/^container.stray.declared: service miner is not in the project's compose file/),
    ]);
    const unreadable = evaluateDockerAudit(out([GOOD], [], "inactive inactive", "0", ""), E);
    expect(unreadable.find((c) => !c.pass)?.evidence).toBe("the project's compose file could not be read");
  });

  it("fails on a capability, a missing no-new-privileges, an unhealthy container, a rootful daemon and an exposed secret", () => {
    const bad =
      "/lockclaw-gateway-1|77|running|unhealthy|false|false|[]|[]|redis|lockclaw_openclaw-net |CapEff: 00000000a80425fb NoNewPrivs: 0 ";
    const failed = evaluateDockerAudit(
      out([bad], ["/lockclaw-gateway-1 gateway_token"], "active inactive", "1"),
      E,
    )
      .filter((c) => !c.pass)
      .map((c) => `${c.id}: ${c.evidence}`);
    expect(failed).toEqual([
      expect.stringMatching(/^docker.rootful: .*active.*root dockerd processes: 1/),
      expect.stringMatching(/^container.lockclaw-gateway-1.running: running, health unhealthy/),
      expect.stringMatching(/^container.lockclaw-gateway-1.caps: .*CapEff 00000000a80425fb/),
      expect.stringMatching(/^container.lockclaw-gateway-1.nnp: .*NoNewPrivs 0/),
      expect.stringMatching(
        /^container.lockclaw-gateway-1.readonly: read_only in compose: true; ReadonlyRootfs: false/,
      ),
      expect.stringMatching(/^containers.secrets: exposed: \/lockclaw-gateway-1 gateway_token/),
    ]);
  });

  it("fails a daemon user that has sudo, a root-capable or the operator's group, a password or a shell", () => {
    const failedWith = (daemonUser: string[], e = E) =>
      evaluateDockerAudit(out([GOOD], [], "inactive inactive", "0", COMPOSE, daemonUser), e)
        .filter((c) => !c.pass)
        .map((c) => `${c.id}: ${c.evidence}`);
    expect(failedWith(AGENT)).toEqual([]);
    // the hole this closes: the daemon run by deploy, who has NOPASSWD sudo
    const asDeploy = [
      "groups=deploy,sudo",
      "sudo=Matching Defaults entries for deploy on host: use_pty User deploy may run the following commands on host: (ALL : ALL) NOPASSWD: ALL ",
      "pw=!",
      "shell=/bin/bash",
      "operator_groups=deploy,sudo",
    ];
    expect(failedWith(asDeploy, { ...E, user: "deploy" })).toEqual([
      expect.stringMatching(
        /^docker.user.sudo: sudo -l: Matching .*NOPASSWD.*; root-capable: sudo; shared with deploy: deploy,sudo$/,
      ),
      "docker.user.login: password locked; shell /bin/bash",
    ]);
    const shared = AGENT.map((l) => (l.startsWith("groups=") ? "groups=lockclaw-agent,deploy" : l));
    expect(failedWith(shared)).toEqual([
      expect.stringMatching(/^docker.user.sudo: .*shared with deploy: deploy$/),
    ]);
    const withPassword = AGENT.map((l) => (l.startsWith("pw=") ? "pw=$" : l));
    expect(failedWith(withPassword)).toEqual(["docker.user.login: password set; shell /usr/sbin/nologin"]);
    expect(failedWith(["absent"])).toEqual(["docker.user: user lockclaw-agent not found"]);
  });

  it("reports a host without Docker as not provisioned, not as a failure", () => {
    const checks = evaluateDockerAudit(`${M} installed\nno\n${M} end\n`, E);
    expect(checks).toEqual([expect.objectContaining({ id: "docker.installed", pass: true })]);
  });
});

describe("listeners of rootless Docker", () => {
  it("passes slirp4netns's outbound UDP sockets but not a port rootlesskit publishes", async () => {
    const { parseSs, isRootlessOutboundUdp } = await import("../../../src/audit/host.js");
    const [slirp, published] = parseSs(
      [
        'UNCONN 0 0 0.0.0.0:42943 0.0.0.0:* users:(("slirp4netns",pid=901,fd=9))',
        'UNCONN 0 0 0.0.0.0:5353 0.0.0.0:* users:(("rootlesskit",pid=880,fd=12))',
      ]
        .map((l) => `udp ${l}`)
        .join("\n"),
    );
    expect(isRootlessOutboundUdp(slirp!)).toBe(true);
    expect(isRootlessOutboundUdp(published!)).toBe(false);
  });
});

describe("docker audit: the compose files it reads", () => {
  // the config_files label is the daemon user's to set: a planted one must not make root print a file
  it("reads only plain files directly in the stack dir, whatever the label names", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-audit-label-"));
    const stack = join(dir, "stack");
    const bin = join(dir, "bin");
    mkdirSync(join(stack, "openclaw"), { recursive: true });
    mkdirSync(bin);
    writeFileSync(join(stack, "compose.yml"), "services: {}\n");
    writeFileSync(join(dir, "outside"), "OUTSIDE-1\n");
    writeFileSync(join(stack, "openclaw", "deeper"), "OUTSIDE-2\n");
    symlinkSync(join(dir, "outside"), join(stack, "link.yml"));
    const label = [
      join(stack, "compose.yml"),
      join(dir, "outside"),
      `${stack}/../outside`,
      join(stack, "openclaw", "deeper"),
      join(stack, "link.yml"),
    ].join(",");
    // stand-ins for the daemon's side only: runuser runs what follows `--`, docker answers one container
    writeFileSync(
      join(bin, "runuser"),
      '#!/bin/sh\nwhile [ "$1" != -- ]; do shift; done; shift; exec "$@"\n',
      {
        mode: 0o755,
      },
    );
    writeFileSync(
      join(bin, "docker"),
      `#!/bin/sh\ncase "$1" in ps) echo c1 ;; inspect) case "$3" in *config_files*) echo '${label}' ;; esac ;; esac\n`,
      { mode: 0o755 },
    );
    const stdout = execFileSync(
      "sh",
      ["-c", String(dockerAuditScript({ ...E, user: "root", stackDir: stack }))],
      {
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      },
    );
    const section = stdout.split(`${M} compose\n`)[1]!.split(`${M} exposed`)[0]!;
    const read = section
      .split("\n")
      .filter(Boolean)
      .map((b) => Buffer.from(b, "base64").toString("utf8"));
    expect(read).toEqual(["services: {}\n"]);
  });
});

describe("docker audit: compose v1 (docker-compose 1.29, Debian 12)", () => {
  // v1 names containers project_service_1 and labels the compose file with the name it was given,
  // relative to the directory it ran in (lockclaw runs it in the stack dir): the audit must still hold
  // each container to that file
  it("reads a bare config_files name in the stack dir and holds project_service_1 containers to it", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-audit-v1-"));
    const stack = join(dir, "stack");
    const bin = join(dir, "bin");
    mkdirSync(stack, { recursive: true });
    mkdirSync(bin);
    writeFileSync(join(stack, "compose.yml"), COMPOSE);
    writeFileSync(join(dir, "outside.yml"), "OUTSIDE\n");
    symlinkSync(join(dir, "outside.yml"), join(stack, "link.yml"));
    const fmtLine = (name: string, service: string, ro: string, nets: string) =>
      `/${name}|1|running|healthy|false|${ro}|["ALL"]|["no-new-privileges:true"]|${service}|${nets}`;
    writeFileSync(
      join(bin, "runuser"),
      '#!/bin/sh\nwhile [ "$1" != -- ]; do shift; done; shift; exec "$@"\n',
      {
        mode: 0o755,
      },
    );
    writeFileSync(join(bin, "dockerd"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    // docker as compose v1 left it: two containers, the label naming compose.yml bare (plus hostile names)
    writeFileSync(
      join(bin, "docker"),
      [
        "#!/bin/sh",
        'case "$1" in',
        "  ps) echo c1; echo c2 ;;",
        "  info) echo '[\"name=rootless\"]' ;;",
        '  inspect) for a; do lc_last=$a; done; case "$3" in',
        "    *config_files*) echo 'compose.yml,link.yml,../outside.yml,outside.yml' ;;",
        `    *State.Pid*) if [ "$lc_last" = c1 ]; then echo '${fmtLine("lockclaw_redis_1", "redis", "true", "lockclaw_openclaw-net ")}'; else echo '${fmtLine("lockclaw_egress_1", "egress", "true", "lockclaw_egress-net lockclaw_openclaw-net ")}'; fi ;;`,
        "    *) echo '[]' ;;",
        "  esac ;;",
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const e = { ...E, user: "root", stackDir: stack };
    const stdout = execFileSync("sh", ["-c", String(dockerAuditScript(e))], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    const section = stdout.split(`${M} compose\n`)[1]!.split(`${M} exposed`)[0]!;
    const read = section
      .split("\n")
      .filter(Boolean)
      .map((b) => Buffer.from(b, "base64").toString("utf8"));
    // only the stack dir's own plain file: not the symlink, nor a name leading out of it
    expect(read).toEqual([COMPOSE]);
    const checks = evaluateDockerAudit(stdout, e);
    const ids = checks.map((c) => c.id);
    for (const n of ["lockclaw_redis_1", "lockclaw_egress_1"]) {
      for (const what of ["readonly", "networks"]) {
        const c = checks.find((x) => x.id === `container.${n}.${what}`);
        expect(c?.pass, `${n}.${what}: ${c?.evidence}`).toBe(true);
      }
      expect(ids).not.toContain(`container.${n}.declared`);
    }
  });
});
