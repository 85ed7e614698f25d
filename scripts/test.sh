#!/usr/bin/env bash
# The whole test suite: setup, formatter + linter, type check, unit, integration (real sshd on
# loopback) and end-to-end tests (real Debian machines booted with systemd-nspawn).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== lint"
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
echo "== layers"
npx tsx scripts/check-layers.ts
echo "== type check"
npx tsc -p tsconfig.check.json
echo "== tests"
npx vitest run "$@"
