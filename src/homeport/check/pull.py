"""``homeport schemas pull``: download the pinned schemas into the local cache.

Optional: the package already carries every pinned schema (:mod:`homeport.bundle`). A
pulled cache overrides what it carries, e.g. to check against files fetched afresh.

Everything comes from upstream at the pinned tags (see :mod:`homeport.versions`):
Kubernetes' OpenAPI v3 files, the CRDs of every chart homeport installs, and the charts'
``values.schema.json``. Files land in :func:`homeport.check.sources.cache_root`:
``kubernetes-<version>/``, ``crds/<folder>/`` and ``chart-schemas/<folder>/`` (the same
folder names as ``HOMEPORT_CRD_DIR`` / ``HOMEPORT_CHART_SCHEMA_DIR``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from homeport.check.sources import cache_root, kubernetes_patch
from homeport.errors import HomeportError
from homeport.upstream import GITHUB_RAW, chart_schema_sources, crd_sources

__all__ = [
    "GITHUB_RAW",
    "K8S_OPENAPI_FILES",
    "PullError",
    "PullResult",
    "chart_schema_sources",
    "crd_sources",
    "pull",
]

# OpenAPI v3 files of the API groups homeport validates (a release lacking one is skipped).
_K8S_GROUPS = (
    "api__v1",
    "apis__admissionregistration.k8s.io__v1",
    "apis__apiextensions.k8s.io__v1",
    "apis__apiregistration.k8s.io__v1",
    "apis__apps__v1",
    "apis__authentication.k8s.io__v1",
    "apis__authorization.k8s.io__v1",
    "apis__autoscaling__v1",
    "apis__autoscaling__v2",
    "apis__batch__v1",
    "apis__certificates.k8s.io__v1",
    "apis__coordination.k8s.io__v1",
    "apis__discovery.k8s.io__v1",
    "apis__events.k8s.io__v1",
    "apis__flowcontrol.apiserver.k8s.io__v1",
    "apis__networking.k8s.io__v1",
    "apis__node.k8s.io__v1",
    "apis__policy__v1",
    "apis__rbac.authorization.k8s.io__v1",
    "apis__resource.k8s.io__v1",
    "apis__scheduling.k8s.io__v1",
    "apis__storage.k8s.io__v1",
)
K8S_OPENAPI_FILES = tuple(f"{n}_openapi.json" for n in _K8S_GROUPS)


class PullError(HomeportError):
    """A schema could not be downloaded."""


@dataclass
class PullResult:
    """What a pull wrote."""

    dest: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def pull(
    kubernetes_version: str = "1.36",
    dest: Path | None = None,
    base_url: str = GITHUB_RAW,
    timeout: float = 60.0,
) -> PullResult:
    """Download the pinned schemas into ``dest`` (default: the cache).

    Args:
        kubernetes_version: Kubernetes minor version (``1.36``).
        dest: Target directory.
        base_url: Where the raw files are served (tests use a loopback server).
        timeout: Per-request timeout in seconds.

    Returns:
        The files written and the Kubernetes files the release does not have.

    Raises:
        PullError: A download failed (other than a missing Kubernetes group file).
    """
    patch = kubernetes_patch(kubernetes_version)
    dest = dest or cache_root()
    res = PullResult(dest)
    jobs: list[tuple[str, Path, bool]] = []
    for f in K8S_OPENAPI_FILES:
        jobs.append(
            (
                f"kubernetes/kubernetes/{patch}/api/openapi-spec/v3/{f}",
                dest / f"kubernetes-{patch}" / f,
                True,
            )
        )
    for folder, paths in crd_sources().items():
        for p in paths:
            jobs.append((p, dest / "crds" / folder / p.rsplit("/", 1)[1], False))
    for folder, p in chart_schema_sources().items():
        jobs.append((p, dest / "chart-schemas" / folder / "values.schema.json", False))
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for upstream, target, optional in jobs:
            url = f"{base_url.rstrip('/')}/{upstream}"
            try:
                r = client.get(url)
            except httpx.HTTPError as exc:
                raise PullError(f"downloading {url}: {exc}") from None
            if r.status_code == 404 and optional:
                res.skipped.append(upstream)
                continue
            if r.status_code != 200:
                raise PullError(f"downloading {url}: HTTP {r.status_code}")
            _write(target, r.content)
            res.written.append(str(target.relative_to(dest)))
    return res
