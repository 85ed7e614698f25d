/** A connection target for engine tests that prepare a run but never connect. */
import type { ConnectionTarget } from "../../../src/transport/types.js";

export const testTarget = (name: string): ConnectionTarget => ({
  name,
  host: "192.0.2.1",
  port: 22,
  user: "root",
  identityFiles: [],
  hostKeyPolicy: "strict",
  knownHostsFile: "/dev/null",
});
