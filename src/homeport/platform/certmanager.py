"""cert-manager: Let's Encrypt issuers (DNS-01 via Cloudflare) and the wildcard certificate.

The Cloudflare token comes from a SealedSecret in ``cert-manager`` (the namespace
ClusterIssuers read secrets from). Propagation checks use public resolvers only, because
split-horizon home DNS answers the TXT lookups wrongly and challenges hang.
"""

from __future__ import annotations

import base64

from homeport.config import HomeportConfig
from homeport.platform import egress, traefik
from homeport.platform.base import (
    WAVE_CONFIG,
    WAVE_CONTROLLERS,
    Component,
    NamespaceSpec,
    Obj,
    meta,
)
from homeport.platform.policies import (
    APISERVER_EGRESS,
    DNS_EGRESS,
    INTERNET_EGRESS,
    metrics_policy,
    netpol,
    webhook_policy,
)
from homeport.platform.secrets import CERT_MANAGER_TOKEN, CLOUDFLARE_TOKEN_KEY
from homeport.versions import CHARTS
from homeport.wellknown import CERT_MANAGER_GROUP, CERT_MANAGER_NAMESPACE

NAMESPACE = CERT_MANAGER_NAMESPACE
WEBHOOK_PORT = 10250
METRICS_PORT = 9402
ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
CERTIFICATE_NAME = "wildcard"


# The ClusterIssuer of a private ACME server (``acme.server``).
PRIVATE_ISSUER = "acme-private"


def issuer_name(environment: str) -> str:
    """Name of the ClusterIssuer for a Let's Encrypt environment."""
    return f"letsencrypt-{environment}"


def active_issuer(cfg: HomeportConfig) -> str:
    """The ClusterIssuer the wildcard certificate uses."""
    return PRIVATE_ISSUER if cfg.acme.server else issuer_name(cfg.acme.environment)


def _values(cfg: HomeportConfig) -> Obj:
    ha = cfg.ha
    monitoring = cfg.components.monitoring.enabled
    return {
        "crds": {"enabled": True, "keep": True},
        "replicaCount": 2 if ha else 1,
        "podDisruptionBudget": {"enabled": ha},
        "global": {"leaderElection": {"namespace": NAMESPACE}},
        "dns01RecursiveNameservers": ",".join(cfg.components.cert_manager.nameservers),
        "dns01RecursiveNameserversOnly": True,
        "resources": {
            "requests": {"cpu": "20m", "memory": "96Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "webhook": {
            "replicaCount": 2 if ha else 1,
            "podDisruptionBudget": {"enabled": ha},
            "resources": {
                "requests": {"cpu": "10m", "memory": "32Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"},
            },
        },
        "cainjector": {
            "replicaCount": 2 if ha else 1,
            "podDisruptionBudget": {"enabled": ha},
            "resources": {
                "requests": {"cpu": "10m", "memory": "64Mi"},
                "limits": {"cpu": "200m", "memory": "256Mi"},
            },
        },
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": monitoring}},
    }


def _issuer(cfg: HomeportConfig, name: str, server: str) -> Obj:
    acme: Obj = {"email": cfg.email, "server": server}
    if cfg.acme.ca_bundle:
        acme["caBundle"] = base64.b64encode(cfg.acme.ca_bundle.encode()).decode()
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": meta(name),
        "spec": {
            "acme": {
                **acme,
                "privateKeySecretRef": {"name": f"{name}-account-key"},
                "solvers": [
                    {
                        "selector": {"dnsZones": [cfg.zone]},
                        "dns01": {
                            "cloudflare": {
                                "apiTokenSecretRef": {
                                    "name": CERT_MANAGER_TOKEN.name,
                                    "key": CLOUDFLARE_TOKEN_KEY,
                                }
                            }
                        },
                    }
                ],
            }
        },
    }


def _issuers(cfg: HomeportConfig) -> list[Obj]:
    if cfg.acme.server:
        return [_issuer(cfg, PRIVATE_ISSUER, cfg.acme.server)]
    return [_issuer(cfg, issuer_name(env), url) for env, url in ACME_SERVERS.items()]


def deep_hosts(cfg: HomeportConfig) -> list[str]:
    """App hosts that ``*.<domain>`` does not cover (two or more labels below the domain)."""
    suffix = "." + cfg.domain
    return sorted(
        {
            h
            for h in (cfg.host_of(a) for a in cfg.apps)
            if h.endswith(suffix) and "." in h[: -len(suffix)]
        }
    )


def certificate(cfg: HomeportConfig) -> Obj:
    """The wildcard Certificate for ``<domain>`` and ``*.<domain>`` in Traefik's namespace.

    A wildcard covers one label only, so app hosts deeper than that
    (``a.b.<domain>``) are added by name: Traefik serves this one certificate for
    every host, and a host it does not cover would fail TLS in every browser.
    """
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": meta(CERTIFICATE_NAME, traefik.NAMESPACE),
        "spec": {
            "secretName": traefik.WILDCARD_SECRET,
            "commonName": cfg.domain,
            "dnsNames": [cfg.domain, f"*.{cfg.domain}", *deep_hosts(cfg)],
            "issuerRef": {
                "group": CERT_MANAGER_GROUP,
                "kind": "ClusterIssuer",
                "name": active_issuer(cfg),
            },
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "duration": "2160h",
            "renewBefore": "720h",
        },
    }


def _namespace(cfg: HomeportConfig) -> NamespaceSpec:
    ns = NAMESPACE
    return NamespaceSpec(
        ns,
        "restricted",
        (
            webhook_policy(
                ns, {"matchLabels": {"app.kubernetes.io/component": "webhook"}}, WEBHOOK_PORT
            ),
            metrics_policy(ns, METRICS_PORT),
            # ACME, the Cloudflare API and the public resolvers of the DNS-01 self-check.
            netpol("allow-internet", ns, egress=[INTERNET_EGRESS]),
            netpol("allow-apiserver", ns, egress=[APISERVER_EGRESS]),
            netpol("allow-dns", ns, egress=[DNS_EGRESS]),
            # DNS-01 resolvers on the LAN (discouraged, but then reachable).
            *egress.policy_for(
                cfg, "allow-nameservers", ns, egress.nameserver_endpoints(cfg), None
            ),
            # A private ACME server on the LAN (acme.server).
            *egress.policy_for(cfg, "allow-acme", ns, egress.acme_endpoints(cfg), None),
        ),
    )


def components(cfg: HomeportConfig) -> list[Component]:
    """cert-manager's chart, then both ClusterIssuers and the wildcard certificate."""
    return [
        Component(
            name="cert-manager",
            namespace=NAMESPACE,
            wave=WAVE_CONTROLLERS,
            chart=CHARTS["cert-manager"],
            values=_values(cfg),
            release="cert-manager",
            server_side=True,
            namespaces=[_namespace(cfg)],
            description="cert-manager (Let's Encrypt, DNS-01 via Cloudflare)",
        ),
        Component(
            name="cert-manager-config",
            namespace=NAMESPACE,
            wave=WAVE_CONFIG,
            objects=[*_issuers(cfg), certificate(cfg)],
            skip_dry_run=True,
            description="ClusterIssuers and the wildcard certificate",
        ),
    ]
