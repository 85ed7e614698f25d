#!/usr/bin/env bash
# The product's main job on its embedded default: on a fresh Debian machine (as root), install what is
# needed, boot a lab machine (a real Debian 13 system in systemd-nspawn, no network), and run
# `lockclaw provision host` on it: host hardening, rootless Docker and the hardened agent stack, the stack's
# images shipped as a bundle (built once here from Debian packages and npm, cached). Then a second run
# (nothing changes) and the audit. The machine stays up; `lockclaw lab down demo` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
lockclaw() { node bin/lockclaw.js "$@"; }
NAME=${LOCKCLAW_DEMO_NAME:-demo}
VARS=$(mktemp -d)/lab-stack.yml
lockclaw lab down "$NAME" >/dev/null 2>&1 || true
lockclaw lab up "$NAME"
echo
echo "== the stack's images for the offline lab (built once, then cached)"
lockclaw lab stack-images --vars-out "$VARS"
echo
echo "== provision host lab:$NAME (host + rootless Docker + stack; first run: changes everything, exit 0)"
set +e
lockclaw provision host "lab:$NAME" --vars-file "$VARS"
first=$?
echo
echo "== provision host lab:$NAME again (drift correction: nothing changed, exit 0)"
lockclaw provision host "lab:$NAME" --vars-file "$VARS"
second=$?
echo
echo "== audit lab:$NAME"
lockclaw audit "lab:$NAME"
audit=$?
set -e
echo
echo "first run exit $first, second run exit $second, audit exit $audit"
echo "log in:   ssh -i ~/.cache/lockclaw/lab/machines/$NAME/id_ed25519 -o UserKnownHostsFile=~/.cache/lockclaw/lab/machines/$NAME/known_hosts -p 2222 deploy@<address above>"
echo "remove:   node bin/lockclaw.js lab down $NAME"
[ "$first" -eq 0 ] && [ "$second" -eq 0 ] && [ "$audit" -eq 0 ]
