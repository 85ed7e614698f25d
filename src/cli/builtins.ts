/** Variables lockclaw gives every playbook, on top of the play's own. */
import type { Vars } from "../engine/vars.js";
import { loadCloudflareRanges } from "../cloudflare/ranges.js";

export function builtinVars(): Vars {
  return { cloudflare_ranges: loadCloudflareRanges() };
}
