/** A renderer turns the engine's event stream into output. Pick one with createRenderer(). */
import type { LockclawEvent } from "../engine/events.js";

export interface RendererOptions {
  /** Show content diffs of files and rule sets. */
  diff: boolean;
  /** Show debug events (SSH execs, login attempts). */
  verbose: boolean;
  out: NodeJS.WritableStream;
}

export interface Renderer {
  handle(event: LockclawEvent): void;
  /** Resolves when everything is written. */
  end(): Promise<void>;
}
