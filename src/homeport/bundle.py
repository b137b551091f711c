"""The schema bundle the package carries (``homeport/data/schemas``).

Generated when the package is built (``scripts/build_schema_bundle.py``, run by
``setup.py`` and ``scripts/setup.sh``) from the pinned upstream files, never committed.
It holds, per :mod:`homeport.versions`:

* ``kubernetes/<patch>.json.gz``: each supported Kubernetes minor's OpenAPI v3
  definitions, merged and trimmed to what ``homeport check`` reads;
* ``crds/<folder>.json.gz``: every pinned CRD folder, the full upstream documents;
* ``chart-schemas/<folder>/values.schema.json``: the pinned charts' values schemas;
* ``argocd/install-<version>.json.gz``: the pinned Argo CD install manifest;
* ``MANIFEST.json``: the pins it was built for and a digest of each file.

Everything here is a fallback: ``HOMEPORT_*`` variables and ``homeport schemas pull``
override it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from homeport.versions import ARGOCD_VERSION, CRD_FOLDERS


def bundle_root() -> Path:
    """The bundle directory inside the installed package."""
    return Path(__file__).resolve().parent / "data" / "schemas"


def read_json_gz(path: Path) -> Any:
    """Parse one gzip'd JSON file of the bundle."""
    return json.loads(gzip.decompress(path.read_bytes()))


def kubernetes_file(patch: str) -> Path | None:
    """The compact OpenAPI file of a Kubernetes patch release (``v1.36.3``), or None."""
    p = bundle_root() / "kubernetes" / f"{patch}.json.gz"
    return p if p.is_file() else None


def crd_dir() -> Path | None:
    """The folder of bundled CRD files (``<folder>.json.gz``), or None."""
    d = bundle_root() / "crds"
    return d if d.is_dir() else None


def crd_file(key: str) -> Path | None:
    """The bundled CRDs of one ``versions.CRD_FOLDERS`` key, or None."""
    p = bundle_root() / "crds" / f"{CRD_FOLDERS[key]}.json.gz"
    return p if p.is_file() else None


def chart_schema_dir() -> Path | None:
    """The folder of bundled chart values schemas, or None."""
    d = bundle_root() / "chart-schemas"
    return d if d.is_dir() else None


def argocd_install() -> Path | None:
    """The bundled Argo CD install manifest (a gzip'd JSON list of objects), or None."""
    p = bundle_root() / "argocd" / f"install-{ARGOCD_VERSION}.json.gz"
    return p if p.is_file() else None
