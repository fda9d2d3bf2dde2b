#!/usr/bin/env bash
# Generates TypeScript for @grpc/grpc-js from proto/bunker/v1 with ts-proto. The compiler is
# Debian's protobuf-compiler (pinned by the distribution release; .ci/run installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/src/gen"
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
protoc \
  --plugin="protoc-gen-ts_proto=$root/node_modules/.bin/protoc-gen-ts_proto" \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true,importSuffix=.js,forceLong=number,useExactTypes=false,oneof=unions-value,exportCommonSymbols=false \
  -I "$here" \
  "$here"/bunker/v1/*.proto
