#!/bin/sh
# Runs the OpenClaw gateway in the foreground, bound to loopback only. Reach it from outside through
# `ssh -L 18789:127.0.0.1:18789` (LOCKCLAW_ENABLE_SSH=1) or `docker exec`; never publish its port.
#
# The one exception: a container given its own OpenClaw config file (OPENCLAW_CONFIG_PATH naming an
# existing file, as lockclaw's compose stack does) is started without --bind/--port, so that file's
# gateway.bind and gateway.port decide. The stack's gateway must listen on its internal container
# network for the ingress and its health check; OpenClaw itself refuses a non-loopback bind without
# token auth and without a Control UI origin policy. The image alone sets no OPENCLAW_CONFIG_PATH.
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
if [ -n "${OPENCLAW_CONFIG_PATH:-}" ]; then
  if [ ! -f "$OPENCLAW_CONFIG_PATH" ]; then
    echo "lockclaw: error: OPENCLAW_CONFIG_PATH=$OPENCLAW_CONFIG_PATH is not a file" >&2
    echo "lockclaw:   fix: mount the config there, or unset OPENCLAW_CONFIG_PATH for the loopback-only gateway" >&2
    exit 1
  fi
  echo "lockclaw: gateway bind and port from $OPENCLAW_CONFIG_PATH" >&2
  exec openclaw gateway run
fi
exec openclaw gateway run --bind loopback --port 18789 --allow-unconfigured
