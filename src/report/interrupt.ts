/**
 * What an interrupted run leaves behind, per host, from the event stream alone: what was applied,
 * what had not finished, and whether an armed rollback on the host will restore something (and when).
 */
import type { HostRecap, LockclawEvent } from "../engine/events.js";

interface HostProgress {
  connected: boolean;
  applied: string[];
  started: Set<string>;
  done: Set<string>;
  /** Guarded changes whose rollback is armed (or being armed) and not yet confirmed or rolled back. */
  armed: Map<string, { unit?: string; rollbackAt?: string }>;
  recap?: HostRecap;
}

export class RunProgress {
  private check = false;
  private readonly hosts = new Map<string, HostProgress>();

  private host(name: string): HostProgress {
    let h = this.hosts.get(name);
    if (!h) {
      h = { connected: false, applied: [], started: new Set(), done: new Set(), armed: new Map() };
      this.hosts.set(name, h);
    }
    return h;
  }

  handle(e: LockclawEvent): void {
    switch (e.type) {
      case "run-start":
        this.check = e.check;
        e.hosts.forEach((h) => this.host(h));
        break;
      case "host-connected":
        this.host(e.host).connected = true;
        break;
      case "task-start":
        this.host(e.host).started.add(e.task);
        break;
      case "task-result": {
        const h = this.host(e.host);
        h.done.add(e.task);
        if (!this.check && e.status === "changed") h.applied.push(`${e.handler ? "handler: " : ""}${e.task}`);
        break;
      }
      case "guard": {
        const h = this.host(e.host);
        if (e.phase === "arming" || e.phase === "armed") {
          h.armed.set(e.task, { unit: e.unit, rollbackAt: e.rollbackAt });
        } else h.armed.delete(e.task);
        break;
      }
      case "host-recap":
        this.host(e.recap.host).recap = e.recap;
        break;
      default:
        break;
    }
  }

  /** The report printed on Ctrl-C (stderr), one block per host. */
  report(now = new Date()): string {
    const lines = ["lockclaw: interrupted; where each host was left:"];
    for (const [name, h] of this.hosts) {
      if (h.recap) {
        const r = h.recap;
        lines.push(`  ${name}: finished before the interrupt (changed=${r.changed} failed=${r.failed})`);
        continue;
      }
      if (!h.connected) {
        lines.push(`  ${name}: not connected yet; nothing was changed`);
        continue;
      }
      const running = [...h.started].filter((t) => !h.done.has(t));
      const applied = this.check ? "nothing (--check)" : h.applied.length ? h.applied.join(", ") : "nothing";
      lines.push(`  ${name}:`, `    applied: ${applied}`);
      lines.push(`    running: ${running.length ? running.join(", ") : "nothing (between steps)"}`);
      for (const [task, a] of h.armed) {
        const at = a.rollbackAt ? new Date(a.rollbackAt) : undefined;
        const when = at
          ? ` at about ${at.toISOString().slice(11, 19)} UTC (in ${Math.max(0, Math.round((at.getTime() - now.getTime()) / 1000))}s)`
          : "";
        lines.push(
          `    rollback: the armed rollback${a.unit ? ` ${a.unit}` : ""} will restore '${task}'${when}, ` +
            "since its fresh-login proof will not run; run provision again after that",
        );
      }
      if (!h.armed.size) lines.push("    rollback: none armed");
    }
    return `${lines.join("\n")}\n`;
  }
}
