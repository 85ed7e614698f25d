/**
 * `service`: a systemd unit enabled/disabled and started/stopped, or an action on it (`restarted`,
 * `reloaded`, what handlers use). `scope: user` manages a user's own systemd instance (rootless Docker)
 * by running `systemctl --user` as that user with its XDG_RUNTIME_DIR, since sudo/runuser skip
 * pam_systemd and would leave it unset.
 *
 * A unit that does not exist at probe time is not an error by itself: the package providing it is often
 * installed by an earlier task of the same run. The diff says so and apply fails clearly if it still
 * does not exist then.
 */
import { z } from "zod";
import { planned, type Change, type ResourceKind } from "../engine/resource.js";
import { raw, sh, shJoin, type Sh } from "../core/sh.js";
import { bool, userName } from "./common/schema.js";

export const serviceSpec = z
  .strictObject({
    name: z
      .string({ error: "name must be a unit name" })
      .regex(/^[A-Za-z0-9@._:\\-]+$/, {
        error: "name must be a systemd unit name, e.g. ssh or fail2ban.service",
      })
      .describe("The systemd unit, e.g. ssh or fail2ban.service."),
    enabled: bool("enabled")
      .optional()
      .describe("Started at boot (true) or not (false); not given: left as it is."),
    state: z
      .enum(["started", "stopped", "restarted", "reloaded"], {
        error: 'state must be one of "started", "stopped", "restarted", "reloaded"',
      })
      .optional()
      .describe(
        "started or stopped: the unit is running or not; restarted, reloaded: done on every run (an action, e.g. in a handler).",
      ),
    scope: z
      .enum(["system", "user"], { error: 'scope must be "system" or "user"' })
      .default("system")
      .describe("system: the system manager; user: the user manager of `user` (systemctl --user)."),
    user: userName("user").optional().describe("With scope user: whose manager."),
    /** `systemctl daemon-reload` before acting (after a unit file or drop-in changed). */
    daemon_reload: bool("daemon_reload")
      .default(false)
      .describe("Run systemctl daemon-reload first (after a unit file or drop-in changed)."),
  })
  .refine((s) => s.scope === "system" || s.user !== undefined, {
    error: "scope: user needs user: NAME (whose systemd instance to manage)",
    path: ["user"],
  })
  .refine((s) => s.scope === "user" || s.user === undefined, {
    error: "user is only meaningful with scope: user",
    path: ["user"],
  })
  .meta({
    description: "A systemd unit's state: running or stopped, enabled at boot or not, or restarted/reloaded.",
    examples: [{ name: "fail2ban", enabled: true, state: "started" }],
  });
export type ServiceSpec = z.output<typeof serviceSpec>;

export interface ServiceFacts {
  /** systemd is PID 1 (for scope user: the user's manager answers). */
  systemd: boolean;
  /** LoadState: loaded, not-found, masked, … */
  load: string;
  /** is-enabled output: enabled, disabled, static, masked, … ("" when the unit file is unknown). */
  enabled: string;
  /** is-active output: active, inactive, failed, activating, … */
  active: string;
}

const RUNNING = new Set(["active", "activating", "reloading", "refreshing"]);
/** Unit file states that enable/disable cannot change: treat as satisfying either wish. */
const FIXED = new Set(["static", "indirect", "generated", "transient", "alias", "enabled-runtime"]);

const isAction = (spec: ServiceSpec) => spec.state === "restarted" || spec.state === "reloaded";

/** The systemctl verbs to run, in order. */
export interface ServicePlan {
  ops: string[];
}

function planService(spec: ServiceSpec, f: ServiceFacts): ServicePlan & { changes: Change[] } {
  const ops: string[] = [];
  const changes: Change[] = [];
  const missing = f.load === "not-found" || f.load === "";
  const note = missing ? " (unit not found at probe time)" : "";
  if (spec.enabled === true && f.enabled !== "enabled" && !FIXED.has(f.enabled)) {
    if (f.enabled === "masked" || f.enabled === "masked-runtime" || f.load === "masked") ops.push("unmask");
    ops.push("enable");
    changes.push({ summary: `${ops.includes("unmask") ? "unmask and " : ""}enable ${spec.name}${note}` });
  } else if (spec.enabled === false && f.enabled === "enabled") {
    ops.push("disable");
    changes.push({ summary: `disable ${spec.name}` });
  }
  switch (spec.state) {
    case "started":
      if (!RUNNING.has(f.active)) {
        ops.push("start");
        changes.push({ summary: `start ${spec.name}${note}` });
      }
      break;
    case "stopped":
      if (RUNNING.has(f.active)) {
        ops.push("stop");
        changes.push({ summary: `stop ${spec.name}` });
      }
      break;
    case "restarted":
      ops.push("restart");
      changes.push({ summary: `restart ${spec.name}` });
      break;
    case "reloaded":
      // reload-or-restart also starts a stopped unit, which is what a handler after a config change wants
      ops.push("reload-or-restart");
      changes.push({ summary: `reload ${spec.name}` });
      break;
  }
  if (ops.length && !f.systemd) {
    throw new Error(
      spec.scope === "user"
        ? `the systemd user instance of ${spec.user} is not running (enable lingering: loginctl enable-linger ${spec.user})`
        : "systemd is not running on this host (PID 1 is not systemd); the service kind needs it",
    );
  }
  return { ops, changes };
}

/** The systemctl invocation for the spec's scope, as an sh prefix. */
function systemctl(spec: ServiceSpec): Sh {
  if (spec.scope === "system") return raw("systemctl");
  const u = spec.user ?? "";
  return sh`runuser -u ${u} -- env XDG_RUNTIME_DIR=/run/user/"$(id -u -- ${u})" systemctl --user`;
}

export const serviceKind: ResourceKind<ServiceSpec, ServiceFacts, ServicePlan> = {
  name: "service",
  spec: serviceSpec,
  // restarted/reloaded are actions whose diff is never empty; see common/verify.ts
  verifiable: false,
  isVerifiable: (spec) => !isAction(spec),
  describe: (spec) =>
    `service ${spec.name}${spec.scope === "user" ? ` (user ${spec.user})` : ""}${spec.state ? ` ${spec.state}` : ""}`,

  probe(spec) {
    const sc = systemctl(spec);
    const n = spec.name;
    const alive =
      spec.scope === "system"
        ? raw(`[ -d /run/systemd/system ]`)
        : sh`lc_uid=$(id -u -- ${spec.user ?? ""} 2>/dev/null) && [ -S "/run/user/$lc_uid/systemd/private" ]`;
    return {
      script: shJoin([
        sh`if ${alive}; then echo systemd=1; else echo systemd=0; fi`,
        // LoadState=… and ActiveState=… lines (is-active prints ActiveState): one call for both
        sh`${sc} show -p LoadState -p ActiveState -- ${n} 2>/dev/null`,
        // not UnitFileState: for an alias name it is the target unit's, where is-enabled says "alias"
        sh`echo "enabled=$(${sc} is-enabled -- ${n} 2>/dev/null)"`,
      ]),
      // two systemctl calls
      cost: 20,
      parse(stdout) {
        const kv = new Map<string, string>();
        for (const line of stdout.split("\n")) {
          const i = line.indexOf("=");
          if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
        }
        const systemd = kv.get("systemd");
        if (systemd === undefined) throw new Error(`service probe for ${spec.name} printed no systemd= line`);
        return {
          systemd: systemd === "1",
          load: kv.get("LoadState") ?? "",
          // is-enabled may print several lines (aliases): the first is the unit's own state
          enabled: (kv.get("enabled") ?? "").split(/\s+/)[0] ?? "",
          active: kv.get("ActiveState") ?? "",
        };
      },
    };
  },

  plan: (spec, facts) => planned(planService(spec, facts)),

  apply(spec, { ops }) {
    const sc = systemctl(spec);
    const n = spec.name;
    const out: Sh[] = [];
    if (spec.daemon_reload) out.push(sh`${sc} daemon-reload`);
    if (ops.length) {
      out.push(
        sh`if [ "$(${sc} show -p LoadState --value -- ${n} 2>/dev/null)" = not-found ]; then echo ${`service ${spec.name}: unit not found (is the package that provides it installed?)`} >&2; exit 1; fi`,
      );
    }
    for (const op of ops) out.push(sh`${sc} ${op} -- ${n}`);
    return shJoin(out);
  },
};
