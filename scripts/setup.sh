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
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
