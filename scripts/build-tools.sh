#!/usr/bin/env bash
# Build the upstream Go programs the tests run for real, once, into a cache outside Git.
# Each tool is rebuilt only when its binary for the pinned version is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${HOMEPORT_TOOLS:-$HOME/.cache/homeport-tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"
export GOFLAGS=${GOFLAGS:--mod=mod}
export CGO_ENABLED=${CGO_ENABLED:-0}

# Read a pin from src/homeport/versions.py so the versions live in one place.
pin() { python3 - "$1" <<'PY'
import re, sys
text = open("src/homeport/versions.py").read()
print(re.search(rf'^{sys.argv[1]} = "([^"]+)"', text, re.M).group(1))
PY
}
cd "$ROOT"

build_go() { # name version package
  local name=$1 version=$2 pkg=$3
  local stamp="$BIN/.$name.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return 0; fi
  echo "building $name $version" >&2
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "$pkg@$version"
  echo "$version" > "$stamp"
}

build_go kubeseal "$(pin SEALED_SECRETS_VERSION)" github.com/bitnami-labs/sealed-secrets/cmd/kubeseal
# kubeconform: the schema validator bench/check.py compares `homeport check` against.
build_go kubeconform v0.8.0 github.com/yannh/kubeconform/cmd/kubeconform

# kube-apiserver and etcd for the cluster tests (tests/cluster), built from the small
# Go modules under tools/ that pin them; version ldflags as upstream's hack/lib/version.sh sets.
build_tool_module() { # name version module-dir package ldflags
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5
  local stamp="$BIN/.$name.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return 0; fi
  echo "building $name $version" >&2
  (cd "$ROOT/tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$BIN/.$name.$$.tmp" "$pkg")
  mv -f "$BIN/.$name.$$.tmp" "$BIN/$name"  # unique tmp: two builds may run at once
  echo "$version" > "$stamp"
}
KUBE_VERSION=$(pin KUBERNETES_VERSION)
KUBE_MINOR=${KUBE_VERSION#v*.}; KUBE_MINOR=${KUBE_MINOR%%.*}
kube_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$KUBE_MINOR"
  kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
build_tool_module kube-apiserver "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
ETCD_PIN=$(pin ETCD_VERSION)
build_tool_module etcd "$ETCD_PIN" etcd . "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_PIN"

# promtool proves homeport's alert rules (tests/monitoring). Built from the Prometheus
# release the cluster runs (PROMETHEUS_VERSION); Prometheus 3.X.Y is Go module v0.3XX.Y.
PROM_PIN=$(pin PROMETHEUS_VERSION)
IFS=. read -r prom_major prom_minor prom_patch <<< "${PROM_PIN#v}"
build_go promtool "v0.$((prom_major * 100 + prom_minor)).$prom_patch" \
  github.com/prometheus/prometheus/cmd/promtool

# Helm v4 (the Helm Argo CD v3.5.1 templates with) expands the pinned charts for
# `homeport check --charts` and every test that needs a chart's real objects. One Helm for all.
build_go helm "$(pin HELM_VERSION)" helm.sh/helm/v4/cmd/helm

# Sealed Secrets controller (same module and pin as kubeseal): the cluster tests run it out of
# cluster so every SealedSecret of the tree is opened by the real program (tests/cluster).
# `go install` names the binary after its package folder (controller); keep a clearer name.
build_sealed_secrets_controller() {
  local version=$1 stamp="$BIN/.sealed-secrets-controller.version"
  if [ -x "$BIN/sealed-secrets-controller" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  echo "building sealed-secrets-controller $version" >&2
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w -X main.VERSION=$version" \
    "github.com/bitnami-labs/sealed-secrets/cmd/controller@$version"
  mv -f "$tmp/controller" "$BIN/sealed-secrets-controller"
  rmdir "$tmp"
  echo "$version" > "$stamp"
}
build_sealed_secrets_controller "$(pin SEALED_SECRETS_VERSION)"
