import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { dockerAuditScript, evaluateDockerAudit } from "../../../src/audit/docker.js";

const E = { user: "deploy", project: "lockclaw", stackDir: "/home/deploy/lockclaw" };
const M = "@@lockclaw-docker";
const out = (containers: string[], exposed: string[] = [], rootful = "inactive inactive", roots = "0") =>
  [
    `${M} installed`,
    "yes",
    `${M} rootful`,
    rootful,
    roots,
    `${M} info`,
    '["name=seccomp,profile=builtin","name=rootless","name=cgroupns","name=no-new-privileges"]',
    `${M} containers`,
    ...containers,
    `${M} exposed`,
    ...exposed,
    `${M} end`,
  ].join("\n");
const GOOD =
  '/lockclaw-redis-1|4242|running|healthy|false|true|["ALL"]|["no-new-privileges:true"]|CapEff: 0000000000000000 NoNewPrivs: 1 ';

describe("docker audit", () => {
  it("is valid sh", () => {
    execFileSync("sh", ["-n", "-c", dockerAuditScript(E)]);
  });

  it("passes a rootless daemon with a hardened, healthy container", () => {
    const checks = evaluateDockerAudit(out([GOOD]), E);
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(checks.map((c) => c.id)).toEqual([
      "docker.rootful",
      "docker.rootless",
      "container.lockclaw-redis-1.running",
      "container.lockclaw-redis-1.caps",
      "container.lockclaw-redis-1.nnp",
      "containers.secrets",
    ]);
  });

  it("fails on a capability, a missing no-new-privileges, an unhealthy container, a rootful daemon and an exposed secret", () => {
    const bad =
      "/lockclaw-gateway-1|77|running|unhealthy|false|false|[]|[]|CapEff: 00000000a80425fb NoNewPrivs: 0 ";
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
      expect.stringMatching(/^containers.secrets: exposed: \/lockclaw-gateway-1 gateway_token/),
    ]);
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
