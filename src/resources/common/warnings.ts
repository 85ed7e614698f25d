/**
 * Resource side of the warning convention (WARNING_PREFIX in src/engine/resource.ts).
 *
 * Any line a probe or an apply fragment prints on stdout that starts with `LOCKCLAW_WARNING: ` is not
 * output but a message for the user: the engine strips such lines before handing stdout to parse(),
 * and emits each as a `warning` event (named after the task). A fragment warns instead of failing when
 * the host cannot do something that is not its fault and not dangerous to skip — e.g. a sysctl key that
 * is read-only inside a container. A real failure still exits non-zero with a message on stderr.
 */
import { WARNING_PREFIX } from "../../engine/resource.js";
import { sh, type Sh } from "../../core/sh.js";

/** sh that prints one warning line (the message is quoted: no expansion). */
export function warnSh(message: string): Sh {
  return sh`printf '%s\\n' ${WARNING_PREFIX + message.replace(/[\r\n]+/g, " ")}`;
}
