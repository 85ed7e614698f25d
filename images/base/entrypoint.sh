#!/bin/sh
# LockClaw entrypoint (PID 1 is tini). Refuses root, starts sshd when LOCKCLAW_ENABLE_SSH=1 (key-only, as the
# lockclaw user), then execs the image's runtime (CMD). Every refusal names the cause and the fix.
set -eu

log() { printf 'lockclaw: %s\n' "$*" >&2; }
die() {
  log "error: $1"
  [ -n "${2:-}" ] && log "  fix: $2"
  exit 1
}

SSHD_CONFIG=/etc/ssh/lockclaw_sshd_config
ENV_KEYS_NAME=lockclaw_env_authorized_keys

if [ "$(id -u)" = 0 ]; then
  die "refusing to run as root: every LockClaw runtime runs as the unprivileged lockclaw user" \
    "drop --user 0 / user: root (the image's default user is lockclaw)"
fi

# First writable directory for sshd's host key and the keys given in SSH_PUBLIC_KEY. The ~/.ssh volume
# is preferred because a host key kept there survives restarts (no "host key changed" warnings).
ssh_state_dir() {
  for d in "$HOME/.ssh" /run/lockclaw; do
    if [ -d "$d" ] && [ -w "$d" ]; then
      printf '%s\n' "$d"
      return 0
    fi
  done
  return 1
}

start_sshd() {
  state=$(ssh_state_dir) || die "SSH is enabled but neither $HOME/.ssh nor /run/lockclaw is writable" \
    "keep the $HOME/.ssh volume writable, or add --tmpfs /run/lockclaw:uid=$(id -u),gid=$(id -g),mode=0700"

  # Keys from the environment are rewritten at every start, so removing SSH_PUBLIC_KEY revokes them.
  for d in "$HOME/.ssh" /run/lockclaw; do
    [ -w "$d" ] && rm -f "$d/$ENV_KEYS_NAME"
  done
  if [ -n "${SSH_PUBLIC_KEY:-}" ]; then
    umask 077
    printf '%s\n' "$SSH_PUBLIC_KEY" >"$state/$ENV_KEYS_NAME"
    if ! ssh-keygen -l -f "$state/$ENV_KEYS_NAME" >/dev/null 2>&1; then
      rm -f "$state/$ENV_KEYS_NAME"
      die "SSH_PUBLIC_KEY does not hold a valid OpenSSH public key" \
        "pass the .pub file's content, e.g. -e SSH_PUBLIC_KEY=\"\$(cat ~/.ssh/id_ed25519.pub)\""
    fi
  fi

  have_key=""
  for f in "$HOME/.ssh/authorized_keys" "$state/$ENV_KEYS_NAME"; do
    if [ -r "$f" ] && ssh-keygen -l -f "$f" >/dev/null 2>&1; then have_key=$f; fi
  done
  [ -n "$have_key" ] || die "LOCKCLAW_ENABLE_SSH=1 but no SSH public key was given; SSH logins are key-only" \
    "set SSH_PUBLIC_KEY to your public key, or mount a file at $HOME/.ssh/authorized_keys"

  # Binding 22 as non-root relies on the container's own unprivileged-port floor (0 under Docker >= 20.10).
  floor=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)
  if [ "$floor" -gt 22 ]; then
    die "this container runtime lets unprivileged users bind only ports >= $floor, so sshd cannot listen on 22" \
      "run with --sysctl net.ipv4.ip_unprivileged_port_start=22 (no capability needed)"
  fi

  hostkey="$state/lockclaw_ssh_host_ed25519_key"
  if [ ! -s "$hostkey" ]; then
    rm -f "$hostkey" "$hostkey.pub"
    ssh-keygen -q -t ed25519 -N '' -C "lockclaw-host" -f "$hostkey" >/dev/null
  fi

  err=$(/usr/sbin/sshd -t -f "$SSHD_CONFIG" -h "$hostkey" 2>&1) || die "sshd rejected its configuration: $err" \
    "rebuild the image; $SSHD_CONFIG must not be edited in place"
  # Daemonised on purpose: its parent becomes tini, which reaps it; -E keeps its log next to its state.
  /usr/sbin/sshd -f "$SSHD_CONFIG" -h "$hostkey" -E "$state/sshd.log" ||
    die "sshd failed to start: $(tail -n 5 "$state/sshd.log" 2>/dev/null)" "see $state/sshd.log"
  # sshd daemonises before it binds: wait (bounded) so the runtime, and any check, starts with SSH up.
  i=0
  until [ -n "$(ss -tlnH 'sport = :22' 2>/dev/null)" ]; do
    i=$((i + 1))
    [ "$i" -le 100 ] || die "sshd did not start listening on port 22 within 10s: $(tail -n 5 "$state/sshd.log" 2>/dev/null)" \
      "see $state/sshd.log"
    sleep 0.1
  done
  log "sshd listening on port 22 (key-only, user lockclaw; host key $(ssh-keygen -l -f "$hostkey.pub" | cut -d' ' -f2))"
}

case "${LOCKCLAW_ENABLE_SSH:-0}" in
  1) start_sshd ;;
  0 | "") ;;
  *) die "LOCKCLAW_ENABLE_SSH must be 0 or 1, got '${LOCKCLAW_ENABLE_SSH}'" "use -e LOCKCLAW_ENABLE_SSH=1 to enable SSH" ;;
esac

[ "$#" -gt 0 ] || die "no command to run" "give the image a CMD"
exec "$@"
