/**
 * A terminal that says it is 0 columns by 0 rows: a pseudo-terminal nobody sized (`script` run from
 * cron or a CI job, `docker exec -t` before its first resize, a serial console). listr2 and log-update
 * take the size as given: width 0 wraps every character onto a line of its own, height 0 leaves no line
 * of the live view on the screen. Such a stream gets $COLUMNS / $LINES, else 80 × 24, as ncurses does.
 */

interface Sized {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

const positive = (v: string | undefined): number | undefined => {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

/** Fills in a TTY stream's size where it is 0 or unknown; a known size is left alone. */
export function fillTerminalSize(stream: Sized, env: NodeJS.ProcessEnv = process.env): void {
  if (!stream.isTTY) return;
  if (!(stream.columns && stream.columns > 0)) stream.columns = positive(env.COLUMNS) ?? 80;
  if (!(stream.rows && stream.rows > 0)) stream.rows = positive(env.LINES) ?? 24;
}
