/** A renderer turns the engine's event stream into output. Pick one with createRenderer(). */
import type { LockclawEvent } from "../engine/events.js";
import type { Redactor } from "../engine/redact.js";

export interface RendererOptions {
  /** Show content diffs of files and rule sets. */
  diff: boolean;
  /** Show debug events (SSH execs, login attempts). */
  verbose: boolean;
  out: NodeJS.WritableStream;
  /**
   * The run's secrets: every event is masked again, on its values, before it is serialised (the engine
   * masks what it emits; this keeps a renderer from ever printing a secret an event still carries).
   */
  redactor?: Redactor;
}

export interface Renderer {
  handle(event: LockclawEvent): void;
  /** Resolves when everything is written. */
  end(): Promise<void>;
  /** Ctrl-C: stop any live view at once (the process exits right after). */
  interrupt?(): void;
}
