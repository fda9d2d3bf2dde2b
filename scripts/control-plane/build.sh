#!/usr/bin/env bash
# Builds kube-apiserver, etcd and helm from source fetched through the Go module
# proxy, into a per-version cache outside the repo. Prints the bin directory as
# the last line of stdout; everything else goes to stderr, so callers can do
#   BIN=$(scripts/control-plane/build.sh | tail -1)
# See README.md next to this file.
set -euo pipefail

# Keep stdout clean for the final path: fd 3 is the real stdout, and all
# progress (ours and the go tool's) goes to stderr.
exec 3>&1 1>&2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- versions ---------------------------------------------------------------
# versions.env is also read by the TypeScript harness, so it is parsed here as
# plain KEY=value lines (no quoting, no expansion) rather than sourced.
KUBERNETES_VERSION='' ETCD_VERSION='' HELM_VERSION=''
while IFS='=' read -r key value || [[ -n $key ]]; do
  key="${key//[[:space:]]/}"
  value="${value//[[:space:]]/}"
  case "$key" in
    KUBERNETES_VERSION) KUBERNETES_VERSION="${value#v}" ;;
    ETCD_VERSION) ETCD_VERSION="${value#v}" ;;
    HELM_VERSION) HELM_VERSION="${value#v}" ;;
  esac
done <"$here/versions.env"
[[ -n $KUBERNETES_VERSION && -n $ETCD_VERSION && -n $HELM_VERSION ]] ||
  die "versions.env must set KUBERNETES_VERSION, ETCD_VERSION and HELM_VERSION"

key="${KUBERNETES_VERSION}-etcd${ETCD_VERSION}-helm${HELM_VERSION}"
cache_root="${BUNKER_CACHE_DIR:-$HOME/.cache/bunker}/control-plane"
dest="$cache_root/$key"
binaries=(kube-apiserver etcd helm)

have_all() {
  local b
  for b in "${binaries[@]}"; do [[ -x "$dest/bin/$b" ]] || return 1; done
}

# Fast path: the directory only ever appears complete (see the rename below),
# so existing binaries mean a finished build.
if have_all; then
  echo "$dest/bin" >&3
  exit 0
fi

# --- toolchain ---------------------------------------------------------------
GO="${GO:-$(command -v go || true)}"
[[ -n $GO ]] || GO=/usr/local/go/bin/go
[[ -x $GO ]] || die "no go toolchain found (set GO=/path/to/go)"
# A go.work higher up, or cgo, would make the result depend on the caller's
# machine; the binaries are meant to be static and reproducible.
export GOWORK=off CGO_ENABLED=0
# Compiling kube-apiserver is memory hungry; more parallel compiles than this
# risks OOM on small machines. Override with BUNKER_BUILD_JOBS.
jobs="${BUNKER_BUILD_JOBS:-2}"
log "using $("$GO" version) with -p $jobs"

# --- locking and staging -----------------------------------------------------
mkdir -p "$cache_root"
# Two test runs starting at once should not both spend ten minutes compiling:
# the second waits for the first and then takes the fast path.
if command -v flock >/dev/null; then
  exec 9>"$cache_root/.$key.lock"
  if ! flock -n 9; then
    log "another build of $key is running; waiting for it"
    flock 9
  fi
  if have_all; then
    echo "$dest/bin" >&3
    exit 0
  fi
  # Holding the lock means any leftover staging dir for this key belongs to a
  # build that was killed too hard for its trap to run.
  rm -rf "$cache_root/.build-$key".*
fi

# Staging lives next to the destination (same filesystem), so the final mv is
# a single rename: the cache dir either is complete or does not exist.
stage="$(mktemp -d "$cache_root/.build-$key.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
out="$stage/out"
mkdir -p "$out/bin"
started=$SECONDS

# Prints the path of the go.mod that module@version was published with.
# On failure go reports the reason inside the JSON, so show that.
upstream_gomod() {
  local json gomod
  json="$("$GO" mod download -json "$1" || true)"
  gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
  [[ -n $gomod ]] || printf '%s\n' "$json" >&2
  printf '%s\n' "$gomod"
}

# Creates a throwaway main module in $1 that requires module $2 at version $3
# and declares package $4 as a tool (so `go mod tidy` keeps it), then applies
# any extra `go mod edit` flags given after that.
#
# `go install pkg@version` would be simpler, but it refuses modules whose
# go.mod has replace directives, and both kubernetes and etcd have them. In a
# module of our own, their replaces are ignored and we supply our own.
#
# The upstream `go` and `godebug` lines are copied because the main module's
# values decide the binary's default GODEBUG behaviour; copying them keeps it
# the same as an upstream release build.
scratch_module() {
  local dir=$1 mod=$2 version=$3 pkg=$4 gomod
  shift 4
  gomod="$(upstream_gomod "$mod@$version")"
  [[ -f $gomod ]] || die "could not download $mod@$version"
  mkdir -p "$dir"
  (
    cd "$dir"
    "$GO" mod init bunker.invalid/control-plane-build 2>/dev/null
    local edits=(-go="$(awk '$1 == "go" { print $2; exit }' "$gomod")")
    local setting
    while read -r setting; do
      edits+=(-godebug="$setting")
    done < <(awk '
      /^godebug[[:space:]]*\(/ { block = 1; next }
      block && /^\)/ { block = 0; next }
      block { print $1 }
      /^godebug[[:space:]]+[^(]/ { print $2 }' "$gomod")
    "$GO" mod edit "${edits[@]}" -require="$mod@$version" -tool="$pkg" "$@"
    "$GO" mod tidy
  )
}

# --- kube-apiserver ------------------------------------------------------------
k8s_minor_patch="${KUBERNETES_VERSION#*.}"   # 1.34.4 -> 34.4
k8s_major="${KUBERNETES_VERSION%%.*}"
k8s_minor="${k8s_minor_patch%%.*}"
staging_version="v0.$k8s_minor_patch"        # staging repos are tagged v0.Y.Z

log "resolving k8s.io/kubernetes v$KUBERNETES_VERSION"
k8s_gomod="$(upstream_gomod "k8s.io/kubernetes@v$KUBERNETES_VERSION")"
[[ -f $k8s_gomod ]] || die "could not download k8s.io/kubernetes@v$KUBERNETES_VERSION"
# Kubernetes requires its staging modules as v0.0.0 and points them at
# ./staging/src via replaces. Those are published separately as v0.Y.Z, so
# every module it redirects into staging gets redirected to that release
# instead. The list comes from upstream's go.mod so new staging modules in a
# future release are picked up without editing this script.
k8s_replaces=()
while read -r staged; do
  k8s_replaces+=(-replace="$staged=$staged@$staging_version")
done < <(awk '
  /^replace[[:space:]]*\(/ { block = 1; next }
  block && /^\)/ { block = 0; next }
  { line = $0; sub(/^replace[[:space:]]+/, "", line) }
  (block || /^replace[[:space:]]/) && line ~ /=>[[:space:]]*\.\/staging\// { split(line, f); print f[1] }
' "$k8s_gomod")
((${#k8s_replaces[@]} > 0)) || die "found no staging replaces in $k8s_gomod"
log "redirecting ${#k8s_replaces[@]} staging modules to $staging_version"

scratch_module "$stage/src/kubernetes" k8s.io/kubernetes "v$KUBERNETES_VERSION" \
  k8s.io/kubernetes/cmd/kube-apiserver "${k8s_replaces[@]}"

# Without the -X stamps the server reports v0.0.0-master, which breaks
# kubeVersion constraints in Helm charts and client version skew checks.
# -s -w drops the symbol table and DWARF, as upstream release builds do, to
# keep the cache smaller.
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION"
  k8s_ldflags+=" -X $pkg.gitMajor=$k8s_major -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean"
done
log "compiling kube-apiserver (takes several minutes on a cold Go build cache)"
(
  cd "$stage/src/kubernetes"
  "$GO" build -p "$jobs" -trimpath -ldflags "$k8s_ldflags" \
    -o "$out/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)
log "kube-apiserver done after $((SECONDS - started))s"

# --- etcd ------------------------------------------------------------------------
# etcd's server module requires its sibling modules (api, client, pkg) at the
# same published version already; its replaces only matter inside the etcd
# repo, so the scratch module needs none of its own.
log "resolving go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
scratch_module "$stage/src/etcd" go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" \
  go.etcd.io/etcd/server/v3
log "compiling etcd"
(
  cd "$stage/src/etcd"
  "$GO" build -p "$jobs" -trimpath -ldflags "-s -w" \
    -o "$out/bin/etcd" go.etcd.io/etcd/server/v3
)
log "etcd done after $((SECONDS - started))s"

# --- helm ----------------------------------------------------------------------
# Helm has no replaces, so plain `go install` works. Its release builds also
# stamp the default Kubernetes version used when no cluster is reachable
# (`helm template`, `helm lint`) from the client-go it was built against;
# without that it assumes v1.20, which fails charts with a kubeVersion floor.
log "resolving helm.sh/helm/v3 v$HELM_VERSION"
helm_gomod="$(upstream_gomod "helm.sh/helm/v3@v$HELM_VERSION")"
[[ -f $helm_gomod ]] || die "could not download helm.sh/helm/v3@v$HELM_VERSION"
client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$helm_gomod")"  # v0.Y.Z
client_go_minor="${client_go#v0.}"
client_go_minor="${client_go_minor%%.*}"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
if [[ $client_go_minor =~ ^[0-9]+$ ]]; then
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$client_go_minor"
  done
fi
log "compiling helm"
(
  # Outside any module, so the caller's working directory cannot interfere.
  cd "$stage"
  GOBIN="$out/bin" "$GO" install -p "$jobs" -trimpath -ldflags "$helm_ldflags" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
)
log "helm done after $((SECONDS - started))s"

# --- publish -------------------------------------------------------------------
for b in "${binaries[@]}"; do [[ -x "$out/bin/$b" ]] || die "$b was not produced"; done
# Only reachable with an incomplete $dest if someone deleted files by hand.
rm -rf "$dest"
mv "$out" "$dest"
log "built $key in $((SECONDS - started))s"
echo "$dest/bin" >&3
