#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, then start a local control plane
# with Bunker installed and print the KUBECONFIG line. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BUNKER_SKIP_INSTALL:-}" != "1" ]; then
  bash scripts/install-deps.sh
  [ -d node_modules ] || npm ci --no-audit --no-fund
fi
exec npx tsx scripts/local-cluster.ts "$@"
