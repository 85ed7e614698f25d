/**
 * Lock-out safety (docs/security-model.md, "The lock-out guard"). A change that can cut SSH access runs inside one exec that first saves
 * what it touches and arms a rollback timer ON THE HOST, so the host heals itself even if lockclaw
 * dies or the network drops. Only a fresh login (new connection, new port, deploy user, sudo) disarms it.
 */
import type { LockoutGuard } from "./resource.js";
import { base64Heredoc, raw, safeWord, sh, shJoin, type Sh } from "../core/sh.js";

export const ROLLBACK_ROOT = "/var/lib/lockclaw/rollback";

export interface ArmedRollback {
  id: string;
  dir: string;
  unit: string;
}

export function newRollback(taskId: string): ArmedRollback {
  const id = `${taskId}-${Date.now().toString(36)}`;
  return { id, dir: `${ROLLBACK_ROOT}/${id}`, unit: `lockclaw-rollback-${id}` };
}

/** sh: save state, write restore.sh, arm the timer. Runs as root before the guarded change. */
export function armScript(rb: ArmedRollback, guard: LockoutGuard, afterSeconds: number): Sh {
  const restore = shJoin([
    raw("#!/bin/sh"),
    sh`LOCKCLAW_BACKUP=${rb.dir}; export LOCKCLAW_BACKUP`,
    // stop the twin (timer or background sleeper) so a restore never runs twice
    sh`systemctl stop ${`${rb.unit}.timer`} >/dev/null 2>&1 || true`,
    guard.restore,
    sh`date -u +%FT%TZ > ${`${rb.dir}.restored`}`,
    raw(""),
  ]);
  // the sleeper's own script names the restore file inside '…': the path is checked to be a plain word
  const sleeper = sh`sleep ${afterSeconds}; sh '${safeWord(`${rb.dir}/restore.sh`)}'`;
  return shJoin([
    sh`mkdir -p -m 700 ${ROLLBACK_ROOT}`,
    sh`rm -rf ${rb.dir} && mkdir -m 700 ${rb.dir}`,
    sh`LOCKCLAW_BACKUP=${rb.dir}; export LOCKCLAW_BACKUP`,
    base64Heredoc(sh`cat > ${`${rb.dir}/restore.sh`}`, String(restore)),
    sh`(\n${guard.save}\n)`,
    // systemd-run survives our session; the sleeper is the fallback on hosts without it
    sh`if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then`,
    sh`  systemd-run --quiet --unit=${rb.unit} --on-active=${afterSeconds} --timer-property=AccuracySec=1s /bin/sh ${`${rb.dir}/restore.sh`}`,
    sh`else`,
    sh`  nohup setsid sh -c ${String(sleeper)} >/dev/null 2>&1 &`,
    sh`  echo $! > ${`${rb.dir}/sleeper.pid`}`,
    sh`fi`,
  ]);
}

/** sh: cancel the timer and drop the saved state. Run over the FRESH connection: it is the proof. */
export function disarmScript(rb: ArmedRollback): Sh {
  return shJoin([
    sh`systemctl stop ${`${rb.unit}.timer`} >/dev/null 2>&1 || true`,
    sh`systemctl reset-failed ${`${rb.unit}.service`} >/dev/null 2>&1 || true`,
    sh`[ -f ${`${rb.dir}/sleeper.pid`} ] && kill "$(cat ${`${rb.dir}/sleeper.pid`})" 2>/dev/null || true`,
    // the restore may already have fired (a slow fresh login): then the change is gone; say so
    sh`if [ -e ${`${rb.dir}.restored`} ]; then echo restored; exit 3; fi`,
    sh`rm -rf ${rb.dir}`,
    sh`echo disarmed`,
  ]);
}

/** sh: restore now (fresh login failed) and cancel the timer. */
export function rollbackNowScript(rb: ArmedRollback): Sh {
  return shJoin([
    sh`[ -e ${`${rb.dir}.restored`} ] || /bin/sh ${`${rb.dir}/restore.sh`}`,
    sh`systemctl reset-failed ${`${rb.unit}.service`} >/dev/null 2>&1 || true`,
    sh`[ -f ${`${rb.dir}/sleeper.pid`} ] && kill "$(cat ${`${rb.dir}/sleeper.pid`})" 2>/dev/null || true`,
    sh`rm -rf ${rb.dir}`,
  ]);
}
