"""The harness itself: a real API server of the pinned version, RBAC on, restartable."""

from __future__ import annotations

import uuid

import pytest

from homeport.cluster.kube import Kube, connect
from homeport.errors import ClusterError
from homeport.versions import KUBERNETES_VERSION

from .apiserver import ApiServer


def test_server_is_the_pinned_kubernetes(kube: Kube) -> None:
    version = kube.version()
    assert version["gitVersion"] == KUBERNETES_VERSION
    assert f"{version['major']}.{version['minor']}" == KUBERNETES_VERSION[1:].rsplit(".", 1)[0]


def test_rbac_is_enforced(apiserver: ApiServer, kube: Kube, namespace: str) -> None:
    nobody = apiserver.write_user_kubeconfig("nobody")
    with connect(nobody) as k:
        assert not k.can("create", "", "secrets", namespace)
        with pytest.raises(ClusterError, match="permission denied"):
            k.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "x", "namespace": namespace},
                }
            )
    assert kube.can("create", "", "secrets", namespace)


def test_stop_and_restart_keeps_data(apiserver: ApiServer, kube: Kube, namespace: str) -> None:
    name = f"cm-{uuid.uuid4().hex[:6]}"
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
    }
    kube.apply({**cm, "data": {"k": "v"}})
    with apiserver.apiserver_stopped():
        assert not apiserver.running
        with pytest.raises(ClusterError, match="cannot reach the Kubernetes API server"):
            kube.version()
    assert apiserver.running
    with connect(apiserver.kubeconfig) as k:
        got = k.get("v1", "ConfigMap", name, namespace)
    assert got is not None and got["data"] == {"k": "v"}
