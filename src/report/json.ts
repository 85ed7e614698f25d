/**
 * `--json`: one JSON object per line (NDJSON), for scripts and CI. Debug events only with -v.
 *
 * The lines of one turn of the event loop are written together, in one write at its end (setImmediate),
 * before lockclaw waits on anything again: a reader gets each event as soon as it would have before, in
 * the same turn, and the order is kept. A no-op of a 10-host fleet emits ~75 events a host, and each
 * write to a pipe is a syscall of its own (issue 14). end() and interrupt() write what is still held.
 */
import type { LockclawEvent } from "../engine/events.js";
import type { Renderer, RendererOptions } from "./renderer.js";

export class JsonRenderer implements Renderer {
  private held: string[] = [];
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly opt: RendererOptions) {}

  handle(event: LockclawEvent): void {
    if (event.type === "debug" && !this.opt.verbose) return;
    let e: LockclawEvent = this.opt.redactor ? this.opt.redactor.value(event) : event;
    if (e.type === "task-result" && !this.opt.diff) {
      e = { ...e, changes: e.changes.map(({ summary }) => ({ summary })) };
    }
    this.held.push(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
    this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Write the lines held so far (at the end of the turn; at once on end() and interrupt()). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.held.length === 0) return;
    const text = this.held.join("");
    this.held = [];
    this.opt.out.write(text);
  }

  interrupt(): void {
    this.flush();
  }

  async end(): Promise<void> {
    this.flush();
  }
}
