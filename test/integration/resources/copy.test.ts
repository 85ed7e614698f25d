/**
 * `copy` over a real sshd: a file and a directory bundle are streamed (one exec per changed file, the
 * bytes on stdin), installed with their mode, not sent again when unchanged, and re-sent after drift.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { runPlaybook } from "../../../src/engine/run.js";
import { HostStateStore } from "../../../src/engine/state.js";
import { resourceKinds } from "../../../src/resources/index.js";
import { connect } from "../../../src/transport/ssh.js";
import { startSshd, type SshdFixture } from "../fixtures/sshd.js";

let sshd: SshdFixture;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "lc-copy-"));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("copy over a real sshd", () => {
  it("streams a bundle directory once, skips it when unchanged, and re-sends a file that drifted", async () => {
    const bundle = join(work, "bundle");
    mkdirSync(bundle);
    const big = Buffer.alloc(3 * 1024 * 1024, 7); // bigger than any sane script: must be streamed
    writeFileSync(join(bundle, "image.tar"), big);
    writeFileSync(join(bundle, "pkg.deb"), "deb bytes");
    const dest = join(work, "remote-bundle");
    const pb = join(work, "copy.yml");
    writeFileSync(pb, `tasks:\n  - name: bundle\n    copy: { src: bundle, path: ${dest}, mode: "0640" }\n`);
    const state = new HostStateStore(join(work, "state.json"));
    const run = async () => {
      const events: LockclawEvent[] = [];
      const r = await runPlaybook({
        playbookFile: pb,
        kinds: resourceKinds,
        hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
        overrides: [],
        builtins: {},
        connector: connect,
        state,
        onEvent: (e) => events.push(e),
      });
      return { r, events };
    };

    const first = await run();
    expect(first.r.exitCode).toBe(0);
    expect(first.r.hosts[0]!.changed).toBeGreaterThan(0);
    // probe + 2 uploads + apply
    expect(first.r.hosts[0]!.execs).toBe(4);
    expect(readFileSync(join(dest, "image.tar")).equals(big)).toBe(true);
    expect(statSync(join(dest, "pkg.deb")).mode & 0o777).toBe(0o640);

    const again = await run();
    expect(again.r.exitCode).toBe(0);
    expect(again.r.hosts[0]!.execs).toBe(1);
    // the memo the no-op read instead of hashing the file again
    const memo = `/var/lib/lockclaw/sums/${createHash("sha256").update(join(dest, "image.tar")).digest("hex").slice(0, 32)}`;
    expect(readFileSync(memo, "utf8")).toMatch(
      new RegExp(
        `^${createHash("sha256").update(big).digest("hex")} \\d+:${statSync(join(dest, "image.tar")).ino}:`,
      ),
    );

    writeFileSync(join(dest, "pkg.deb"), "tampered");
    const fix = await run();
    expect(fix.r.exitCode).toBe(0);
    expect(fix.r.hosts[0]!.changed).toBe(1);
    expect(fix.r.hosts[0]!.execs).toBe(3); // probe + 1 upload + apply
    expect(readFileSync(join(dest, "pkg.deb"), "utf8")).toBe("deb bytes");
    const summaries = fix.events.flatMap((e) =>
      e.type === "task-result" ? e.changes.map((c) => c.summary) : [],
    );
    expect(summaries).toEqual([expect.stringMatching(/^replace .*pkg\.deb \(9 bytes from pkg\.deb\)$/)]);

    // the host remembers each file's sha256 with its identity, so a no-op does not hash it again; a file
    // rewritten in place with the same size and its old mtime put back still differs (its ctime moved)
    const before = statSync(join(dest, "pkg.deb"));
    writeFileSync(join(dest, "pkg.deb"), "DEB BYTES");
    utimesSync(join(dest, "pkg.deb"), before.atime, before.mtime);
    expect(statSync(join(dest, "pkg.deb")).size).toBe(before.size);
    const forged = await run();
    expect(forged.r.exitCode).toBe(0);
    expect(forged.r.hosts[0]!.changed).toBe(1);
    expect(readFileSync(join(dest, "pkg.deb"), "utf8")).toBe("deb bytes");
  });

  it("names the playbook line when the local source does not exist, before connecting", async () => {
    const pb = join(work, "missing.yml");
    writeFileSync(pb, "tasks:\n  - name: nothing\n    copy: { src: nope, path: /tmp/x }\n");
    await expect(
      runPlaybook({
        playbookFile: pb,
        kinds: resourceKinds,
        hosts: [{ target: sshd.target({ name: "loop" }), vars: [] }],
        overrides: [],
        builtins: {},
        connector: connect,
        onEvent: () => undefined,
      }),
    ).rejects.toThrowError(/missing\.yml:3.*copy: .*nope does not exist/);
  });
});
