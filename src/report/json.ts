/** `--json`: one JSON object per line (NDJSON), for scripts and CI. Debug events only with -v. */
import type { LockclawEvent } from "../engine/events.js";
import type { Renderer, RendererOptions } from "./renderer.js";

export class JsonRenderer implements Renderer {
  constructor(private readonly opt: RendererOptions) {}

  handle(event: LockclawEvent): void {
    if (event.type === "debug" && !this.opt.verbose) return;
    let e: LockclawEvent = this.opt.redactor ? this.opt.redactor.value(event) : event;
    if (e.type === "task-result" && !this.opt.diff) {
      e = { ...e, changes: e.changes.map(({ summary }) => ({ summary })) };
    }
    this.opt.out.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
  }

  async end(): Promise<void> {}
}
