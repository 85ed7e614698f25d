/** The human diffs kinds attach to their changes (shown by --diff). */
import { createTwoFilesPatch } from "diff";

export const REDACTED_DIFF = "content changed (sensitive)";

/**
 * A unified diff between the host's content and the desired one. `before` undefined means the file
 * does not exist (diffed against /dev/null) and null means its content was not probed (too large).
 */
export function contentDiff(path: string, before: string | undefined | null, after: string): string {
  if (before === null) {
    return `--- ${path}\n+++ ${path}\n(previous content larger than the probe limit; not shown)\n`;
  }
  const patch = createTwoFilesPatch(
    before === undefined ? "/dev/null" : path,
    path,
    before ?? "",
    after,
    undefined,
    undefined,
    { context: 3 },
  );
  // drop the "Index:"/"=====" preamble: git-style output is what users read
  return patch.replace(/^Index: .*\n=+\n/, "");
}

/** What a sensitive file's change shows instead of its content. */
export function redactedDiff(path: string): string {
  return `--- ${path}\n+++ ${path}\n${REDACTED_DIFF}\n`;
}
