/**
 * ufw's own machine-readable record of user rules: the `### tuple ###` lines in /etc/ufw/user.rules
 * (IPv4) and user6.rules (IPv6), each followed by the iptables lines ufw generated for it. Parsing and
 * writing this format lets lockclaw diff the whole rule set at once and apply the difference with ONE
 * reload, instead of one slow `ufw` process per rule.
 *
 * Format (ufw 0.36, checked against files ufw itself wrote):
 *   ### tuple ### allow tcp 443 0.0.0.0/0 any 173.245.48.0/20 in comment=636c6f7564666c617265
 *   -A ufw-user-input -p tcp --dport 443 -s 173.245.48.0/20 -j ACCEPT
 * fields: action proto dport dst sport src [dapp sapp] direction [comment=HEX]; a single host is written
 * without /32 or /128; `any` source is 0.0.0.0/0 or ::/0.
 */
import { parseCidr } from "../../core/cidr.js";

export interface TupleRule {
  /** The whole tuple line, as found. */
  tuple: string;
  /** The tuple line and the iptables lines belonging to it, verbatim. */
  block: string[];
  v6: boolean;
  action: string;
  proto: string;
  dport: string;
  dst: string;
  sport: string;
  src: string;
  direction: string;
  comment?: string;
  /** Set when the rule has the shape lockclaw manages (allow, tcp/udp, one port, to any, in). */
  key?: string;
}

export interface RulesFile {
  /** Whether the file has ufw's full layout (`### END RULES ###`); the package's initial file does not. */
  fullFormat: boolean;
  rules: TupleRule[];
}

const ANY = new Set(["0.0.0.0/0", "::/0", "any"]);

/** Canonical source: `any`, or a CIDR with its prefix (`1.2.3.4/32`). */
export function canonicalSource(src: string): string {
  if (ANY.has(src)) return "any";
  return parseCidr(src).text;
}

/** Identity of a managed rule: what it lets in. */
export function ruleKey(proto: string, port: number | string, source: string, v6: boolean): string {
  return `${proto} ${port} ${source} v${v6 ? 6 : 4}`;
}

export function decodeComment(hex: string): string {
  return /^([0-9a-f]{2})*$/i.test(hex) ? Buffer.from(hex, "hex").toString("utf8") : hex;
}

export function parseTuple(line: string, v6: boolean): TupleRule {
  const body = line.replace(/^### tuple ###\s*/, "").trim();
  const words = body.split(/\s+/);
  let comment: string | undefined;
  if (words.length && words[words.length - 1]!.startsWith("comment=")) {
    comment = decodeComment(words.pop()!.slice("comment=".length));
  }
  // with application names the tuple carries dapp and sapp before the direction
  const [action = "", proto = "", dport = "", dst = "", sport = "", src = ""] = words;
  const direction = words.length >= 7 ? words[words.length - 1]! : "in";
  const r: TupleRule = { tuple: line, block: [line], v6, action, proto, dport, dst, sport, src, direction };
  if (comment !== undefined) r.comment = comment;
  const simple =
    words.length === 7 &&
    action === "allow" &&
    (proto === "tcp" || proto === "udp") &&
    /^\d+$/.test(dport) &&
    ANY.has(dst) &&
    sport === "any" &&
    direction === "in";
  if (simple) {
    try {
      r.key = ruleKey(proto, dport, canonicalSource(src), v6);
    } catch {
      // an address we cannot parse is not ours: left unmanaged (and removed in exact mode)
    }
  }
  return r;
}

export function parseRulesFile(text: string, v6: boolean): RulesFile {
  const rules: TupleRule[] = [];
  let inRules = false;
  let current: TupleRule | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("### RULES ###")) {
      inRules = true;
      continue;
    }
    if (line.startsWith("### END RULES ###")) break;
    if (!inRules) continue;
    if (line.startsWith("### tuple ###")) {
      current = parseTuple(line, v6);
      rules.push(current);
    } else if (line.trim() === "") {
      current = undefined;
    } else if (current) {
      current.block.push(line);
    }
  }
  return { fullFormat: /^### END RULES ###$/m.test(text), rules };
}

export interface DesiredRule {
  proto: "tcp" | "udp";
  port: number;
  /** `any` or a canonical CIDR. */
  source: string;
  v6: boolean;
  comment?: string;
  key: string;
}

/** ufw's text for a source: the address alone for a single host, `0.0.0.0/0`/`::/0` for any. */
function ufwSource(source: string, v6: boolean): string {
  if (source === "any") return v6 ? "::/0" : "0.0.0.0/0";
  const [addr, prefix] = source.split("/");
  return (v6 && prefix === "128") || (!v6 && prefix === "32") ? addr! : source;
}

/** The block ufw itself would write for a managed rule (tuple line + iptables line). */
export function renderRule(r: DesiredRule): string[] {
  const any = r.v6 ? "::/0" : "0.0.0.0/0";
  const src = ufwSource(r.source, r.v6);
  const comment = r.comment ? ` comment=${Buffer.from(r.comment, "utf8").toString("hex")}` : "";
  const chain = r.v6 ? "ufw6-user-input" : "ufw-user-input";
  const from = r.source === "any" ? "" : ` -s ${src}`;
  return [
    `### tuple ### allow ${r.proto} ${r.port} ${any} any ${src} in${comment}`,
    `-A ${chain} -p ${r.proto} --dport ${r.port}${from} -j ACCEPT`,
  ];
}

/** The text that goes between `### RULES ###` and `### END RULES ###` (blank line before each block). */
export function renderRulesSection(blocks: string[][]): string {
  return blocks.map((b) => `\n${b.join("\n")}\n`).join("") + "\n";
}
