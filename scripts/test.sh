#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs everything the tests need (Debian
# packages, npm ci, the control plane built from the Go module proxy and cached by version);
# on a machine that has them, each step is a no-op. Then it runs every test: npm test.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n== %s (+%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "Debian packages"
bash scripts/install-deps.sh

step "npm ci"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "control plane (kube-apiserver, etcd, helm; cached by version)"
bash scripts/control-plane/build.sh

step "tests"
npm test

step "done"
