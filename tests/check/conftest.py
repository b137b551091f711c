"""Fixtures for `homeport check`: real Kubernetes OpenAPI files and the shared CRDs.

The Kubernetes schemas come from the k8s.io/kubernetes Go module (the same files the
release tag has under api/openapi-spec/v3). ``scripts/build-tools.sh`` downloads it into
the Go module cache; a test fails (never skips) and says so when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from homeport.check.sources import KUBERNETES_PATCH

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))


BUILD = "scripts/build-tools.sh"


def _go() -> str:
    return shutil.which("go") or "/usr/local/go/bin/go"


def _gomodcache() -> Path:
    out = subprocess.run([_go(), "env", "GOMODCACHE"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def download_kubernetes(minor: str) -> Path:
    """The OpenAPI v3 directory of k8s.io/kubernetes for a minor version, in the module cache."""
    version = KUBERNETES_PATCH[minor]
    d = _gomodcache() / "k8s.io" / f"kubernetes@{version}" / "api" / "openapi-spec" / "v3"
    if not (d / "api__v1_openapi.json").is_file():
        pytest.fail(
            f"k8s.io/kubernetes {version} is not in {_gomodcache()}: run scripts/build-tools.sh"
        )
    return d


@pytest.fixture(scope="session", autouse=True)
def schema_env() -> dict[str, Path]:
    """Point homeport at the Go module cache and the shared CRDs / chart schemas."""
    os.environ["GOMODCACHE"] = str(_gomodcache())
    os.environ.setdefault("HOMEPORT_CRD_DIR", str(SHARED / "crds"))
    os.environ.setdefault("HOMEPORT_CHART_SCHEMA_DIR", str(SHARED / "chart-schemas"))
    return {"1.36": download_kubernetes("1.36")}
