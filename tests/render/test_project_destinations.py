"""The secrets Application and the AppProject agree on namespaces (issue 15, item 10).

Real: the renderer and the rendered YAML. Argo CD refuses a whole Application when one
of its resources targets a namespace outside the project's destinations, so every
namespace the ``secrets`` include glob syncs must be a destination.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport import yamlio
from homeport.config import load_config
from homeport.gitops import render_tree

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _glob_namespaces(include: str) -> set[str]:
    assert include.startswith("{") and include.endswith("}"), include
    parts = include[1:-1].split(",")
    assert all(p.endswith("/*") for p in parts), include
    return {p[:-2] for p in parts}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_secrets_glob_within_project_destinations(example: Path) -> None:
    tree = render_tree(load_config(example))
    project = yamlio.load(tree.files["apps/project.yaml"])
    dests = {d["namespace"] for d in project["spec"]["destinations"]}
    app = yamlio.load(tree.files["apps/secrets.yaml"])
    globbed = _glob_namespaces(app["spec"]["source"]["directory"]["include"])
    # Negative control: the glob is not trivially empty and names the built-ins.
    assert {"kube-system", "kube-public", "kube-node-lease", "default"} <= globbed
    assert globbed - dests == set(), f"glob syncs namespaces the project refuses: {globbed - dests}"
    # Every namespace the tree creates is reachable through the glob.
    created = {
        o["metadata"]["name"]
        for p, o in tree.objects()
        if p.startswith("components/namespaces/") and o["kind"] == "Namespace"
    }
    assert created <= globbed
