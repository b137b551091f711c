"""The forked paths of ``check_tree`` (parsing and schemas on a second process) report
exactly what the single-process path reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.check import check_tree, engine, loader
from homeport.config import load_config
from homeport.gitops import render_tree

ROOT = Path(__file__).resolve().parents[2]


def _tree(out: Path) -> Path:
    cfg = load_config(ROOT / "examples" / "homeport.yaml")
    for rel, text in render_tree(cfg).files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    # Findings of several kinds: schema, YAML 1.1 fallback, invalid YAML, policy.
    (out / "apps" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: broken\n  labels:\n"
        "    pod-security.kubernetes.io/enforce: yes\nspec:\n  bogus: 1\n"
    )
    (out / "apps" / "bad.yaml").write_text("a: [\n")
    return out


def test_forked_paths_report_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _tree(tmp_path / "t")
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10**9)
    monkeypatch.setattr(engine, "PARALLEL_MIN_OBJECTS", 10**9)
    serial = check_tree(tree).dumps()
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 0)
    monkeypatch.setattr(engine, "PARALLEL_MIN_OBJECTS", 0)
    assert check_tree(tree).dumps() == serial
    assert '"HP-S001"' in serial and '"HP-S002"' in serial
