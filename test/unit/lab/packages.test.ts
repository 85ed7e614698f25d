import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/core/errors.js";
import { packagesFromPlaybooks, packagesFromPlaybookText } from "../../../src/lab/packages.js";

const fixture = join(import.meta.dirname, "fixtures", "host-playbook.yml");

describe("packagesFromPlaybooks", () => {
  it("collects name lists and names: lists from tasks and handlers, sorted", () => {
    expect(packagesFromPlaybooks([fixture])).toEqual([
      "dbus-user-session",
      "docker-compose",
      "docker.io",
      "fail2ban",
      "iptables",
      "nftables",
      "openssh-server",
      "python3-systemd",
      "rootlesskit",
      "slirp4netns",
      "sudo",
      "tree",
      "ufw",
      "uidmap",
    ]);
  });

  it("reads a list of plays, a single name string, and deduplicates across files", () => {
    const dir = mkdtempSync(join(tmpdir(), "lockclaw-pkgs-"));
    const a = join(dir, "a.yml");
    const b = join(dir, "b.yml");
    writeFileSync(
      a,
      "- hosts: all\n  tasks:\n    - package: { name: curl }\n- hosts: web\n  tasks:\n    - package: { name: [jq, curl] }\n",
    );
    writeFileSync(b, "tasks:\n  - package:\n      name: jq\n");
    expect(packagesFromPlaybooks([a, b])).toEqual(["curl", "jq"]);
  });

  it("leaves out packages a playbook removes, and files without tasks", () => {
    const text = "tasks:\n  - package: { name: telnet, state: absent }\n  - package: { name: ufw }\n";
    expect(packagesFromPlaybookText(text, "x.yml")).toEqual(["ufw"]);
    expect(packagesFromPlaybookText("name: empty\n", "x.yml")).toEqual([]);
    expect(packagesFromPlaybookText("", "x.yml")).toEqual([]);
  });

  it("strips a pinned version so the store holds the package", () => {
    expect(packagesFromPlaybookText("tasks:\n  - package: { name: 'ufw=0.36.2-1' }\n", "x.yml")).toEqual([
      "ufw",
    ]);
  });

  it("names the file and task path when a package name is not literal", () => {
    const text = "tasks:\n  - package: { name: '{{ pkgs }}' }\n";
    expect(() => packagesFromPlaybookText(text, "host.yml")).toThrow(ConfigError);
    expect(() => packagesFromPlaybookText(text, "host.yml")).toThrow(
      /host\.yml \(at \[0\]\.tasks\[0\]\.package\.name\)/,
    );
  });

  it("reports YAML syntax errors with a line number", () => {
    expect(() => packagesFromPlaybookText("tasks:\n  - package: {name: [a\n", "bad.yml")).toThrow(
      /bad\.yml:\d+/,
    );
  });
});
