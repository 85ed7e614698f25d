/**
 * Lock-out safety (docs/security-model.md, "The lock-out guard"). A change that can cut SSH access runs inside one exec that first saves
 * what it touches and arms a rollback timer ON THE HOST, so the host heals itself even if lockclaw
 * dies or the network drops. Only a fresh login (new connection, new port, deploy user, sudo) disarms it.
 */
import type { LockoutGuard } from "./resource.js";
import { base64Heredoc, shq } from "./shell.js";

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
export function armScript(rb: ArmedRollback, guard: LockoutGuard, afterSeconds: number): string {
  const restore = [
    "#!/bin/sh",
    `LOCKCLAW_BACKUP=${shq(rb.dir)}; export LOCKCLAW_BACKUP`,
    // stop the twin (timer or background sleeper) so a restore never runs twice
    `systemctl stop ${shq(`${rb.unit}.timer`)} >/dev/null 2>&1 || true`,
    guard.restore,
    `date -u +%FT%TZ > ${shq(`${rb.dir}.restored`)}`,
    "",
  ].join("\n");
  return [
    `mkdir -p -m 700 ${shq(ROLLBACK_ROOT)}`,
    `rm -rf ${shq(rb.dir)} && mkdir -m 700 ${shq(rb.dir)}`,
    `LOCKCLAW_BACKUP=${shq(rb.dir)}; export LOCKCLAW_BACKUP`,
    base64Heredoc(`cat > ${shq(`${rb.dir}/restore.sh`)}`, restore),
    `(\n${guard.save}\n)`,
    // systemd-run survives our session; the sleeper is the fallback on hosts without it
    `if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then`,
    `  systemd-run --quiet --unit=${shq(rb.unit)} --on-active=${afterSeconds} --timer-property=AccuracySec=1s /bin/sh ${shq(`${rb.dir}/restore.sh`)}`,
    `else`,
    `  nohup setsid sh -c ${shq(`sleep ${afterSeconds}; sh '${rb.dir}/restore.sh'`)} >/dev/null 2>&1 &`,
    `  echo $! > ${shq(`${rb.dir}/sleeper.pid`)}`,
    `fi`,
  ].join("\n");
}

/** sh: cancel the timer and drop the saved state. Run over the FRESH connection: it is the proof. */
export function disarmScript(rb: ArmedRollback): string {
  return [
    `systemctl stop ${shq(`${rb.unit}.timer`)} >/dev/null 2>&1 || true`,
    `systemctl reset-failed ${shq(`${rb.unit}.service`)} >/dev/null 2>&1 || true`,
    `[ -f ${shq(`${rb.dir}/sleeper.pid`)} ] && kill "$(cat ${shq(`${rb.dir}/sleeper.pid`)})" 2>/dev/null || true`,
    // the restore may already have fired (a slow fresh login): then the change is gone; say so
    `if [ -e ${shq(`${rb.dir}.restored`)} ]; then echo restored; exit 3; fi`,
    `rm -rf ${shq(rb.dir)}`,
    `echo disarmed`,
  ].join("\n");
}

/** sh: restore now (fresh login failed) and cancel the timer. */
export function rollbackNowScript(rb: ArmedRollback): string {
  return [
    `[ -e ${shq(`${rb.dir}.restored`)} ] || /bin/sh ${shq(`${rb.dir}/restore.sh`)}`,
    `systemctl reset-failed ${shq(`${rb.unit}.service`)} >/dev/null 2>&1 || true`,
    `[ -f ${shq(`${rb.dir}/sleeper.pid`)} ] && kill "$(cat ${shq(`${rb.dir}/sleeper.pid`)})" 2>/dev/null || true`,
    `rm -rf ${shq(rb.dir)}`,
  ].join("\n");
}
