/**
 * Variable types: what a playbook variable may hold. A playbook declares them under `var_types:`
 * (name → a type name, `{enum: [...]}`, or `{type: NAME, optional: true}` where "" also means "not set").
 * A value from --var, a vars file or an inventory is checked against its type before anything connects,
 * and a variable may appear inside a sh string of a playbook only when its type is narrow enough for sh
 * (`sh`: every value it admits is made of characters that mean nothing to sh).
 */
import { parseCidr, CidrError } from "../core/cidr.js";

/** What checking one value needs to know besides the value. */
export interface TypeContext {
  /** --allow-world: a CIDR list may hold 0.0.0.0/0 or ::/0. */
  allowWorld: boolean;
}

export interface VarType {
  /** The name as written in `var_types:` (an enum is shown as its values). */
  readonly name: string;
  /** "a TCP port 1-65535": completes "must be …". */
  readonly what: string;
  readonly example: string;
  /** Every value it admits is safe inside sh as it is (no quoting, globbing or word splitting). */
  readonly sh: boolean;
  /** The value it stands for, or a reason (never containing the value itself) why not. */
  accept(value: unknown, ctx: TypeContext): { value: unknown } | { why: string; fix?: string };
}

/** Characters sh gives no meaning to, in a word. */
const SH_WORD = /^[A-Za-z0-9_.,:/@+%=-]*$/;
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL = /[\0-\x1f\x7f]/;

const ok = (value: unknown) => ({ value });
const no = (why: string, fix?: string) => ({ why, fix });

function stringType(
  name: string,
  what: string,
  example: string,
  test: (s: string) => string | undefined,
  sh = true,
): VarType {
  return {
    name,
    what,
    example,
    sh,
    accept(v) {
      if (typeof v === "number" && Number.isFinite(v)) v = String(v);
      if (typeof v !== "string") return no(`it is ${kindOf(v)}, not a string`);
      const why = test(v);
      return why === undefined ? ok(v) : no(why);
    },
  };
}

const pattern =
  (re: RegExp, why: string) =>
  (s: string): string | undefined =>
    re.test(s) ? undefined : why;

/** Decimal digits only: `0x8AE`, `1e3`, ` 22` and `+22` are not numbers here. */
function integerType(name: string, what: string, example: string, min: number, max: number): VarType {
  return {
    name,
    what,
    example,
    sh: true,
    accept(v) {
      let n: number;
      if (typeof v === "number") n = v;
      else if (typeof v === "string" && /^[0-9]{1,10}$/.test(v)) n = Number(v);
      else if (typeof v === "string") return no("it is not written in decimal digits only");
      else return no(`it is ${kindOf(v)}, not a number`);
      if (!Number.isInteger(n)) return no("it is not a whole number");
      if (n < min || n > max) return no(`it is outside ${min}-${max}`);
      return ok(n);
    },
  };
}

function listType(name: string, what: string, example: string, item: VarType, sh: boolean): VarType {
  return {
    name,
    what,
    example,
    sh,
    accept(v, ctx) {
      let list: unknown = v;
      if (typeof v === "string") {
        if (v.trim().startsWith("[")) {
          try {
            list = JSON.parse(v);
          } catch {
            return no("it starts with [ but is not a JSON list");
          }
        } else list = v.trim() === "" ? [] : v.split(",").map((s) => s.trim());
      }
      if (!Array.isArray(list)) return no(`it is ${kindOf(list)}, not a list`);
      const out: unknown[] = [];
      for (const [i, e] of list.entries()) {
        const r = item.accept(e, ctx);
        if ("why" in r) return no(`item ${i + 1}: ${r.why}`, r.fix);
        out.push(r.value);
      }
      return ok(out);
    },
  };
}

const HOST_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})*$`, "i");
const DOMAIN_PATTERN = new RegExp(`^(?:\\*\\.|\\.)?${HOST_LABEL}(?:\\.${HOST_LABEL})+$`, "i");
// docker's reference grammar, simplified: [registry[:port]/]path[:tag][@sha256:digest]
const IMAGE_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
// (not starting with -: docker would read it as an option)
export const IMAGE_REF = new RegExp(
  `^(?!-)(?:[a-zA-Z0-9.-]+(?::[0-9]{1,5})?/)?${IMAGE_COMPONENT}(?:/${IMAGE_COMPONENT})*` +
    `(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`,
);
const PUBLIC_KEY =
  /^(?:ssh-(?:ed25519|rsa)|ecdsa-sha2-nistp(?:256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+=*(?: .*)?$/;

const cidr: VarType = {
  name: "cidr",
  what: "a CIDR or an address",
  example: "203.0.113.0/24",
  sh: true,
  accept(v, ctx) {
    if (typeof v !== "string") return no(`it is ${kindOf(v)}, not a CIDR`);
    let c;
    try {
      c = parseCidr(v);
    } catch (e) {
      if (e instanceof CidrError) return no(e.message);
      throw e;
    }
    if (c.prefix === 0 && !ctx.allowWorld) {
      return no(
        `${c.text} is the whole ${c.family === 4 ? "IPv4" : "IPv6"} internet`,
        "list your admin networks instead, or pass --allow-world if you really mean everyone",
      );
    }
    return ok(v.trim());
  },
};

const text = stringType(
  "text",
  "one line of text",
  "hello",
  (s) => (CONTROL.test(s) ? "it holds a line break or a control character" : undefined),
  false,
);
const word = stringType(
  "word",
  "a word of letters, digits, _ . and -",
  "lockclaw",
  pattern(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, "it is not a word of letters, digits, _ . and -"),
);

const modelRoute: VarType = {
  name: "model_route",
  what: "a mapping {name, model, key_env}",
  example: '{"name":"claude","model":"anthropic/claude-sonnet-4-5","key_env":"ANTHROPIC_API_KEY"}',
  sh: false,
  accept(v) {
    if (!v || typeof v !== "object" || Array.isArray(v)) return no(`it is ${kindOf(v)}, not a mapping`);
    const keys = Object.keys(v).sort().join(",");
    if (keys !== "key_env,model,name") return no("it must have exactly the keys name, model and key_env");
    const r = v as Record<string, unknown>;
    if (typeof r.name !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(r.name))
      return no("name must be a word");
    if (typeof r.model !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.:/@-]*$/.test(r.model))
      return no("model must be provider/model");
    if (typeof r.key_env !== "string" || !/^[A-Z_][A-Z0-9_]*$/.test(r.key_env))
      return no("key_env must be an environment variable name (A-Z, 0-9, _)");
    return ok(v);
  },
};

const TYPES: readonly VarType[] = [
  stringType("user_name", "a lowercase POSIX user name other than root", "deploy", (s) =>
    s === "root"
      ? "root is not a deploy user (it would be put in the sudo group and logins limited to it)"
      : /^[a-z_][a-z0-9_-]{0,31}$/.test(s)
        ? undefined
        : "it is not a lowercase POSIX user name (a-z, 0-9, _ and -, at most 32, not starting with a digit or -)",
  ),
  integerType("port", "a TCP port 1-65535 in decimal", "2222", 1, 65535),
  integerType("uint", "a whole number in decimal", "90", 0, 2 ** 31 - 1),
  {
    name: "bool",
    what: "true or false",
    example: "true",
    sh: true,
    accept(v) {
      if (typeof v === "boolean") return ok(v);
      if (typeof v === "string" && /^(true|yes)$/i.test(v)) return ok(true);
      if (typeof v === "string" && /^(false|no)$/i.test(v)) return ok(false);
      return no("it is not true, false, yes or no");
    },
  },
  stringType(
    "size",
    "a size: digits and an optional unit k, m or g",
    "1g",
    pattern(/^[1-9][0-9]{0,9}[kmg]?$/i, "it is not digits with an optional unit k, m or g"),
  ),
  {
    name: "cpus",
    what: "a number of CPUs in decimal (e.g. 0.5 or 2)",
    example: "1.5",
    sh: true,
    accept(v) {
      const s = typeof v === "number" ? String(v) : v;
      if (typeof s !== "string" || !/^(?:0|[1-9][0-9]{0,3})(?:\.[0-9]{1,3})?$/.test(s) || Number(s) <= 0)
        return no("it is not a positive decimal number");
      return ok(Number(s));
    },
  },
  stringType(
    "image_ref",
    "a container image reference (name[:tag][@sha256:digest])",
    "ghcr.io/openclaw/openclaw:2026.9.6",
    (s) => (s.length <= 512 && IMAGE_REF.test(s) ? undefined : "it is not an image reference"),
  ),
  stringType(
    "clock_time",
    "a time of day HH:MM (24-hour)",
    "03:30",
    pattern(/^(?:[01][0-9]|2[0-3]):[0-5][0-9]$/, "it is not a time of day HH:MM (00:00 to 23:59)"),
  ),
  stringType("hostname", "a host name", "claw.example.com", pattern(HOSTNAME, "it is not a host name")),
  stringType("abs_path", "an absolute path of letters, digits and _ . - + @ /", "/srv/lockclaw", (s) =>
    !/^\/[A-Za-z0-9_.+@/-]{0,4095}$/.test(s)
      ? "it is not an absolute path of letters, digits and _ . - + @ /"
      : s !== "/" &&
          (s.endsWith("/") || s.includes("//") || s.split("/").some((p) => p === "." || p === ".."))
        ? "it is not normalised (no trailing /, no //, no . or ..)"
        : undefined,
  ),
  word,
  listType("word_list", "a list of words (letters, digits, _ . -)", "process,browser", word, true),
  stringType(
    "pgp_fingerprint",
    "an OpenPGP fingerprint (40 hex digits)",
    "9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
    pattern(/^[0-9A-Fa-f]{40}$/, "it is not 40 hex digits"),
  ),
  listType("cidr_list", "a list of CIDRs, not 0.0.0.0/0 or ::/0", "203.0.113.0/24,2001:db8::/48", cidr, true),
  listType(
    "domain_pattern_list",
    "a list of domain names, each optionally starting with *. or .",
    "*.anthropic.com,*.openai.com",
    stringType(
      "domain",
      "",
      "",
      pattern(DOMAIN_PATTERN, "it is not a domain name (optionally *. or . first)"),
    ),
    false,
  ),
  listType(
    "origin_list",
    "a list of web origins (https://host[:port])",
    "https://claw.example.com",
    stringType("origin", "", "", (s) => {
      const m = /^https?:\/\/([^/:]+)(?::([0-9]{1,5}))?$/.exec(s);
      return m && HOSTNAME.test(m[1]!) && (m[2] === undefined || Number(m[2]) <= 65535)
        ? undefined
        : "it is not https://host[:port]";
    }),
    false,
  ),
  listType(
    "public_keys",
    "a list of SSH public key lines",
    "ssh-ed25519 AAAAC3Nz… op@laptop",
    stringType("public_key", "", "", (s) =>
      !CONTROL.test(s) && PUBLIC_KEY.test(s) ? undefined : "it is not an SSH public key line",
    ),
    false,
  ),
  listType("model_routes", "a list of {name, model, key_env}", `[${modelRoute.example}]`, modelRoute, false),
  stringType(
    "secret_token",
    "a secret on one line",
    "sk-…",
    (s) => (CONTROL.test(s) ? "it holds a line break or a control character" : undefined),
    false,
  ),
  text,
  listType("text_list", "a list of single-line texts", "CMD,/bin/true", text, false),
];

const BY_NAME = new Map(TYPES.map((t) => [t.name, t]));

export const TYPE_NAMES: readonly string[] = TYPES.map((t) => t.name);

export function namedType(name: string): VarType | undefined {
  return BY_NAME.get(name);
}

/** `{enum: [...]}`: exactly one of these words. Narrow enough for sh when every word is a plain word. */
export function enumType(values: readonly string[]): VarType {
  const list = values.join(", ");
  return {
    name: `{enum: [${list}]}`,
    what: `one of ${list}`,
    example: values[0]!,
    // (a leading - would be read as an option by the command it is given to)
    sh: values.every((v) => v !== "" && !v.startsWith("-") && SH_WORD.test(v)),
    accept(v) {
      return typeof v === "string" && values.includes(v) ? ok(v) : no(`it is not one of ${list}`);
    },
  };
}

/** `{type: NAME, optional: true}`: also "" (or null), meaning "not set". */
export function optionalType(t: VarType): VarType {
  return {
    ...t,
    name: `${t.name} (optional)`,
    what: `${t.what}, or "" for none`,
    accept(v, ctx) {
      if (v === "" || v === null) return ok("");
      return t.accept(v, ctx);
    },
  };
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return "empty";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `a ${typeof v}`;
}
