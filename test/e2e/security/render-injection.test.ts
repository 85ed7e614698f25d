/**
 * Issue 10, case 1, end to end: a --var value written into the sh of a command task's guard used to run
 * as root during the probe, even under --check. With values quoted by construction the same value is
 * only a (wrong) word: the guard compares it, the task says it would refuse it, and nothing else runs.
 */
import { describe, expect, it } from "vitest";
import { useMachines } from "../support/lab.js";
import { cliFor, show, target } from "../host/support.js";

const PROOF = "/var/tmp/p";
const EXPLOIT = `docker_source=debian' in x) ;; esac; id > ${PROOF}; case 'debian`;

describe("render: a --var value never becomes sh on the host", () => {
  const m = useMachines(1, { prefix: "ri" });
  const cli = cliFor();
  const machine = () => m[0]!;
  const proof = async () => (await machine().ssh(`cat ${PROOF} 2>/dev/null || echo absent`)).stdout.trim();

  it("provision stack --check with the issue's docker_source runs nothing of it", async () => {
    expect(await proof()).toBe("absent");
    const r = await cli(["provision", "stack", target(machine()), "--check", "-e", EXPLOIT]);
    // the guard ran on the host with the value as one word: not debian/docker, so the refusal would run
    expect(r.stdout + r.stderr, show(r)).toMatch(/Refuse unknown Docker sources/);
    expect(await proof(), show(r)).toBe("absent");
  });

  it("applying it fails on the refusal, which prints the value as a word, and still runs none of it", async () => {
    const r = await cli(["provision", "stack", target(machine()), "-e", EXPLOIT]);
    expect(r.code, show(r)).not.toBe(0);
    expect(r.stdout + r.stderr, show(r)).toContain(
      "docker_source must be debian or docker, got: debian' in x) ;; esac; id > /var/tmp/p; case 'debian",
    );
    expect(await proof(), show(r)).toBe("absent");
  });
});
