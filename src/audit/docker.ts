/**
 * The audit's Docker part: rootless Docker active for its own user, that user with no way to
 * root (no sudo, no sudo/admin group, none of the operator's groups, no password, no login shell), no
 * rootful dockerd,
 * and every container of the stack with no capability (CapEff 0), NoNewPrivs 1, a read-only root where
 * compose asked for one, on exactly the networks compose declares, running and healthy, and no secret
 * value in its environment or command line.
 * Secret values are compared ON THE HOST; only the name of an exposed secret file comes back.
 */
import { Marks } from "../core/marks.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { declaredServices } from "./compose-declared.js";
import type { AuditCheck } from "./host.js";

export interface DockerAuditExpected {
  /** the rootless daemon's user (docker.yml's docker_user) */
  user: string;
  /** the operator (host.yml's deploy_user, NOPASSWD sudo): the daemon's user must share none of its groups */
  operator?: string;
  /** compose project whose containers are checked */
  project: string;
  /** directory holding the stack's `secrets/` */
  stackDir: string;
}

const MARKS = new Marks("@@lockclaw-docker");

/** Read-only sh, run as root. */
export function dockerAuditScript(e: DockerAuditExpected): Sh {
  const u = sh`${e.user}`;
  const as = sh`runuser -u ${u} -- env XDG_RUNTIME_DIR=/run/user/$lc_uid DOCKER_HOST=unix:///run/user/$lc_uid/docker.sock`;
  // one line per container: name, pid, status, health, privileged, read-only root, cap_drop, security_opt,
  // compose service, networks
  const fmt =
    "{{.Name}}|{{.State.Pid}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|" +
    "{{.HostConfig.Privileged}}|{{.HostConfig.ReadonlyRootfs}}|{{json .HostConfig.CapDrop}}|{{json .HostConfig.SecurityOpt}}|" +
    '{{index .Config.Labels "com.docker.compose.service"}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}';
  return shJoin([
    sh`${MARKS.open("installed")}; command -v dockerd >/dev/null 2>&1 && echo yes || echo no`,
    sh`${MARKS.open("rootful")}; systemctl is-active docker.service docker.socket 2>/dev/null | tr '\\n' ' '; echo; pgrep -u 0 -x dockerd | wc -l`,
    sh`lc_uid=$(id -u -- ${u} 2>/dev/null || echo 0)`,
    // the daemon's user: what sudo says it may run, its groups, whether a password or a shell lets it in
    // (only the first character of the shadow field: never a hash)
    MARKS.open("daemon-user"),
    sh`if id -u -- ${u} >/dev/null 2>&1; then`,
    sh`  echo "groups=$(id -nG -- ${u} | tr ' ' ',')"`,
    sh`  echo "sudo=$(sudo -n -l -U ${u} 2>&1 | tr '\n' ' ' | cut -c1-300)"`,
    sh`  echo "pw=$(getent shadow ${u} | cut -d: -f2 | cut -c1)"`,
    sh`  echo "shell=$(getent passwd ${u} | cut -d: -f7)"`,
    e.operator !== undefined
      ? sh`  echo "operator_groups=$(id -nG -- ${e.operator} 2>/dev/null | tr ' ' ',')"`
      : raw(":"),
    sh`else echo absent; fi`,
    sh`${MARKS.open("info")}; ${as} docker info --format '{{json .SecurityOptions}}' 2>&1`,
    MARKS.open("containers"),
    sh`for lc_c in $(${as} docker ps -aq --filter label=com.docker.compose.project=${e.project} 2>/dev/null); do`,
    sh`  lc_line=$(${as} docker inspect --format ${fmt} "$lc_c")`,
    sh`  lc_pid=$(echo "$lc_line" | cut -d'|' -f2)`,
    // CapEff and NoNewPrivs of the container's main process, as the kernel sees it
    sh`  lc_st=$(grep -E '^(CapEff|NoNewPrivs):' "/proc/$lc_pid/status" 2>/dev/null | tr -s '\\t ' ' ' | tr '\\n' ' ')`,
    sh`  echo "$lc_line|$lc_st"`,
    sh`done`,
    // the compose files the project was created from (no secret in them: secrets are files): base64, one
    // line each, for the declared read_only and networks
    MARKS.open("compose"),
    sh`lc_c=$(${as} docker ps -aq --filter label=com.docker.compose.project=${e.project} 2>/dev/null | head -n 1)`,
    sh`if [ -n "$lc_c" ]; then`,
    sh`  lc_files=$(${as} docker inspect --format '{{index .Config.Labels "com.docker.compose.project.config_files"}}' "$lc_c")`,
    // the label is the daemon user's to set: read only plain files directly in the root-owned stack dir
    // (where that user cannot add a name), or a planted label would make root print any file here.
    // Compose v1 (docker-compose 1.29, Debian 12) labels the name as given, relative to the directory it
    // ran in (`compose.yml`; lockclaw runs it in the stack dir): a bare name is taken in the stack dir.
    sh`  lc_dir=${e.stackDir}`,
    sh`  (IFS=,; for lc_f in $lc_files; do case "$lc_f" in */*) ;; ?*) lc_f="$lc_dir/$lc_f" ;; esac; case "$lc_f" in *..*|"$lc_dir"/*/*) continue ;; "$lc_dir"/*) ;; *) continue ;; esac; [ -f "$lc_f" ] && [ ! -L "$lc_f" ] && base64 -w0 < "$lc_f" && echo; done)`,
    sh`fi`,
    MARKS.open("exposed"),
    sh`lc_sd=${`${e.stackDir}/secrets`}`,
    sh`if [ -d "$lc_sd" ]; then`,
    sh`  for lc_c in $(${as} docker ps -aq --filter label=com.docker.compose.project=${e.project} 2>/dev/null); do`,
    sh`    lc_view=$(${as} docker inspect --format '{{json .Config.Env}}{{json .Config.Cmd}}{{json .Config.Entrypoint}}{{json .Args}}{{json .Path}}' "$lc_c")`,
    sh`    for lc_f in "$lc_sd"/*; do`,
    sh`      [ -f "$lc_f" ] || continue`,
    // KEY=value files: each value; other files: the whole (single-line) content
    sh`      case "$lc_f" in *.env) lc_vals=$(sed -n 's/^[A-Za-z_][A-Za-z0-9_]*=//p' "$lc_f") ;; *) lc_vals=$(cat "$lc_f") ;; esac`,
    sh`      echo "$lc_vals" | while IFS= read -r lc_v; do`,
    sh`        [ "\${#lc_v}" -ge 8 ] || continue`,
    sh`        case "$lc_view" in *"$lc_v"*) echo "$(${as} docker inspect --format '{{.Name}}' "$lc_c") $(basename "$lc_f")" ;; esac`,
    sh`      done`,
    sh`    done`,
    sh`  done`,
    sh`fi`,
    MARKS.open("end"),
  ]);
}

/** Groups whose members are root, or can become it (sudo's defaults on Debian and others). */
const ROOT_GROUPS = ["root", "sudo", "wheel", "admin", "adm", "docker", "lxd", "libvirt", "disk", "shadow"];

/**
 * The daemon's user must be a dead end: every container it starts can act as it on the host, so sudo, a
 * root-ish group, a group shared with the operator (who has NOPASSWD sudo), a password or a login shell
 * would each be a way to root or into the operator's account.
 */
function daemonUserChecks(lines: string[], e: DockerAuditExpected): AuditCheck[] {
  if (lines[0] === "absent" || !lines.length) {
    return [
      {
        id: "docker.user",
        title: `the daemon's user ${e.user} exists`,
        pass: false,
        evidence: `user ${e.user} not found`,
      },
    ];
  }
  const kv = new Map(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const groups = (kv.get("groups") ?? "").split(",").filter(Boolean);
  const opGroups = new Set((kv.get("operator_groups") ?? "").split(",").filter(Boolean));
  const sudo = (kv.get("sudo") ?? "").trim();
  const noSudo = /is not allowed to run sudo/.test(sudo);
  const rootish = groups.filter((g) => ROOT_GROUPS.includes(g));
  const shared = e.operator ? groups.filter((g) => opGroups.has(g)) : [];
  const pw = kv.get("pw") ?? "";
  const shell = kv.get("shell") ?? "";
  return [
    {
      id: "docker.user.sudo",
      title: `the daemon's user ${e.user} has no sudo and no root-capable group`,
      pass: e.user !== e.operator && e.user !== "root" && noSudo && !rootish.length && !shared.length,
      evidence:
        `sudo -l: ${noSudo ? "not allowed" : sudo || "no answer"}; groups ${groups.join(",") || "none"}` +
        (rootish.length ? `; root-capable: ${rootish.join(",")}` : "") +
        (shared.length ? `; shared with ${e.operator}: ${shared.join(",")}` : ""),
    },
    {
      id: "docker.user.login",
      title: `the daemon's user ${e.user} cannot log in (no password, no shell)`,
      pass: (pw === "!" || pw === "*") && /\/(nologin|false)$/.test(shell),
      evidence: `password ${pw === "!" || pw === "*" ? "locked" : pw ? "set" : "empty"}; shell ${shell || "none"}`,
    },
  ];
}

/** Each section's non-blank lines, by head. */
function sections(stdout: string): Map<string, string[]> {
  return new Map(MARKS.split(stdout).map((x) => [x.head, x.body.split("\n").filter((l) => l.trim())]));
}

export function evaluateDockerAudit(stdout: string, e: DockerAuditExpected): AuditCheck[] {
  const s = sections(stdout);
  if (!s.has("end"))
    return [{ id: "docker.probe", title: "docker audit ran", pass: false, evidence: "no output" }];
  if (s.get("installed")?.[0] !== "yes") {
    return [
      {
        id: "docker.installed",
        title: "Docker (stack not provisioned)",
        pass: true,
        evidence: "dockerd not installed",
      },
    ];
  }
  const checks: AuditCheck[] = [];
  const [active = "", roots = "0"] = s.get("rootful") ?? [];
  const rootfulOff = !/\bactive\b/.test(active.replace(/inactive/g, "")) && roots.trim() === "0";
  checks.push({
    id: "docker.rootful",
    title: "no rootful dockerd",
    pass: rootfulOff,
    evidence: `docker.service/socket: ${active.trim() || "unknown"}; root dockerd processes: ${roots.trim()}`,
  });
  checks.push(...daemonUserChecks(s.get("daemon-user") ?? [], e));
  const info = (s.get("info") ?? []).join(" ");
  checks.push({
    id: "docker.rootless",
    title: `rootless Docker active for ${e.user}`,
    pass: info.includes("name=rootless"),
    evidence: info || "no answer",
  });
  const composeText = (s.get("compose") ?? []).map((b) => Buffer.from(b, "base64").toString("utf8"));
  // several -f files merge in compose; the first is the base (the stack's second, compose.v2.yml, sets
  // only health-check timing)
  const declared = composeText.length ? declaredServices(composeText[0]!, e.project) : undefined;
  for (const line of s.get("containers") ?? []) {
    const [name = "?", , status, health, privileged, readonly, capDrop, secOpt, service, nets = "", st = ""] =
      line.split("|");
    const networks = nets.trim().split(/\s+/).filter(Boolean).sort();
    const n = name.replace(/^\//, "");
    const capEff = /CapEff: ([0-9a-f]+)/.exec(st)?.[1];
    const nnp = /NoNewPrivs: (\d)/.exec(st)?.[1];
    checks.push({
      id: `container.${n}.running`,
      title: `${n} running and healthy`,
      pass: status === "running" && (health === "healthy" || health === "none"),
      evidence: `${status}, health ${health}`,
    });
    checks.push({
      id: `container.${n}.caps`,
      title: `${n} has no capability (cap_drop ALL, CapEff 0)`,
      pass:
        (capDrop ?? "").includes('"ALL"') &&
        capEff !== undefined &&
        /^0+$/.test(capEff) &&
        privileged === "false",
      evidence: `CapDrop ${capDrop}, CapEff ${capEff ?? "unknown"}, privileged ${privileged}`,
    });
    checks.push({
      id: `container.${n}.nnp`,
      title: `${n} runs with no-new-privileges`,
      pass: (secOpt ?? "").includes("no-new-privileges") && nnp === "1",
      evidence: `SecurityOpt ${secOpt}, NoNewPrivs ${nnp ?? "unknown"}, read-only root ${readonly}`,
    });
    const want = service ? declared?.get(service) : undefined;
    if (want) {
      checks.push({
        id: `container.${n}.readonly`,
        title: `${n} has a read-only root where compose asks for one`,
        pass: !want.readOnly || readonly === "true",
        evidence: `read_only in compose: ${want.readOnly}; ReadonlyRootfs: ${readonly}`,
      });
      checks.push({
        id: `container.${n}.networks`,
        title: `${n} is on exactly the networks compose declares`,
        pass: JSON.stringify(networks) === JSON.stringify(want.networks),
        evidence: `declared ${want.networks.join(" ")}; attached ${networks.join(" ") || "none"}`,
      });
    } else {
      checks.push({
        id: `container.${n}.declared`,
        title: `${n} is a service of the compose file`,
        pass: false,
        evidence: declared
          ? `service ${service ?? "?"} is not in the project's compose file (an orphan or a stray container)`
          : "the project's compose file could not be read",
      });
    }
  }
  const exposed = s.get("exposed") ?? [];
  checks.push({
    id: "containers.secrets",
    title: "no secret value in any container's environment or command line",
    pass: exposed.length === 0,
    evidence: exposed.length ? `exposed: ${exposed.join("; ")}` : "none found",
  });
  return checks;
}
