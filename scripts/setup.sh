#!/usr/bin/env bash
# Install homeport and its development tools into ./.venv (idempotent).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3 python3-venv
fi
if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
  apt-get update -qq && apt-get install -y -qq golang-go
fi
export PATH="$PATH:/usr/local/go/bin"
[ -x .venv/bin/python ] || python3 -m venv .venv
# The editable install's build step generates the schema bundle the package carries
# (src/homeport/data/schemas: Kubernetes OpenAPI through `go mod download`, the pinned CRDs,
# chart schemas and Argo CD manifest from ../shared); running the generator again is a
# no-op when the bundle matches the pins, and regenerates it when they changed.
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
.venv/bin/python scripts/build_schema_bundle.py

# Wheels of the runtime dependencies, so tests/test_wheel.py installs the built wheel into
# a clean venv offline (--no-index). Refreshed when pyproject.toml changes.
WHEELHOUSE=.venv/wheelhouse
stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$WHEELHOUSE/.stamp" 2>/dev/null)" != "$stamp" ]; then
  .venv/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    | .venv/bin/pip download -q --disable-pip-version-check --only-binary=:all: -d "$WHEELHOUSE" -r /dev/stdin
  echo "$stamp" > "$WHEELHOUSE/.stamp"
fi
