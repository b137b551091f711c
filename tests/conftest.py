"""Suite-wide settings: upstream reference data from ../shared unless the environment says so."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from goyaml import GoYaml

ROOT = Path(__file__).resolve().parents[1]
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
