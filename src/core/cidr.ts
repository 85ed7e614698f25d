/**
 * CIDR parsing and canonical formatting. Firewall rules are compared as strings after canonicalisation,
 * so `2400:CB00:0::/32` in a snapshot and `2400:cb00::/32` in ufw's rule file compare equal.
 */

export type IpFamily = 4 | 6;

export interface Cidr {
  family: IpFamily;
  /** Network address as an integer (host bits are zero). */
  network: bigint;
  prefix: number;
  /** Canonical text: dotted quad, or RFC 5952 IPv6; `/prefix` omitted for single hosts only when asked. */
  text: string;
}

const V4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function parseV4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => V4_OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function parseV6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.includes(":::")) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] | undefined => {
    if (h === "") return [];
    const g = h.split(":");
    // an embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups
    const last = g[g.length - 1]!;
    if (last.includes(".")) {
      const v4 = parseV4(last);
      if (v4 === undefined) return undefined;
      g.splice(g.length - 1, 1, ((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16));
    }
    return g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? g : undefined;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** RFC 5952: lowercase, no leading zeros, longest run (≥2) of zero groups as `::`. */
export function formatV6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

export function formatV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn)).join(".");
}

export class CidrError extends Error {}

/**
 * Parse `addr` or `addr/prefix`. Host bits must be zero (`10.0.0.1/8` is almost always a typo and ufw
 * would silently widen it), so the error says which network was probably meant.
 */
export function parseCidr(input: string): Cidr {
  const s = input.trim();
  const slash = s.indexOf("/");
  const addr = slash < 0 ? s : s.slice(0, slash);
  const prefixText = slash < 0 ? undefined : s.slice(slash + 1);
  const family: IpFamily | undefined = addr.includes(":") ? 6 : addr.includes(".") ? 4 : undefined;
  const value = family === 4 ? parseV4(addr) : family === 6 ? parseV6(addr) : undefined;
  if (family === undefined || value === undefined) {
    throw new CidrError(`"${input}" is not an IPv4 or IPv6 address or CIDR`);
  }
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      throw new CidrError(`"${input}": prefix length must be 0-${bits}`);
    }
    prefix = Number(prefixText);
  }
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const network = value & ~hostMask & ((1n << BigInt(bits)) - 1n);
  const fmt = family === 4 ? formatV4 : formatV6;
  if (network !== value) {
    throw new CidrError(`"${input}" has host bits set; did you mean ${fmt(network)}/${prefix}?`);
  }
  return { family, network, prefix, text: `${fmt(network)}/${prefix}` };
}

/** Canonical text of a CIDR; a single host keeps its `/32` or `/128`. */
export function canonicalCidr(input: string): string {
  return parseCidr(input).text;
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  const bits = outer.family === 4 ? 32 : 128;
  const shift = BigInt(bits - outer.prefix);
  return inner.network >> shift === outer.network >> shift;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Ranges that must never appear in a list of public edge addresses (RFC 1918, loopback, link-local, …). */
const NON_PUBLIC = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "224.0.0.0/4",
  "240.0.0.0/4",
  "::/128",
  "::1/128",
  "::ffff:0:0/96",
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
].map(parseCidr);

/** The non-public range `c` overlaps, if any. A /0 overlaps everything and is reported too. */
export function nonPublicOverlap(c: Cidr): string | undefined {
  return NON_PUBLIC.find((p) => cidrOverlaps(p, c))?.text;
}
