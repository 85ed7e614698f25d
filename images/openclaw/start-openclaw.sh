#!/bin/sh
# Runs the OpenClaw gateway in the foreground, bound to loopback only. Reach it from outside through
# `ssh -L 18789:127.0.0.1:18789` (LOCKCLAW_ENABLE_SSH=1) or `docker exec`; never publish its port.
set -eu
if ! mkdir -p -m 0700 /tmp/lockclaw-cache 2>/dev/null || [ ! -w /tmp/lockclaw-cache ]; then
  echo "lockclaw: error: /tmp is not writable; OpenClaw needs it for its logs, locks and cache (~/.cache -> /tmp)" >&2
  echo "lockclaw:   fix: with --read-only add --tmpfs /tmp (compose: tmpfs: [/tmp])" >&2
  exit 1
fi
if [ ! -w "$HOME/.openclaw" ]; then
  echo "lockclaw: error: $HOME/.openclaw is not writable by $(id -un)" >&2
  echo "lockclaw:   fix: mount a volume there (-v lockclaw-openclaw:$HOME/.openclaw) owned by uid $(id -u)" >&2
  exit 1
fi
exec openclaw gateway run --bind loopback --port 18789 --allow-unconfigured
