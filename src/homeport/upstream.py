"""Where the pinned upstream files live (paths below the raw GitHub host, at the pinned tags).

Used by ``homeport schemas pull`` and by ``scripts/build_schema_bundle.py --download``
(which runs where homeport's dependencies are not installed: standard library only).
"""

from __future__ import annotations

from homeport.versions import (
    ARGOCD_VERSION,
    CERT_MANAGER_CHART_VERSION,
    CHART_SCHEMA_FOLDERS,
    CLOUDNATIVE_PG_VERSION,
    CRD_FOLDERS,
    METALLB_CHART_VERSION,
    PROMETHEUS_OPERATOR_VERSION,
    SEALED_SECRETS_VERSION,
    TRAEFIK_CHART_VERSION,
)

GITHUB_RAW = "https://raw.githubusercontent.com"

_CNPG = ("backups", "clusters", "databases", "poolers", "scheduledbackups")
_PROM = ("podmonitors", "probes", "prometheusrules", "servicemonitors")
_METALLB = (
    "bfdprofiles",
    "bgpadvertisements",
    "bgppeers",
    "communities",
    "configurationstates",
    "ipaddresspools",
    "l2advertisements",
    "servicebgpstatuses",
    "servicel2statuses",
)
_TRAEFIK = (
    "ingressroutes",
    "ingressroutetcps",
    "ingressrouteudps",
    "middlewares",
    "middlewaretcps",
    "serverstransports",
    "serverstransporttcps",
    "tlsoptions",
    "tlsstores",
    "traefikservices",
)


def crd_sources() -> dict[str, list[str]]:
    """CRD folder name -> upstream paths (below the raw GitHub host) at the pinned tags."""
    return {
        CRD_FOLDERS["argocd"]: [
            f"argoproj/argo-cd/{ARGOCD_VERSION}/manifests/crds/{n}-crd.yaml"
            for n in ("application", "applicationset", "appproject")
        ],
        CRD_FOLDERS["traefik"]: [
            f"traefik/traefik-helm-chart/v{TRAEFIK_CHART_VERSION}/traefik/crds/traefik.io_{n}.yaml"
            for n in _TRAEFIK
        ],
        CRD_FOLDERS["cert-manager"]: [
            f"cert-manager/cert-manager/{CERT_MANAGER_CHART_VERSION}/deploy/crds/{n}.yaml"
            for n in (
                "acme.cert-manager.io_challenges",
                "acme.cert-manager.io_orders",
                "cert-manager.io_certificaterequests",
                "cert-manager.io_certificates",
                "cert-manager.io_clusterissuers",
                "cert-manager.io_issuers",
            )
        ],
        CRD_FOLDERS["sealed-secrets"]: [
            f"bitnami-labs/sealed-secrets/{SEALED_SECRETS_VERSION}/helm/sealed-secrets/crds/"
            "bitnami.com_sealedsecrets.yaml"
        ],
        CRD_FOLDERS["cloudnative-pg"]: [
            f"cloudnative-pg/cloudnative-pg/{CLOUDNATIVE_PG_VERSION}/config/crd/bases/"
            f"postgresql.cnpg.io_{n}.yaml"
            for n in _CNPG
        ],
        CRD_FOLDERS["prometheus-operator"]: [
            f"prometheus-operator/prometheus-operator/{PROMETHEUS_OPERATOR_VERSION}/example/"
            f"prometheus-operator-crd/monitoring.coreos.com_{n}.yaml"
            for n in _PROM
        ],
        # MetalLB's chart and app share one version and one repository.
        CRD_FOLDERS["metallb"]: [
            f"metallb/metallb/v{METALLB_CHART_VERSION}/config/crd/bases/metallb.io_{n}.yaml"
            for n in _METALLB
        ],
    }


def chart_schema_sources() -> dict[str, str]:
    """Chart schema folder -> upstream path of its values.schema.json."""
    return {
        CHART_SCHEMA_FOLDERS[
            "traefik"
        ]: f"traefik/traefik-helm-chart/v{TRAEFIK_CHART_VERSION}/traefik/values.schema.json",
        CHART_SCHEMA_FOLDERS[
            "cert-manager"
        ]: f"cert-manager/cert-manager/{CERT_MANAGER_CHART_VERSION}/deploy/charts/cert-manager/"
        "values.schema.json",
        CHART_SCHEMA_FOLDERS[
            "metallb"
        ]: f"metallb/metallb/v{METALLB_CHART_VERSION}/charts/metallb/values.schema.json",
    }


def argocd_install_source() -> str:
    """Upstream path of the pinned Argo CD ``install.yaml``."""
    return f"argoproj/argo-cd/{ARGOCD_VERSION}/manifests/install.yaml"
