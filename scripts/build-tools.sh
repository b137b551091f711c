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

build_go() { # name version package [build tags]
  local name=$1 version=$2 pkg=$3 tags=${4:-}
  local stamp="$BIN/.$name.version" want=$version${tags:+ tags=$tags}
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  echo "building $name $want" >&2
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" ${tags:+-tags "$tags"} "$pkg@$version"
  echo "$want" > "$stamp"
}

build_go kubeseal "$(pin SEALED_SECRETS_VERSION)" github.com/bitnami-labs/sealed-secrets/cmd/kubeseal
# kubeconform is not built here: only bench/check.py uses it, and it builds it on demand.

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
# remove_all_sd leaves out Prometheus's cloud service-discovery plugins (AWS, Azure, GCE,
# OpenStack, ...): `promtool check/test rules` never uses them, and they are most of its build.
build_go promtool "v0.$((prom_major * 100 + prom_minor)).$prom_patch" \
  github.com/prometheus/prometheus/cmd/promtool remove_all_sd

# Helm v4 (the Helm Argo CD v3.5.1 templates with) expands the pinned charts for
# `homeport check --charts` and every test that needs a chart's real objects. One Helm for all.
build_go helm "$(pin HELM_VERSION)" helm.sh/helm/v4/cmd/helm

# ---------------------------------------------------------------------------------------------
# Traefik (the pinned image's version) and traefik/whoami for the traffic-flow test (tests/traffic).
# `go install traefik@vX` is refused (its go.mod has replace directives), so build a copy of the
# module: it lacks the nested `pkg/config/dynamic/ext` module its go.mod replaces with a local path
# (taken from ../shared/upstream), and the go-http-auth replace points at a pseudo-version the module
# proxy refuses; v3.7.10's one is used instead (only basicAuth/digestAuth touch it).
# Without ../shared (the ext folder) this cannot build here: fetch traefik/traefik's
# pkg/config/dynamic/ext at the same tag and point HOMEPORT_UPSTREAM at a folder holding it.
UPSTREAM=${HOMEPORT_UPSTREAM:-$ROOT/../shared/upstream}
TRAEFIK_PIN=$(pin TRAEFIK_IMAGE_VERSION)
build_traefik() {
  local stamp="$BIN/.traefik.version"
  if [ -x "$BIN/traefik" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$TRAEFIK_PIN" ]; then return 0; fi
  local ext="$UPSTREAM/traefik-$TRAEFIK_PIN-ext"
  if [ ! -f "$ext/go.mod" ]; then echo "traefik: $ext missing (see comment in $0)" >&2; return 1; fi
  echo "building traefik $TRAEFIK_PIN" >&2
  local dir src work
  dir=$(GOFLAGS= go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_PIN" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d); src="$work/traefik"
  cp -r "$dir" "$src" && chmod -R u+w "$src"
  mkdir -p "$src/pkg/config/dynamic/ext" && cp "$ext"/* "$src/pkg/config/dynamic/ext/"
  (cd "$src" && go mod edit -replace \
      github.com/abbot/go-http-auth=github.com/containous/go-http-auth@v0.4.1-0.20200324110947-a37a7636d23e \
    && go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_PIN" \
      -o "$BIN/.traefik.$$.tmp" ./cmd/traefik)
  mv -f "$BIN/.traefik.$$.tmp" "$BIN/traefik"
  rm -rf "$work"
  echo "$TRAEFIK_PIN" > "$stamp"
}
build_traefik
# whoami: the module proxy refuses traefik/whoami, so it builds from the source in ../shared.
WHOAMI_PIN=$(pin WHOAMI_IMAGE); WHOAMI_PIN=${WHOAMI_PIN##*:}
build_whoami() {
  local stamp="$BIN/.whoami.version"
  if [ -x "$BIN/whoami" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$WHOAMI_PIN" ]; then return 0; fi
  local src="$UPSTREAM/whoami-$WHOAMI_PIN"
  if [ ! -f "$src/go.mod" ]; then echo "whoami: $src missing" >&2; return 1; fi
  echo "building whoami $WHOAMI_PIN" >&2
  local work; work=$(mktemp -d); cp -r "$src" "$work/whoami"
  (cd "$work/whoami" && go build -trimpath -ldflags "-s -w" -o "$BIN/.whoami.$$.tmp" .)
  mv -f "$BIN/.whoami.$$.tmp" "$BIN/whoami"; rm -rf "$work"
  echo "$WHOAMI_PIN" > "$stamp"
}
build_whoami
# goyaml: Go's YAML reading (sigs.k8s.io/yaml over go.yaml.in/yaml/v2), the oracle the
# tests hold homeport's YAML writer to (tests/goyaml.py). tools/goyaml/go.mod pins it.
SIGS_YAML_PIN=$(pin SIGS_YAML_VERSION)
if ! grep -q "sigs.k8s.io/yaml $SIGS_YAML_PIN\$" tools/goyaml/go.mod; then
  echo "tools/goyaml/go.mod does not require sigs.k8s.io/yaml $SIGS_YAML_PIN (versions.py)" >&2
  exit 2
fi
build_tool_module goyaml "$SIGS_YAML_PIN" goyaml . ""
# actionlint checks the GitHub workflows under .github/workflows (tests/test_workflows.py),
# built from its Go module at the pin in versions.py. The version stamp is what
# `actionlint -version` prints instead of "(devel)".
ACTIONLINT_PIN=$(pin ACTIONLINT_VERSION)
actionlint_stamp="$BIN/.actionlint.version"
if ! [ -x "$BIN/actionlint" ] || [ "$(cat "$actionlint_stamp" 2>/dev/null)" != "$ACTIONLINT_PIN" ]; then
  echo "building actionlint $ACTIONLINT_PIN" >&2
  GOBIN="$BIN" go install -trimpath \
    -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_PIN" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_PIN"
  echo "$ACTIONLINT_PIN" > "$actionlint_stamp"
fi
# --- ACME issuance test (tests/certs): pebble, pebble-challtestsrv, cert-manager's controller ---
# pebble is Let's Encrypt's ACME test server; challtestsrv is the DNS server it (and cert-manager's
# self-check) queries, whose TXT records the Cloudflare API emulator sets over HTTP.
PEBBLE_PIN=$(pin PEBBLE_VERSION)
build_go pebble "$PEBBLE_PIN" github.com/letsencrypt/pebble/v2/cmd/pebble
build_go pebble-challtestsrv "$PEBBLE_PIN" github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv

# cert-manager's controller main is the nested module cmd/controller
# (github.com/cert-manager/cert-manager/controller-binary), which upstream builds with
# `replace github.com/cert-manager/cert-manager => ../../` and which is not on the module proxy.
# Source: ../shared/upstream/cert-manager-v1.21.1-controller (the tag's cmd/controller, unmodified);
# without ../shared, the same folder from a shallow clone of the tag. The replace is swapped for a
# require of the released module at the same tag.
# PATCHED DEPENDENCY: cert-manager v1.21.1 requires github.com/Venafi/vcert/v5 v5.13+, which the module
# proxy reachable here refuses. When ../shared carries vcert-v5.12.3-ngts-stub.patch, vcert is
# replaced by v5.12.3 from the proxy plus that 2-file patch (adds endpoint.ConnectorTypeNGTS and a
# stub pkg/venafi/ngts whose Authenticate always fails). Only Venafi issuers use vcert; ACME issuers,
# which homeport renders and tests/certs exercises, never reach it. Without ../shared there is no
# patch: upstream's go.mod is used as is, which needs a module proxy serving vcert v5.13+.
CM_PIN=$(pin CERT_MANAGER_VERSION)
build_cert_manager() {
  local name=cert-manager-controller stamp="$BIN/.cert-manager-controller.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$CM_PIN" ]; then return 0; fi
  echo "building $name $CM_PIN" >&2
  local shared=${HOMEPORT_SHARED:-$ROOT/../shared}
  local work; work=$(mktemp -d)
  # shellcheck disable=SC2064  # expand $work now: it is local
  trap "chmod -R u+w '$work' 2>/dev/null; rm -rf '$work'; trap - RETURN" RETURN
  if [ -d "$shared/upstream/cert-manager-$CM_PIN-controller" ]; then
    cp -r "$shared/upstream/cert-manager-$CM_PIN-controller" "$work/controller"
  else
    git clone -q --depth 1 --branch "$CM_PIN" https://github.com/cert-manager/cert-manager "$work/src"
    cp -r "$work/src/cmd/controller" "$work/controller"
  fi
  (
    cd "$work/controller"
    go mod edit -dropreplace github.com/cert-manager/cert-manager \
      -require "github.com/cert-manager/cert-manager@$CM_PIN"
    local patch="$shared/upstream/vcert-v5.12.3-ngts-stub.patch"
    if [ -f "$patch" ]; then
      local vdir; vdir=$(go mod download -json github.com/Venafi/vcert/v5@v5.12.3 \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
      cp -r "$vdir" "$work/vcert" && chmod -R u+w "$work/vcert"
      (cd "$work/vcert" && patch -s -p1 < "$patch")
      go mod edit -replace "github.com/Venafi/vcert/v5=$work/vcert"
    fi
    go mod tidy
    go build -trimpath -ldflags "-s -w \
      -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$CM_PIN \
      -X github.com/cert-manager/cert-manager/pkg/util.AppGitCommit=$CM_PIN" \
      -o "$BIN/.$name.$$.tmp" .
  )
  mv -f "$BIN/.$name.$$.tmp" "$BIN/$name"
  echo "$CM_PIN" > "$stamp"
}
build_cert_manager
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

# Kubernetes OpenAPI v3 files of every supported minor: tests/check reads them from the Go
# module cache (api/openapi-spec/v3 of k8s.io/kubernetes). A no-op when they are cached.
download_kubernetes_openapi() {
  local versions v
  versions=$(python3 - <<'PY'
import re
text = open("src/homeport/versions.py").read()
patches = re.search(r"^KUBERNETES_PATCHES = \{(.*)\}", text, re.M).group(1)
current = re.search(r'^KUBERNETES_VERSION = "([^"]+)"', text, re.M).group(1)
print(" ".join(sorted(set(re.findall(r'"(v[0-9.]+)"', patches)) | {current})))
PY
)
  for v in $versions; do
    (cd / && GOFLAGS= go mod download "k8s.io/kubernetes@$v")
  done
}
download_kubernetes_openapi

# --- Argo CD sync test (tests/sync): a control plane with simulated nodes and a real Argo CD ---
# kube-controller-manager and kube-scheduler come from the same module as kube-apiserver
# (tools/kube pins all three); KWOK simulates the nodes.
build_tool_module kube-controller-manager "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build_tool_module kube-scheduler "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build_go kwok "$(pin KWOK_VERSION)" sigs.k8s.io/kwok/cmd/kwok
# Argo CD's one binary (`argocd`, run as repo-server and application-controller by
# ARGOCD_BINARY_NAME). `go install argo-cd@vX` is refused (its go.mod has replace directives);
# ../shared/upstream/argo-cd-<pin>-build is a wrapper module that copies them (its nested
# gitops-engine module is the proxy's newest pseudo-version: the one the tag pins is refused).
ARGOCD_PIN=$(pin ARGOCD_VERSION)
build_argocd() {
  local stamp="$BIN/.argocd.version"
  if [ -x "$BIN/argocd" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ARGOCD_PIN" ]; then return 0; fi
  local src="$UPSTREAM/argo-cd-$ARGOCD_PIN-build"
  if [ ! -f "$src/go.mod" ]; then echo "argocd: $src missing" >&2; return 1; fi
  echo "building argocd $ARGOCD_PIN" >&2
  local work; work=$(mktemp -d); cp -r "$src" "$work/argocd" && chmod -R u+w "$work/argocd"
  (cd "$work/argocd" && go build -trimpath -ldflags "-s -w \
      -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_PIN#v} \
      -X github.com/argoproj/argo-cd/v3/common.gitTag=$ARGOCD_PIN \
      -X github.com/argoproj/argo-cd/v3/common.gitTreeState=clean" \
    -o "$BIN/.argocd.$$.tmp" github.com/argoproj/argo-cd/v3/cmd)
  mv -f "$BIN/.argocd.$$.tmp" "$BIN/argocd"; rm -rf "$work"
  echo "$ARGOCD_PIN" > "$stamp"
}
build_argocd
# kustomize: Argo CD's repo-server runs it for the argocd Application (manifests/cluster-install).
build_go kustomize "$(pin KUSTOMIZE_VERSION)" sigs.k8s.io/kustomize/kustomize/v5
# redis (Argo CD's cache): Debian's package, unpacked without installing it. Its binary links
# liblzf and libjemalloc, which a machine without redis lacks: they are unpacked next to it
# (libexec/redis), and bin/redis-server is a wrapper that points the loader there.
REDIS_PIN=$(pin REDIS_DEBIAN_VERSION)
fetch_redis() {
  local stamp="$BIN/.redis-server.version" want="$REDIS_PIN with-libs"
  if [ -x "$BIN/redis-server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  echo "fetching redis-server $REDIS_PIN" >&2
  local work; work=$(mktemp -d)
  (cd "$work" && apt-get download -q "redis-server=$REDIS_PIN" "redis-tools=$REDIS_PIN" \
      liblzf1 libjemalloc2 >/dev/null \
    && for deb in ./*.deb; do dpkg -x "$deb" root; done)
  local dir="$TOOLS/libexec/redis"
  rm -rf "$dir" && mkdir -p "$dir"
  # redis-server is a symlink to redis-check-rdb: one binary answering to its name.
  cp -L "$work/root/usr/bin/redis-check-rdb" "$dir/redis-server"
  cp -L "$work"/root/usr/lib/x86_64-linux-gnu/liblzf.so.1 \
    "$work"/root/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 "$dir/"
  printf '#!/bin/sh\nLD_LIBRARY_PATH='"'"'%s'"'"' exec '"'"'%s'"'"' "$@"\n' "$dir" "$dir/redis-server" > "$BIN/.redis-server.$$.tmp"
  chmod 755 "$BIN/.redis-server.$$.tmp" && mv -f "$BIN/.redis-server.$$.tmp" "$BIN/redis-server"
  "$BIN/redis-server" --version >/dev/null  # every library found
  rm -rf "$work"
  echo "$want" > "$stamp"
}
fetch_redis
# MetalLB's controller (the chart's app version; the chart and image share the version): the
# sync test's `metallb` load balancer assigns addresses with the real program (tests/sync).
# `go install` names the binary after its package folder (controller); keep a clearer name.
build_metallb_controller() {
  local version=v$1 stamp="$BIN/.metallb-controller.version"
  if [ -x "$BIN/metallb-controller" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  echo "building metallb-controller $version" >&2
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "go.universe.tf/metallb/controller@$version"
  mv -f "$tmp/controller" "$BIN/metallb-controller"
  rmdir "$tmp"
  echo "$version" > "$stamp"
}
build_metallb_controller "$(pin METALLB_CHART_VERSION)"

# --- Operators whose custom resources decide Applications' health in the sync test (tests/sync) ---
# prometheus-operator: `go install .../cmd/operator@vX` is refused (its go.mod replaces the nested
# modules pkg/apis/monitoring and pkg/client with local folders, which the module zip lacks).
# Build a writable copy with those replaces dropped: its go.mod already requires both nested
# modules at the same tag, and the proxy serves them. Only cmd/operator is built: homeport's
# values turn the chart's admission webhooks (the separate cmd/admission-webhook) off.
# About 4 min on 2 busy cores with a warm module cache and an empty build cache.
PROM_OP_PIN=$(pin PROMETHEUS_OPERATOR_VERSION)
build_prometheus_operator() {
  local name=prometheus-operator stamp="$BIN/.prometheus-operator.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$PROM_OP_PIN" ]; then return 0; fi
  echo "building $name $PROM_OP_PIN" >&2
  local mod=github.com/prometheus-operator/prometheus-operator dir work
  dir=$(GOFLAGS= go mod download -json "$mod@$PROM_OP_PIN" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d); cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
  (cd "$work/src" && go mod edit -dropreplace "$mod/pkg/apis/monitoring" -dropreplace "$mod/pkg/client" \
    && go build -trimpath -ldflags "-s -w \
      -X github.com/prometheus/common/version.Version=${PROM_OP_PIN#v} \
      -X github.com/prometheus/common/version.Revision=$PROM_OP_PIN \
      -X github.com/prometheus/common/version.Branch=$PROM_OP_PIN" \
      -o "$BIN/.$name.$$.tmp" ./cmd/operator)
  mv -f "$BIN/.$name.$$.tmp" "$BIN/$name"; rm -rf "$work"
  echo "$PROM_OP_PIN" > "$stamp"
}
build_prometheus_operator
# CloudNativePG's operator (`manager controller`; the same binary also holds the instance
# manager, which only runs inside Postgres pods). Its go.mod has no replaces, but
# `go install ...@vX` is refused here (the proxy answers 403 to the module's version list,
# which go install reads for deprecations): build a writable copy of the module instead.
# About 4.5 min on 2 busy cores with a warm module cache and an empty build cache.
CNPG_PIN=$(pin CLOUDNATIVE_PG_VERSION)
build_cnpg() {
  local name=cnpg-manager stamp="$BIN/.cnpg-manager.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$CNPG_PIN" ]; then return 0; fi
  echo "building $name $CNPG_PIN" >&2
  local dir work
  dir=$(GOFLAGS= go mod download -json "github.com/cloudnative-pg/cloudnative-pg@$CNPG_PIN" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d); cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
  (cd "$work/src" && go build -trimpath -ldflags "-s -w \
      -X github.com/cloudnative-pg/cloudnative-pg/pkg/versions.buildVersion=${CNPG_PIN#v} \
      -X github.com/cloudnative-pg/cloudnative-pg/pkg/versions.buildCommit=$CNPG_PIN" \
    -o "$BIN/.$name.$$.tmp" ./cmd/manager)
  mv -f "$BIN/.$name.$$.tmp" "$BIN/$name"; rm -rf "$work"
  echo "$CNPG_PIN" > "$stamp"
}
build_cnpg
# cert-manager's admission webhook and CA injector: upstream's commands (cmd/webhook,
# cmd/cainjector) are nested modules the module proxy does not serve (nor ../shared), but
# everything they run is in the released main module; tools/cert-manager holds the small
# command lines around those packages (see its go.mod). vcert is not in their import graph.
# About 4.5 min for the webhook with an empty build cache (under a minute for both once
# cert-manager's controller is built: they share its packages).
if ! grep -q "github.com/cert-manager/cert-manager $CM_PIN\$" tools/cert-manager/go.mod; then
  echo "tools/cert-manager/go.mod does not require cert-manager $CM_PIN (versions.py)" >&2
  exit 2
fi
cm_ldflags="-X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$CM_PIN"
cm_ldflags+=" -X github.com/cert-manager/cert-manager/pkg/util.AppGitCommit=$CM_PIN"
build_tool_module cert-manager-webhook "$CM_PIN" cert-manager ./webhook "$cm_ldflags"
build_tool_module cert-manager-cainjector "$CM_PIN" cert-manager ./cainjector "$cm_ldflags"
