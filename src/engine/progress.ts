/**
 * Progress of long work (an upload of an image tarball of gigabytes): bytes so far, rate and ETA, and a
 * throttle so the event stream carries a few events a second, not one per 32 KiB chunk.
 */

/** Lets an event through at most once per `intervalMs` (the first one at once). */
export class Throttle {
  private last = -Infinity;
  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when an event may go now (and counts it as gone). */
  take(): boolean {
    const t = this.now();
    if (t - this.last < this.intervalMs) return false;
    this.last = t;
    return true;
  }
}

export interface TransferFigures {
  bytes: number;
  total: number;
  /** Bytes per second since the start; 0 before any time has passed. */
  rate: number;
  /** Seconds left at that rate; undefined while the rate is unknown. */
  etaSeconds?: number;
}

export function transferFigures(bytes: number, total: number, elapsedMs: number): TransferFigures {
  const rate = elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0;
  const left = Math.max(0, total - bytes);
  return {
    bytes,
    total,
    rate: Math.round(rate),
    ...(rate > 0 ? { etaSeconds: Math.ceil(left / rate) } : left === 0 ? { etaSeconds: 0 } : {}),
  };
}

/** 1536 → "1.5 KiB" (binary units, as du -h). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** 75 → "1m15s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** "12.0 MiB / 2.0 GiB, 48.3 MiB/s, ETA 42s" */
export function formatTransfer(f: TransferFigures): string {
  const parts = [`${formatBytes(f.bytes)} / ${formatBytes(f.total)}`];
  if (f.rate > 0) parts.push(`${formatBytes(f.rate)}/s`);
  if (f.etaSeconds !== undefined && f.bytes < f.total) parts.push(`ETA ${formatDuration(f.etaSeconds)}`);
  return parts.join(", ");
}

/**
 * Progress callbacks (a kind's LocalProgress) turned into events with these figures: a file's start and
 * end always, the reads in between at most once per `intervalMs`.
 */
export function throttledProgress(
  intervalMs: number,
  emit: (figures: TransferFigures & { file: string; done?: boolean }) => void,
  now: () => number = Date.now,
): (p: { file: string; bytes: number; total: number; done?: boolean }) => void {
  const started = new Map<string, number>();
  const throttle = new Throttle(intervalMs, now);
  return ({ file, bytes, total, done }) => {
    const t = now();
    const t0 = started.get(file);
    if (t0 === undefined) {
      started.set(file, t);
      throttle.take();
    } else if (done) started.delete(file);
    else if (!throttle.take()) return;
    emit({ file, ...transferFigures(bytes, total, t - (t0 ?? t)), ...(done ? { done } : {}) });
  };
}
