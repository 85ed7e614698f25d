/**
 * `sysctl`: kernel parameters, persisted in a drop-in (default /etc/sysctl.d/99-lockclaw.conf, which this
 * task owns entirely: one task per file) and applied live with `sysctl -w`.
 *
 * Containers and some kernels expose keys read-only (in an unprivileged container typically only net.*
 * of its own namespace is writable) or not at all (a module not loaded). Such a key must not fail the
 * run: the drop-in still records it (it takes effect where it can, e.g. on the next boot of a VM), the
 * apply prints `LOCKCLAW_WARNING: sysctl KEY is read-only here …` (see common/warnings.ts) and exits 0,
 * and the diff compares only the file for it, so an unchangeable live value never shows as drift.
 * Writability is `[ -w /proc/sys/… ]`: false on a read-only /proc/sys and on 0444 keys, even for root.
 */
import { z } from "zod";
import { parseKeyValues, planned, type Change, type ResourceKind } from "../engine/resource.js";
import { sh, shJoin, type Sh } from "../core/sh.js";
import { parsePathState, pathProbeScript, type PathState } from "./common/fileState.js";
import { warnSh } from "./common/warnings.js";
import { absPath } from "./common/schema.js";
import { rootFileChange, rootFileWriteSh, type RootFile } from "./common/rootFile.js";

export const DEFAULT_SYSCTL_FILE = "/etc/sysctl.d/99-lockclaw.conf";

const KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_.\-/@:]*$/;
/** Why a key is malformed, or undefined when it is fine. */
function badKey(k: string): string | undefined {
  if (!KEY_RE.test(k)) return `"${k}" is not a sysctl key (expected something like net.ipv4.tcp_syncookies)`;
  if (k.includes("..") || k.includes("//") || k.endsWith(".") || k.endsWith("/")) {
    return `sysctl key "${k}" must not contain empty components`;
  }
  return undefined;
}

const sysctlValue = z
  .union([z.string(), z.number(), z.boolean()], { error: "a sysctl value must be a string or a number" })
  .transform((v) => (typeof v === "boolean" ? (v ? "1" : "0") : String(v).trim()))
  .refine((v) => v !== "" && !/[\n\r\0#;]/.test(v), {
    error: "a sysctl value must be a non-empty single line without # or ;",
  });

export const sysctlSpec = z
  .strictObject({
    file: absPath
      .refine((p) => p.endsWith(".conf"), { error: "file must end in .conf (sysctl.d ignores other names)" })
      .default(DEFAULT_SYSCTL_FILE)
      .describe("The sysctl.d file that holds the settings (read again at boot); must end in .conf."),
    settings: z
      .record(z.string(), sysctlValue, { error: "settings must map sysctl keys to values" })
      .superRefine((settings, ctx) => {
        const keys = Object.keys(settings);
        if (keys.length === 0)
          ctx.addIssue({ code: "custom", message: "settings must list at least one key" });
        for (const k of keys) {
          const why = badKey(k);
          if (why) ctx.addIssue({ code: "custom", message: why, path: [k] });
        }
      })
      .describe(
        "Kernel parameters and their values, e.g. net.ipv4.tcp_syncookies: 1; each is also set live.",
      ),
  })
  .meta({
    description:
      "Kernel parameters, written to a sysctl.d file and set live (a key the host cannot change is a warning, not a failure).",
    examples: [
      {
        file: "/etc/sysctl.d/60-lockclaw-network.conf",
        settings: { "net.ipv4.tcp_syncookies": 1, "net.ipv4.conf.all.accept_redirects": 0 },
      },
    ],
  });
export type SysctlSpec = z.output<typeof sysctlSpec>;

export type KeyStatus = "rw" | "ro" | "missing";
export interface SysctlFacts {
  file: PathState;
  keys: Record<string, { status: KeyStatus; value?: string }>;
}

/** /proc/sys path of a key: dots separate, unless the key uses slashes (then dots are literal). */
export function procPath(key: string): string {
  return `/proc/sys/${key.includes("/") ? key : key.replace(/\./g, "/")}`;
}

/** Multi-value keys (tcp_rmem) print tab-separated: compare with single spaces. */
const norm = (v: string) => v.trim().split(/\s+/).join(" ");

const sysctlFile = (spec: SysctlSpec): RootFile => ({
  path: spec.file,
  content: sysctlFileContent(spec),
  mode: "0644",
});

export function sysctlFileContent(spec: SysctlSpec): string {
  const lines = Object.entries(spec.settings).map(([k, v]) => `${k} = ${v}`);
  return `# Managed by lockclaw: changes here are overwritten on the next run.\n${lines.join("\n")}\n`;
}

export interface SysctlPlan {
  writeFile: boolean;
  /** Keys set live (writable and different). */
  live: string[];
  /** Keys that differ but cannot be set here (read-only, missing): apply warns, key → message. */
  kept: Record<string, string>;
}

function planSysctl(spec: SysctlSpec, facts: SysctlFacts): SysctlPlan & { changes: Change[] } {
  const changes: Change[] = [];
  const fileChange = rootFileChange(sysctlFile(spec), facts.file);
  const writeFile = fileChange !== undefined;
  if (fileChange) changes.push(fileChange);
  const live: string[] = [];
  const kept: Record<string, string> = {};
  for (const [key, want] of Object.entries(spec.settings)) {
    const k = facts.keys[key];
    if (k && k.status !== "rw" && norm(k.value ?? "") !== norm(want)) {
      // read-only or missing: only the file counts, apply warns
      kept[key] =
        k.status === "missing"
          ? `sysctl ${key} does not exist on this kernel; kept in ${spec.file}`
          : `sysctl ${key} is read-only here (live ${k.value}, wanted ${want}); kept in ${spec.file}`;
    }
    if (k?.status !== "rw") continue;
    if (norm(k.value ?? "") !== norm(want)) {
      live.push(key);
      changes.push({ summary: `${key} ${k.value} → ${want}` });
    }
  }
  return { writeFile, live, kept, changes };
}

export const sysctlKind: ResourceKind<SysctlSpec, SysctlFacts, SysctlPlan> = {
  name: "sysctl",
  spec: sysctlSpec,
  verifiable: true,
  describe: (spec) => `sysctl ${Object.keys(spec.settings).join(" ")}`,

  probe(spec) {
    const lines = [pathProbeScript(spec.file, "file.", { content: true })];
    for (const key of Object.keys(spec.settings)) {
      const p = procPath(key);
      const out = (status: KeyStatus) => `key.${key}=${status} `;
      lines.push(
        sh`if [ ! -e ${p} ]; then echo ${out("missing")}`,
        // read the file itself: `sysctl -n` would need the key form and prints tabs; tr keeps it one line.
        // A one-line value without a tab (nearly all) is read by the shell instead, the same bytes
        // (the newline tr turns into a space): one process fewer per key
        sh`else lc_x=; if { IFS= read -r lc_v && ! IFS= read -r lc_x && [ -z "$lc_x" ]; } 2>/dev/null < ${p}; then`,
        sh`  case "$lc_v" in *"	"*) lc_v=$(tr '\\t\\n' '  ' < ${p} 2>/dev/null) ;; *) lc_v="$lc_v " ;; esac`,
        sh`else lc_v=$(tr '\\t\\n' '  ' < ${p} 2>/dev/null); fi`,
        sh`if [ -w ${p} ]; then printf '%s%s\\n' ${out("rw")} "$lc_v"; else printf '%s%s\\n' ${out("ro")} "$lc_v"; fi; fi`,
      );
    }
    return {
      script: shJoin(lines),
      // the file's stat, sha256sum, base64; each key read by the shell
      cost: 8 + Object.keys(spec.settings).length / 2,
      parse(stdout) {
        const kv = parseKeyValues(stdout);
        const keys: SysctlFacts["keys"] = {};
        for (const key of Object.keys(spec.settings)) {
          const raw = kv.get(`key.${key}`);
          const m = raw === undefined ? null : /^(rw|ro|missing) ?(.*)$/.exec(raw);
          if (!m)
            throw new Error(`sysctl probe printed no valid line for ${key} (got ${JSON.stringify(raw)})`);
          keys[key] = {
            status: m[1] as KeyStatus,
            ...(m[1] === "missing" ? {} : { value: norm(m[2] ?? "") }),
          };
        }
        return { file: parsePathState(kv, "file."), keys };
      },
    };
  },

  plan: (spec, facts) => planned(planSysctl(spec, facts)),

  apply(spec, p) {
    const out: Sh[] = [];
    if (p.writeFile) {
      out.push(rootFileWriteSh(sysctlFile(spec), `sysctl ${spec.file}`));
    }
    for (const [key, want] of Object.entries(spec.settings)) {
      const path = procPath(key);
      const kept = p.kept[key];
      if (p.live.includes(key)) {
        // writability is checked again: the probe may be older than a namespace or module change
        out.push(
          sh`if [ -w ${path} ]; then sysctl -q -w ${`${key}=${want}`} >/dev/null; else ${warnSh(
            `sysctl ${key} is read-only here; kept in ${spec.file}`,
          )}; fi`,
        );
      } else if (kept !== undefined) {
        out.push(warnSh(kept));
      }
    }
    return shJoin(out);
  },
};
