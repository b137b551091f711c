"""Prune never deletes data (issue 15, item 4).

Real: the renderer, the rendered YAML and the ``homeport app remove`` command in a
subprocess. Not run: Argo CD itself; the test asserts the documented resource-level
sync options (``argocd.argoproj.io/sync-options: Prune=false,Delete=false``: not pruned
when it leaves Git, not deleted with its Application) on every object that holds data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from homeport.config import load_config
from homeport.gitops import render_tree

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ANNOTATION = "argocd.argoproj.io/sync-options"


def _kept(obj: dict[str, object]) -> bool:
    md = obj.get("metadata") or {}
    assert isinstance(md, dict)
    opts = str((md.get("annotations") or {}).get(ANNOTATION, ""))
    parts = {p.strip() for p in opts.split(",")}
    return {"Prune=false", "Delete=false"} <= parts


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_stateful_objects_and_their_namespaces_are_kept(example: Path) -> None:
    cfg = load_config(example)
    tree = render_tree(cfg)
    objs = [o for _, o in tree.objects()]
    data_ns: set[str] = set()
    for o in objs:
        kind, api = o["kind"], o["apiVersion"]
        if kind == "PersistentVolumeClaim" or (kind == "Cluster" and api.startswith("postgresql.")):
            assert _kept(o), f"{kind} {o['metadata']['name']} can be pruned"
            data_ns.add(o["metadata"]["namespace"])
    # Volumes made by charts (Prometheus's StatefulSet claim) live in these namespaces.
    if cfg.components.monitoring.enabled:
        data_ns.add("monitoring")
    namespaces = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Namespace"}
    for ns in data_ns:
        assert _kept(namespaces[ns]), f"namespace {ns} holds data but can be pruned"
    # Negative control: namespaces without data stay prunable (no leftovers on removal).
    for ns in ("traefik", "cert-manager", "demo-apps", "cloudflare-ddns"):
        if ns in namespaces:
            assert not _kept(namespaces[ns]), ns
    for app in cfg.apps:
        if app.storage is None:
            assert not _kept(namespaces[app.name]), app.name


def test_example_with_storage_and_database_is_covered() -> None:
    """The checks above saw at least one app volume and the Authentik database."""
    tree = render_tree(load_config(ROOT / "examples" / "homeport.yaml"))
    kinds = {(o["kind"], o["metadata"].get("namespace")) for _, o in tree.objects()}
    assert ("PersistentVolumeClaim", "blog") in kinds
    assert ("Cluster", "authentik") in kinds


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_app_remove_says_what_stays_and_how_to_delete_it(tmp_path: Path) -> None:
    (tmp_path / "homeport.yaml").write_text((ROOT / "examples" / "homeport.yaml").read_text())
    res = _run("app", "remove", "blog", "--no-render", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "keeps its data" in res.stdout
    assert "persistentvolumeclaim/blog-data -n blog" in res.stdout
    assert "kubectl delete namespace blog" in res.stdout
    # Negative control: an app without a volume leaves nothing behind.
    res = _run(
        "app", "add", "wiki", "--image", "requarks/wiki:2.5.300", "--port", "3000",
        "--auth", "public", "--no-render", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = _run("app", "remove", "wiki", "--no-render", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "keeps its data" not in res.stdout
    assert "deletes namespace wiki" in res.stdout
