"""Traefik: the ingress controller, TLS termination, the 80→443 redirect and routing helpers.

Traefik reads TLS Secrets only from the namespace of each route, so the wildcard
certificate is served through the ``default`` TLSStore (created by the chart, before
Traefik serves): one Secret in ``traefik`` covers every host in every namespace.
"""

from __future__ import annotations

from typing import Any

from homeport.config import HomeportConfig
from homeport.platform.base import (
    WAVE_CONFIG,
    WAVE_CONTROLLERS,
    WAVE_SSO,
    Component,
    NamespaceSpec,
    Obj,
    meta,
)
from homeport.platform.policies import APISERVER_EGRESS, DNS_EGRESS, metrics_policy, netpol
from homeport.versions import CHARTS
from homeport.wellknown import TRAEFIK_NAMESPACE

NAMESPACE = TRAEFIK_NAMESPACE
WILDCARD_SECRET = "wildcard-tls"
SECURITY_HEADERS = "security-headers"
SSO_MIDDLEWARE_NS = "pangolin"
SSO_MIDDLEWARE = "authentik-forward-auth"
WEB_PORT = 8000
WEBSECURE_PORT = 8443
METRICS_PORT = 9100


def replicas(cfg: HomeportConfig) -> int:
    """Traefik replicas: the configured number, else 2 with ha and 1 without."""
    return cfg.components.traefik.replicas or (2 if cfg.ha else 1)


def middleware_ref(namespace: str, name: str) -> Obj:
    """An IngressRoute middleware reference (cross-namespace refs are allowed in values)."""
    return {"name": name, "namespace": namespace}


def route_middlewares(cfg: HomeportConfig, auth: str) -> list[Obj]:
    """Middlewares every route gets: security headers, plus forward auth for ``sso`` routes.

    Args:
        cfg: The config.
        auth: ``sso`` or ``public``.

    Returns:
        The middleware references, in the order Traefik applies them.
    """
    out = [middleware_ref(NAMESPACE, SECURITY_HEADERS)]
    if auth == "sso" and cfg.sso:
        out.append(middleware_ref(SSO_MIDDLEWARE_NS, SSO_MIDDLEWARE))
    return out


def ingress_route(
    cfg: HomeportConfig,
    *,
    name: str,
    namespace: str,
    host: str,
    service: str,
    port: int | str,
    auth: str,
    service_namespace: str | None = None,
    service_kind: str | None = None,
) -> Obj:
    """Build an HTTPS IngressRoute for one host, served with the default (wildcard) certificate.

    Args:
        cfg: The config.
        name: IngressRoute name.
        namespace: Its namespace (normally the service's).
        host: Public host name.
        service: Backend Service (or TraefikService) name.
        port: Backend port (number or name).
        auth: ``sso`` or ``public``.
        service_namespace: Namespace of the backend when it differs.
        service_kind: ``TraefikService`` for Traefik internals (the dashboard).

    Returns:
        The IngressRoute object.
    """
    svc: Obj = {"name": service}
    if service_kind:
        svc["kind"] = service_kind
    else:
        svc["port"] = port
    if service_namespace and service_namespace != namespace:
        svc["namespace"] = service_namespace
    route: dict[str, Any] = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": meta(name, namespace, **{"homeport.dev/auth": auth}),
        "spec": {
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": f"Host(`{host}`)",
                    "middlewares": route_middlewares(cfg, auth),
                    "services": [svc],
                }
            ],
            # An empty tls block makes Traefik use the default TLSStore certificate.
            "tls": {},
        },
    }
    return route


def _values(cfg: HomeportConfig) -> Obj:
    n = replicas(cfg)
    monitoring = cfg.components.monitoring.enabled
    values: Obj = {
        "deployment": {"replicas": n},
        # No calls home from every cluster: no version check, no anonymous usage reports.
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "ports": {
            "web": {
                "port": WEB_PORT,
                "exposedPort": 80,
                "http": {
                    "redirections": {
                        "entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}
                    }
                },
            },
            "websecure": {
                "port": WEBSECURE_PORT,
                "exposedPort": 443,
                "http": {"tls": {"enabled": True}},
            },
            "metrics": {"port": METRICS_PORT, "expose": {"default": False}},
        },
        "tlsStore": {"default": {"defaultCertificate": {"secretName": WILDCARD_SECRET}}},
        "tlsOptions": {"default": {"minVersion": "VersionTLS12", "sniStrict": False}},
        "providers": {
            # safeNaming: collision-free router/service names (Traefik warns when unset).
            "kubernetesCRD": {"enabled": True, "allowCrossNamespace": True, "safeNaming": True},
            "kubernetesIngress": {"enabled": False},
        },
        "accessLog": {"enabled": True, "format": "json"},
        "metrics": {
            "prometheus": {
                "entryPoint": "metrics",
                "addEntryPointsLabels": True,
                "addServicesLabels": True,
                "addRoutersLabels": True,
                "service": {"enabled": monitoring},
                "serviceMonitor": {"enabled": monitoring},
            }
        },
        # The dashboard is published by homeport's own IngressRoute, only behind SSO.
        "ingressRoute": {"dashboard": {"enabled": False}},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "podDisruptionBudget": {"enabled": n > 1, **({"maxUnavailable": 1} if n > 1 else {})},
    }
    service, node_ports = _service(cfg)
    if service:
        values["service"] = service
    for entry_point, node_port in node_ports.items():
        values["ports"][entry_point]["nodePort"] = node_port
    return values


def _service(cfg: HomeportConfig) -> tuple[Obj, dict[str, int]]:
    """Traefik's Service values and node ports for ``load_balancer.type``."""
    lb = cfg.load_balancer
    lb_ip = cfg.components.traefik.load_balancer_ip
    if lb.type == "nodeport":
        # No load balancer: the router forwards 80/443 to these node ports. Local keeps
        # the client's address (one node, so no second hop is lost).
        return (
            {"spec": {"type": "NodePort", "externalTrafficPolicy": "Local"}},
            {"web": lb.http_node_port, "websecure": lb.https_node_port},
        )
    if lb_ip and lb.type == "metallb":
        # MetalLB's annotation, not the deprecated spec.loadBalancerIP.
        return {"annotations": {"metallb.io/loadBalancerIPs": lb_ip}}, {}
    if lb_ip:
        return {"spec": {"loadBalancerIP": lb_ip}}, {}
    return {}, {}


def _namespace() -> NamespaceSpec:
    ns = NAMESPACE
    policies = (
        # Clients come from anywhere (the LoadBalancer preserves no useful source range).
        netpol(
            "allow-web-ingress",
            ns,
            ingress=[
                {
                    "ports": [
                        {"protocol": "TCP", "port": WEB_PORT},
                        {"protocol": "TCP", "port": WEBSECURE_PORT},
                    ]
                }
            ],
        ),
        metrics_policy(ns, METRICS_PORT),
        # Traefik forwards to backends in every namespace and watches the API server.
        netpol("allow-backends", ns, egress=[{"to": [{"namespaceSelector": {}}]}]),
        netpol("allow-apiserver", ns, egress=[APISERVER_EGRESS]),
        netpol("allow-dns", ns, egress=[DNS_EGRESS]),
    )
    # Traefik's own pod binds only unprivileged ports, so "restricted" holds.
    return NamespaceSpec(ns, "restricted", policies)


def _security_headers() -> Obj:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": meta(SECURITY_HEADERS, NAMESPACE),
        "spec": {
            "headers": {
                "stsSeconds": 31536000,
                "stsIncludeSubdomains": True,
                "stsPreload": False,
                "forceSTSHeader": True,
                "contentTypeNosniff": True,
                "frameDeny": True,
                "referrerPolicy": "strict-origin-when-cross-origin",
                "browserXssFilter": True,
            }
        },
    }


def components(cfg: HomeportConfig) -> list[Component]:
    """Traefik's chart, its middlewares, and the dashboard route (only once SSO exists)."""
    chart = Component(
        name="traefik",
        namespace=NAMESPACE,
        wave=WAVE_CONTROLLERS,
        chart=CHARTS["traefik"],
        values=_values(cfg),
        release="traefik",
        server_side=True,
        namespaces=[_namespace()],
        description="Traefik ingress controller (TLS, 80→443, host routing)",
    )
    config = Component(
        name="traefik-config",
        namespace=NAMESPACE,
        wave=WAVE_CONFIG,
        objects=[_security_headers()],
        skip_dry_run=True,
        description="Traefik middlewares shared by every route",
    )
    out = [chart, config]
    if cfg.components.traefik.dashboard and cfg.sso:
        out.append(
            Component(
                name="traefik-dashboard",
                namespace=NAMESPACE,
                wave=WAVE_SSO,
                objects=[
                    ingress_route(
                        cfg,
                        name="traefik-dashboard",
                        namespace=NAMESPACE,
                        host=f"traefik.{cfg.domain}",
                        service="api@internal",
                        port=0,
                        auth="sso",
                        service_kind="TraefikService",
                    )
                ],
                skip_dry_run=True,
                description="Traefik dashboard at traefik.<domain>, behind SSO",
            )
        )
    return out
