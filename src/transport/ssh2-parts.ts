/**
 * The parts of ssh2 lockclaw uses, each required from its own file, when first asked for. ssh2's index
 * also loads its SSH server, its key generator and its HTTP(S) agents, and with them Node's http, https
 * and tls: most of ssh2's load time, on every run, for nothing. ssh2 has no `exports` map, so these
 * paths are public in practice; test/unit/transport/ssh2-parts.test.ts checks that they are the very
 * objects the index exports, so an ssh2 release that moves them fails there, not on a user's host.
 */
import { createRequire } from "node:module";
import type ssh2 from "ssh2";

export interface Ssh2Parts {
  Client: typeof ssh2.Client;
  OpenSSHAgent: typeof ssh2.OpenSSHAgent;
  parseKey: typeof ssh2.utils.parseKey;
}

let parts: Ssh2Parts | undefined;

export function ssh2Parts(): Ssh2Parts {
  if (parts) return parts;
  const require = createRequire(import.meta.url);
  parts = {
    Client: require("ssh2/lib/client.js") as Ssh2Parts["Client"],
    OpenSSHAgent: (require("ssh2/lib/agent.js") as Pick<Ssh2Parts, "OpenSSHAgent">).OpenSSHAgent,
    parseKey: (require("ssh2/lib/protocol/keyParser.js") as Pick<Ssh2Parts, "parseKey">).parseKey,
  };
  return parts;
}
