/**
 * The results of one apply exec, settled in task order as its sections end on the host: a task's result
 * goes out when its change (and its verification, which follows it in the script) has finished, while
 * the later changes still run. What the stream cannot settle (a failed change, whose message may need
 * the exec's stderr, and the changes after it) is settled from the whole output once the exec is over.
 */
import type { SectionResult } from "./sections.js";

export type Outcome =
  | { status: "changed" }
  /** changeFailed: the change itself failed, so the script stopped there (not a verification's drift). */
  | { status: "failed"; error: Error; changeFailed?: boolean }
  /** Not run: the script stopped at an earlier failing change. */
  | { status: "skipped" };

export interface BatchTask {
  /** The id of its change section; its verification section is `v-<id>`. */
  id: string;
  /** Its change is verified by a probe section right after it. */
  verifies: boolean;
}

export class BatchResults {
  /** Tasks [0, next) are settled. */
  private next = 0;
  /** A change that ended well and waits for its verification section. */
  private pending?: SectionResult;
  /** The stream settles nothing more (a failed change, or an outcome it could not work out). */
  private stopped = false;
  /** The first failure (the error the batch raises). */
  failure?: Error;
  /** A change failed: the tasks after it never ran. */
  changeFailed = false;

  constructor(
    private readonly tasks: BatchTask[],
    /** The outcome of a change that succeeded, from its verification (undefined when it has none). */
    private readonly outcomeOf: (i: number, change: SectionResult, verify?: SectionResult) => Outcome,
    private readonly emit: (i: number, outcome: Outcome) => void,
  ) {}

  /** A section ended on the host (SectionEvents.end). */
  section(id: string, r: SectionResult): void {
    if (this.stopped) return;
    const t = this.tasks[this.next];
    if (!t) return;
    if (id === t.id) {
      if (r.rc !== 0) {
        this.stopped = true;
        return;
      }
      if (t.verifies) this.pending = r;
      else this.settle(r);
    } else if (id === `v-${t.id}` && this.pending) this.settle(this.pending, r);
  }

  private settle(change: SectionResult, verify?: SectionResult): void {
    this.pending = undefined;
    let outcome: Outcome;
    try {
      outcome = this.outcomeOf(this.next, change, verify);
    } catch {
      // worked out again from the whole output, where the error is raised as before
      this.stopped = true;
      return;
    }
    this.report(this.next, outcome);
  }

  /** Whether task i has its result. */
  done(i: number): boolean {
    return i < this.next;
  }

  /** Task i's outcome, once, in order (tasks skipped over are left unreported: deferred handlers). */
  report(i: number, outcome: Outcome): void {
    if (i < this.next) throw new Error(`batch result ${i} reported twice or out of order`);
    this.next = i + 1;
    if (outcome.status === "failed") {
      this.failure ??= outcome.error;
      if (outcome.changeFailed) this.changeFailed = true;
    }
    this.emit(i, outcome);
  }
}
