import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  configEntries,
  configHashSh,
  configVar,
} from "../../../../src/resources/compose_stack/config-hash.js";
import { runSh } from "../helpers.js";

describe("configuration hashes", () => {
  it("names the variable after the service", () => {
    expect(configVar("gateway")).toBe("LOCKCLAW_CONFIG_GATEWAY");
    expect(configVar("socket-proxy")).toBe("LOCKCLAW_CONFIG_SOCKET_PROXY");
  });

  it("a service's hash follows the content of its files, and only its own", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-cfg-"));
    mkdirSync(join(dir, "egress"));
    writeFileSync(join(dir, "egress", "squid.conf"), "acl a\n");
    writeFileSync(join(dir, "gw.json"), "{}\n");
    const entries = configEntries({ gateway: ["gw.json"], egress: ["egress/squid.conf", "egress/acl.yaml"] });
    const hashes = () => {
      const r = runSh(
        [...configHashSh(dir, entries), ...entries.map((e) => `echo "$${e.shellVar}"`)].join("\n"),
      );
      expect(r.code).toBe(0);
      const [egress, gateway] = r.stdout.trim().split("\n");
      expect(egress).toMatch(/^[0-9a-f]{16}$/);
      return { egress, gateway };
    };
    const first = hashes();
    expect(first.egress).not.toBe(first.gateway);
    writeFileSync(join(dir, "egress", "squid.conf"), "acl b\n");
    const second = hashes();
    expect(second.egress).not.toBe(first.egress);
    expect(second.gateway).toBe(first.gateway);
  });
});
