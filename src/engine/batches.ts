/**
 * Rolling batches (`--serial`, a play's `serial:`) and the failure threshold between them
 * (`--max-fail-percentage`, a play's `max_fail_percentage:`), with Ansible's arithmetic:
 *  - a size is a count (`3`) or a percentage of ALL the run's hosts (`30%`), rounded DOWN, at least 1
 *    (Ansible's pct_to_int: 30% of 8 hosts is 2);
 *  - a list (`1,30%` or `[1, "30%"]`) gives the first batches' sizes, its last item repeats;
 *  - after a batch, the run stops when the hosts that failed (or were unreachable) in it are MORE than P%
 *    of the batch (strictly: 2 failed of 4 stops at 49, not at 50), or when every host of it failed.
 */
import { ConfigError, type SourceLocation } from "../core/errors.js";

export type SerialItem = { count: number } | { percent: number };

/** `3`, `30%`, or a list of them (a comma-separated string, or a YAML list). */
export function parseSerial(value: unknown, where: SourceLocation): SerialItem[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(",") : [value];
  const fix = "give a whole number of hosts (3), a percentage of the hosts (30%), or a list of them (1,30%)";
  if (items.length === 0) throw new ConfigError("serial is empty", where, fix);
  return items.map((raw) => {
    const s = typeof raw === "number" ? String(raw) : typeof raw === "string" ? raw.trim() : undefined;
    const m = s === undefined ? null : /^(\d{1,6})(%?)$/.exec(s);
    const n = m ? Number(m[1]) : NaN;
    if (!m || n < 1 || (m[2] && n > 100)) {
      throw new ConfigError(`serial ${JSON.stringify(raw)} is not a batch size`, where, fix);
    }
    return m[2] ? { percent: n } : { count: n };
  });
}

/** A percentage from 0 to 100 (a whole number, or a decimal). */
export function parseMaxFailPercentage(value: unknown, where: SourceLocation): number {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 100 || (typeof value === "string" && !value.trim())) {
    throw new ConfigError(
      `max fail percentage ${JSON.stringify(value)} is not a percentage`,
      where,
      "give a number from 0 to 100 (0: any failed host stops the run before the next batch)",
    );
  }
  return n;
}

/** The batch sizes for `total` hosts, in order (their sum is `total`). */
export function batchSizes(total: number, serial: SerialItem[] | undefined): number[] {
  if (!serial?.length) return total ? [total] : [];
  const sizes: number[] = [];
  let left = total;
  for (let i = 0; left > 0; i++) {
    const item = serial[Math.min(i, serial.length - 1)]!;
    const size = "count" in item ? item.count : Math.floor((item.percent / 100) * total) || 1;
    sizes.push(Math.min(size, left));
    left -= size;
  }
  return sizes;
}

/** Split `items` into batches of those sizes. */
export function inBatches<T>(items: T[], serial: SerialItem[] | undefined): T[][] {
  let at = 0;
  return batchSizes(items.length, serial).map((n) => items.slice(at, (at += n)));
}

/** Whether the run stops before the next batch, and why (undefined: go on). */
export function stopAfterBatch(
  batchSize: number,
  failed: number,
  maxFailPercentage: number | undefined,
): string | undefined {
  if (maxFailPercentage !== undefined && (failed / batchSize) * 100 > maxFailPercentage) {
    return (
      `${failed} of ${batchSize} hosts of the batch failed ` +
      `(${round((failed / batchSize) * 100)}% > max fail percentage ${maxFailPercentage}%)`
    );
  }
  if (batchSize > 0 && failed === batchSize)
    return `every host of the batch failed (${failed} of ${batchSize})`;
  return undefined;
}

const round = (x: number) => Math.round(x * 10) / 10;
