/**
 * Cloudflare's edge ranges: the pinned snapshot in data/cloudflare-ranges.json (what 443/tcp is opened
 * to), its validation, and the refresh from Cloudflare's published plain-text lists.
 *
 * The snapshot is pinned on purpose: a provisioning run must not depend on cloudflare.com being
 * reachable, and a change to the firewall's allowlist should be a reviewed diff of this file.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { packageRoot } from "../engine/paths.js";
import { CidrError, nonPublicOverlap, parseCidr, type IpFamily } from "../core/cidr.js";

export const CLOUDFLARE_V4_URL = "https://www.cloudflare.com/ips-v4";
export const CLOUDFLARE_V6_URL = "https://www.cloudflare.com/ips-v6";

export interface CloudflareRanges {
  ipv4: string[];
  ipv6: string[];
}

export interface CloudflareSnapshot extends CloudflareRanges {
  source: string[];
  /** Date (YYYY-MM-DD) the snapshot was last refreshed from Cloudflare. */
  updated: string;
  note?: string;
}

export function defaultRangesPath(): string {
  return join(packageRoot(), "data", "cloudflare-ranges.json");
}

class RangeListError extends Error {}

/**
 * Validate one list: every entry a canonical public CIDR of the right family, no duplicates, non-empty.
 * Returns the canonical texts. `where(i)` names the entry for error messages.
 */
function validateList(entries: string[], family: IpFamily, where: (i: number) => string): string[] {
  if (entries.length === 0) throw new RangeListError(`the IPv${family} list is empty`);
  const seen = new Set<string>();
  return entries.map((entry, i) => {
    let text: string;
    try {
      const c = parseCidr(entry);
      if (c.family !== family) throw new CidrError(`"${entry}" is IPv${c.family}, expected IPv${family}`);
      if (!entry.includes("/")) throw new CidrError(`"${entry}" has no prefix length (expected a CIDR)`);
      const bad = nonPublicOverlap(c);
      if (bad) throw new CidrError(`"${entry}" overlaps the non-public range ${bad}`);
      text = c.text;
    } catch (e) {
      if (e instanceof CidrError) throw new RangeListError(`${where(i)}: ${e.message}`);
      throw e;
    }
    if (seen.has(text)) throw new RangeListError(`${where(i)}: duplicate range ${text}`);
    seen.add(text);
    return text;
  });
}

/** Validate a parsed snapshot object; throws ConfigError naming the file and entry. */
export function validateSnapshot(data: unknown, file: string): CloudflareSnapshot {
  const fail = (problem: string, path?: string): never => {
    throw new ConfigError(
      problem,
      { file, path },
      "restore the file from git, or run `lockclaw cloudflare-ranges update`",
    );
  };
  if (typeof data !== "object" || data === null) return fail("expected a JSON object");
  const d = data as Record<string, unknown>;
  const list = (key: "ipv4" | "ipv6", family: IpFamily): string[] => {
    const v = d[key];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
      return fail(`"${key}" must be a list of CIDR strings`, key);
    try {
      return validateList(v as string[], family, (i) => `${key}[${i}]`);
    } catch (e) {
      if (e instanceof RangeListError) return fail(e.message, key);
      throw e;
    }
  };
  const ipv4 = list("ipv4", 4);
  const ipv6 = list("ipv6", 6);
  if (typeof d.updated !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(d.updated)) {
    fail(`"updated" must be a YYYY-MM-DD date`, "updated");
  }
  const source = Array.isArray(d.source) ? d.source.filter((x): x is string => typeof x === "string") : [];
  return {
    source,
    updated: d.updated as string,
    ...(typeof d.note === "string" ? { note: d.note } : {}),
    ipv4,
    ipv6,
  };
}

/** Load and validate the snapshot (default: the one shipped in data/). */
export function loadCloudflareRanges(file: string = defaultRangesPath()): CloudflareSnapshot {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read the Cloudflare ranges snapshot`, { file }, "reinstall lockclaw", {
      cause: e,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`not valid JSON: ${(e as Error).message}`, { file }, "restore the file from git", {
      cause: e,
    });
  }
  return validateSnapshot(data, file);
}

/**
 * Parse one of Cloudflare's published lists (one CIDR per line). Blank lines and surrounding whitespace
 * are tolerated; anything else that is not a public CIDR of the expected family is an error naming the
 * line, so an HTML error page or a captive portal never becomes a firewall rule.
 */
export function parseCloudflareList(text: string, family: IpFamily, source = `ips-v${family}`): string[] {
  const entries: Array<{ line: number; value: string }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const value = raw.trim();
    if (value !== "") entries.push({ line: i + 1, value });
  });
  try {
    return validateList(
      entries.map((e) => e.value),
      family,
      (i) => `${source} line ${entries[i]!.line}`,
    );
  } catch (e) {
    if (e instanceof RangeListError) throw new ConfigError(e.message, { file: source }, undefined);
    throw e;
  }
}

export type FetchText = (url: string) => Promise<string>;

/** The fetcher the CLI uses: global fetch, HTTP status checked, bounded in time. */
export const httpFetchText: FetchText = async (url) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000), redirect: "follow" });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${res.statusText}`);
  return res.text();
};

export interface UpdateOptions {
  fetch: FetchText;
  /** Snapshot file to update (default: data/cloudflare-ranges.json). */
  file?: string;
  /** Today's date, YYYY-MM-DD (injectable for tests). */
  today?: string;
  /** Report what would change without writing. */
  dryRun?: boolean;
  /**
   * Accept a list that lost more than half its ranges. Without it such a shrink is refused: it is far
   * more likely a broken fetch than Cloudflare retiring half its network, and it would cut real traffic.
   */
  allowShrink?: boolean;
}

export interface UpdateResult {
  file: string;
  added: string[];
  removed: string[];
  /** False when nothing changed or under dryRun. */
  written: boolean;
  snapshot: CloudflareSnapshot;
}

/** Fetch both lists, validate them, and rewrite the snapshot only when valid and different. */
export async function updateCloudflareRanges(opts: UpdateOptions): Promise<UpdateResult> {
  const file = opts.file ?? defaultRangesPath();
  const current = loadCloudflareRanges(file);
  const [v4text, v6text] = await Promise.all([opts.fetch(CLOUDFLARE_V4_URL), opts.fetch(CLOUDFLARE_V6_URL)]);
  const ipv4 = parseCloudflareList(v4text, 4, CLOUDFLARE_V4_URL);
  const ipv6 = parseCloudflareList(v6text, 6, CLOUDFLARE_V6_URL);
  for (const [name, before, after] of [
    ["IPv4", current.ipv4, ipv4],
    ["IPv6", current.ipv6, ipv6],
  ] as const) {
    if (!opts.allowShrink && after.length * 2 < before.length) {
      throw new ConfigError(
        `the fetched ${name} list has ${after.length} ranges, the snapshot ${before.length}; refusing a shrink of more than half`,
        { file },
        "check the lists by hand; if they are right, run again with --allow-shrink",
      );
    }
  }
  const before = new Set([...current.ipv4, ...current.ipv6]);
  const after = new Set([...ipv4, ...ipv6]);
  const added = [...after].filter((r) => !before.has(r));
  const removed = [...before].filter((r) => !after.has(r));
  const snapshot: CloudflareSnapshot = {
    source: [CLOUDFLARE_V4_URL, CLOUDFLARE_V6_URL],
    updated: opts.today ?? new Date().toISOString().slice(0, 10),
    ...(current.note !== undefined ? { note: current.note } : {}),
    ipv4,
    ipv6,
  };
  const changed = added.length > 0 || removed.length > 0;
  if (!changed || opts.dryRun)
    return { file, added, removed, written: false, snapshot: changed ? snapshot : current };
  const tmp = join(dirname(file), `.cloudflare-ranges.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(snapshot, null, 2)}\n`);
  renameSync(tmp, file);
  return { file, added, removed, written: true, snapshot };
}
