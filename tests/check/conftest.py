"""Fixtures for `homeport check`: real Kubernetes OpenAPI files and the shared CRDs.

The Kubernetes schemas come from the k8s.io/kubernetes Go module (the same files the
release tag has under api/openapi-spec/v3); `go mod download` fetches it from the Go
module proxy once and the module cache keeps it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from homeport.check.schemas import KUBERNETES_PATCH

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))


def _go() -> str:
    return shutil.which("go") or "/usr/local/go/bin/go"


def download_kubernetes(minor: str) -> Path:
    """Download k8s.io/kubernetes for a minor version; return its OpenAPI v3 directory."""
    out = subprocess.run(
        [_go(), "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_PATCH[minor]}"],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    )
    d = Path(json.loads(out.stdout)["Dir"]) / "api" / "openapi-spec" / "v3"
    assert (d / "api__v1_openapi.json").is_file()
    return d


@pytest.fixture(scope="session", autouse=True)
def schema_env() -> dict[str, Path]:
    """Point homeport at the Go module cache and the shared CRDs / chart schemas."""
    gomodcache = subprocess.run(
        [_go(), "env", "GOMODCACHE"], check=True, capture_output=True, text=True
    ).stdout.strip()
    os.environ["GOMODCACHE"] = gomodcache
    os.environ.setdefault("HOMEPORT_CRD_DIR", str(SHARED / "crds"))
    os.environ.setdefault("HOMEPORT_CHART_SCHEMA_DIR", str(SHARED / "chart-schemas"))
    return {"1.36": download_kubernetes("1.36")}
