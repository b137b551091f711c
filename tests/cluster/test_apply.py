"""Server-side apply of the pinned CRDs and the whole rendered example tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport import yamlio
from homeport.cluster.apply import apply_objects, load_manifest_text, order_objects, pinned_crds
from homeport.cluster.kube import FIELD_MANAGER, Kube
from homeport.config import load_config
from homeport.errors import ClusterError
from homeport.gitops import render_tree

EXAMPLE = Path(__file__).parents[2] / "examples" / "homeport.yaml"


def rendered_objects() -> list[dict]:
    tree = render_tree(load_config(EXAMPLE))
    objs = []
    for path, text in tree.files.items():
        if path.endswith((".yaml", ".yml")):
            objs += load_manifest_text(text, path)
    return objs


def test_order_puts_crds_first_and_webhooks_last() -> None:
    objs = [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration"},
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application"},
        {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware"},
        {"apiVersion": "v1", "kind": "Secret"},
        {"apiVersion": "v1", "kind": "Namespace"},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"},
    ]
    kinds = [o["kind"] for o in order_objects(objs)]
    assert kinds == [
        "CustomResourceDefinition",
        "Namespace",
        "Secret",
        "Middleware",
        "Application",
        "ValidatingWebhookConfiguration",
    ]


def test_whole_example_tree_is_accepted_then_unchanged(kube: Kube) -> None:
    objs = pinned_crds() + rendered_objects()
    kinds = {o["kind"] for o in objs}
    assert {"CustomResourceDefinition", "Application", "AppProject"} <= kinds
    first = apply_objects(kube, objs)
    assert first.total >= len(objs) - 1  # duplicates collapse; nothing is skipped
    again = apply_objects(kube, objs)
    assert not again.changed, again.configured
    # Every object is stored with homeport as a field manager.
    app = kube.get("argoproj.io/v1alpha1", "Application", "root", "argocd")
    assert app is not None
    managers = {m["manager"] for m in app["metadata"]["managedFields"]}
    assert FIELD_MANAGER in managers


def test_cel_rule_rejection_is_reported(kube: Kube, namespace: str) -> None:
    apply_objects(kube, pinned_crds(["traefik"]))
    bad = yamlio.load(
        f"""
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {{name: bad-prefix, namespace: {namespace}}}
spec: {{addPrefix: {{prefix: no-slash}}}}
"""
    )
    with pytest.raises(ClusterError, match="must start with a '/'") as err:
        apply_objects(kube, [bad])
    assert f"Middleware {namespace}/bad-prefix" in str(err.value)
    assert kube.get("traefik.io/v1alpha1", "Middleware", "bad-prefix", namespace) is None


def test_dry_run_stores_nothing(kube: Kube, namespace: str) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "dry", "namespace": namespace},
    }
    result = apply_objects(kube, [cm], dry_run=True)
    assert result.created == [f"ConfigMap {namespace}/dry"]
    assert kube.get("v1", "ConfigMap", "dry", namespace) is None
