import { describe, expect, it } from "vitest";
import type { LockclawEvent } from "../../../src/engine/events.js";
import { RunProgress } from "../../../src/report/interrupt.js";

describe("the Ctrl-C report", () => {
  it("says per host what was applied, what was running and which armed rollback restores what, when", () => {
    const p = new RunProgress();
    const at = new Date("2026-12-01T10:02:00Z");
    const events: LockclawEvent[] = [
      { type: "run-start", playbook: "host.yml", hosts: ["web", "db", "new"], check: false },
      { type: "host-connected", host: "web", user: "root", port: 22 },
      { type: "task-start", host: "web", task: "Deploy user" },
      { type: "task-start", host: "web", task: "sshd hardening" },
      { type: "task-start", host: "web", task: "UFW" },
      { type: "task-result", host: "web", task: "Deploy user", status: "changed", changes: [] },
      {
        type: "guard",
        host: "web",
        task: "sshd hardening",
        phase: "arming",
        detail: "arming",
        unit: "lockclaw-rollback-t1",
        rollbackAt: at.toISOString(),
      },
      {
        type: "host-recap",
        recap: {
          host: "db",
          ok: 3,
          changed: 1,
          failed: 0,
          skipped: 0,
          unreachable: false,
          execs: 2,
          durationMs: 5,
        },
      },
    ];
    events.forEach((e) => p.handle(e));
    const text = p.report(new Date("2026-12-01T10:00:30Z"));
    expect(text).toContain("web:\n    applied: Deploy user\n    running: sshd hardening, UFW");
    expect(text).toContain(
      "rollback: the armed rollback lockclaw-rollback-t1 will restore 'sshd hardening' at about 10:02:00 UTC (in 90s)",
    );
    expect(text).toContain("db: finished before the interrupt (changed=1 failed=0)");
    expect(text).toContain("new: not connected yet; nothing was changed");
    // once the fresh login disarmed it, nothing is left to restore
    p.handle({ type: "guard", host: "web", task: "sshd hardening", phase: "confirmed", detail: "ok" });
    expect(p.report()).toContain("rollback: none armed");
  });
});
