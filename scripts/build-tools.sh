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
  GOBIN="$BIN" go install "$pkg@$version"
  echo "$version" > "$stamp"
}

build_go kubeseal "$(pin SEALED_SECRETS_VERSION)" github.com/bitnami-labs/sealed-secrets/cmd/kubeseal
