"""NetworkPolicy builders: every namespace denies by default and allows only what these say.

:mod:`homeport.platform.base` holds the component model; the policies each component's
namespace needs are built here (the egress to endpoints homeport.yaml names is
:mod:`homeport.platform.egress`).
"""

from __future__ import annotations

from homeport.platform.base import Obj, meta
from homeport.wellknown import KUBE_SYSTEM, MONITORING_NAMESPACE, TRAEFIK_NAMESPACE


def netpol(
    name: str,
    namespace: str,
    *,
    pod_selector: Obj | None = None,
    ingress: list[Obj] | None = None,
    egress: list[Obj] | None = None,
) -> Obj:
    """Build a NetworkPolicy that allows the given traffic (the namespace denies the rest).

    Args:
        name: Policy name.
        namespace: Namespace.
        pod_selector: Pods it applies to (default: all).
        ingress: Ingress rules; None means the policy does not touch ingress.
        egress: Egress rules; None means the policy does not touch egress.

    Returns:
        The NetworkPolicy object.
    """
    types = []
    spec: Obj = {"podSelector": pod_selector or {}}
    if ingress is not None:
        types.append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        types.append("Egress")
        spec["egress"] = egress
    spec["policyTypes"] = types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, namespace),
        "spec": spec,
    }


def metrics_policy(
    namespace: str,
    *ports: int,
    name: str = "allow-metrics-from-monitoring",
    pod_selector: Obj | None = None,
) -> Obj:
    """Let Prometheus (in the monitoring namespace) scrape ``ports`` (any port when none).

    Args:
        namespace: Namespace of the scraped pods.
        *ports: Their metrics ports.
        name: Policy name.
        pod_selector: The scraped pods (default: all of the namespace).

    Returns:
        The NetworkPolicy.
    """
    rule = (
        {**FROM_MONITORING, "ports": [{"protocol": "TCP", "port": p} for p in ports]}
        if ports
        else FROM_MONITORING
    )
    return netpol(name, namespace, pod_selector=pod_selector, ingress=[rule])


def webhook_policy(namespace: str, pod_selector: Obj, port: int) -> Obj:
    """Allow the API server to call an admission webhook on ``port``.

    The API server is not a pod, so the rule names no peer: only the port.

    Args:
        namespace: Namespace of the webhook's pods.
        pod_selector: The webhook's pods.
        port: The container port it listens on.

    Returns:
        The NetworkPolicy ``allow-webhook``.
    """
    return netpol(
        "allow-webhook",
        namespace,
        pod_selector=pod_selector,
        ingress=[{"ports": [{"protocol": "TCP", "port": port}]}],
    )


def from_namespace(ns: str, pod_labels: Obj | None = None) -> Obj:
    """A NetworkPolicy peer: pods of a namespace (by its well-known name label)."""
    peer: Obj = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": pod_labels}
    return peer


# Common egress/ingress building blocks.
DNS_EGRESS: Obj = {
    "to": [from_namespace(KUBE_SYSTEM, {"k8s-app": "kube-dns"})],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
# The API server is not a pod; allow its usual ports to any address.
APISERVER_EGRESS: Obj = {
    "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]
}
INTERNET_EGRESS: Obj = {
    "to": [
        {
            "ipBlock": {
                "cidr": "0.0.0.0/0",
                "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"],
            }
        },
        {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}},
    ]
}
FROM_TRAEFIK: Obj = {"from": [from_namespace(TRAEFIK_NAMESPACE)]}
FROM_MONITORING: Obj = {"from": [from_namespace(MONITORING_NAMESPACE)]}
