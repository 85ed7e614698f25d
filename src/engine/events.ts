/**
 * The event stream of a run. The engine emits these; renderers (src/report/) turn them into a TTY
 * view, plain lines or NDJSON. Every string in an event has already been through the redactor.
 */
import type { Change } from "./resource.js";

export type TaskStatus = "ok" | "changed" | "failed" | "skipped";

export interface HostRecap {
  host: string;
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: boolean;
  /** SSH execs this run made on the host (all connections). */
  execs: number;
  durationMs: number;
  error?: string;
}

export type LockclawEvent =
  | { type: "run-start"; playbook: string; hosts: string[]; check: boolean }
  | { type: "host-start"; host: string }
  /** Rolling batches (--serial): batch `batch` of `of` starts with these hosts. */
  | { type: "batch-start"; batch: number; of: number; hosts: string[] }
  | { type: "host-connected"; host: string; user: string; port: number }
  | { type: "play-start"; host: string; play: string }
  /** The task's probe began on the host (its section of the batched probe is running). */
  | { type: "task-start"; host: string; task: string; handler?: boolean }
  /** Its change began on the host (its section of an apply exec is running); the result follows. */
  | { type: "task-apply"; host: string; task: string; handler?: boolean }
  /**
   * A local file on its way to the host: at the start, then at most one per interval, then `done`.
   * `rate` is bytes per second so far; `etaSeconds` is at that rate.
   */
  | {
      type: "upload";
      host: string;
      task: string;
      file: string;
      bytes: number;
      total: number;
      rate: number;
      etaSeconds?: number;
      done?: boolean;
    }
  /**
   * A local file being hashed before anything connects (copy's checksum of a large file): at the start,
   * then at most one per interval, then `done`. Same figures as `upload`; a memoised hash sends none.
   */
  | {
      type: "hash";
      task: string;
      file: string;
      bytes: number;
      total: number;
      rate: number;
      etaSeconds?: number;
      done?: boolean;
    }
  | {
      type: "task-result";
      host: string;
      task: string;
      status: TaskStatus;
      changes: Change[];
      handler?: boolean;
      error?: string;
      durationMs?: number;
    }
  | {
      type: "guard";
      host: string;
      task: string;
      /** `arming`: the exec that arms the rollback and applies the change is starting. */
      phase: "arming" | "armed" | "confirmed" | "rolled-back";
      detail: string;
      /** arming/armed: the rollback's systemd unit and when (about) it restores unless disarmed. */
      unit?: string;
      rollbackAt?: string;
    }
  | { type: "warning"; host?: string; message: string }
  /** level: how many -v show it (1 when absent): 2 an exec's output, 3 its generated sh. */
  | { type: "debug"; host?: string; message: string; level?: number }
  | { type: "host-recap"; recap: HostRecap }
  | {
      type: "recap";
      /** The hosts that ran (a stop between batches leaves the others out). */
      hosts: HostRecap[];
      exitCode: number;
      durationMs: number;
      /** Set when too many hosts of a batch failed: why the run stopped before the next batch. */
      stopped?: string;
      /** With `stopped`: the hosts never started (nothing was done on them). */
      notStarted?: string[];
    };

export type EventSink = (event: LockclawEvent) => void;
