/**
 * Compose's config hash covers the compose file, not the content of the files a service bind-mounts (its
 * configuration). compose_stack hashes those files on the host and hands each service's hash to compose
 * as `LOCKCLAW_CONFIG_<SERVICE>`, which the compose file puts in a label: a changed file then changes
 * that service's config hash, so `up` recreates exactly that service, at once and only once, and the
 * probe sees the drift. No restart handler, no restart right after the first `up`.
 */
import { raw, safeWord, sh, type Sh } from "../../core/sh.js";

export const configVar = (service: string) =>
  `LOCKCLAW_CONFIG_${service.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

export interface ConfigEntry {
  service: string;
  files: string[];
  shellVar: string;
}

export function configEntries(configFiles: Record<string, string[]>): ConfigEntry[] {
  return Object.entries(configFiles)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, files], i) => ({ service, files, shellVar: `lc_cfg${i}` }));
}

/**
 * sh setting each entry's variable to a short hash of its files' content (read as root: some are 0600).
 * A missing file hashes as empty; the paths are relative to dir.
 */
export function configHashSh(dir: string, entries: ConfigEntry[]): Sh[] {
  return entries.map(
    (e) =>
      sh`${raw(e.shellVar)}=$(cd ${dir} 2>/dev/null && cat -- ${e.files} 2>/dev/null | sha256sum | cut -c1-16)`,
  );
}

/** `NAME="$shellvar"` words (both names are made here from checked keys: letters, digits, _). */
export const configEnvWords = (entries: ConfigEntry[]): Sh[] =>
  entries.map((e) => sh`${safeWord(configVar(e.service))}="$${safeWord(e.shellVar)}"`);
