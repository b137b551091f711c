"""Every upstream version homeport pins, in one place.

Each pin carries a ``# renovate:`` comment in the form Renovate's regex manager reads
(see ``renovate.json``): datasource, package name and, for Helm charts, the registry URL.
Bumping a pin here changes every rendered file that uses it; CRD and chart-schema
folders under ``HOMEPORT_CRD_DIR`` / ``HOMEPORT_CHART_SCHEMA_DIR`` are named after these.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport import __version__


@dataclass(frozen=True)
class Chart:
    """A Helm chart pin.

    Attributes:
        repo: Helm repository URL.
        name: Chart name in that repository.
        version: Chart version.
        app_version: Version of the software the chart installs.
    """

    repo: str
    name: str
    version: str
    app_version: str


# homeport's own image (Dockerfile; published by .github/workflows/release.yml on a version
# tag, tagged with the package version). The DDNS Deployment and the backup CronJob run it.
HOMEPORT_IMAGE_REPO = "ghcr.io/homeport-dev/homeport"
HOMEPORT_IMAGE = f"{HOMEPORT_IMAGE_REPO}:{__version__}"

# renovate: datasource=github-releases depName=argoproj/argo-cd
ARGOCD_VERSION = "v3.5.1"
ARGOCD_REPO = "https://github.com/argoproj/argo-cd.git"

# renovate: datasource=helm depName=traefik registryUrl=https://traefik.github.io/charts
TRAEFIK_CHART_VERSION = "41.3.0"
# renovate: datasource=docker depName=traefik
TRAEFIK_IMAGE_VERSION = "v3.7.11"

# renovate: datasource=helm depName=cert-manager registryUrl=https://charts.jetstack.io
CERT_MANAGER_CHART_VERSION = "v1.21.1"
# The cert-manager controller the ACME tests (tests/certs) build and run: the chart's appVersion.
# renovate: datasource=github-releases depName=cert-manager/cert-manager
CERT_MANAGER_VERSION = "v1.21.1"
# Let's Encrypt's ACME test server and its DNS/management companion, for tests/certs.
# renovate: datasource=go depName=github.com/letsencrypt/pebble/v2
PEBBLE_VERSION = "v2.10.3"

# renovate: datasource=helm depName=sealed-secrets registryUrl=https://bitnami-labs.github.io/sealed-secrets
SEALED_SECRETS_CHART_VERSION = "2.18.5"
# renovate: datasource=github-releases depName=bitnami-labs/sealed-secrets
SEALED_SECRETS_VERSION = "v0.36.6"

# renovate: datasource=helm depName=cloudnative-pg registryUrl=https://cloudnative-pg.github.io/charts
CLOUDNATIVE_PG_CHART_VERSION = "0.29.0"
# renovate: datasource=github-releases depName=cloudnative-pg/cloudnative-pg
CLOUDNATIVE_PG_VERSION = "v1.30.0"
# renovate: datasource=docker depName=ghcr.io/cloudnative-pg/postgresql
POSTGRES_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.6"

# renovate: datasource=helm depName=authentik registryUrl=https://charts.goauthentik.io
AUTHENTIK_CHART_VERSION = "2026.8.0"

# renovate: datasource=helm depName=kube-prometheus-stack registryUrl=https://prometheus-community.github.io/helm-charts
KUBE_PROMETHEUS_STACK_CHART_VERSION = "88.2.0"
# renovate: datasource=github-releases depName=prometheus-operator/prometheus-operator
PROMETHEUS_OPERATOR_VERSION = "v0.93.0"
# renovate: datasource=helm depName=prometheus-operator-crds registryUrl=https://prometheus-community.github.io/helm-charts
PROMETHEUS_OPERATOR_CRDS_CHART_VERSION = "31.0.0"
# Prometheus image run by kube-prometheus-stack; promtool is built from the same release.
# renovate: datasource=github-releases depName=prometheus/prometheus
PROMETHEUS_VERSION = "v3.16.0"

# MetalLB for bare-metal clusters (load_balancer.type: metallb): its chart and the
# release whose CRDs the chart carries.
# renovate: datasource=helm depName=metallb registryUrl=https://metallb.github.io/metallb
METALLB_CHART_VERSION = "0.16.1"

# renovate: datasource=docker depName=traefik/whoami
WHOAMI_IMAGE = "traefik/whoami:v1.11.0"
# renovate: datasource=docker depName=hashicorp/http-echo
HELLO_IMAGE = "hashicorp/http-echo:1.0.0"

# Helm that expands charts in `check --charts` and the tests: the one Argo CD v3.5.1 uses.
# renovate: datasource=go depName=helm.sh/helm/v4
HELM_VERSION = "v4.2.1"

# actionlint lints .github/workflows in the tests (tests/test_workflows.py).
# renovate: datasource=go depName=github.com/rhysd/actionlint
ACTIONLINT_VERSION = "v1.7.12"

# Kubernetes minor versions homeport renders for and validates against.
SUPPORTED_KUBERNETES = ("1.34", "1.35", "1.36")
# renovate: datasource=go depName=k8s.io/kubernetes
KUBERNETES_VERSION = "v1.36.3"
# Patch release validated for each supported minor (homeport's wheel carries each one's
# OpenAPI schemas; the newest is the pin above, which the test API server runs).
KUBERNETES_PATCHES = {"1.34": "v1.34.4", "1.35": "v1.35.4", "1.36": KUBERNETES_VERSION}
# renovate: datasource=go depName=go.etcd.io/etcd/server/v3
ETCD_VERSION = "v3.6.16"
# KWOK simulates the nodes of the Argo CD sync test's control plane (tests/sync).
# renovate: datasource=go depName=sigs.k8s.io/kwok
KWOK_VERSION = "v0.8.0"
# Debian's redis-server, Argo CD's cache in the sync test (apt-get download, not installed).
# renovate: datasource=repology depName=debian_12/redis versioning=loose
REDIS_DEBIAN_VERSION = "5:7.0.15-1~deb12u10"
# The kustomize Argo CD v3.5.1's repo-server runs (its image's hack/tool-versions.sh): it
# renders the self-managing argocd Application (manifests/cluster-install + patches).
# renovate: datasource=go depName=sigs.k8s.io/kustomize/kustomize/v5
KUSTOMIZE_VERSION = "v5.8.1"
# The YAML decoder Kubernetes, Argo CD and Helm read manifests with; the tests' oracle
# for what homeport writes (tools/goyaml, built by scripts/build-tools.sh).
# renovate: datasource=go depName=sigs.k8s.io/yaml
SIGS_YAML_VERSION = "v1.6.0"

CHARTS: dict[str, Chart] = {
    "traefik": Chart(
        "https://traefik.github.io/charts", "traefik", TRAEFIK_CHART_VERSION, TRAEFIK_IMAGE_VERSION
    ),
    "cert-manager": Chart(
        "https://charts.jetstack.io",
        "cert-manager",
        CERT_MANAGER_CHART_VERSION,
        CERT_MANAGER_VERSION,
    ),
    "sealed-secrets": Chart(
        "https://bitnami-labs.github.io/sealed-secrets",
        "sealed-secrets",
        SEALED_SECRETS_CHART_VERSION,
        SEALED_SECRETS_VERSION,
    ),
    "cloudnative-pg": Chart(
        "https://cloudnative-pg.github.io/charts",
        "cloudnative-pg",
        CLOUDNATIVE_PG_CHART_VERSION,
        CLOUDNATIVE_PG_VERSION,
    ),
    "authentik": Chart(
        "https://charts.goauthentik.io",
        "authentik",
        AUTHENTIK_CHART_VERSION,
        AUTHENTIK_CHART_VERSION,
    ),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts",
        "kube-prometheus-stack",
        KUBE_PROMETHEUS_STACK_CHART_VERSION,
        PROMETHEUS_OPERATOR_VERSION,
    ),
    "metallb": Chart(
        "https://metallb.github.io/metallb",
        "metallb",
        METALLB_CHART_VERSION,
        f"v{METALLB_CHART_VERSION}",
    ),
    "prometheus-operator-crds": Chart(
        "https://prometheus-community.github.io/helm-charts",
        "prometheus-operator-crds",
        PROMETHEUS_OPERATOR_CRDS_CHART_VERSION,
        PROMETHEUS_OPERATOR_VERSION,
    ),
}

# Folder names under HOMEPORT_CRD_DIR for the CRDs of each pin.
CRD_FOLDERS = {
    "argocd": f"argo-cd-{ARGOCD_VERSION}",
    "traefik": f"traefik-chart-{TRAEFIK_CHART_VERSION}",
    "cert-manager": f"cert-manager-{CERT_MANAGER_CHART_VERSION}",
    "sealed-secrets": f"sealed-secrets-{SEALED_SECRETS_VERSION}",
    "cloudnative-pg": f"cloudnative-pg-{CLOUDNATIVE_PG_VERSION}",
    "prometheus-operator": f"prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}",
    "metallb": f"metallb-v{METALLB_CHART_VERSION}",
}
# Folder names under HOMEPORT_CHART_SCHEMA_DIR.
CHART_SCHEMA_FOLDERS = {
    "traefik": f"traefik-{TRAEFIK_CHART_VERSION}",
    "cert-manager": f"cert-manager-{CERT_MANAGER_CHART_VERSION}",
    "metallb": f"metallb-{METALLB_CHART_VERSION}",
}
