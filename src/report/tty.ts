/**
 * Interactive terminal view with listr2: one live line per host showing the task at hand, then the
 * same details and recap as the plain renderer, so nothing seen live is lost when the view collapses.
 */
import { Listr, ListrLogger, ProcessOutput, type ListrTask } from "listr2";
import type { HostRecap, LockclawEvent } from "../engine/events.js";
import { formatBytes, formatTransfer } from "../engine/progress.js";
import { PlainRenderer } from "./plain.js";
import type { Renderer, RendererOptions } from "./renderer.js";
import { fillTerminalSize } from "./terminal-size.js";

interface HostView {
  task?: { output?: string; title?: string };
  /** The host's recap, or undefined when a stop between batches left it never started. */
  done: Promise<HostRecap | undefined>;
  resolve: (r: HostRecap | undefined) => void;
}

export class TtyRenderer implements Renderer {
  private readonly hosts = new Map<string, HostView>();
  private readonly buffered: LockclawEvent[] = [];
  private running?: Promise<unknown>;
  private listr?: Listr;
  private readonly details: PlainRenderer;

  constructor(private readonly opt: RendererOptions) {
    this.details = new PlainRenderer(opt);
  }

  handle(event: LockclawEvent): void {
    const e = this.opt.redactor ? this.opt.redactor.value(event) : event;
    if (e.type === "run-start") this.start(e.hosts, e.check);
    const view = "host" in e && typeof e.host === "string" ? this.hosts.get(e.host) : undefined;
    // the line follows the host: the task whose probe or change is running there now, an upload's figures
    if (e.type === "task-start" && view?.task) view.task.output = `▸ ${e.task}`;
    if (e.type === "task-apply" && view?.task)
      view.task.output = `▸ applying: ${e.handler ? "handler: " : ""}${e.task}`;
    if (e.type === "upload" && view?.task) {
      const name = e.file.split("/").pop() ?? e.file;
      view.task.output = `▸ ${e.task}: ${e.done ? "sent" : "sending"} ${name} ${formatTransfer(e)}`;
    }
    if (e.type === "hash") this.hashing(e);
    if (e.type === "task-result" && view?.task)
      view.task.output = `${e.status}: ${e.handler ? "handler: " : ""}${e.task}`;
    if (e.type === "host-recap") this.hosts.get(e.recap.host)?.resolve(e.recap);
    if (e.type === "recap") for (const h of e.notStarted ?? []) this.hosts.get(h)?.resolve(undefined);
    // details are printed after the live view, in order
    if (!["run-start", "task-start", "play-start", "task-apply", "upload", "hash"].includes(e.type))
      this.buffered.push(e);
  }

  /**
   * A local file hashed before the run starts (before the live view exists): one line, redrawn in place
   * as the bytes are read, left on the screen once the file is done.
   */
  private hashing(e: Extract<LockclawEvent, { type: "hash" }>): void {
    if (this.listr) return;
    const name = e.file.split("/").pop() ?? e.file;
    const line = e.done
      ? `✔ ${e.task}: hashed ${name} (${formatBytes(e.total)}${e.rate > 0 ? `, ${formatBytes(e.rate)}/s` : ""})\n`
      : `▸ ${e.task}: hashing ${name} ${formatTransfer(e)}`;
    // back to the line's start and clear it: the line before is this file's last figures
    this.opt.out.write(`\r\x1b[2K${line}`);
  }

  private start(hosts: string[], check: boolean): void {
    for (const h of hosts) {
      let resolve!: (r: HostRecap | undefined) => void;
      const done = new Promise<HostRecap | undefined>((r) => (resolve = r));
      this.hosts.set(h, { done, resolve });
    }
    const tasks: ListrTask[] = hosts.map((h) => ({
      title: h,
      task: async (_ctx, task) => {
        const view = this.hosts.get(h)!;
        view.task = task;
        const r = await view.done;
        if (!r) {
          task.title = `${h}: not started (the run stopped before its batch)`;
          task.skip(task.title);
          return;
        }
        task.title = `${h}: ok=${r.ok} changed=${r.changed} failed=${r.failed}${r.unreachable ? " UNREACHABLE" : ""}`;
        if (r.failed || r.unreachable) throw new Error(r.error ?? "failed");
      },
    }));
    // the live view goes where the rest of the output goes (a test's stream, not always stdout)
    const out = this.opt.out as NodeJS.WriteStream;
    // listr2 sizes its lines by process.stdout, log-update by the stream it writes to: both must be sane
    fillTerminalSize(out);
    if (out !== process.stdout) fillTerminalSize(process.stdout);
    const logger = new ListrLogger({ processOutput: new ProcessOutput(out, out) });
    const listr = new Listr(tasks, {
      concurrent: true,
      // Ctrl-C is lockclaw's to handle (listr's own handler exits 127 without a word about the hosts)
      registerSignalListeners: false,
      exitOnError: false,
      renderer: "default",
      rendererOptions: { collapseErrors: true, logger },
      fallbackRendererOptions: { logger },
    });
    this.opt.out.write(check ? "Checking (no changes will be made)\n" : "");
    this.listr = listr;
    this.running = listr.run().catch(() => undefined);
  }

  interrupt(): void {
    // listr keeps its renderer private; ending it redraws the view one last time and shows the cursor
    const r = (this.listr as unknown as { renderer?: { end(err?: Error): void } } | undefined)?.renderer;
    r?.end(new Error("Interrupted."));
    this.opt.out.write("\x1b[?25h\n");
  }

  async end(): Promise<void> {
    await this.running;
    const interesting = this.buffered.filter(
      (e) => e.type !== "task-result" || e.status === "changed" || e.status === "failed",
    );
    for (const e of interesting) this.details.handle(e);
  }
}
