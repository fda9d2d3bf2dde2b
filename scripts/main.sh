#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, then tell Bunker's story on a local
# control plane (scripts/local-cluster.ts, steps in scripts/demo/): a volume written to, its
# primary site killed and taken over, the site brought back and resynced, the primary migrated
# back, with "acknowledged writes lost: 0" checked at the end. Left running for kubectl until
# Ctrl-C; --exit tears down at the end; --down cleans up what an earlier run left.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BUNKER_SKIP_INSTALL:-}" != "1" ] && [[ " $* " != *" --down "* ]]; then
  bash scripts/install-deps.sh
  [ -d node_modules ] || npm ci --no-audit --no-fund
fi
exec npx tsx scripts/local-cluster.ts "$@"
