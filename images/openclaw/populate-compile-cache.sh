#!/bin/sh
# Fills /opt/lockclaw/compile-cache at image build time (run as root by the Dockerfile, --network=none):
# Node's module compile cache (NODE_COMPILE_CACHE, V8 code cache) of every module the gateway loads up to
# listening. The first start of a container then reads compiled code instead of compiling ~6k modules
# again (the cache OpenClaw keeps under /tmp by default is empty in every new container: tmpfs).
#
# The gateway runs once, as uid 0 (the compose stack's gateway user; under rootless Docker that is the
# daemon's unprivileged user), with a throwaway HOME, until its HTTP server listens; SIGTERM makes it exit
# cleanly, which is when Node writes the cache. Node names its cache subdirectory after the uid
# (v<node>-<arch>-<flags hash>-<uid>): a symlink gives the image's own lockclaw user the same entries.
# Afterwards the tree is root's and read-only: at run time Node only reads it (writes fail silently).
set -eu
C=/opt/lockclaw/compile-cache
die() {
  echo "populate-compile-cache: error: $*" >&2
  exit 1
}
work=$(mktemp -d)
mkdir -p "$work/home/.openclaw" "$C"
HOME="$work/home" NODE_COMPILE_CACHE="$C" TMPDIR="$work" \
  openclaw gateway run --bind loopback --port 18789 --allow-unconfigured >"$work/log" 2>&1 &
pid=$!
i=0
until grep -q "http server listening" "$work/log"; do
  kill -0 "$pid" 2>/dev/null || { tail -n 20 "$work/log" >&2; die "the gateway exited before listening"; }
  i=$((i + 1))
  [ "$i" -le 1200 ] || { kill -KILL "$pid"; die "the gateway did not listen within 240 s"; }
  sleep 0.2
done
kill -TERM "$pid"
wait "$pid" || true
# the launcher may exit before the gateway process it started has written its cache: wait for every node
i=0
node_running() {
  for e in /proc/[0-9]*/exe; do
    [ "$(readlink "$e" 2>/dev/null)" = /opt/lockclaw/runtime/node/bin/node ] && return 0
  done
  return 1
}
while node_running; do
  i=$((i + 1))
  [ "$i" -le 300 ] || die "a node process did not exit within 60 s of SIGTERM"
  sleep 0.2
done
n=$(find "$C" -type f | wc -l)
[ "$n" -ge 100 ] || die "only $n compile cache entries written"
uid=$(id -u lockclaw)
find "$C" -type d -name 'v*-0' | while read -r d; do ln -s "$(basename "$d")" "${d%-0}-$uid"; done
chown -R root:root "$C"
chmod -R a-w,a+rX "$C"
# the run's state, logs and locks went to $work and /tmp: none of it stays in the image
rm -rf "$work" /tmp/openclaw /tmp/openclaw-* /tmp/lockclaw-cache
echo "populate-compile-cache: $n entries, $(du -sh "$C" | cut -f1)"
