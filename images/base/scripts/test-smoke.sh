#!/bin/sh
# LockClaw smoke test, run inside a container:  docker exec <name> /opt/lockclaw/scripts/test-smoke.sh
# One line per check: "PASS <check>: …" or "FAIL <check>: …"; exits 1 if any check failed.
#
# Checks (all by default, or only those named as arguments):
#   user       no process in the container runs as root (real or effective uid 0)
#   ssh        LOCKCLAW_ENABLE_SSH=1: a valid key is present and sshd listens; otherwise sshd is not running
#   readonly   LOCKCLAW_EXPECT_READONLY=1: the root filesystem is mounted read-only
#   runtime    the image's runtime listens where /opt/lockclaw/expected-listeners says (loopback)
#   listeners  no TCP/UDP listener on a non-loopback address (wildcards included), except SSH's port when
#              enabled and the entries of /opt/lockclaw/allowed-listeners
#
# Test hooks (used by lockclaw's unit tests on a host without the image): LOCKCLAW_SMOKE_SS_FILE replaces
# the output of `ss -tulnH`, LOCKCLAW_SMOKE_MOUNTS_FILE replaces /proc/mounts, LOCKCLAW_SMOKE_DIR replaces
# /opt/lockclaw. LOCKCLAW_SMOKE_WAIT (seconds, default 30) bounds the wait for the runtime's listeners.
set -u

LC_DIR=${LOCKCLAW_SMOKE_DIR:-/opt/lockclaw}
SSH_PORT=22
failed=0
passed=0

pass() {
  passed=$((passed + 1))
  printf 'PASS %s: %s\n' "$1" "$2"
}
fail() {
  failed=$((failed + 1))
  printf 'FAIL %s: %s\n' "$1" "$2"
}

listeners_raw() {
  if [ -n "${LOCKCLAW_SMOKE_SS_FILE:-}" ]; then cat "$LOCKCLAW_SMOKE_SS_FILE"; else ss -tulnH; fi
}

# `proto address port loopback|exposed` per listener. The local address is the 5th column of `ss -tulnH`
# (Netid State Recv-Q Send-Q Local Peer); the port follows the LAST colon; IPv6 comes bracketed and any
# address may carry a %interface suffix. Loopback is 127.0.0.0/8, ::1 and IPv4-mapped 127/8; everything
# else — 0.0.0.0, *, [::], a real address — can be reached from outside the container.
listeners() {
  listeners_raw | awk '
    NF >= 5 {
      proto = $1; local_ = $5
      i = length(local_); while (i > 0 && substr(local_, i, 1) != ":") i--
      if (i == 0) next
      addr = substr(local_, 1, i - 1); port = substr(local_, i + 1)
      sub(/%.*$/, "", addr); gsub(/^\[|\]$/, "", addr); sub(/%.*$/, "", addr)
      lb = (addr ~ /^127\./ || addr == "::1" || addr ~ /^::ffff:127\./) ? "loopback" : "exposed"
      if (addr == "") addr = "*"
      print proto, addr, port, lb
    }'
}

# wait_for PROTO ADDR PORT: true once such a listener exists (ADDR empty = any address), polling once a
# second for at most LOCKCLAW_SMOKE_WAIT seconds: a check run right after `docker run` must not race the
# runtime's startup, and must not hang either.
wait_for() {
  t=0
  until listeners | awk -v pr="$1" -v a="$2" -v p="$3" '$1 == pr && (a == "" || $2 == a) && $3 == p { f = 1 } END { exit !f }'; do
    [ "$t" -lt "${LOCKCLAW_SMOKE_WAIT:-30}" ] || return 1
    sleep 1
    t=$((t + 1))
  done
}

ssh_enabled() { [ "${LOCKCLAW_ENABLE_SSH:-0}" = 1 ]; }

# Lists every process as "pid uid euid comm" from /proc.
processes() {
  for s in /proc/[0-9]*/status; do
    [ -r "$s" ] || continue
    awk '/^Name:/ { n = $2 } /^Uid:/ { u = $2; e = $3 } END { if (u != "") print FILENAME, u, e, n }' "$s" 2>/dev/null
  done | sed 's#^/proc/\([0-9]*\)/status#\1#'
}

check_user() {
  me=$(id -u)
  roots=$(processes | awk '$2 == 0 || $3 == 0 { printf "%s%s(pid %s)", sep, $4, $1; sep = ", " }')
  if [ "$me" = 0 ]; then
    fail user "the smoke test itself runs as root; LockClaw containers run as the lockclaw user"
  elif [ -n "$roots" ]; then
    fail user "processes running as root: $roots"
  else
    pass user "no process runs as root (smoke test uid $me)"
  fi
}

check_ssh() {
  sshd_pids=$(processes | awk '$4 == "sshd" { printf "%s%s", s, $1; s = " " }')
  if ! ssh_enabled; then
    if [ -n "$sshd_pids" ]; then
      fail ssh "sshd is running (pid $sshd_pids) although LOCKCLAW_ENABLE_SSH is not 1"
    else
      pass ssh "SSH disabled and sshd not running"
    fi
    return
  fi
  # the entrypoint writes the key and starts sshd (generating a host key on first start): a check run
  # right after `docker run` waits for both, as wait_for waits for listeners, and never hangs
  t=0
  while :; do
    key=""
    for f in "$HOME/.ssh/authorized_keys" "$HOME/.ssh/lockclaw_env_authorized_keys" /run/lockclaw/lockclaw_env_authorized_keys; do
      if [ -r "$f" ] && ssh-keygen -l -f "$f" >/dev/null 2>&1; then key=$f; fi
    done
    sshd_pids=$(processes | awk '$4 == "sshd" { printf "%s%s", s, $1; s = " " }')
    if [ -n "$key" ] && [ -n "$sshd_pids" ]; then break; fi
    [ "$t" -lt "${LOCKCLAW_SMOKE_WAIT:-30}" ] || break
    sleep 1
    t=$((t + 1))
  done
  if [ -z "$key" ]; then
    fail ssh "LOCKCLAW_ENABLE_SSH=1 but no valid public key in ~/.ssh/authorized_keys or from SSH_PUBLIC_KEY"
  elif [ -z "$sshd_pids" ]; then
    fail ssh "LOCKCLAW_ENABLE_SSH=1 but sshd is not running"
  elif ! wait_for "tcp" "" "$SSH_PORT"; then
    fail ssh "sshd runs but nothing listens on tcp port $SSH_PORT"
  else
    pass ssh "sshd (pid $sshd_pids) listens on tcp/$SSH_PORT, key-only with key file $key"
  fi
}

check_readonly() {
  mounts=${LOCKCLAW_SMOKE_MOUNTS_FILE:-/proc/mounts}
  opts=$(awk '$2 == "/" { o = $4 } END { print o }' "$mounts")
  if [ "${LOCKCLAW_EXPECT_READONLY:-0}" != 1 ]; then
    pass readonly "read-only root not requested (LOCKCLAW_EXPECT_READONLY!=1; root mounted ${opts%%,*})"
  elif [ "${opts%%,*}" = ro ]; then
    pass readonly "root filesystem is read-only"
  else
    fail readonly "LOCKCLAW_EXPECT_READONLY=1 but the root filesystem is writable (mount options: $opts)"
  fi
}

# Waits (bounded) for each expected loopback listener: runtimes take a few seconds to bind.
check_runtime() {
  file=$LC_DIR/expected-listeners
  wait_s=${LOCKCLAW_SMOKE_WAIT:-30}
  expected=$(grep -v '^[[:space:]]*\(#\|$\)' "$file" 2>/dev/null || true)
  if [ -z "$expected" ]; then
    pass runtime "no runtime listener expected by this image"
    return
  fi
  # Here-document, not a pipe: the loop must run in this shell to count its results.
  while read -r proto where desc; do
    addr=${where%:*}
    port=${where##*:}
    if wait_for "$proto" "$addr" "$port"; then
      pass runtime "${desc:-listener} listens on $proto $where (loopback only)"
    else
      fail runtime "${desc:-$proto $where} is not listening on $proto $where after ${wait_s}s"
    fi
  done <<EOF
$expected
EOF
}

check_listeners() {
  allowed=$(grep -v '^[[:space:]]*\(#\|$\)' "$LC_DIR/allowed-listeners" 2>/dev/null | awk '{ print $1 "/" $2 }' | tr '\n' ' ')
  ssh_enabled && allowed="${allowed}tcp/$SSH_PORT"
  allowed=$(echo $allowed)
  bad=""
  ok=0
  exposed=$(listeners | awk '$4 == "exposed" { print $1, $2, $3 }')
  while read -r proto addr port; do
    [ -n "$proto" ] || continue
    case " $allowed " in
      *" $proto/$port "*) ok=$((ok + 1)) ;;
      *)
        case $addr in *:*) addr="[$addr]" ;; esac
        bad="$bad $proto $addr:$port;"
        ;;
    esac
  done <<EOF
$exposed
EOF
  if [ -n "$bad" ]; then
    fail listeners "unexpected non-loopback listeners:${bad%;} (allowed: ${allowed:-none})"
  else
    pass listeners "no unexpected non-loopback listener ($ok allowed exposed, allowed: ${allowed:-none})"
  fi
}

checks=${*:-user ssh readonly runtime listeners}
for c in $checks; do
  case $c in
    user) check_user ;;
    ssh) check_ssh ;;
    readonly) check_readonly ;;
    runtime) check_runtime ;;
    listeners) check_listeners ;;
    *)
      echo "FAIL args: unknown check '$c' (known: user ssh readonly runtime listeners)"
      failed=$((failed + 1))
      ;;
  esac
done

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
