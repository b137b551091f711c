"""Suite-wide settings: upstream reference data from ../shared unless the environment says so."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Bytecode: both pytest workers and the CLI processes the tests start would otherwise
# compile the same sources (and pytest rewrite every test module) again on each start when
# PYTHONDONTWRITEBYTECODE is set. It goes to .pytest_cache/pycache, never next to a source.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None or sys.dont_write_bytecode:
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(ROOT / ".pytest_cache" / "pycache")
    os.environ["PYTHONPYCACHEPREFIX"] = sys.pycache_prefix

import pytest  # noqa: E402

from goyaml import GoYaml  # noqa: E402

SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))

# scripts/test.sh and .ci/run export these; setting defaults here keeps `pytest` alone working.
os.environ.setdefault("HOMEPORT_CRD_DIR", str(SHARED / "crds"))
os.environ.setdefault("HOMEPORT_CHART_SCHEMA_DIR", str(SHARED / "chart-schemas"))
os.environ.setdefault(
    "HOMEPORT_ARGOCD_MANIFEST", str(SHARED / "upstream" / "argo-cd-v3.5.1" / "install.yaml")
)
os.environ.setdefault("HOMEPORT_TOOLS", str(Path.home() / ".cache" / "homeport-tools"))


@pytest.fixture(scope="session")
def goyaml() -> Iterator[GoYaml]:
    """Go's YAML decoder (sigs.k8s.io/yaml), one process for the whole session."""
    dec = GoYaml()
    yield dec
    dec.close()


TESTS = Path(__file__).resolve().parent
# Suites that start real servers (kube-apiserver and etcd, pebble, Traefik in a network
# namespace, a whole simulated cluster) or compare with them as oracles: `pytest -m "not
# cluster"` leaves them out.
CLUSTER_SUITES = ("cluster", "traffic", "certs", "sync")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the cluster suites ``cluster`` (and ``slow``)."""
    for item in items:
        rel = Path(str(item.path)).resolve().relative_to(TESTS)
        if rel.parts[0] in CLUSTER_SUITES:
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.slow)
