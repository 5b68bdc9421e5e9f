#!/usr/bin/env bash
# Builds the real Kubernetes test binaries from the Go module proxy, once per version.
#
#   scripts/k8s-tools.sh          build what is missing, print the bin directory
#   scripts/k8s-tools.sh --dir    print the bin directory only
#
# Binaries live outside git in $K8S_BIN_DIR (default ~/.cache/controlhub-operator/k8s/<version>)
# and are rebuilt only when missing. Versions come from the go.mod files under tools/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

modver() { awk -v m="$2" '$1 == m {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$root/tools/$1/go.mod"; }
K8S_VERSION=$(modver k8s k8s.io/kubernetes)
ETCD_VERSION=$(modver etcd go.etcd.io/etcd/server/v3)
HELM_VERSION=$(modver helm helm.sh/helm/v3)
BIN=${K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/controlhub-operator/k8s/$K8S_VERSION-etcd$ETCD_VERSION-helm$HELM_VERSION}

if [ "${1:-}" = "--dir" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$BIN"
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
log() { printf '[k8s-tools] %s\n' "$*" >&2; }

build_k8s() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local date; date=$(date -u +%FT%TZ)
  local ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitVersion=$K8S_VERSION"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=$date"
  done
  log "building kube-apiserver, kube-controller-manager, kubectl $K8S_VERSION (cold: ~15-25 min on 2 cores)"
  (cd "$root/tools/k8s" && go build -p "$(nproc)" -ldflags "$ldf" -o "$BIN/.tmp/" \
     k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl)
  mv "$BIN/.tmp/"* "$BIN/"
}
build_etcd() {
  log "building etcd $ETCD_VERSION"
  (cd "$root/tools/etcd" && go build -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release" \
     -o "$BIN/.tmp/etcd" go.etcd.io/etcd/server/v3)
  mv "$BIN/.tmp/etcd" "$BIN/etcd"
}
build_helm() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  log "building helm $HELM_VERSION"
  local ldf="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldf="$ldf -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
  done
  (cd "$root/tools/helm" && go build -ldflags "$ldf" -o "$BIN/.tmp/helm" helm.sh/helm/v3/cmd/helm)
  mv "$BIN/.tmp/helm" "$BIN/helm"
}

mkdir -p "$BIN/.tmp"
[ -x "$BIN/etcd" ] || build_etcd
[ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kubectl" ] || build_k8s
[ -x "$BIN/helm" ] || build_helm
rmdir "$BIN/.tmp" 2>/dev/null || true
echo "$BIN"
