/** The host playbook's deploy keys: exactly the declared ones (issue 10 case 14). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderDeep } from "../../../src/engine/templates.js";
import { authorizedKeySpec } from "../../../src/resources/authorized_key.js";

const file = join(__dirname, "../../../playbooks/host.yml");
const play = parse(readFileSync(file, "utf8")) as {
  vars: Record<string, unknown>;
  tasks: Array<Record<string, unknown> & { name: string }>;
};
const OP = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@laptop";
const TEAM = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJlXdYsGAKjPqwBpBpn4jxS/LWICJZwrpsK311sl7/57 ci@team";

describe("playbooks/host.yml deploy keys", () => {
  const task = play.tasks.find((t) => "authorized_key" in t)!;
  const render = (vars: Record<string, unknown>) =>
    authorizedKeySpec.parse(
      renderDeep(task.authorized_key, { ...play.vars, ...vars }, { file, path: "authorized_key" }),
    );
  it("are exclusive: the operator's keys plus extra_authorized_keys, nothing else", () => {
    expect(play.vars.extra_authorized_keys).toEqual([]);
    expect(render({ authorized_keys: [OP] })).toEqual({ user: "deploy", keys: [OP], exclusive: true });
    expect(render({ authorized_keys: [OP], extra_authorized_keys: [TEAM] }).keys).toEqual([OP, TEAM]);
  });
  it("refuse an empty list rather than empty the file", () => {
    expect(() => render({ authorized_keys: [] })).toThrow(/keys is empty/);
  });
});
