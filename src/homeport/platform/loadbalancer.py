"""The Load Balancer box: what gives Traefik's Service an address (``load_balancer``).

- ``servicelb`` (default) and ``cloud``: k3s's ServiceLB or the cloud's controller answers
  Traefik's ``LoadBalancer`` Service; nothing is rendered.
- ``metallb``: the official MetalLB chart (Layer 2 only, no BGP/FRR) in its own Application,
  then an ``IPAddressPool`` from ``load_balancer.addresses`` and an ``L2Advertisement``, both
  in waves before Traefik's, so Traefik's Service gets an address in the wave it syncs in.
- ``nodeport``: no load balancer; Traefik's Service becomes ``NodePort`` (see
  :mod:`homeport.platform.traefik`) and the router forwards 80/443 to the node ports.

Why it matters: Argo CD reports a ``LoadBalancer`` Service without
``status.loadBalancer.ingress`` as Progressing. With no load balancer answering, the
traefik Application never turns Healthy and, because the root app waits for each wave's
Application health, every later wave (issuers, Authentik, DDNS, apps) waits with it.
"""

from __future__ import annotations

from homeport.config import HomeportConfig
from homeport.platform.base import (
    WAVE_SEALED_SECRETS,
    WAVE_SECRETS,
    Component,
    NamespaceSpec,
    Obj,
    meta,
)
from homeport.platform.policies import APISERVER_EGRESS, DNS_EGRESS, netpol, webhook_policy
from homeport.versions import CHARTS
from homeport.wellknown import METALLB_NAMESPACE

NAMESPACE = METALLB_NAMESPACE
POOL = "homeport"
WEBHOOK_PORT = 9443
MEMBERLIST_PORT = 7946
# MetalLB's chart before Traefik's (-6): the controller and its webhook come up next to the
# Sealed Secrets controller; the pool follows once MetalLB's webhook answers.
WAVE_METALLB = WAVE_SEALED_SECRETS
WAVE_METALLB_CONFIG = WAVE_SECRETS


def metallb_values() -> Obj:
    """Values of the MetalLB chart: Layer 2 only, with requests and limits."""
    resources = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    return {
        # Layer 2 needs neither FRR nor frr-k8s (BGP); the CRDs come with the chart.
        "frrk8s": {"enabled": False},
        "crds": {"enabled": True},
        "controller": {"resources": resources},
        "speaker": {"resources": dict(resources)},
    }


def pool_objects(cfg: HomeportConfig) -> list[Obj]:
    """The ``IPAddressPool`` of the user's addresses and the ``L2Advertisement`` announcing it."""
    lb = cfg.load_balancer
    pool: Obj = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": meta(POOL, NAMESPACE),
        "spec": {"addresses": [a.strip().replace(" ", "") for a in lb.addresses]},
    }
    l2: Obj = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": meta(POOL, NAMESPACE),
        "spec": {"ipAddressPools": [POOL]},
    }
    return [pool, l2]


def _namespace() -> NamespaceSpec:
    ns = NAMESPACE
    policies = (
        webhook_policy(
            ns, {"matchLabels": {"app.kubernetes.io/component": "controller"}}, WEBHOOK_PORT
        ),
        netpol("allow-apiserver", ns, egress=[APISERVER_EGRESS]),
        netpol("allow-dns", ns, egress=[DNS_EGRESS]),
    )
    # The speaker runs on the host network with NET_RAW to answer ARP: "privileged".
    return NamespaceSpec(ns, "privileged", policies)


def components(cfg: HomeportConfig) -> list[Component]:
    """MetalLB and its address pool, when ``load_balancer.type`` is ``metallb``."""
    if cfg.load_balancer.type != "metallb":
        return []
    chart = Component(
        name="metallb",
        namespace=NAMESPACE,
        wave=WAVE_METALLB,
        chart=CHARTS["metallb"],
        values=metallb_values(),
        release="metallb",
        server_side=True,
        # MetalLB's controller writes its own CA into these after every start.
        ignore_differences=[
            {
                "group": "apiextensions.k8s.io",
                "kind": "CustomResourceDefinition",
                "jqPathExpressions": [".spec.conversion.webhook.clientConfig.caBundle"],
            },
            {
                "group": "admissionregistration.k8s.io",
                "kind": "ValidatingWebhookConfiguration",
                "name": "metallb-webhook-configuration",
                "jqPathExpressions": [".webhooks[]?.clientConfig.caBundle"],
            },
            {"kind": "Secret", "name": "metallb-webhook-cert", "jsonPointers": ["/data"]},
        ],
        namespaces=[_namespace()],
        description="MetalLB (Layer 2): gives Traefik's LoadBalancer Service an address",
    )
    pool = Component(
        name="metallb-config",
        namespace=NAMESPACE,
        wave=WAVE_METALLB_CONFIG,
        objects=pool_objects(cfg),
        skip_dry_run=True,
        description="MetalLB address pool " + ", ".join(cfg.load_balancer.addresses),
    )
    return [chart, pool]
