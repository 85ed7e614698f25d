/**
 * SPEC §3 on a real machine: changes that could lock the user out are proven by a fresh login or
 * undone, by lockclaw at once or by the rollback armed on the host when lockclaw itself dies. The cases
 * live in lockout-cases.ts: vagrant/fleet.test.ts runs them on a Vagrant box.
 */
import { describe } from "vitest";
import { useMachines } from "../support/lab.js";
import { lockoutCases } from "./lockout-cases.js";
import { cliFor } from "./support.js";

describe("lock-out guard", () => {
  const machines = useMachines(1, { prefix: "lo" });
  lockoutCases({ machine: () => machines[0]!, cli: cliFor() });
});
