"""The CLI (`homeport check`, `homeport schemas pull`) and the rendered example trees."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.check import check_tree
from homeport.check.pull import K8S_OPENAPI_FILES, chart_schema_sources, crd_sources, pull
from homeport.check.schemas import SchemaStore
from homeport.check.sources import KUBERNETES_PATCH, find_openapi_dir

from .conftest import ROOT, SHARED, download_kubernetes
from .trees import base_tree, container, seal_required, write_tree

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def homeport(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    good = write_tree(tmp_path / "good", base_tree())
    r = homeport("check", str(good))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok: 24 objects in 16 files, 0 errors, 0 warnings" in r.stdout

    tree = base_tree()
    container(tree)["image"] = "nginx:latest"
    bad = write_tree(tmp_path / "bad", tree)
    r = homeport("check", str(bad), "--output", "json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert [f["rule"] for f in data["findings"]] == ["HP-P001"]

    r = homeport("check", str(bad))
    assert r.returncode == 1
    assert "components/web/web.yaml" in r.stdout and "HP-P001" in r.stdout

    r = homeport("check", str(tmp_path / "missing"))
    assert r.returncode == 2 and "error:" in r.stderr
    r = homeport("check", str(good), "--output", "xml")
    assert r.returncode == 2
    r = homeport("check", str(good), "--kubernetes-version", "1.20")
    assert r.returncode == 2 and "1.20" in r.stderr


def test_strict_fails_on_warnings(tmp_path: Path) -> None:
    tree = base_tree()
    container(tree)["securityContext"].pop("readOnlyRootFilesystem")  # a warning rule
    root = write_tree(tmp_path, tree)
    assert homeport("check", str(root)).returncode == 0
    assert homeport("check", str(root), "--strict").returncode == 1


class _Mirror(http.server.SimpleHTTPRequestHandler):
    """Serves upstream paths from local copies of the same files."""

    routes: dict[str, Path] = {}

    def do_GET(self) -> None:
        f = self.routes.get(self.path.lstrip("/"))
        if f is None:
            self.send_error(404)
            return
        data = f.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[str]:
    patch = KUBERNETES_PATCH["1.36"]
    k8s = download_kubernetes("1.36")
    routes: dict[str, Path] = {}
    for f in K8S_OPENAPI_FILES:
        if (k8s / f).is_file():
            routes[f"kubernetes/kubernetes/{patch}/api/openapi-spec/v3/{f}"] = k8s / f
    for folder, paths in crd_sources().items():
        for p in paths:
            routes[p] = SHARED / "crds" / folder / p.rsplit("/", 1)[1]
    for folder, p in chart_schema_sources().items():
        routes[p] = SHARED / "chart-schemas" / folder / "values.schema.json"
    handler = functools.partial(type("M", (_Mirror,), {"routes": routes}))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_schemas_pull_fills_a_cache_check_can_use(
    mirror: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder, paths in crd_sources().items():  # the shared copies mirror every pinned file
        for p in paths:
            assert (SHARED / "crds" / folder / p.rsplit("/", 1)[1]).is_file(), p
    res = pull("1.36", tmp_path / "homeport" / "schemas", base_url=mirror)
    # Every pinned CRD file (38 with MetalLB's 9) and chart values schema (3), written once.
    n_crds = sum(len(paths) for paths in crd_sources().values())
    n_charts = len(chart_schema_sources())
    assert (n_crds, n_charts) == (38, 3)
    assert len(res.written) == len(K8S_OPENAPI_FILES) + n_crds + n_charts - len(res.skipped)
    # check_tree finds the pulled files through XDG_CACHE_HOME alone.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for var in ("HOMEPORT_CRD_DIR", "HOMEPORT_CHART_SCHEMA_DIR", "HOMEPORT_K8S_SCHEMA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "no-go-cache"))
    assert find_openapi_dir("1.36") == tmp_path / "homeport/schemas/kubernetes-v1.36.3"
    root = write_tree(tmp_path / "tree", base_tree())
    assert check_tree(root).findings == []
    # A failing mirror is one clear error.
    r = homeport(
        "schemas", "pull", "--dest", str(tmp_path / "x"), "--base-url", mirror + "/nothing"
    )
    assert r.returncode == 1 and "HTTP 404" in r.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_rendered_examples_have_no_findings(example: Path, tmp_path: Path) -> None:
    from homeport.config import load_config
    from homeport.gitops import render_tree

    cfg = load_config(example)
    download_kubernetes(cfg.kubernetes.version)
    tree = render_tree(cfg)
    for rel, text in tree.files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    seal_required(cfg, tmp_path)
    report = check_tree(tmp_path, kubernetes_version=cfg.kubernetes.version)
    assert [(f.file, f.line, f.rule_id, f.message) for f in report.findings] == []
    assert report.objects > 50


def test_export_for_kubeconform(tmp_path: Path) -> None:
    d = find_openapi_dir("1.36")
    assert d is not None
    s = SchemaStore()
    s.load_openapi_dir(d)
    n = s.export(
        tmp_path, [("apps", "v1", "Deployment"), ("", "v1", "Service"), ("x", "v1", "Nope")]
    )
    assert n == 2
    doc = json.loads((tmp_path / "apps/v1/deployment.json").read_text())
    assert (
        doc["$ref"].startswith("#/$defs/") and "io.k8s.api.apps.v1.DeploymentSpec" in doc["$defs"]
    )
