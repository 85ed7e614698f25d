/** Plain lines, for logs and pipes (no TTY): one line per task result, change summaries, then the recap. */
import type { HostRecap, LockclawEvent } from "../engine/events.js";
import type { Renderer, RendererOptions } from "./renderer.js";

export class PlainRenderer implements Renderer {
  constructor(private readonly opt: RendererOptions) {}

  private line(s = ""): void {
    this.opt.out.write(`${s}\n`);
  }

  handle(event: LockclawEvent): void {
    const e = this.opt.redactor ? this.opt.redactor.value(event) : event;
    switch (e.type) {
      case "run-start":
        this.line(`${e.check ? "CHECK" : "RUN"} ${e.playbook} on ${e.hosts.join(", ")}`);
        break;
      case "batch-start":
        this.line(`BATCH ${e.batch}/${e.of}: ${e.hosts.join(", ")}`);
        break;
      case "host-connected":
        this.line(`[${e.host}] connected as ${e.user} on port ${e.port}`);
        break;
      case "play-start":
        this.line(`[${e.host}] PLAY ${e.play}`);
        break;
      case "task-result":
        this.line(`[${e.host}] ${e.status.padEnd(7)} ${e.handler ? "handler: " : ""}${e.task}`);
        for (const c of e.changes) {
          this.line(`    - ${c.summary}`);
          if (this.opt.diff && c.diff) this.line(c.diff.replace(/^/gm, "      ").trimEnd());
        }
        if (e.error) this.line(e.error.replace(/^/gm, "    ! "));
        break;
      case "guard":
        // "arming" is for the interrupt report; "armed" follows it in the output
        if (e.phase !== "arming") this.line(`[${e.host}] lock-out guard ${e.phase}: ${e.detail}`);
        break;
      case "warning":
        this.line(`${e.host ? `[${e.host}] ` : ""}WARNING ${e.message}`);
        break;
      case "debug":
        if (this.opt.verbose) this.line(`${e.host ? `[${e.host}] ` : ""}debug: ${e.message}`);
        break;
      case "recap":
        this.line();
        this.line("RECAP");
        for (const r of e.hosts) this.line(`  ${formatRecap(r)}`);
        if (e.stopped) {
          this.line(`  ${e.stopped}`);
          this.line(`  never started (nothing done on them): ${(e.notStarted ?? []).join(", ")}`);
        }
        break;
      default:
        break;
    }
  }

  async end(): Promise<void> {}
}

export function formatRecap(r: HostRecap): string {
  const parts = [
    r.host.padEnd(20),
    `ok=${r.ok}`,
    `changed=${r.changed}`,
    `failed=${r.failed}`,
    `skipped=${r.skipped}`,
    `unreachable=${r.unreachable ? 1 : 0}`,
    `execs=${r.execs}`,
    `${(r.durationMs / 1000).toFixed(1)}s`,
  ];
  return parts.join("  ") + (r.error ? `\n    error: ${r.error.replace(/\n/g, "\n    ")}` : "");
}
