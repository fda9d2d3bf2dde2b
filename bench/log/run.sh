#!/usr/bin/env bash
# Runs the change log benchmark from its TypeScript sources: tsx (a dev dependency) is the
# loader, and test/tsconfig.json maps @bunker/proto to its sources, so nothing needs a build.
# Usage: bench/log/run.sh [--seconds 8] [--slices 16] [--dir /path/on/the/disk] [--no-doc]
set -euo pipefail
cd "$(dirname "$0")/../.."
TSX_TSCONFIG_PATH=test/tsconfig.json exec node --import tsx bench/log/log-bench.ts "$@"
