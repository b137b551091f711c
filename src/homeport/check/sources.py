"""Where ``homeport check`` finds its schemas, and the parse cache of CRD files.

Sources, in order (the first that has them wins):

* Kubernetes: the OpenAPI v3 files (``api/openapi-spec/v3/*.json``) of the
  ``k8s.io/kubernetes`` release for the target minor version, from
  ``$HOMEPORT_K8S_SCHEMA_DIR``, the ``homeport schemas pull`` cache, the bundle the
  package carries (:mod:`homeport.bundle`), or the Go module cache
  (``go mod download k8s.io/kubernetes@<version>`` puts them there).
* CRDs: every ``CustomResourceDefinition`` in the CRD directories (``--crd-dir``,
  ``$HOMEPORT_CRD_DIR``, the pull cache, else the bundle), plus CRDs found in the tree.
* Chart values schemas: ``$HOMEPORT_CHART_SCHEMA_DIR``, the pull cache, else the bundle.

The bundle is generated when the package is built, from the pinned upstream files: an
installed homeport checks offline with no environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path

from homeport import bundle
from homeport.versions import KUBERNETES_PATCHES

# Patch release validated for each supported minor version (pinned in homeport.versions).
KUBERNETES_PATCH = KUBERNETES_PATCHES


def cache_root() -> Path:
    """Where ``homeport schemas pull`` stores files (``$XDG_CACHE_HOME/homeport/schemas``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "homeport" / "schemas"


def kubernetes_patch(minor: str) -> str:
    """Return the pinned patch release (``v1.36.3``) for a minor version (``1.36``)."""
    if minor.startswith("v") and minor.count(".") == 2:
        return minor
    try:
        return KUBERNETES_PATCH[minor]
    except KeyError:
        known = ", ".join(sorted(KUBERNETES_PATCH))
        raise ValueError(
            f'Kubernetes version "{minor}" is not supported (known: {known})'
        ) from None


def find_openapi_dir(minor: str) -> Path | None:
    """Find the OpenAPI v3 schemas for a Kubernetes minor version, or None.

    Looks at ``$HOMEPORT_K8S_SCHEMA_DIR`` (the v3 directory itself, or a folder holding
    ``api/openapi-spec/v3``), then the pull cache, then the package's bundle (a file, not
    a directory: :meth:`~homeport.check.schemas.SchemaStore.load_openapi_dir`
    reads both), then the Go module cache.
    """
    patch = kubernetes_patch(minor)
    candidates: list[Path] = []
    env = os.environ.get("HOMEPORT_K8S_SCHEMA_DIR")
    if env:
        candidates += [Path(env), Path(env) / "api" / "openapi-spec" / "v3"]
    candidates.append(cache_root() / f"kubernetes-{patch}")
    for c in candidates:
        if (c / "api__v1_openapi.json").is_file():
            return c
    bundled = bundle.kubernetes_file(patch)
    if bundled is not None:
        return bundled
    gomod = os.environ.get("GOMODCACHE") or str(
        Path(os.environ.get("GOPATH") or Path.home() / "go") / "pkg" / "mod"
    )
    v3 = Path(gomod) / "k8s.io" / f"kubernetes@{patch}" / "api" / "openapi-spec" / "v3"
    return v3 if (v3 / "api__v1_openapi.json").is_file() else None


def default_crd_dirs() -> list[Path]:
    """CRD directories: ``$HOMEPORT_CRD_DIR`` (all subfolders), the pull cache, the bundle."""
    env = os.environ.get("HOMEPORT_CRD_DIR")
    if env:
        return [Path(env)]
    cached = cache_root() / "crds"
    if cached.is_dir():
        return [cached]
    bundled = bundle.crd_dir()
    return [bundled] if bundled is not None else []


def default_chart_schema_dir() -> Path | None:
    """Chart schemas: ``$HOMEPORT_CHART_SCHEMA_DIR``, the pull cache, else the bundle."""
    env = os.environ.get("HOMEPORT_CHART_SCHEMA_DIR")
    if env:
        return Path(env)
    cached = cache_root() / "chart-schemas"
    return cached if cached.is_dir() else bundle.chart_schema_dir()
