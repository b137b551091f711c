#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lints, type-checks, tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SHARED=${HOMEPORT_SHARED:-$ROOT/../shared}
export HOMEPORT_CRD_DIR=${HOMEPORT_CRD_DIR:-$SHARED/crds}
export HOMEPORT_CHART_SCHEMA_DIR=${HOMEPORT_CHART_SCHEMA_DIR:-$SHARED/chart-schemas}
export HOMEPORT_ARGOCD_MANIFEST=${HOMEPORT_ARGOCD_MANIFEST:-$SHARED/upstream/argo-cd-v3.5.1/install.yaml}
export HOMEPORT_TOOLS=${HOMEPORT_TOOLS:-$HOME/.cache/homeport-tools}

./scripts/setup.sh
./scripts/build-tools.sh

.venv/bin/ruff check src tests bench
.venv/bin/mypy
# Two workers (the machine has two cores); whole files per worker, so a suite that starts
# its own control plane (tests/certs, tests/traffic) starts it once.
.venv/bin/pytest -n 2 --dist loadfile "$@"
