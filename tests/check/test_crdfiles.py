"""CRD files are read lazily through a content-hash cache, with the same result as at once.

Real: the pinned CRDs of ../shared, PyYAML, the cache under a temporary XDG_CACHE_HOME.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from homeport.check import crdfiles
from homeport.check.schemas import SchemaStore

from .conftest import SHARED

FOLDERS = ("traefik-chart-41.3.0", "cert-manager-v1.21.1")


def _eager(dirs: list[Path]) -> SchemaStore:
    """Every CRD parsed at once with PyYAML, no cache: the reference."""
    s = SchemaStore()
    for f in crdfiles.crd_files(dirs):
        for doc in yaml.safe_load_all(f.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                s.add_crd(doc, str(f))
    return s


def _lazy(dirs: list[Path]) -> SchemaStore:
    s = SchemaStore()
    s.load_crd_dirs(dirs)
    return s


def test_cold_and_warm_cache_give_what_an_eager_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dirs = [SHARED / "crds" / f for f in FOLDERS]
    want = _eager(dirs)
    cold = _lazy(dirs)  # parses every file, writes the documents and the summaries
    parsed = tmp_path / "cache" / "homeport" / "schemas" / "parsed"
    assert len(list(parsed.glob("*.crds.json"))) == len(crdfiles.crd_files(dirs))
    assert (parsed / "digests.json").is_file()
    warm = _lazy(dirs)  # reads only the summaries, then the documents asked for
    for got in (cold, warm):
        assert set(got.crds) == set(want.crds) and len(want.crds) > 15
        assert got.namespaced == want.namespaced
        for gvk in sorted(want.crds):
            assert got.crd_schema(gvk) == want.crd_schema(gvk), gvk
            assert got.document(gvk) == want.document(gvk), gvk


def test_a_changed_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control for the digest memo: new content with the old size and mtime."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    d = tmp_path / "crds"
    d.mkdir()
    f = d / "ingressroutes.yaml"
    shutil.copy(SHARED / "crds" / FOLDERS[0] / "traefik.io_ingressroutes.yaml", f)
    gvk = ("traefik.io", "v1alpha1", "IngressRoute")
    assert gvk in _lazy([d]).crds
    st = f.stat()
    text = f.read_text()
    assert "kind: IngressRoute\n" in text
    f.write_text(text.replace("kind: IngressRoute\n", "kind: IngressRoutX\n"))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    changed = _lazy([d])
    assert gvk not in changed.crds
    assert ("traefik.io", "v1alpha1", "IngressRoutX") in changed.crds
    assert changed.crd_schema(("traefik.io", "v1alpha1", "IngressRoutX")) is not None
