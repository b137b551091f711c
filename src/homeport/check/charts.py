"""What the pinned charts and operators create, so reference checks flag nothing valid.

A chart Application in the tree installs CRDs, Services and Secrets that no manifest in
the tree spells out; operators create more from custom resources (cert-manager writes
``Certificate.spec.secretName``, CloudNativePG a Cluster's credentials and services).

With a chart cache (``homeport check --charts``) the charts are expanded with Helm and
their real objects replace ``CHART_TABLE``; the table is the offline fallback, and a test
expands the pinned charts to prove it agrees (tests/check/test_charts.py). What a chart's
controller creates at run time (``runtime_secrets``) is never in Helm's output, so it is
used either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeport.versions import CHART_SCHEMA_FOLDERS, CHARTS, CRD_FOLDERS
from homeport.wellknown import (
    ARGOCD_GROUP,
    ARGOCD_NAMESPACE,
    CERT_MANAGER_GROUP,
    CNPG_GROUP,
    METALLB_GROUP,
    PROMETHEUS_GROUP,
    SEALED_SECRETS_GROUP,
    TRAEFIK_GROUP,
)


@dataclass(frozen=True)
class ChartInstalls:
    """What one chart creates.

    Attributes:
        crd_groups: API groups whose CRDs the chart installs.
        services: Service names the chart creates; ``{release}`` is the release name,
            ``{fullname}`` the ``fullnameOverride`` value (else the release name).
        secrets: Secret names the chart creates.
        crd_folder: Key of the chart's CRDs in ``versions.CRD_FOLDERS``.
        runtime_secrets: Secrets the chart's controller creates when it runs.
        crds_toggle: The value that switches the chart's CRDs on or off, and its default.
        runtime_services: Services the chart's operator creates when it runs.
    """

    crd_groups: frozenset[str] = frozenset()
    services: tuple[str, ...] = ("{release}",)
    secrets: tuple[str, ...] = ()
    crd_folder: str = ""
    runtime_secrets: tuple[str, ...] = ()
    crds_toggle: tuple[str, bool] = ("", True)
    runtime_services: tuple[str, ...] = ()

    def installs_crds(self, values: Any) -> bool:
        """Whether the chart installs its CRDs with these values."""
        path, default = self.crds_toggle
        if not path:
            return True
        node: Any = values
        for step in path.split("."):
            if not isinstance(node, dict) or step not in node:
                return default
            node = node[step]
        return bool(node)


# Checked against the pinned charts expanded with the examples' values by
# tests/check/test_charts.py::test_offline_table_agrees_with_the_expanded_chart.
CHART_TABLE: dict[str, ChartInstalls] = {
    "traefik": ChartInstalls(
        frozenset({TRAEFIK_GROUP, "hub.traefik.io"}),
        ("{release}", "{release}-metrics"),
        (),
        "traefik",
    ),
    "cert-manager": ChartInstalls(
        frozenset({CERT_MANAGER_GROUP, "acme.cert-manager.io"}),
        ("{release}", "{release}-webhook", "{release}-cainjector"),
        (),
        "cert-manager",
        runtime_secrets=("{release}-webhook-ca",),
        crds_toggle=("crds.enabled", False),
    ),
    "sealed-secrets": ChartInstalls(
        frozenset({SEALED_SECRETS_GROUP}),
        ("{fullname}", "{fullname}-metrics"),
        (),
        "sealed-secrets",
    ),
    "cloudnative-pg": ChartInstalls(
        frozenset({CNPG_GROUP}),
        ("cnpg-webhook-service",),
        (),
        "cloudnative-pg",
        runtime_secrets=("cnpg-ca-secret", "cnpg-webhook-cert"),
        crds_toggle=("crds.create", True),
    ),
    "kube-prometheus-stack": ChartInstalls(
        frozenset({PROMETHEUS_GROUP}),
        (
            "{release}-grafana",
            "{release}-kube-prom-prometheus",
            "{release}-kube-prom-alertmanager",
            "{release}-kube-prom-operator",
            "{release}-kube-state-metrics",
            "{release}-prometheus-node-exporter",
        ),
        ("{release}-grafana",),
        "prometheus-operator",
        crds_toggle=("crds.enabled", True),
        runtime_services=("prometheus-operated", "alertmanager-operated"),
    ),
    "prometheus-operator-crds": ChartInstalls(
        frozenset({PROMETHEUS_GROUP}), (), (), "prometheus-operator"
    ),
    "metallb": ChartInstalls(
        frozenset({METALLB_GROUP}),
        ("metallb-webhook-service",),
        ("metallb-webhook-cert",),
        "metallb",
        # The controller creates the speakers' memberlist key (--ml-secret-name) itself.
        runtime_secrets=("metallb-memberlist",),
    ),
    "authentik": ChartInstalls(
        frozenset(),
        ("{release}-server", "{release}-server-metrics", "{release}-worker-metrics"),
        ("{release}",),
        "",
    ),
}

# Installed at bootstrap, before the root Application syncs anything.
BOOTSTRAP_CRD_GROUPS = frozenset({ARGOCD_GROUP})
BOOTSTRAP_NAMESPACE = ARGOCD_NAMESPACE
BOOTSTRAP_SERVICES = (
    "argocd-server",
    "argocd-repo-server",
    "argocd-redis",
    "argocd-dex-server",
    "argocd-applicationset-controller",
    "argocd-metrics",
    "argocd-server-metrics",
)
BOOTSTRAP_SECRETS = ("argocd-secret", "argocd-initial-admin-secret")


def chart_installs(chart: str) -> ChartInstalls | None:
    """Return what a chart (by its name in the Helm repository) installs, if known."""
    return CHART_TABLE.get(chart)


def chart_schema_folders(chart: str, version: str) -> list[str]:
    """Candidate folder names of a chart's ``values.schema.json`` under the schema dir."""
    out = []
    if chart in CHART_SCHEMA_FOLDERS:
        pinned = CHARTS.get(chart)
        if pinned is None or pinned.version == version:
            out.append(CHART_SCHEMA_FOLDERS[chart])
    out += [f"{chart}-{version}", f"{chart}-v{version.lstrip('v')}"]
    return list(dict.fromkeys(out))


def operator_secrets(kind: str, group: str, obj: dict[str, Any]) -> list[str]:
    """Secrets an operator creates for one custom resource (in the resource's namespace)."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    name = str((obj.get("metadata") or {}).get("name", ""))
    assert isinstance(spec, dict)
    if group == CERT_MANAGER_GROUP and kind == "Certificate" and spec.get("secretName"):
        return [str(spec["secretName"])]
    if group == SEALED_SECRETS_GROUP and kind == "SealedSecret":
        tmpl = ((spec.get("template") or {}).get("metadata") or {}).get("name")
        return [str(tmpl or name)]
    if group == CNPG_GROUP and kind == "Cluster":
        return [f"{name}-{s}" for s in ("app", "superuser", "ca", "server", "replication")]
    return []


def operator_services(kind: str, group: str, obj: dict[str, Any]) -> list[str]:
    """Services an operator creates for one custom resource."""
    name = str((obj.get("metadata") or {}).get("name", ""))
    if group == PROMETHEUS_GROUP and kind == "Prometheus":
        return ["prometheus-operated"]
    if group == PROMETHEUS_GROUP and kind == "Alertmanager":
        return ["alertmanager-operated"]
    if group == CNPG_GROUP and kind == "Cluster":
        return [f"{name}-rw", f"{name}-ro", f"{name}-r"]
    if group == CNPG_GROUP and kind == "Pooler":
        return [name]
    return []


__all__ = [
    "BOOTSTRAP_CRD_GROUPS",
    "CHART_TABLE",
    "CRD_FOLDERS",
    "ChartInstalls",
    "chart_installs",
    "chart_schema_folders",
    "operator_secrets",
    "operator_services",
]
