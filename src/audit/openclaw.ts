/**
 * The audit's OpenClaw part: OpenClaw's own verdicts, from INSIDE the running gateway
 * container: `openclaw security audit --deep --json` and `openclaw sandbox explain --json`.
 *
 * Nothing those commands print leaves the container as it is. A small Node program (the gateway image
 * has Node: OpenClaw runs on it) runs both and prints only fields picked here: severity counts, the
 * check ids and titles of critical/warn findings, the deep probe's outcome, the effective sandbox mode
 * and the elevated gate. Every string it prints is first scrubbed of the container's secrets (the files
 * in /run/secrets and secret-named environment values) and cut short: a finding's free-text detail, which
 * could quote configuration, is never printed at all.
 *
 * Observed with openclaw 2026.9.6: both commands exit 0 whatever they find (the verdict is in the JSON,
 * never in the exit status), each takes ~5 s, and the deep gateway probe of a CLI without a paired
 * operator device ends in "missing scope: operator.read" after the gateway accepted the token.
 */
import { Marks } from "../core/marks.js";
import { raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";
import { asRootlessUser } from "../resources/docker_rootless.js";
import type { AuditCheck } from "./host.js";

export interface OpenclawAuditExpected {
  /** the deploy user whose rootless Docker runs the stack */
  user: string;
  /** compose project holding the gateway */
  project: string;
  /** compose service name of the gateway */
  service?: string;
}

const MARKS = new Marks("@@lockclaw-openclaw");
/** Prefix of the lines the in-container program prints (one JSON object each). */
const J = "@@lockclaw-openclaw-json";

/**
 * Runs in the gateway container with `node -e`. Plain CommonJS for any Node OpenClaw accepts. Finds the
 * CLI as the images ship it: `openclaw` on PATH (lockclaw:openclaw), else the package under /app
 * (the upstream image, whose docs run `node dist/index.js`).
 */
export const IN_CONTAINER_PROGRAM = String.raw`
const cp = require("child_process");
const fs = require("fs");
const secrets = [];
try {
  for (const f of fs.readdirSync("/run/secrets")) {
    try {
      const text = fs.readFileSync("/run/secrets/" + f, "utf8");
      secrets.push(text.trim());
      for (const l of text.split("\n")) secrets.push(l.replace(/^[A-Za-z_][A-Za-z0-9_]*=/, "").trim());
    } catch (e) {}
  }
} catch (e) {}
for (const k of Object.keys(process.env)) {
  if (/KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL/i.test(k)) secrets.push(String(process.env[k]).trim());
}
const keep = secrets.filter((v) => v.length >= 8).sort((a, b) => b.length - a.length);
const clean = (s, n) => {
  let t = String(s == null ? "" : s);
  for (const v of keep) t = t.split(v).join("[redacted]");
  t = t.replace(/[^\x20-\x7e]+/g, " ").trim();
  return t.length > n ? t.slice(0, n) + "..." : t;
};
const candidates = [["openclaw", []], [process.execPath, ["/app/openclaw.mjs"]], [process.execPath, ["/app/dist/index.js"]]];
function oc(args) {
  for (const [cmd, pre] of candidates) {
    if (pre.length && !fs.existsSync(pre[0])) continue;
    const r = cp.spawnSync(cmd, pre.concat(args), { encoding: "utf8", maxBuffer: 64 << 20, timeout: 150000 });
    if (r.error && r.error.code === "ENOENT") continue;
    return r;
  }
  return { status: 127, stdout: "", stderr: "no openclaw CLI in the container (PATH, /app/openclaw.mjs, /app/dist/index.js)" };
}
function run(name, args, pick) {
  const r = oc(args);
  const out = { cmd: name, rc: r.status == null ? (r.signal ? "signal " + r.signal : "error") : r.status };
  let doc;
  try {
    const s = String(r.stdout || "");
    doc = JSON.parse(s.slice(s.indexOf("{")));
  } catch (e) {}
  if (doc && typeof doc === "object") Object.assign(out, pick(doc));
  else {
    const lines = String(r.stderr || r.stdout || (r.error && r.error.message) || "").trim().split("\n");
    out.error = clean(lines[lines.length - 1] || "no output", 200);
  }
  console.log("${J} " + JSON.stringify(out));
}
const str = (v, n) => (v == null ? v : clean(v, n || 120));
run("audit", ["security", "audit", "--deep", "--json"], (d) => {
  const s = d.summary || {};
  const g = (d.deep && d.deep.gateway) || null;
  return {
    summary: { critical: Number(s.critical) || 0, warn: Number(s.warn) || 0, info: Number(s.info) || 0 },
    findings: (Array.isArray(d.findings) ? d.findings : [])
      .filter((f) => f && (f.severity === "critical" || f.severity === "warn"))
      .map((f) => ({ checkId: str(f.checkId, 80), severity: f.severity, title: str(f.title, 120) })),
    suppressed: Array.isArray(d.suppressedFindings) ? d.suppressedFindings.length : 0,
    deep: g ? { attempted: g.attempted === true, ok: g.ok === true, error: str(g.error, 160) } : null,
  };
});
run("explain", ["sandbox", "explain", "--json"], (d) => {
  const s = d.sandbox || {};
  const e = d.elevated || {};
  return {
    agentId: str(d.agentId, 60),
    sandbox: {
      mode: str(s.mode, 20),
      scope: str(s.scope, 20),
      backend: str(s.backend, 20),
      workspaceAccess: str(s.workspaceAccess, 20),
      sessionIsSandboxed: s.sessionIsSandboxed === true,
    },
    elevated: {
      enabled: e.enabled === true,
      allowedByConfig: e.allowedByConfig === true,
      alwaysAllowedByConfig: e.alwaysAllowedByConfig === true,
    },
  };
});
`;

/** Read-only sh, run as root on the host: find the gateway through the deploy user's rootless Docker. */
export function openclawAuditScript(e: OpenclawAuditExpected): Sh {
  const m = MARKS.sh;
  const as = asRootlessUser(e.user, raw(`"$lc_ocuid"`));
  const filters = sh`--filter label=com.docker.compose.project=${e.project} --filter label=com.docker.compose.service=${e.service ?? "gateway"}`;
  const j = safeWord(J);
  return shJoin([
    MARKS.open("begin"),
    sh`lc_ocuid=$(id -u -- ${e.user} 2>/dev/null || echo 0)`,
    sh`if ! command -v docker >/dev/null 2>&1; then ${MARKS.open("none docker not installed")}`,
    sh`elif ! lc_gw=$(${as} docker ps -aq ${filters} 2>/dev/null); then ${MARKS.open("none Docker did not answer")}`,
    sh`elif [ -z "$lc_gw" ]; then ${MARKS.open("none no gateway container")}`,
    sh`else`,
    sh`  lc_gw=$(echo "$lc_gw" | head -n 1)`,
    sh`  echo "${m} state $(${as} docker inspect --format '{{.State.Status}}' "$lc_gw" 2>&1 | head -n 1 | cut -c1-100)"`,
    // only the program's JSON lines come back; any other output (a Docker error) only as its last line
    sh`  lc_out=$(timeout 400 ${as} docker exec "$lc_gw" node -e ${IN_CONTAINER_PROGRAM} 2>&1); lc_rc=$?`,
    sh`  echo "${m} exec-rc $lc_rc"`,
    sh`  echo "$lc_out" | grep '^${j} '`,
    sh`  echo "$lc_out" | grep -v '^${j} ' | tail -n 1 | cut -c1-200 | sed 's/^/${m} exec-tail /'`,
    sh`fi`,
    MARKS.open("end"),
  ]);
}

interface AuditDoc {
  cmd: "audit";
  rc: number | string;
  error?: string;
  summary?: { critical: number; warn: number; info: number };
  findings?: Array<{ checkId: string; severity: string; title: string }>;
  suppressed?: number;
  deep?: { attempted: boolean; ok: boolean; error?: string | null } | null;
}
interface ExplainDoc {
  cmd: "explain";
  rc: number | string;
  error?: string;
  agentId?: string;
  sandbox?: {
    mode?: string;
    scope?: string;
    backend?: string;
    workspaceAccess?: string;
    sessionIsSandboxed: boolean;
  };
  elevated?: { enabled: boolean; allowedByConfig: boolean; alwaysAllowedByConfig: boolean };
}

/** The deep probe's finding; judged on its own (openclaw.gateway_probe), not as an audit warning. */
const PROBE_FINDING = "gateway.probe_failed";
/**
 * A probe that got this far reached the gateway and had the token accepted; only the operator scopes
 * are withheld from a CLI without a paired device, which is how a fresh, unpaired deployment looks.
 */
const SCOPE_ONLY = /^missing scope: operator\.[a-z]+$/;

const TITLE = "OpenClaw's own checks inside the gateway";

export function evaluateOpenclawAudit(stdout: string, e: OpenclawAuditExpected): AuditCheck[] {
  const list = MARKS.split(stdout);
  const begin = list.findIndex((x) => x.head === "begin");
  const endAt = list.findIndex((x, i) => i > begin && x.head === "end");
  if (begin < 0 || endAt < 0) {
    return [{ id: "openclaw.probe", title: "OpenClaw audit ran", pass: false, evidence: "no output" }];
  }
  const marks = list.slice(begin + 1, endAt);
  const body = list.slice(begin, endAt).flatMap((x) => x.body.split("\n"));
  const field = (name: string) => marks.find((x) => x.name === name)?.arg;

  const none = field("none");
  if (none !== undefined) {
    // no stack here: nothing to run the checks in, which is not a failure of the host
    return [
      {
        id: "openclaw.skipped",
        title: `${TITLE} (stack not deployed)`,
        pass: true,
        skipped: true,
        evidence: `skipped: ${none} (project ${e.project})`,
      },
    ];
  }
  const state = field("state") ?? "unknown";
  if (state !== "running") {
    return [
      {
        id: "openclaw.gateway",
        title: `${TITLE}: gateway running`,
        pass: false,
        evidence: `gateway container ${state}: cannot run openclaw security audit / sandbox explain`,
      },
    ];
  }
  const docs = body
    .filter((l) => l.startsWith(`${J} `))
    .map((l) => {
      try {
        return JSON.parse(l.slice(J.length + 1)) as AuditDoc | ExplainDoc;
      } catch {
        return undefined;
      }
    });
  const audit = docs.find((d): d is AuditDoc => d?.cmd === "audit");
  const explain = docs.find((d): d is ExplainDoc => d?.cmd === "explain");
  const execFail = `docker exec exit ${field("exec-rc") ?? "?"}: ${field("exec-tail") || "no output"}`;
  return [...judgeAudit(audit, execFail), ...judgeExplain(explain, execFail)];
}

function judgeAudit(a: AuditDoc | undefined, execFail: string): AuditCheck[] {
  const title = "openclaw security audit --deep: no critical or warn finding";
  if (!a || !a.summary) {
    const why = a ? `exit ${a.rc}: ${a.error ?? "no JSON"}` : execFail;
    return [{ id: "openclaw.security_audit", title, pass: false, evidence: why }];
  }
  const bad = (a.findings ?? []).filter((f) => f.checkId !== PROBE_FINDING);
  const { critical, warn, info } = a.summary;
  const counts = `${critical} critical, ${warn} warn, ${info} info`;
  const suppressed = a.suppressed ? `; ${a.suppressed} suppressed by security.audit.suppressions` : "";
  const checks: AuditCheck[] = [
    {
      id: "openclaw.security_audit",
      title,
      pass: a.rc === 0 && bad.length === 0,
      evidence: bad.length
        ? `${counts}: ${bad.map((f) => `${f.severity} ${f.checkId} (${f.title})`).join("; ")}${suppressed}`
        : `${counts}${a.summary.warn ? " (the warning is the deep probe's, judged below)" : ""}${suppressed}`,
    },
  ];
  const d = a.deep;
  const probeTitle = "openclaw security audit --deep reached the gateway with its token";
  if (!d || !d.attempted) {
    checks.push({
      id: "openclaw.gateway_probe",
      title: probeTitle,
      pass: false,
      evidence: "probe not attempted",
    });
  } else if (d.ok) {
    checks.push({ id: "openclaw.gateway_probe", title: probeTitle, pass: true, evidence: "probe ok" });
  } else {
    const err = d.error ?? "unknown error";
    const authOnly = SCOPE_ONLY.test(err);
    checks.push({
      id: "openclaw.gateway_probe",
      title: probeTitle,
      pass: authOnly,
      evidence: authOnly
        ? `token accepted; ${err} (no paired operator device: expected on a fresh deployment)`
        : err,
    });
  }
  return checks;
}

function judgeExplain(x: ExplainDoc | undefined, execFail: string): AuditCheck[] {
  const title = "openclaw sandbox explain: every session sandboxed, no workspace access";
  const elevTitle = "openclaw sandbox explain: elevated (host) execution off";
  if (!x || !x.sandbox || !x.elevated) {
    const why = x ? `exit ${x.rc}: ${x.error ?? "no JSON"}` : execFail;
    return [
      { id: "openclaw.sandbox", title, pass: false, evidence: why },
      { id: "openclaw.elevated", title: elevTitle, pass: false, evidence: why },
    ];
  }
  const s = x.sandbox;
  const el = x.elevated;
  const elevOff = !el.enabled || (!el.allowedByConfig && !el.alwaysAllowedByConfig);
  return [
    {
      id: "openclaw.sandbox",
      title,
      pass: x.rc === 0 && s.mode === "all" && s.sessionIsSandboxed && s.workspaceAccess === "none",
      evidence:
        `agent ${x.agentId ?? "?"}: mode ${s.mode ?? "?"}, scope ${s.scope ?? "?"}, backend ${s.backend ?? "?"}, ` +
        `workspaceAccess ${s.workspaceAccess ?? "?"}, main session ${s.sessionIsSandboxed ? "sandboxed" : "NOT sandboxed"}`,
    },
    {
      id: "openclaw.elevated",
      title: elevTitle,
      pass: x.rc === 0 && elevOff,
      evidence: el.enabled
        ? `tools.elevated.enabled true; allowed by config ${el.allowedByConfig}, always ${el.alwaysAllowedByConfig}`
        : "tools.elevated.enabled false",
    },
  ];
}
