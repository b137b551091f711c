"""The examples' charts, expanded as Argo CD would, are accepted by the real API server.

Real: Helm v4.2.1 expanding the pinned charts of ../shared/charts with the values homeport
renders (`homeport.check.expand_charts`, the code behind `homeport check --charts`), and a
fresh kube-apiserver + etcd. The CRDs (pinned ones and those the charts carry) and the
tree's Namespaces are applied for real; every other expanded object is sent as a
server-side apply dry run (strict field validation, admission, CEL). Webhook
configurations are therefore validated but never stored there; the last test stores them
too, in an API server inside a network namespace it creates, and shows the API server
calling them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from homeport.check.engine import expand_charts
from homeport.cluster.apply import apply_objects, load_manifest_text, pinned_crds
from homeport.cluster.kube import Kube, connect
from homeport.config import load_config
from homeport.errors import ClusterError
from homeport.gitops import render_tree

from .apiserver import ApiServer
from .netns import interfaces, network_namespace

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="module")
def fresh() -> Any:
    srv = ApiServer().start()
    try:
        with connect(srv.kubeconfig) as k:
            yield k
    finally:
        srv.stop()


def _namespaced(kube: Kube, obj: dict[str, Any]) -> bool:
    rt = kube.resource_type(str(obj["apiVersion"]), str(obj["kind"]))
    return bool(rt and rt.namespaced)


@pytest.mark.parametrize("example", ["homeport", "full-ha"])
def test_expanded_charts_are_accepted_by_the_api_server(
    example: str, fresh: Kube, tmp_path: Path
) -> None:
    cfg = load_config(ROOT / "examples" / f"{example}.yaml")
    tree = render_tree(cfg)
    for rel, text in tree.files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    apps, problems = expand_charts(
        tmp_path, SHARED / "charts", kubernetes_version=cfg.kubernetes.version
    )
    # Helm errors are none; a chart the shared cache holds without its subcharts
    # (kube-prometheus-stack there) is the only thing allowed to be left out.
    assert [p for p in problems if "lack their dependencies" not in p] == []
    assert len(apps) >= 5
    namespaces: list[dict[str, Any]] = []
    for rel, text in tree.files.items():
        if rel.startswith("components/namespaces/"):
            namespaces += load_manifest_text(text, rel)
    crds = [o for a in apps for o in a.objects if o["kind"] == "CustomResourceDefinition"]
    apply_objects(fresh, [*pinned_crds(), *crds, *namespaces])
    sent = 0
    for app in apps:
        objs = []
        for o in app.objects:
            if o["kind"] == "CustomResourceDefinition":
                continue
            o = {**o, "metadata": dict(o["metadata"])}
            if not o["metadata"].get("namespace") and _namespaced(fresh, o):
                o["metadata"]["namespace"] = app.namespace  # as Argo CD sets it
            objs.append(o)
        result = apply_objects(fresh, objs, dry_run=True, create_namespaces=False)
        assert result.total == len(objs), app.name
        sent += len(objs)
    assert sent > 80
    # Negative control: the same server refuses a field the schema does not have.
    dep = next(o for a in apps for o in a.objects if o["kind"] == "Deployment")
    bad = {**dep, "metadata": {**dep["metadata"], "namespace": "kube-system"}}
    bad = {**bad, "spec": {**bad["spec"], "replicass": 2}}
    with pytest.raises(Exception, match="replicass"):
        apply_objects(fresh, [bad], dry_run=True, create_namespaces=False)


def test_stored_webhooks_are_called_only_inside_a_network_namespace(tmp_path: Path) -> None:
    """Apply the expanded charts for real, webhook configurations included.

    Real: as above, plus the charts' ValidatingWebhookConfiguration and
    MutatingWebhookConfiguration objects stored in an API server that runs in a network
    namespace this test creates (loopback only): when the tree's Certificate and
    CloudNativePG Cluster are applied, the API server calls cert-manager's and
    CloudNativePG's webhooks at their Service addresses, which no pod answers here.
    """
    cfg = load_config(ROOT / "examples" / "homeport.yaml")
    tree = render_tree(cfg)
    for rel, text in tree.files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    apps, _problems = expand_charts(
        tmp_path, SHARED / "charts", kubernetes_version=cfg.kubernetes.version
    )
    objs = [o for a in apps for o in a.objects]
    hooks = [o for o in objs if o["kind"].endswith("WebhookConfiguration")]
    assert {h["metadata"]["name"] for h in hooks} >= {"cert-manager-webhook"}
    namespaces: list[dict[str, Any]] = []
    for rel, text in tree.files.items():
        if rel.startswith("components/namespaces/"):
            namespaces += load_manifest_text(text, rel)

    def tree_objects(path: str) -> list[dict[str, Any]]:
        return load_manifest_text(tree.files[path], path)

    with network_namespace():
        assert interfaces() == ["lo"]  # nothing a webhook call could leave through
        srv = ApiServer().start()
        try:
            with connect(srv.kubeconfig) as k:
                apply_objects(k, [*pinned_crds(), *namespaces])
                for app in apps:
                    placed = []
                    for o in app.objects:
                        o = {**o, "metadata": dict(o["metadata"])}
                        if not o["metadata"].get("namespace") and _namespaced(k, o):
                            o["metadata"]["namespace"] = app.namespace
                        placed.append(o)
                    apply_objects(k, placed, create_namespaces=False)
                stored = k.list_objects(
                    "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"
                )
                assert {h["metadata"]["name"] for h in stored} >= {"cert-manager-webhook"}
                # A kind no webhook watches is stored as usual ...
                ok = apply_objects(
                    k,
                    tree_objects("components/forward-auth/middleware-authentik-forward-auth.yaml"),
                )
                assert ok.total == 1
                # ... and cert-manager's webhook is called for a Certificate: nothing answers.
                cert = "components/cert-manager-config/certificate-wildcard.yaml"
                with pytest.raises(ClusterError, match="failed calling webhook"):
                    apply_objects(k, tree_objects(cert))
                db = "components/authentik-database/cluster-authentik-db.yaml"
                with pytest.raises(ClusterError, match="failed calling webhook"):
                    apply_objects(k, tree_objects(db))
        finally:
            srv.stop()
    assert interfaces() != ["lo"]  # back in the test's own namespace
