"""The simulated cluster fixture: one network namespace and one SimCluster per test module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cluster.netns import network_namespace
from homeport.cluster.kube import Kube

from .probes import wait_for
from .simcluster import SimCluster


@pytest.fixture(scope="module")
def sim_cluster() -> Iterator[SimCluster]:
    """A started :class:`SimCluster` inside a fresh network namespace.

    ``setns`` is per thread: the test thread (pytest's main thread) enters the namespace,
    and every process and thread it starts afterwards lives there; the namespace is left
    and deleted after the module.
    """
    with network_namespace():
        sim = SimCluster()
        try:
            sim.start()
            yield sim
        finally:
            sim.stop()


@pytest.fixture(scope="module")
def kube(sim_cluster: SimCluster) -> Iterator[Kube]:
    """An admin connection (made inside the namespace)."""
    with sim_cluster.connect() as k:
        yield k


@pytest.fixture
def ns(kube: Kube) -> str:
    """A fresh namespace whose ``default`` ServiceAccount the controller manager created."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for("ServiceAccount default", lambda: kube.get("v1", "ServiceAccount", "default", name))
    return name
