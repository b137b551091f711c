#!/usr/bin/env bash
# homeport's main job on the bundled example, from a fresh machine:
# install, seal the platform's secrets with a throwaway key, render examples/homeport.yaml
# into ./build/cluster and check the tree. Nothing outside ./build is touched.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SHARED=${HOMEPORT_SHARED:-$ROOT/../shared}
export HOMEPORT_CRD_DIR=${HOMEPORT_CRD_DIR:-$SHARED/crds}
export HOMEPORT_CHART_SCHEMA_DIR=${HOMEPORT_CHART_SCHEMA_DIR:-$SHARED/chart-schemas}
./scripts/setup.sh
HP=.venv/bin/homeport

# A demo key pair, never the user's real one in ~/.config/homeport.
export HOMEPORT_HOME=$ROOT/build/homeport-home
rm -rf build/homeport.yaml build/cluster build/sealing-cert.pem
mkdir -p build
# The demo Cloudflare token is a placeholder; it is sealed like a real one.
printf 'demo-cloudflare-token-not-real' | $HP init --non-interactive --dir build \
  --domain example.com --email admin@example.com \
  --git-url https://github.com/example/homelab.git --cloudflare-token-file -
# Render the bundled example (same domain and components) over init's starter file.
cp examples/homeport.yaml build/homeport.yaml
$HP render -c build/homeport.yaml --out build/cluster
$HP secret list --tree build/cluster
echo "rendered and checked: build/cluster (apply with: homeport bootstrap -c build/homeport.yaml)"
