/**
 * `compose_stack`: a compose project of a rootless Docker user, up, healthy and matching its files.
 *
 * Everything runs as the user through its own daemon (`runuser` + XDG_RUNTIME_DIR + DOCKER_HOST: sudo
 * and runuser skip pam_systemd). Compose v2 (`docker compose`, Debian 13, Docker's repo) is preferred,
 * v1 (`docker-compose` 1.29, Debian 12) used where it is all there is; the compose files are written to
 * work with both.
 *
 * Drift: compose labels every container with the hash of its service's configuration
 * (`com.docker.compose.config-hash`); `compose config --hash '*'` computes the same hash from the files
 * on the host. A service without a container, stopped, unhealthy, or with another hash is a change;
 * so is a container of a service no longer in the files (an orphan). The containers are read with
 * `docker ps --filter label=…` (same output from v1 and v2, unlike `compose ps --format json`).
 *
 * Two inputs compose's own hash misses are handed to it as environment variables (compose_stack/): the
 * images pinned by digest on first use (pins.ts) and a hash of each service's configuration files
 * (config-hash.ts). Both then take part in the hash, so drift in either is seen and fixed per service.
 *
 * Apply: optionally `docker load` the image tarballs of an air-gapped bundle already on the host, pin
 * what is not pinned yet, then `up -d --remove-orphans` (compose recreates only what changed) and wait
 * until every container is running and healthy, with a deadline. Compose output and container logs are never printed: a failing
 * service is named with its state, and the user is told how to read its logs on the host.
 */
import { z } from "zod";
import type { Change, ResourceKind } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { asRootlessUser } from "./docker_rootless.js";
import { IMAGE_REF } from "../engine/var-types.js";
import { absPath, userName } from "./common/schema.js";
import { configEntries, configEnvWords, configHashSh } from "./compose_stack/config-hash.js";
import { pinEntries, pinEnvWords, readPinsSh, resolvePinsSh } from "./compose_stack/pins.js";

const fileName = z
  .string({ error: "a compose file name must be a string" })
  .regex(/^[A-Za-z0-9._-]+$/, { error: "a compose file is a plain file name inside dir, e.g. compose.yml" });

/** A record whose keys must match `key` (zod's own key errors do not carry a message of ours). */
const keyedRecord = <V extends z.ZodType>(key: RegExp, keyError: string, value: V) =>
  z.record(z.string(), value).superRefine((rec, ctx) => {
    for (const k of Object.keys(rec)) {
      if (!key.test(k)) ctx.addIssue({ code: "custom", message: `${keyError} (got '${k}')`, path: [k] });
    }
  });

export const composeStackSpec = z
  .strictObject({
    dir: absPath.describe("Directory on the host holding the compose files (and their configuration files)."),
    project: z
      .string({ error: "project must be a string" })
      .regex(/^[a-z0-9][a-z0-9_-]*$/, {
        error: "project must be lowercase letters, digits, _ and - (compose's rule), e.g. lockclaw",
      })
      .describe("Compose project name: lowercase letters, digits, _ and -."),
    files: z
      .union([fileName, z.array(fileName).min(1, { error: "files must list at least one file" })])
      .transform((f) => (Array.isArray(f) ? f : [f]))
      .default(["compose.yml"])
      .describe("Compose file name(s) in dir."),
    /**
     * Compose files added after `files` only where compose v2 drives Docker Engine 25+ (API 1.44+): keys
     * compose v1 (Debian 12's docker-compose 1.29) refuses, and v2 refuses against an older engine, such as
     * a health check's `start_interval`. Elsewhere they are not read.
     */
    files_v2: z
      .array(fileName)
      .default([])
      .describe(
        "Compose file name(s) in dir added only under compose v2 with Docker Engine 25+ (keys v1 or an older engine refuse, e.g. healthcheck start_interval).",
      ),
    /** The rootless daemon's user (playbooks/docker.yml's docker_user). */
    user: userName("user")
      .default("lockclaw-agent")
      .describe("The rootless Docker daemon's user the stack runs under."),
    /** Directory ON THE HOST holding image tarballs (`docker save` output) to load before `up`; "" = none. */
    bundle_dir: z
      .preprocess((v) => (v === "" || v === null ? undefined : v), absPath.optional())
      .describe(
        'Directory on the host with image tarballs (docker save output) loaded before up; "" or not given: none.',
      ),
    /** Seconds to wait for every container to be running and healthy. */
    timeout: z.coerce
      .number({ error: "timeout must be a number of seconds" })
      .int({ error: "timeout must be a whole number of seconds" })
      .min(10, { error: "timeout must be at least 10 seconds" })
      .max(3600, { error: "timeout must be at most 3600 seconds" })
      .default(300)
      .describe("Seconds to wait for every container to be running and healthy."),
    /**
     * Images the compose file reads as `${LOCKCLAW_IMAGE_<KEY>}`: KEY → reference. A tag is pinned by
     * digest on first deploy (compose_stack/pins.ts); "" = not used by this deployment.
     */
    images: keyedRecord(
      /^[A-Z][A-Z0-9_]*$/,
      "an images key is UPPER_SNAKE_CASE, e.g. OPENCLAW",
      // narrowed here too, not only by a playbook's var_types: an untyped variable may fill it
      z
        .string({ error: "an image reference must be a string, e.g. redis:7.4 or redis@sha256:…" })
        .refine((r) => r === "" || (r.length <= 512 && IMAGE_REF.test(r)), {
          error: "not an image reference (name[:tag][@sha256:digest], not starting with -), e.g. redis:7.4",
        }),
    )
      .default({})
      .describe(
        'Images the compose file reads as ${LOCKCLAW_IMAGE_KEY}: KEY (UPPER_SNAKE_CASE) to reference; a tag is pinned by digest on the first deploy; "" = not used.',
      ),
    /** Resolve every tag again (after an upstream release you want); otherwise pins never move. */
    repin: z
      .boolean({ error: "repin must be true or false" })
      .default(false)
      .describe("Resolve every tag again (otherwise a pinned digest never moves)."),
    /**
     * service → its configuration files (relative to dir), hashed into `${LOCKCLAW_CONFIG_<SERVICE>}` so
     * a changed file recreates that service (compose_stack/config-hash.ts).
     */
    config_files: keyedRecord(
      /^[a-z0-9][a-z0-9_-]*$/,
      "a config_files key is a compose service name",
      z.array(
        z.string().regex(/^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]+$/, {
          error: "a config file is a path relative to dir, without '..', e.g. openclaw/openclaw.json",
        }),
      ),
    )
      .default({})
      .describe(
        "Service to its configuration files (relative to dir), hashed so a changed file recreates that service.",
      ),
  })
  .meta({
    description:
      "A Docker Compose project brought up under rootless Docker, its images pinned by digest, every container running and healthy.",
    examples: [
      {
        dir: "/srv/lockclaw",
        project: "lockclaw",
        user: "lockclaw-agent",
        images: { REDIS: "redis:7.4-bookworm" },
        config_files: { gateway: ["openclaw/openclaw.json"] },
      },
    ],
  });
export type ComposeStackSpec = z.output<typeof composeStackSpec>;

export interface ContainerState {
  service: string;
  /** docker's State: running, exited, restarting, created, paused, dead. */
  state: string;
  hash: string;
  /** docker's Status text, e.g. "Up 3 minutes (healthy)". */
  status: string;
  name: string;
}

export interface ComposeStackFacts {
  userExists: boolean;
  dirExists: boolean;
  compose: "v2" | "v1" | "none";
  daemon: boolean;
  /** undefined when config was not computed (no compose/daemon/dir); otherwise the error or "" when fine. */
  configError?: string;
  /** service → expected config hash, from the files on the host. */
  want: Record<string, string>;
  containers: ContainerState[];
  /** Image keys with no pin yet (or all of them under repin). */
  unpinned: string[];
}

const PS_FORMAT =
  '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Label "com.docker.compose.config-hash"}}\t{{.Status}}\t{{.Names}}';

/** Where the docker client finds CLI plugins besides the user's ~/.docker/cli-plugins (its fixed list). */
const COMPOSE_PLUGIN_DIRS = [
  "/usr/local/lib/docker/cli-plugins",
  "/usr/local/libexec/docker/cli-plugins",
  "/usr/lib/docker/cli-plugins",
  "/usr/libexec/docker/cli-plugins",
];

export type Health = "healthy" | "unhealthy" | "starting" | "none";
export function healthOf(status: string): Health {
  if (/\(unhealthy\)/.test(status)) return "unhealthy";
  if (/\(health: starting\)/.test(status)) return "starting";
  if (/\(healthy\)/.test(status)) return "healthy";
  return "none";
}

/**
 * sh defining `lc_dk` (docker as the user) and `lc_cp` (compose as the user, v2 or v1) as functions, and
 * `lc_cv` (v2, v1 or none). Functions, not command strings in variables: the quoting survives.
 */
function header(spec: ComposeStackSpec): Sh[] {
  const u = spec.user;
  const as = asRootlessUser(spec.user);
  const fileArgs = (files: string[]) =>
    shJoin(
      files.map((f) => sh`-f ${f}`),
      " ",
    );
  const p = sh`-p ${spec.project} ${fileArgs(spec.files)}`;
  const configs = configEntries(spec.config_files);
  const pins = pinEntries(spec.images);
  // the variables are expanded when lc_cp runs: pins resolved later in the script are seen
  const env = [...configEnvWords(configs), ...pinEnvWords(pins)];
  const asEnv = env.length ? sh`${as} ${shJoin(env, " ")}` : as;
  // files_v2 as well once lc_xf says so (v2SupportSh, run where the daemon answers)
  const v2 = spec.files_v2.length
    ? sh`if [ -n "$lc_xf" ]; then ${asEnv} docker compose ${p} ${fileArgs(spec.files_v2)} "$@"; else ${asEnv} docker compose ${p} "$@"; fi`
    : sh`${asEnv} docker compose ${p} "$@"`;
  return [
    sh`lc_uid=$(id -u -- ${u} 2>/dev/null) || lc_uid=`,
    sh`lc_dk() { ${as} docker "$@"; }`,
    sh`lc_cv=none`,
    // v2 is a CLI plugin: its file is looked for where the docker client looks (running `docker compose
    // version` as the user cost a whole plugin start per probe); a broken one fails `config` below
    sh`if [ -n "$lc_uid" ]; then for lc_d in "$(getent passwd ${u} | cut -d: -f6)/.docker/cli-plugins" ${COMPOSE_PLUGIN_DIRS}; do [ -x "$lc_d/docker-compose" ] && { lc_cv=v2; break; }; done; fi`,
    sh`if [ "$lc_cv" = v2 ]; then :`,
    sh`elif command -v docker-compose >/dev/null 2>&1; then lc_cv=v1; fi`,
    ...configHashSh(spec.dir, configs),
    ...readPinsSh(spec.dir, pins, spec.repin),
    sh`lc_xf=`,
    sh`lc_cp() { if [ "$lc_cv" = v2 ]; then ${v2}; else ${asEnv} docker-compose ${p} "$@"; fi; }`,
  ];
}

/**
 * Sets lc_xf when files_v2 apply: compose v2 and a daemon at API 1.44+ (Engine 25), compose's own test
 * for start_interval. Asked of the daemon (~50 ms), once it answers.
 */
function v2SupportSh(spec: ComposeStackSpec): Sh {
  if (!spec.files_v2.length) return raw(":");
  return sh`if [ "$lc_cv" = v2 ]; then case "$( (cd / && lc_dk version --format '{{.Server.APIVersion}}') 2>/dev/null)" in 1.4[4-9]|1.[5-9][0-9]|1.[1-9][0-9][0-9]|[2-9].*) lc_xf=1 ;; esac; fi`;
}

export function composeStackProbeSh(spec: ComposeStackSpec): Sh {
  const dir = spec.dir;
  return shJoin([
    ...header(spec),
    sh`if [ -z "$lc_uid" ]; then echo user=absent; else echo user=present`,
    sh`if [ -d ${dir} ]; then echo dir=1; else echo dir=0; fi`,
    sh`echo "compose=$lc_cv"`,
    sh`for lc_k in $lc_unpinned; do echo "unpinned=$lc_k"; done`,
    // the listing is the daemon's answer too: one docker call instead of `info` and then `ps`
    sh`if [ -n "$lc_uid" ] && lc_ps=$( (cd / && lc_dk ps -a --filter label=com.docker.compose.project=${spec.project} --format ${PS_FORMAT}) 2>/dev/null); then echo daemon=1; lc_up=1; else echo daemon=0; lc_up=; fi`,
    sh`if [ -n "$lc_up" ] && [ "$lc_cv" != none ] && [ -d ${dir} ]; then`,
    v2SupportSh(spec),
    // stderr of `config` names the problem (a missing secret file, a bad key); never values: keep one line
    sh`  if lc_h=$(cd ${dir} && lc_cp config --hash '*' 2>&1); then echo config=ok`,
    sh`    printf '%s\\n' "$lc_h" | while read -r lc_s lc_x; do [ -n "$lc_x" ] && printf 'want=%s %s\\n' "$lc_s" "$lc_x"; done`,
    sh`  else printf 'config=error\\nconfig_error=%s\\n' "$(printf '%s' "$lc_h" | tr '\\n' ' ' | cut -c1-300)"; fi`,
    sh`fi`,
    sh`[ -n "$lc_ps" ] && printf '%s\\n' "$lc_ps" | sed 's/^/have=/'`,
    sh`fi`,
    raw(`true`),
  ]);
}

export function parseComposeStackFacts(stdout: string): ComposeStackFacts {
  const lines = stdout.split("\n");
  const get = (key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
  const user = get("user");
  if (user !== "present" && user !== "absent") {
    throw new Error(`compose_stack probe printed no valid user= line (got ${JSON.stringify(user)})`);
  }
  const compose = (get("compose") ?? "none") as ComposeStackFacts["compose"];
  if (!["v1", "v2", "none"].includes(compose)) throw new Error(`compose_stack probe: bad compose=${compose}`);
  const f: ComposeStackFacts = {
    userExists: user === "present",
    dirExists: get("dir") === "1",
    compose,
    daemon: get("daemon") === "1",
    want: {},
    containers: [],
    unpinned: lines.filter((l) => l.startsWith("unpinned=")).map((l) => l.slice(9).trim()),
  };
  const config = get("config");
  if (config === "ok") f.configError = "";
  else if (config === "error") f.configError = (get("config_error") ?? "").trim() || "compose config failed";
  for (const l of lines) {
    if (l.startsWith("want=")) {
      const m = /^want=(\S+) (\S+)$/.exec(l.trim());
      if (!m) throw new Error(`compose_stack probe: bad line ${JSON.stringify(l)}`);
      f.want[m[1]!] = m[2]!;
    } else if (l.startsWith("have=")) {
      const [service = "", state = "", hash = "", status = "", name = ""] = l.slice(5).split("\t");
      if (!name) throw new Error(`compose_stack probe: bad container line ${JSON.stringify(l)}`);
      f.containers.push({ service, state, hash, status, name });
    }
  }
  return f;
}

function changesOfStack(spec: ComposeStackSpec, f: ComposeStackFacts): Change[] {
  const deploy = (why: string): Change[] => [{ summary: `deploy compose project ${spec.project} (${why})` }];
  if (!f.userExists) return deploy(`user ${spec.user} not found at probe time`);
  if (!f.dirExists) return deploy(`${spec.dir} not there yet`);
  if (f.compose === "none") return deploy("no compose found at probe time");
  if (!f.daemon) return deploy(`${spec.user}'s Docker daemon not answering at probe time`);
  if (f.configError === undefined) return deploy("configuration not read at probe time");
  if (f.configError) return deploy(`compose config failed at probe time: ${f.configError}`);
  const c: Change[] = f.unpinned.map((key) => ({
    summary: `${spec.project}: pin image ${spec.images[key] ?? key} by digest${spec.repin ? " again (repin)" : " (first deploy)"}`,
  }));
  const byService = new Map<string, ContainerState[]>();
  for (const k of f.containers) byService.set(k.service, [...(byService.get(k.service) ?? []), k]);
  for (const [service, hash] of Object.entries(f.want).sort(([a], [b]) => a.localeCompare(b))) {
    const ks = byService.get(service) ?? [];
    if (!ks.length) {
      c.push({ summary: `${spec.project}/${service}: container missing → create` });
      continue;
    }
    for (const k of ks) {
      if (k.hash !== hash)
        c.push({ summary: `${spec.project}/${service}: configuration changed → recreate` });
      else if (k.state !== "running") c.push({ summary: `${spec.project}/${service}: ${k.state} → start` });
      else if (healthOf(k.status) === "unhealthy") {
        c.push({ summary: `${spec.project}/${service}: unhealthy → recreate and wait for healthy` });
      }
    }
  }
  for (const [service, ks] of byService) {
    if (!(service in f.want))
      c.push({ summary: `${spec.project}: remove orphan ${ks.map((k) => k.name).join(", ")}` });
  }
  return c;
}

export function composeStackApplySh(spec: ComposeStackSpec, recreateUnhealthy: string[]): Sh {
  const dir = spec.dir;
  const fail = (msg: string) => sh`{ echo ${`compose_stack ${spec.project}: ${msg}`} >&2; exit 1; }`;
  const out: Sh[] = [
    ...header(spec),
    sh`[ -n "$lc_uid" ] || ${fail(`user ${spec.user} does not exist`)}`,
    sh`[ -d ${dir} ] || ${fail(`${spec.dir} does not exist`)}`,
    sh`[ "$lc_cv" != none ] || ${fail("neither `docker compose` nor `docker-compose` is installed")}`,
    // the daemon may be restarting (a handler of the docker play restarts the user manager)
    sh`lc_i=0; until (cd / && lc_dk info --format '{{.ID}}') >/dev/null 2>&1; do lc_i=$((lc_i + 1)); [ "$lc_i" -le 90 ] || ${fail(`${spec.user}'s Docker daemon does not answer`)}; sleep 1; done`,
    v2SupportSh(spec),
  ];
  if (spec.bundle_dir) {
    const b = spec.bundle_dir;
    out.push(
      sh`[ -d ${b} ] || ${fail(`bundle directory ${spec.bundle_dir} does not exist on the host`)}`,
      // docker load reads the tarball as the user: hand it over on stdin, the user may not read the bundle
      sh`for lc_f in ${b}/*.tar ${b}/*.tar.gz; do [ -f "$lc_f" ] || continue`,
      sh`  if ! lc_o=$( (cd / && lc_dk load) < "$lc_f" 2>&1); then printf '%s\\n' "$lc_o" | tail -n 5 >&2; ${fail("docker load failed for a bundle tarball")}; fi`,
      sh`done`,
    );
  }
  out.push(...resolvePinsSh(spec.dir, spec.user, pinEntries(spec.images), fail));
  // an unhealthy container with an unchanged config is not recreated by `up`: force just those services
  const force = recreateUnhealthy.length
    ? sh`(cd ${dir} && lc_cp up -d --force-recreate ${recreateUnhealthy}) >/dev/null 2>&1 </dev/null || true`
    : raw(":");
  out.push(
    sh`if ! lc_o=$(cd ${dir} && lc_cp up -d --remove-orphans 2>&1 </dev/null); then`,
    sh`  printf '%s\\n' "$lc_o" | grep -iE 'error|denied|not found|invalid|no such' | tail -n 10 >&2`,
    sh`  ${fail("compose up failed")}`,
    sh`fi`,
    force,
    // wait: every container of the project running, none unhealthy or starting
    sh`lc_i=0; while :; do`,
    sh`  lc_ps=$( (cd / && lc_dk ps -a --filter label=com.docker.compose.project=${spec.project} --format '{{.Names}}\t{{.State}}\t{{.Status}}') 2>/dev/null)`,
    sh`  lc_bad=$(printf '%s\\n' "$lc_ps" | awk -F'\\t' 'NF && ($2 != "running" || $3 ~ /\\((unhealthy|health: starting)\\)/)')`,
    sh`  [ -n "$lc_ps" ] && [ -z "$lc_bad" ] && break`,
    // polled each second: a container turning healthy is seen within 1 s, not 2 (the first deploy waits on several)
    sh`  lc_i=$((lc_i + 1)); if [ "$lc_i" -gt ${spec.timeout} ]; then`,
    sh`    printf 'not running/healthy after ${spec.timeout} s:\\n%s\\n' "$lc_bad" >&2`,
    sh`    echo ${`read the logs on the host: docker logs CONTAINER (as the operator, through its Docker context for ${spec.user}'s daemon)`} >&2`,
    sh`    exit 1`,
    sh`  fi; sleep 1`,
    sh`done`,
  );
  return shJoin(out);
}

/** `compose up` converges everything else; only the unhealthy services with an unchanged config need forcing. */
export interface ComposeStackPlan {
  recreateUnhealthy: string[];
}

/** Services whose running container is unhealthy with the wanted config: `up` alone would keep it. */
function unhealthyToRecreate(facts: ComposeStackFacts): string[] {
  return [
    ...new Set(
      facts.containers
        .filter((k) => k.state === "running" && healthOf(k.status) === "unhealthy" && k.service in facts.want)
        .filter((k) => facts.want[k.service] === k.hash)
        .map((k) => k.service),
    ),
  ];
}

export const composeStackKind: ResourceKind<ComposeStackSpec, ComposeStackFacts, ComposeStackPlan> = {
  name: "compose_stack",
  spec: composeStackSpec,
  // under repin every tag is resolved again on each run: a re-probe always finds work
  isVerifiable: (spec) => !spec.repin,
  describe: (spec) => `compose_stack ${spec.project} (${spec.dir})`,

  probe(spec) {
    // compose config and docker clients as the user: the costliest probe of a stack
    return { script: composeStackProbeSh(spec), parse: parseComposeStackFacts, cost: 200 };
  },

  plan: (spec, facts) => ({
    changes: changesOfStack(spec, facts),
    plan: { recreateUnhealthy: unhealthyToRecreate(facts) },
  }),

  apply: (spec, plan) => composeStackApplySh(spec, plan.recreateUnhealthy),
};
