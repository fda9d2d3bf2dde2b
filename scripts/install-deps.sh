#!/usr/bin/env bash
# Debian packages Bunker's build, tests and demo need: the protobuf compiler, real NBD clients
# (fio, libnbd tools, qemu-utils), nbdkit as the unreplicated baseline, iproute2 for network
# namespaces, iptables (legacy) for the packet-fault tests, openssl for the test control
# plane's certificates.
set -euo pipefail
packages=(fio libnbd-bin nbdkit qemu-utils iproute2 protobuf-compiler python3-libnbd openssl ca-certificates iptables)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
