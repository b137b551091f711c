"""The real MetalLB controller answers LoadBalancer Services of the simulated cluster.

Real: MetalLB's controller (built from go.universe.tf/metallb v0.16.1, the chart's app
version) against the simulated cluster's real control plane; it reads the IPAddressPool
and writes the Service status itself. Stand-in: its own controller pod, which the
controller reads at start, is a Deployment KWOK runs (no container); its speaker (which
would announce addresses on a LAN) is not run.
"""

from __future__ import annotations

import pytest

from homeport.cluster.kube import Kube, Obj

from .probes import ingress, service, wait_for
from .simcluster import SimCluster

POOL = ["10.251.0.10-10.251.0.11"]


def pool() -> list[Obj]:
    md = {"name": "home", "namespace": "metallb-system"}
    return [
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": md,
         "spec": {"addresses": POOL}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": md,
         "spec": {"ipAddressPools": ["home"]}},
    ]  # fmt: skip


def test_metallb_assigns_from_the_pool(sim_cluster: SimCluster, kube: Kube) -> None:
    """Pending without MetalLB; then addresses from the pool, until it runs out."""
    with pytest.raises(ValueError, match="servicelb or metallb"):
        sim_cluster.answer_load_balancers("cloud")
    for name in ("a", "b", "c"):
        kube.apply(service("default", name, 80, "LoadBalancer"))
    assert [ingress(kube, "default", n) for n in "abc"] == [[], [], []]  # nothing answers yet

    sim_cluster.answer_load_balancers("metallb")
    assert "metallb-controller" in sim_cluster.resources()
    for obj in pool():
        kube.apply(obj)
    got = wait_for(
        "two addresses",
        lambda: (ips := [ingress(kube, "default", n) for n in "abc"]).count([]) == 1 and ips,
    )
    assert sorted(ip for ips in got for ip in ips) == ["10.251.0.10", "10.251.0.11"]
    for name, ips in zip("abc", got, strict=True):
        svc = kube.get("v1", "Service", name, "default") or {}
        allocated = (svc["metadata"].get("annotations") or {}).get(
            "metallb.io/ip-allocated-from-pool"
        )
        assert allocated == ("home" if ips else None), name

    # Negative control: the pool is exhausted, so the third stays pending, with MetalLB's event.
    def failed() -> list[Obj]:
        events = kube.list_objects("v1", "Event", "default")
        return [e for e in events if e.get("reason") == "AllocationFailed"]

    assert "no available IPs" in wait_for("an AllocationFailed event", failed)[0]["message"]
