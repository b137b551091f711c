"""The schema bundle the package carries says exactly what the pinned upstream files say.

Real parts: the generator (scripts/build_schema_bundle.py) run on the real upstream files
(Kubernetes' OpenAPI v3 from the k8s.io/kubernetes Go modules in the module cache, read
with GOPROXY=off so the test never fetches; the CRDs, chart schemas and Argo CD
install.yaml in ../shared), homeport's real SchemaStore, check and bootstrap loaders, and
the real CLI as a process. Nothing is faked; the negative controls tamper with a copy.
"""

from __future__ import annotations

import copy
import gzip
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from homeport import bundle, upstream
from homeport.check import check_tree
from homeport.check.schemas import SchemaStore
from homeport.cluster.apply import pinned_crds
from homeport.cluster.bootstrap import argocd_manifest_objects
from homeport.errors import UsageError
from homeport.versions import (
    ARGOCD_VERSION,
    CHART_SCHEMA_FOLDERS,
    CRD_FOLDERS,
    KUBERNETES_PATCHES,
    SUPPORTED_KUBERNETES,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
GEN_PATH = ROOT / "scripts" / "build_schema_bundle.py"
TOKEN = "cf-bundle-test-token-0123456789"


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bundle_gen_test", GEN_PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


GEN = _gen()


@pytest.fixture(autouse=True)
def _offline_go(monkeypatch: pytest.MonkeyPatch) -> None:
    # The module cache must already hold the releases (scripts/setup.sh fetched them).
    monkeypatch.setenv("GOPROXY", "off")


def upstream_v3(minor: str) -> Path:
    return Path(GEN.kubernetes_openapi_dir(KUBERNETES_PATCHES[minor]))


def test_bundle_is_current_for_the_pins() -> None:
    root = bundle.bundle_root()
    assert GEN.is_current(root, GEN.load_versions()), "run scripts/setup.sh"
    manifest = json.loads((root / "MANIFEST.json").read_text())
    assert manifest["kubernetes"] == {m: KUBERNETES_PATCHES[m] for m in SUPPORTED_KUBERNETES}
    assert manifest["crds"] == dict(sorted(CRD_FOLDERS.items()))
    assert manifest["chart_schemas"] == dict(sorted(CHART_SCHEMA_FOLDERS.items()))
    assert manifest["argocd"] == ARGOCD_VERSION
    for minor in SUPPORTED_KUBERNETES:
        assert bundle.kubernetes_file(KUBERNETES_PATCHES[minor]) is not None
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 1_500_000


def _full_store(v3: Path) -> SchemaStore:
    s = SchemaStore()
    s.load_openapi_dir(v3)
    for key in list(s._pending):
        s._ensure(*key)
    return s


@pytest.mark.parametrize("minor", SUPPORTED_KUBERNETES)
def test_kubernetes_bundle_gives_the_same_schemas_as_upstream(minor: str) -> None:
    upstream = _full_store(upstream_v3(minor))
    packed_file = bundle.kubernetes_file(KUBERNETES_PATCHES[minor])
    assert packed_file is not None
    packed = SchemaStore()
    packed.load_openapi_dir(packed_file)
    assert packed.gvks == upstream.gvks and len(packed.gvks) > 150
    assert packed.k8s_namespaced == upstream.k8s_namespaced
    assert packed.is_namespaced("apps", "Deployment") is True
    assert packed.is_namespaced("", "Namespace") is False
    for gvk in sorted(upstream.gvks):
        assert packed.document(gvk) == upstream.document(gvk), gvk


def test_a_lossy_bundle_would_be_caught() -> None:
    """Negative control: drop one keyword the check reads and the documents differ."""
    packed_file = bundle.kubernetes_file(KUBERNETES_PATCHES["1.36"])
    assert packed_file is not None
    doc = bundle.read_json_gz(packed_file)
    lossy = copy.deepcopy(doc)
    # A stripper that kept only the first branch of a oneOf would turn this into integer.
    ios = lossy["components"]["schemas"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert ios.pop("oneOf") == [{"type": "integer"}, {"type": "string"}]
    ios["type"] = "integer"
    a, b = SchemaStore(), SchemaStore()
    a._add_openapi(doc)
    b._add_openapi(lossy)
    gvk = ("apps", "v1", "Deployment")
    assert a.document(gvk) != b.document(gvk)
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}},
        },
    }
    assert a.validator(gvk).is_valid(deploy)
    assert not b.validator(gvk).is_valid(deploy)


def test_crds_chart_schemas_and_argocd_equal_the_pinned_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOMEPORT_CRD_DIR", str(SHARED / "crds"))
    from_shared = pinned_crds()
    argo = SHARED / "upstream" / f"argo-cd-{ARGOCD_VERSION}" / "install.yaml"
    monkeypatch.setenv("HOMEPORT_ARGOCD_MANIFEST", str(argo))
    argo_shared = argocd_manifest_objects()
    monkeypatch.delenv("HOMEPORT_CRD_DIR")
    monkeypatch.delenv("HOMEPORT_ARGOCD_MANIFEST")
    from_bundle = pinned_crds()
    assert from_bundle == from_shared and len(from_bundle) >= 29
    assert argocd_manifest_objects() == argo_shared
    assert any(o["kind"] == "Deployment" for o in argo_shared)
    csd = bundle.chart_schema_dir()
    assert csd is not None
    for folder in CHART_SCHEMA_FOLDERS.values():
        want = json.loads((SHARED / "chart-schemas" / folder / "values.schema.json").read_text())
        assert json.loads((csd / folder / "values.schema.json").read_text()) == want


def test_generator_is_deterministic_and_tampering_is_noticed(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    v = GEN.load_versions()
    root = bundle.bundle_root()
    shutil.copytree(root, out)
    assert GEN.is_current(out, v)
    # Negative control: a changed file is stale...
    target = out / "crds" / f"{CRD_FOLDERS['traefik']}.json.gz"
    data = json.loads(gzip.decompress(target.read_bytes()))
    data[0]["spec"]["group"] = "evil.example.com"
    target.write_bytes(gzip.compress(json.dumps(data).encode()))
    assert not GEN.is_current(out, v)
    # ...and a build over it gives, byte for byte, the bundle the package carries.
    GEN.build(out, SHARED, v)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (root / rel).read_bytes(), rel
    assert GEN.is_current(out, v)
    # Negative control: a bundle made for other pins is stale.
    manifest = json.loads((out / "MANIFEST.json").read_text())
    manifest["kubernetes"]["1.36"] = "v1.36.0"
    (out / "MANIFEST.json").write_text(json.dumps(manifest))
    assert not GEN.is_current(out, v)


def test_generator_names_a_missing_source(tmp_path: Path) -> None:
    (tmp_path / "shared" / "crds").mkdir(parents=True)
    res = subprocess.run(
        [
            sys.executable,
            str(GEN_PATH),
            "--out",
            str(tmp_path / "out"),
            "--shared",
            str(tmp_path / "shared"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2
    assert "no CRD files" in res.stderr and CRD_FOLDERS["argocd"] in res.stderr
    assert not (tmp_path / "out").exists()  # no partial bundle


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEPORT_", "XDG_", "GO"))}
    env["HOME"] = str(home)
    env["GOMODCACHE"] = str(home / "no-go-module-cache")
    return env


@pytest.mark.slow
def test_init_then_render_checks_clean_with_no_variables(tmp_path: Path) -> None:
    """The source-tree package (editable install) alone: no HOMEPORT_*, an empty HOME."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = _clean_env(home)

    def hp(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "homeport", *args],
            cwd=work,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )

    init = hp(
        "init",
        "--non-interactive",
        "--domain",
        "example.com",
        "--email",
        "admin@example.com",
        "--git-url",
        "https://github.com/example/homelab.git",
        "--cloudflare-token-file",
        "-",
        stdin=TOKEN,
    )
    assert init.returncode == 0, init.stderr
    render = hp("render")
    assert render.returncode == 0, render.stdout + render.stderr
    assert re.search(r"^ok: \d+ objects in \d+ files, 0 errors, 0 warnings$", render.stderr, re.M)
    assert not (home / ".cache").exists()  # nothing downloaded, nothing cached


def test_check_without_bundle_or_variables_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: the same check with the bundle hidden fails with a clear line."""
    for var in ("HOMEPORT_CRD_DIR", "HOMEPORT_CHART_SCHEMA_DIR", "HOMEPORT_K8S_SCHEMA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomod"))
    monkeypatch.setattr(bundle, "bundle_root", lambda: tmp_path / "nothing")
    (tmp_path / "tree").mkdir()
    with pytest.raises(UsageError, match=r"no Kubernetes 1\.36 OpenAPI schemas found"):
        check_tree(tmp_path / "tree", kubernetes_version="1.36")
    monkeypatch.delenv("HOMEPORT_CRD_DIR", raising=False)
    with pytest.raises(UsageError, match="carries no CRDs for argocd"):
        pinned_crds(["argocd"])
    monkeypatch.delenv("HOMEPORT_ARGOCD_MANIFEST", raising=False)
    with pytest.raises(UsageError, match="carries no Argo CD v3"):  # and downloads nothing
        argocd_manifest_objects()


class _Mirror(http.server.BaseHTTPRequestHandler):
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


def _serve(routes: dict[str, Path]) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("M", (_Mirror,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_download_builds_the_same_bundle_without_shared(tmp_path: Path) -> None:
    """--download fetches what ../shared lacks (here: everything) from a loopback mirror
    serving the pinned upstream paths; the result is byte-identical to the bundle."""
    routes: dict[str, Path] = {}
    for folder, paths in upstream.crd_sources().items():
        for p in paths:
            routes[p] = SHARED / "crds" / folder / p.rsplit("/", 1)[1]
    for folder, p in upstream.chart_schema_sources().items():
        routes[p] = SHARED / "chart-schemas" / folder / "values.schema.json"
    routes[upstream.argocd_install_source()] = (
        SHARED / "upstream" / f"argo-cd-{ARGOCD_VERSION}" / "install.yaml"
    )
    assert all(f.is_file() for f in routes.values())  # ../shared mirrors every pinned path
    server, url = _serve(routes)
    empty = tmp_path / "no-shared"
    empty.mkdir()
    args = [sys.executable, str(GEN_PATH), "--shared", str(empty), "--download", "--base-url"]
    try:
        res = subprocess.run(
            [*args, url, "--out", str(tmp_path / "out")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        root = bundle.bundle_root()
        for p in sorted(root.rglob("*")):
            if p.is_file():
                assert (tmp_path / "out" / p.relative_to(root)).read_bytes() == p.read_bytes(), p
        # Negative control: the mirror lacks one file (the first the generator fetches, so
        # it fails at once): exit 2, the URL named, nothing written.
        first_folder = sorted(CRD_FOLDERS.items())[0][1]
        lost = min(upstream.crd_sources()[first_folder], key=lambda p: p.rsplit("/", 1)[1])
        routes.pop(lost)
        res = subprocess.run(
            [*args, url, "--out", str(tmp_path / "out2")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 2
        assert lost.rsplit("/", 1)[1] in res.stderr and "404" in res.stderr, res.stderr
        assert not (tmp_path / "out2").exists()
    finally:
        server.shutdown()
        server.server_close()
