/**
 * The sh side of the sshd kind: probe, reload and the guard's save/restore. Kept apart from the pure
 * logic so the scripts can be read (and reviewed for session safety) on their own.
 */
import { raw, safeWord, sh, shJoin, type Sh } from "../../core/sh.js";
import { Marks } from "../../core/marks.js";
import { SOCKET_OVERRIDE, SSHD_CONFIG, DROPIN_DIR } from "./config.js";

/** Marker lines in the probe output; no sshd -T, ssh -Q or systemctl line starts with "@@". */
export const M = "@@lockclaw-sshd";
export const MARKS = new Marks(M);

/**
 * sshd -T refuses to run without its privilege-separation directory, which ssh.service creates at start
 * (RuntimeDirectory=sshd) — absent when sshd is socket-activated and idle. Creating it is what the unit
 * would do, so the probe may.
 */
const SSHD_BIN = raw(
  `lc_sshd=/usr/sbin/sshd; [ -x "$lc_sshd" ] || lc_sshd=$(command -v sshd || echo sshd); [ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd`,
);

/**
 * sh: print, one per line, every file sshd reads: sshd_config, then each file an Include names, at any
 * depth (relative patterns are taken from /etc/ssh, as sshd does: hence the cd), each once. The
 * drop-in directory's *.conf come last even when nothing includes them (lockclaw's own drop-in may be
 * among them). Run in a subshell: it uses the positional parameters as its queue.
 */
export const LIST_CONFIG_FILES_SH: Sh = raw(
  [
    `lc_sshd_files() { (`,
    `  cd /etc/ssh 2>/dev/null || exit 0`,
    `  set -- ${SSHD_CONFIG}; lc_seen=' '; lc_n=0`,
    `  while [ $# -gt 0 ] && [ "$lc_n" -lt 256 ]; do`,
    `    lc_f=$1; shift`,
    `    case "$lc_seen" in *" $lc_f "*) continue ;; esac`,
    `    [ -f "$lc_f" ] || continue`,
    `    lc_seen="$lc_seen$lc_f "; lc_n=$((lc_n + 1)); printf '%s\\n' "$lc_f"`,
    // the words after Include, split and glob-expanded by the shell here in /etc/ssh (never eval'd)
    `    for lc_x in $(sed -n 's/^[[:space:]]*[Ii][Nn][Cc][Ll][Uu][Dd][Ee][[:space:]=][[:space:]=]*//p' "$lc_f" | tr -d '"'); do`,
    `      case "$lc_x" in /*) ;; *) lc_x="/etc/ssh/$lc_x" ;; esac`,
    `      [ -f "$lc_x" ] && set -- "$@" "$lc_x"`,
    `    done`,
    `  done`,
    `  for lc_f in ${DROPIN_DIR}/*.conf; do [ -f "$lc_f" ] || continue; case "$lc_seen" in *" $lc_f "*) ;; *) printf '%s\\n' "$lc_f" ;; esac; done`,
    `) }`,
  ].join("\n"),
);

/**
 * `sshd -T -C` connection specs are checked by the caller to be `key=value,…` of plain words; they end up
 * as one quoted argument anyway.
 */
/** The units whose state says how sshd is started (Debian: ssh.*; elsewhere sshd.service). */
const UNITS = ["ssh.socket", "ssh.service", "sshd.service"];

export function probeScript(connections: string[] = []): Sh {
  const m = MARKS.sh;
  for (const c of connections) {
    if (!/^[A-Za-z]+=[A-Za-z0-9._:@-]+(,[A-Za-z]+=[A-Za-z0-9._:@-]+)*$/.test(c)) {
      throw new Error(`bad sshd -T -C connection spec: ${c}`);
    }
  }
  // Each sshd -T and the ssh -Q queries cost a process start of tens of ms: they run at once, each
  // into its own file in a private temp dir, and the files are printed in the order the parser reads.
  // `wait` waits for these alone: a probe runs in a subshell of its own (SectionWriter.probe).
  const job = (name: string, body: Sh[]) => sh`{
${shJoin(body)}
} >"$lc_q/${raw(name)}" &`;
  const jobs = [
    job("0", [
      sh`${MARKS.open("sshd-T")}`,
      sh`"$lc_sshd" -T 2>/dev/null; lc_rc=$?`,
      sh`echo "${m} sshd-T-rc $lc_rc"`,
      sh`if [ "$lc_rc" -ne 0 ]; then ${MARKS.open("sshd-t-error")}; "$lc_sshd" -t 2>&1 | head -n 5 | base64 -w0; echo; fi`,
    ]),
    // the values a real connection gets: Match blocks (anywhere, however deep the Include) applied
    ...connections.map((c, i) =>
      job(`c${i}`, [
        MARKS.open(`sshd-TC ${c}`),
        sh`"$lc_sshd" -T -C '${safeWord(c)}' 2>/dev/null; echo "${m} sshd-TC-rc $?"`,
      ]),
    ),
    // what the host's OpenSSH can do; key-sig (signature algorithms) exists since OpenSSH 8.x
    job("q", [
      sh`${MARKS.open("q kex")}; ssh -Q kex 2>/dev/null`,
      sh`${MARKS.open("q cipher")}; ssh -Q cipher 2>/dev/null`,
      sh`${MARKS.open("q mac")}; ssh -Q mac 2>/dev/null`,
      sh`${MARKS.open("q keySig")}; ssh -Q key-sig 2>/dev/null || ssh -Q key 2>/dev/null`,
    ]),
  ];
  const files = ["0", ...connections.map((_, i) => `c${i}`), "q", "z"].map((f) => `"$lc_q/${f}"`);
  return shJoin([
    SSHD_BIN,
    LIST_CONFIG_FILES_SH,
    raw(`lc_q=$(mktemp -d) || exit 1`),
    ...jobs,
    sh`{`,
    sh`lc_sshd_files | while IFS= read -r lc_f; do echo "${m} file $lc_f"; base64 -w0 < "$lc_f"; echo; done`,
    sh`if [ -f ${raw(SOCKET_OVERRIDE)} ]; then ${MARKS.open("socket-override")}; base64 -w0 < ${raw(SOCKET_OVERRIDE)}; echo; fi`,
    sh`if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then`,
    // one systemctl for the three units (each call costs ~0.03 s): it prints one block per unit, in the
    // order asked, separated by an empty line; Id is never empty, so no block is
    sh`  systemctl show -p Id -p LoadState -p ActiveState -p UnitFileState -p Listen ${UNITS} 2>/dev/null |`,
    sh`    awk -v m="${m} unit" 'BEGIN { n = split("${raw(UNITS.join(" "))}", u, " "); i = 1; print m " " u[1] } /^$/ { if (++i <= n) print m " " u[i]; next } { print }'`,
    sh`fi`,
    sh`} >"$lc_q/z"`,
    raw(`wait`),
    raw(`cat ${files.join(" ")}; rm -rf "$lc_q"`),
    sh`${MARKS.open("end")}`,
  ]);
}

/**
 * Make the running sshd pick up the files. Session-safe in every mode:
 * - plain service: `reload` (SIGHUP: sshd re-executes itself; established sessions are separate
 *   processes and stay);
 * - socket activation (Ubuntu ≥ 22.10): the listening socket belongs to systemd, so the port changes only
 *   by restarting ssh.socket after daemon-reload, and only after stopping the service the socket started
 *   (KillMode=process, Debian/Ubuntu's, keeps the session processes alive); reloaded otherwise;
 * - no systemd: SIGHUP by pid file.
 */
export const RELOAD_SH: Sh = raw(
  [
    `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then`,
    `  if systemctl is-enabled -q ssh.socket 2>/dev/null || systemctl is-active -q ssh.socket 2>/dev/null; then`,
    // daemon-reload picks up the socket override (and reruns Ubuntu's sshd-socket-generator)
    `    systemctl daemon-reload`,
    // systemd refuses to re-listen while the service it activated still runs ("Socket service ssh.service
    // already active, refusing"): stop it first. KillMode=process (Debian's and Ubuntu's) keeps every
    // established session alive; the next connection activates the service again on the new socket.
    `    if systemctl is-active -q ssh.service && [ "$(systemctl show -p KillMode --value ssh.service)" != process ]; then`,
    `      systemctl reload ssh.service`,
    `      ${"echo 'LOCKCLAW_WARNING: ssh.service does not use KillMode=process: sshd was reloaded, not moved to the new socket; restart ssh.socket from a console'"}`,
    `    else`,
    `      systemctl stop ssh.service`,
    `      systemctl restart ssh.socket`,
    `    fi`,
    `  else`,
    `    lc_svc=ssh; [ "$(systemctl show -p LoadState --value ssh.service 2>/dev/null)" = loaded ] || lc_svc=sshd`,
    `    systemctl reload-or-restart "$lc_svc"`,
    `  fi`,
    `elif [ -f /run/sshd.pid ]; then kill -HUP "$(cat /run/sshd.pid)"`,
    `fi`,
  ].join("\n"),
);

/**
 * Guard: copy everything apply may touch (sshd_config, the whole drop-in dir, the socket override dir,
 * and any other file an Include reaches, where apply may comment out a conflicting line).
 */
export const GUARD_SAVE: Sh = raw(
  [
    `mkdir -p "$LOCKCLAW_BACKUP/sshd/other"`,
    `cp -a ${SSHD_CONFIG} "$LOCKCLAW_BACKUP/sshd/sshd_config"`,
    `if [ -d ${DROPIN_DIR} ]; then cp -a ${DROPIN_DIR} "$LOCKCLAW_BACKUP/sshd/sshd_config.d"; fi`,
    `if [ -d /etc/systemd/system/ssh.socket.d ]; then cp -a /etc/systemd/system/ssh.socket.d "$LOCKCLAW_BACKUP/sshd/ssh.socket.d"; fi`,
    String(LIST_CONFIG_FILES_SH),
    `lc_i=0`,
    `for lc_f in $(lc_sshd_files); do`,
    `  case "$lc_f" in ${SSHD_CONFIG} | ${DROPIN_DIR}/*) continue ;; esac`,
    `  lc_i=$((lc_i + 1)); cp -a "$lc_f" "$LOCKCLAW_BACKUP/sshd/other/$lc_i"; printf '%s\\n' "$lc_f" > "$LOCKCLAW_BACKUP/sshd/other/$lc_i.path"`,
    `done`,
  ].join("\n"),
);

/** Guard: put the saved files back exactly (a dir absent before is removed) and reload. */
export const GUARD_RESTORE: Sh = raw(
  [
    `lc_b="$LOCKCLAW_BACKUP/sshd"`,
    `if [ -f "$lc_b/sshd_config" ]; then`,
    `  cp -a "$lc_b/sshd_config" ${SSHD_CONFIG}`,
    `  rm -rf ${DROPIN_DIR}; if [ -d "$lc_b/sshd_config.d" ]; then cp -a "$lc_b/sshd_config.d" ${DROPIN_DIR}; fi`,
    `  rm -rf /etc/systemd/system/ssh.socket.d; if [ -d "$lc_b/ssh.socket.d" ]; then cp -a "$lc_b/ssh.socket.d" /etc/systemd/system/ssh.socket.d; fi`,
    `  for lc_p in "$lc_b"/other/*.path; do [ -f "$lc_p" ] || continue; cp -a "\${lc_p%.path}" "$(cat "$lc_p")"; done`,
    `  [ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd`,
    String(RELOAD_SH),
    `fi`,
  ].join("\n"),
);

export { SSHD_BIN };
