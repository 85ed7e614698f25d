/**
 * `docker_rootless`: the rootless Docker daemon of one user, running and PROVEN rootless.
 *
 * Why a kind and not a list of `command`/`service` tasks: the steps only make sense in order, on the
 * host, at apply time (subordinate ids → linger → the user's systemd manager up → the setup tool → the
 * user unit → a daemon that answers), the setup tool's known failure must be tolerated only when it got
 * far enough, the first start must be awaited with a deadline, and the engine probes every task of a
 * play BEFORE applying any: a `service` task disabling the rootful daemon would see no docker.service
 * yet (the package is installed by an earlier task of the same play) and do nothing. This kind re-checks
 * everything on the host when it applies. Packages, daemon.json, the delegation drop-in, the sysctl and
 * DOCKER_HOST stay plain tasks in playbooks/docker.yml, where each is visible and overridable.
 *
 * The proof is `docker info` through the user's socket listing `name=rootless` in SecurityOptions.
 */
import { z } from "zod";
import type { Change, ResourceKind } from "../engine/resource.js";
import { parseKeyValues } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { absPath, bool, userName } from "./common/schema.js";

/** Where the setup tool lives: Debian's docker.io keeps it out of PATH; docker-ce-rootless-extras puts it in /usr/bin. */
export const SETUPTOOL_CANDIDATES = [
  "/usr/share/docker.io/contrib/dockerd-rootless-setuptool.sh",
  "/usr/bin/dockerd-rootless-setuptool.sh",
];

export const dockerRootlessSpec = z
  .strictObject({
    user: userName("user").describe(
      "The unprivileged user the Docker daemon runs as (it must exist; never root or an operator).",
    ),
    /** Subordinate uids and gids the user needs at least (a container's user namespace maps them). */
    subid_count: z.coerce
      .number({ error: "subid_count must be a number" })
      .int({ error: "subid_count must be a whole number" })
      .min(65536, { error: "subid_count must be at least 65536 (rootless Docker maps a full 16-bit range)" })
      .default(65536)
      .describe("Subordinate uids and gids the user gets at least (a container's user namespace maps them)."),
    /**
     * Stop and disable the rootful daemons the packages start: docker.service/docker.socket and the system
     * containerd.service (rootless dockerd runs its own containerd inside its namespace).
     */
    disable_rootful: bool("disable_rootful")
      .default(true)
      .describe(
        "Stop and disable the rootful docker.service, docker.socket and containerd.service the packages start.",
      ),
    /** Seconds to wait for the first `docker info` to answer (the first start can take ~10 s). */
    timeout: z.coerce
      .number({ error: "timeout must be a number of seconds" })
      .int({ error: "timeout must be a whole number of seconds" })
      .min(5, { error: "timeout must be at least 5 seconds" })
      .max(600, { error: "timeout must be at most 600 seconds" })
      .default(90)
      .describe("Seconds to wait for the first docker info to answer."),
    /** Override the setup tool's location (found automatically otherwise). */
    setuptool: absPath
      .optional()
      .describe("Path of dockerd-rootless-setuptool.sh (found automatically when not given)."),
  })
  .meta({
    description:
      "Rootless Docker for one user: subordinate ids, lingering, the user's dockerd running, and no rootful daemon.",
    examples: [{ user: "lockclaw-agent", disable_rootful: true }],
  });
export type DockerRootlessSpec = z.output<typeof dockerRootlessSpec>;

export interface DockerRootlessFacts {
  userExists: boolean;
  uid?: number;
  subuids: number;
  subgids: number;
  linger: boolean;
  /** The user's systemd manager answers on /run/user/UID/systemd/private. */
  manager: boolean;
  /** `systemctl --user is-enabled docker` ("" when unknown). */
  unitEnabled: string;
  unitActive: string;
  /** The daemon answered `docker info` and listed name=rootless. */
  rootless: boolean;
  /** What the daemon said its security options are (for messages), or "" when it did not answer. */
  securityOptions: string;
  rootfulEnabled: boolean;
  rootfulActive: boolean;
}

/** sh prefix running a command as the user with its runtime dir and socket (sudo/runuser skip pam_systemd). */
export function asRootlessUser(user: string, uidWord: Sh = raw('"$lc_uid"')): Sh {
  return sh`runuser -u ${user} -- env XDG_RUNTIME_DIR=/run/user/${uidWord} DOCKER_HOST=unix:///run/user/${uidWord}/docker.sock`;
}

/** awk summing the counts of a user's ranges in /etc/subuid or /etc/subgid (by name or uid). */
const subidSum = (user: string, file: string): Sh =>
  sh`awk -F: -v u=${user} -v i="$lc_uid" '$1==u||$1==i{s+=$3} END{print s+0}' ${file} 2>/dev/null || echo 0`;

/** Socket before service: a stopped service is not started again by its socket. */
const ROOTFUL_UNITS = ["docker.socket", "docker.service", "containerd.service"];

const INFO_FORMAT = "{{json .SecurityOptions}}";

export function parseDockerRootlessFacts(stdout: string): DockerRootlessFacts {
  const kv = parseKeyValues(stdout);
  const user = kv.get("user");
  if (user !== "present" && user !== "absent") {
    throw new Error(`docker_rootless probe printed no valid user= line (got ${JSON.stringify(user)})`);
  }
  const num = (key: string) => {
    const v = (kv.get(key) ?? "0").trim();
    if (!/^[0-9]+$/.test(v)) throw new Error(`docker_rootless probe printed a bad ${key}= line: ${v}`);
    return Number(v);
  };
  const security = (kv.get("security") ?? "").trim();
  const f: DockerRootlessFacts = {
    userExists: user === "present",
    subuids: num("subuid"),
    subgids: num("subgid"),
    linger: kv.get("linger") === "1",
    manager: kv.get("manager") === "1",
    unitEnabled: (kv.get("unit_enabled") ?? "").trim().split(/\s+/)[0] ?? "",
    unitActive: (kv.get("unit_active") ?? "").trim(),
    rootless: /name=rootless/.test(security),
    securityOptions: security,
    rootfulEnabled: ["enabled", "enabled-runtime"].some((s) =>
      (kv.get("rootful") ?? "").split(/\s+/).includes(s),
    ),
    rootfulActive: /\bactive\b/.test(kv.get("rootful_active") ?? ""),
  };
  if (f.userExists) f.uid = num("uid");
  return f;
}

function changesOfRootless(spec: DockerRootlessSpec, f: DockerRootlessFacts): Change[] {
  const u = spec.user;
  if (!f.userExists) {
    return [{ summary: `set up rootless Docker for ${u} (user ${u} not found at probe time)` }];
  }
  const c: Change[] = [];
  if (f.subuids < spec.subid_count)
    c.push({ summary: `add subordinate uids for ${u} (${f.subuids} → ${spec.subid_count})` });
  if (f.subgids < spec.subid_count)
    c.push({ summary: `add subordinate gids for ${u} (${f.subgids} → ${spec.subid_count})` });
  if (!f.linger) c.push({ summary: `enable lingering for ${u} (its services run without a login)` });
  if (f.unitEnabled !== "enabled") {
    c.push({
      summary: `install and enable the rootless Docker user service of ${u}${f.unitEnabled ? ` (is ${f.unitEnabled})` : ""}`,
    });
  }
  if (!f.rootless) {
    c.push({
      summary:
        f.unitActive === "active"
          ? `rootless Docker of ${u} does not report rootless (security options: ${f.securityOptions || "no answer"}): restart it`
          : `start rootless Docker of ${u}${f.unitActive ? ` (is ${f.unitActive})` : ""}`,
    });
  }
  if (spec.disable_rootful && (f.rootfulEnabled || f.rootfulActive)) {
    c.push({ summary: `stop and disable the rootful Docker daemons (${ROOTFUL_UNITS.join(", ")})` });
  }
  return c;
}

/** The whole bring-up, each step guarded on the host so the fragment is idempotent by itself. */
export function dockerRootlessApplySh(spec: DockerRootlessSpec, restart: boolean): Sh {
  const u = spec.user;
  const as = asRootlessUser(spec.user);
  const sctl = sh`${as} systemctl --user`;
  const n = spec.subid_count;
  const tools = spec.setuptool ? [spec.setuptool] : SETUPTOOL_CANDIDATES;
  const fail = (msg: string) => sh`{ echo ${`docker_rootless ${spec.user}: ${msg}`} >&2; exit 1; }`;
  return shJoin([
    sh`lc_uid=$(id -u -- ${u} 2>/dev/null) || ${fail(`user ${spec.user} does not exist (the host playbook creates it)`)}`,
    sh`lc_home=$(getent passwd ${u} | cut -d: -f6)`,
    // one free range for both files: above every range already handed out, never below 100000
    sh`lc_next=$(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: 'BEGIN{m=100000} NF>=3{e=$2+$3; if(e>m)m=e} END{print m}')`,
    sh`if [ "$(${subidSum(spec.user, "/etc/subuid")})" -lt ${n} ]; then usermod --add-subuids "$lc_next-$((lc_next + ${n} - 1))" -- ${u}; fi`,
    sh`if [ "$(${subidSum(spec.user, "/etc/subgid")})" -lt ${n} ]; then usermod --add-subgids "$lc_next-$((lc_next + ${n} - 1))" -- ${u}; fi`,
    // a manager about to start reads the unit drop-ins earlier tasks wrote (the delegation one): the docker
    // play's handler then leaves a manager started after them alone instead of restarting it
    sh`systemctl is-active -q "user@$lc_uid.service" || systemctl daemon-reload`,
    sh`[ -e "/var/lib/systemd/linger/$(id -un -- ${u})" ] || loginctl enable-linger ${u}`,
    // linger starts user@UID.service; make sure, then wait for its private socket
    sh`systemctl start "user@$lc_uid.service" 2>/dev/null || true`,
    sh`lc_i=0; while [ ! -S "/run/user/$lc_uid/systemd/private" ]; do lc_i=$((lc_i + 1)); [ "$lc_i" -le 30 ] || ${fail("its systemd user manager did not start within 30 s (is dbus-user-session installed?)")}; sleep 1; done`,
    spec.disable_rootful
      ? sh`for lc_unit in ${ROOTFUL_UNITS}; do if [ "$(systemctl show -p LoadState --value "$lc_unit" 2>/dev/null)" = loaded ]; then systemctl disable --now "$lc_unit" >/dev/null 2>&1 || systemctl stop "$lc_unit"; fi; done`
      : raw(":"),
    // the setup tool only when the user unit does not exist yet
    sh`if [ "$(${sctl} show -p LoadState --value docker.service 2>/dev/null)" != loaded ]; then`,
    sh`  lc_tool=; for lc_c in ${tools}; do if [ -x "$lc_c" ] || [ -f "$lc_c" ]; then lc_tool=$lc_c; break; fi; done`,
    sh`  [ -n "$lc_tool" ] || ${fail(`dockerd-rootless-setuptool.sh not found (looked in ${tools.join(", ")}); install docker.io or docker-ce-rootless-extras`)}`,
    // The tool looks up dockerd-rootless.sh on PATH and refuses to run without it; Debian ships it next to
    // the tool, off PATH, so the tool's own dir goes first (it also becomes the unit's ExecStart dir).
    // Debian's copy then stops at its last step ("contrib/docker: not found") AFTER writing the unit:
    // tolerated when the unit exists; anything else fails with the tool's own output
    sh`  if ! lc_out=$(cd "$lc_home" && ${as} PATH="\${lc_tool%/*}":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin sh "$lc_tool" install 2>&1 </dev/null); then`,
    sh`    if [ ! -f "$lc_home/.config/systemd/user/docker.service" ]; then printf '%s\\n' "$lc_out" | tail -n 20 >&2; ${fail("dockerd-rootless-setuptool.sh install failed")}; fi`,
    sh`  fi`,
    sh`fi`,
    sh`${sctl} daemon-reload`,
    sh`${sctl} enable docker.service >/dev/null 2>&1 || ${sctl} enable docker.service`,
    restart ? sh`${sctl} restart docker.service` : sh`${sctl} start docker.service`,
    // without the client the poll below could only time out: say what is missing at once
    sh`command -v docker >/dev/null 2>&1 || ${fail("the docker client is not installed (Debian 13 ships it in docker-cli, which docker.io only recommends)")}`,
    // first start can take ~10 s: poll docker info with a deadline
    sh`lc_i=0; while :; do`,
    sh`  lc_sec=$(cd "$lc_home" && ${as} docker info --format ${INFO_FORMAT} 2>/dev/null) || lc_sec=`,
    sh`  case "$lc_sec" in *name=rootless*) break ;; esac`,
    sh`  lc_i=$((lc_i + 1)); if [ "$lc_i" -gt ${spec.timeout} ]; then`,
    sh`    ${sctl} status --no-pager docker.service 2>&1 | tail -n 15 >&2 || true`,
    sh`    ${fail(`rootless Docker did not answer as rootless within ${spec.timeout} s`)}`,
    sh`  fi; sleep 1`,
    raw(`done`),
  ]);
}

/** The bring-up is the same whatever drifted; only whether the daemon gets a restart depends on the facts. */
export interface DockerRootlessPlan {
  restart: boolean;
}

export const dockerRootlessKind: ResourceKind<DockerRootlessSpec, DockerRootlessFacts, DockerRootlessPlan> = {
  name: "docker_rootless",
  spec: dockerRootlessSpec,
  verifiable: true,
  describe: (spec) => `docker_rootless ${spec.user}`,

  probe(spec) {
    const u = spec.user;
    const as = asRootlessUser(spec.user);
    return {
      script: shJoin([
        sh`if lc_uid=$(id -u -- ${u} 2>/dev/null); then`,
        sh`echo user=present; echo "uid=$lc_uid"`,
        sh`echo "subuid=$(${subidSum(spec.user, "/etc/subuid")})"`,
        sh`echo "subgid=$(${subidSum(spec.user, "/etc/subgid")})"`,
        sh`if [ -e "/var/lib/systemd/linger/$(id -un -- ${u})" ]; then echo linger=1; else echo linger=0; fi`,
        sh`if [ -S "/run/user/$lc_uid/systemd/private" ]; then echo manager=1`,
        sh`  echo "unit_enabled=$(${as} systemctl --user is-enabled docker.service 2>/dev/null | head -n1)"`,
        sh`  echo "unit_active=$(${as} systemctl --user is-active docker.service 2>/dev/null)"`,
        sh`else echo manager=0; fi`,
        sh`if [ -S "/run/user/$lc_uid/docker.sock" ] && command -v docker >/dev/null 2>&1; then`,
        sh`  echo "security=$(cd / && ${as} timeout 20 docker info --format ${INFO_FORMAT} 2>/dev/null | head -n1)"`,
        sh`fi`,
        sh`else echo user=absent; fi`,
        sh`echo "rootful=$(systemctl is-enabled ${ROOTFUL_UNITS} 2>/dev/null | tr '\\n' ' ')"`,
        sh`echo "rootful_active=$(systemctl is-active ${ROOTFUL_UNITS} 2>/dev/null | tr '\\n' ' ')"`,
      ]),
      parse: parseDockerRootlessFacts,
      // docker info and four systemctl calls
      cost: 100,
    };
  },

  plan: (spec, facts) => ({
    changes: changesOfRootless(spec, facts),
    // an active daemon that is not rootless (or not answering) gets a restart, not just a start
    plan: { restart: facts.unitActive === "active" && !facts.rootless },
  }),

  apply: (spec, plan) => dockerRootlessApplySh(spec, plan.restart),
};
