"""Monitoring: kube-prometheus-stack, homeport's alerts, dashboards and alert delivery.

Three Applications:

* ``monitoring-crds`` (wave -8): the ``monitoring.coreos.com`` CRDs from the
  ``prometheus-operator-crds`` chart, server-side. ServiceMonitors and PrometheusRules of
  Traefik, cert-manager, Authentik and DDNS sync in later waves and need them first.
* ``monitoring`` (wave -6): kube-prometheus-stack with its own CRDs off. Prometheus picks
  up every ServiceMonitor, PodMonitor and PrometheusRule in the cluster (not only those
  labelled with its release). Alertmanager delivers to e-mail, ntfy and/or a webhook.
* ``monitoring-config`` (wave -5) and ``monitoring-route`` (wave -3): the seed's alerts,
  the Grafana dashboards (ConfigMaps read by Grafana's sidecar), ServiceMonitors for Argo
  CD, and Grafana's route at ``grafana.<domain>``.

Pod Security: node-exporter needs ``hostNetwork``, ``hostPID`` and hostPath mounts, which
only the "privileged" level allows, so the namespace enforces "privileged" while
node-exporter runs (warn/audit stay "restricted", so anything else that slips is still
reported). ``lite`` drops node-exporter and the namespace enforces "restricted".

Every metric name a rule or dashboard uses is listed in :data:`METRIC_SOURCES` with the
upstream file that defines it at the pinned version; tests check the lists.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from homeport.config import HomeportConfig
from homeport.platform import traefik
from homeport.platform.backup import RUNBOOKS as BACKUP_RUNBOOKS
from homeport.platform.base import (
    ARGOCD_NS,
    WAVE_CONFIG,
    WAVE_CONTROLLERS,
    WAVE_SEALED_SECRETS,
    WAVE_SSO,
    Component,
    NamespaceSpec,
    Obj,
    meta,
)
from homeport.platform.policies import (
    APISERVER_EGRESS,
    DNS_EGRESS,
    FROM_TRAEFIK,
    from_namespace,
    netpol,
)
from homeport.platform.secrets import ALERTMANAGER_SMTP, GRAFANA_ADMIN
from homeport.versions import CHARTS, PROMETHEUS_VERSION, Chart
from homeport.wellknown import MONITORING_NAMESPACE

NAMESPACE = MONITORING_NAMESPACE
RELEASE = "kube-prometheus-stack"
GRAFANA = "grafana"  # the pods' app.kubernetes.io/name
GRAFANA_SERVICE = f"{RELEASE}-grafana"  # the subchart's default fullname
GRAFANA_PORT = 3000  # the Grafana container; the Service listens on 80
GRAFANA_SERVICE_PORT = 80
ALERTMANAGER_PORT = 9093
SMTP_SECRET = ALERTMANAGER_SMTP.name
SMTP_PASSWORD_KEY = ALERTMANAGER_SMTP.keys[0]
GRAFANA_ADMIN_SECRET = GRAFANA_ADMIN.name
RUNBOOK_BASE = "https://github.com/homeport-dev/homeport/blob/main/docs/runbooks"
DASHBOARD_LABEL = "grafana_dashboard"
DATASOURCE: Obj = {"type": "prometheus", "uid": "prometheus"}  # the chart's default datasource

DAY = 86400
CERT_CRITICAL_DAYS = 7
CERT_WARNING_DAYS = 14
# Below this many requests per second to one Traefik service (30 in five minutes) a high
# error ratio is noise (one failed request at night), not an outage.
MIN_REQUEST_RATE = 0.1
ERROR_RATIO = 0.05

# Alert name -> runbook page (docs/runbooks/<page>.md). DDNSFailing is rendered by the
# ddns module; its runbook is listed here so the docs check covers it too.
RUNBOOKS = {
    "CertificateExpiringSoon": "certificate-expiring-soon",
    "DDNSFailing": "ddns-failing",
    "ArgoCDAppOutOfSync": "argocd-app-out-of-sync",
    "ArgoCDAppSyncFailed": "argocd-app-sync-failed",
    "ArgoCDAppUnhealthy": "argocd-app-unhealthy",
    "DeploymentReplicasUnavailable": "deployment-replicas-unavailable",
    "TraefikHighErrorRatio": "traefik-high-error-ratio",
    # Rendered by the backup module with its CronJob (when backup.platform is set).
    **BACKUP_RUNBOOKS,
}

# Every metric a homeport rule or dashboard reads, per component, with where the pinned
# upstream version defines it. Histogram series are listed with their suffixes.
METRIC_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cert-manager": (
        "cert-manager v1.21.1 internal/controller/certificates/metrics (pkg/metrics/metrics.go): "
        "certificate_expiration_timestamp_seconds{name,namespace,issuer_*}, "
        "certificate_ready_status{name,namespace,condition}, certificate_renewal_timestamp_seconds",
        (
            "certmanager_certificate_expiration_timestamp_seconds",
            "certmanager_certificate_ready_status",
            "certmanager_certificate_renewal_timestamp_seconds",
        ),
    ),
    "argocd": (
        "Argo CD v3.5.1 controller/metrics/metrics.go: argocd_app_info{name,project,"
        "dest_namespace,sync_status,health_status,...}, argocd_app_sync_total{name,project,"
        "phase}, argocd_app_reconcile (histogram)",
        (
            "argocd_app_info",
            "argocd_app_sync_total",
            "argocd_app_reconcile_bucket",
        ),
    ),
    "kube-state-metrics": (
        "kube-state-metrics (kube-prometheus-stack 88.2.0 dependency) "
        "docs/metrics/workload/deployment-metrics.md",
        (
            "kube_deployment_status_replicas_unavailable",
            "kube_deployment_spec_replicas",
            "kube_deployment_status_replicas_available",
            # docs/metrics/workload/job-metrics.md and cronjob-metrics.md (backup alerts)
            "kube_job_status_start_time",
            "kube_job_failed",
            "kube_cronjob_status_last_successful_time",
            "kube_cronjob_created",
        ),
    ),
    "traefik": (
        "Traefik v3.7 pkg/metrics/prometheus.go: service_requests_total{service,code,method,"
        "protocol}, router_requests_total{router,service,code,...}, "
        "router_request_duration_seconds (histogram); prefix traefik_",
        (
            "traefik_service_requests_total",
            "traefik_router_requests_total",
            "traefik_router_request_duration_seconds_bucket",
        ),
    ),
    "ddns": (
        "homeport src/homeport/ddns/metrics.py (checked against the controller's /metrics)",
        (
            "homeport_ddns_consecutive_failures",
            "homeport_ddns_last_success_timestamp_seconds",
            "homeport_ddns_cycles_total",
            "homeport_ddns_api_requests_total",
            "homeport_ddns_record_changes_total",
            "homeport_ddns_address_info",
            "homeport_ddns_ready",
        ),
    ),
    "prometheus": (
        "Prometheus rules/manager.go: the synthetic ALERTS{alertname,alertstate,...} series",
        ("ALERTS",),
    ),
}


def runbook_url(alert: str) -> str:
    """The runbook link of an alert (``docs/runbooks/<page>.md`` in homeport's repository)."""
    return f"{RUNBOOK_BASE}/{RUNBOOKS[alert]}.md"


# ---------------------------------------------------------------- sizing


def lite(cfg: HomeportConfig) -> bool:
    """Whether the small-machine profile is on."""
    return cfg.components.monitoring.lite


def retention(cfg: HomeportConfig) -> str:
    """Prometheus retention: the configured one; lite shortens the default to 3 days."""
    mon = cfg.components.monitoring
    if mon.lite and "retention" not in mon.model_fields_set:
        return "3d"
    return mon.retention


def storage(cfg: HomeportConfig) -> str:
    """Prometheus volume size: the configured one; lite shrinks the default to 4Gi."""
    mon = cfg.components.monitoring
    if mon.lite and "storage" not in mon.model_fields_set:
        return "4Gi"
    return mon.storage


_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def retention_size(size: str) -> str:
    """Cap the TSDB at 80 % of its volume, so compaction never fills the disk.

    Args:
        size: The volume size as a Kubernetes quantity (``10Gi``).

    Returns:
        A Prometheus size (``8192MB``; Prometheus reads MB as 2^20 bytes).
    """
    m = re.match(r"^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$", size)
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"{size!r} is not a storage size")
    total = float(m.group(1)) * _UNITS[m.group(2)]
    return f"{max(int(total * 0.8) // 2**20, 64)}MB"


def _resources(cpu: str, memory: str, limit_memory: str) -> Obj:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit_memory}}


# ---------------------------------------------------------------- alert delivery


def alertmanager_config(cfg: HomeportConfig) -> Obj:
    """Alertmanager's configuration: route everything to the configured receivers.

    No credential appears here: the SMTP login (username) is ``alerts.email`` itself, and
    the password is the file ``password`` of the sealed ``alertmanager-smtp`` Secret,
    mounted by the operator under ``/etc/alertmanager/secrets``.

    Args:
        cfg: The config.

    Returns:
        The ``alertmanager.config`` chart value.
    """
    alerts = cfg.components.monitoring.alerts
    receiver: Obj = {"name": "homeport"}
    if alerts.email:
        secret_dir = f"/etc/alertmanager/secrets/{SMTP_SECRET}"
        receiver["email_configs"] = [
            {
                "to": alerts.email,
                "from": alerts.email,
                "smarthost": alerts.smtp_host,
                "auth_username": alerts.email,
                "auth_password_file": f"{secret_dir}/{SMTP_PASSWORD_KEY}",
                "require_tls": True,
                "send_resolved": True,
            }
        ]
    webhooks: list[Obj] = []
    if alerts.ntfy_url:
        webhooks.append({"url": ntfy_webhook_url(alerts.ntfy_url), "send_resolved": True})
    if alerts.webhook_url:
        webhooks.append({"url": alerts.webhook_url, "send_resolved": True})
    if webhooks:
        receiver["webhook_configs"] = webhooks
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "homeport",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                # kube-prometheus-stack's always-firing helpers are not for people.
                {"receiver": "null", "matchers": ['alertname = "Watchdog"']},
                {"receiver": "null", "matchers": ['alertname = "InfoInhibitor"']},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity =~ "warning|info"'],
                "equal": ["namespace", "alertname"],
            },
            {
                "source_matchers": ['severity = "warning"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["namespace", "alertname"],
            },
        ],
        "receivers": [{"name": "null"}, receiver],
    }


# ntfy turns Alertmanager's webhook JSON into a readable push with its message templates
# (https://docs.ntfy.sh/publish/#message-templating): tpl=1, t=<title>, m=<message>.
_NTFY_TITLE = "{{.status}}: {{.commonLabels.alertname}}"
_NTFY_MESSAGE = "{{range .alerts}}{{.annotations.summary}}: {{.annotations.description}}\n{{end}}"


def ntfy_webhook_url(topic_url: str) -> str:
    """The ntfy topic URL with the message-template query Alertmanager posts to."""
    sep = "&" if "?" in topic_url else "?"
    return (
        f"{topic_url}{sep}tpl=1&t={quote(_NTFY_TITLE, safe='')}&m={quote(_NTFY_MESSAGE, safe='')}"
    )


# ---------------------------------------------------------------- chart values


def _grafana_values(cfg: HomeportConfig) -> Obj:
    small = lite(cfg)
    host = f"grafana.{cfg.domain}"
    ini: Obj = {
        "server": {"root_url": f"https://{host}"},
        "analytics": {"reporting_enabled": False, "check_for_updates": False},
        "users": {"allow_sign_up": False},
    }
    values: Obj = {
        "resources": _resources("20m" if small else "50m", "96Mi" if small else "160Mi", "384Mi"),
        # Dashboards come from ConfigMaps labelled grafana_dashboard=1 (the chart's sidecar).
        "sidecar": {
            "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"},
            "datasources": {"enabled": True},
        },
        "defaultDashboardsTimezone": "browser",
        "persistence": {"enabled": False},
        "testFramework": {"enabled": False},
    }
    if cfg.components.monitoring.auth == "sso":
        # Authentik's forward auth sets X-authentik-* on every request it lets through, and
        # only Traefik may reach Grafana (network policy), so Grafana trusts the header.
        # Who passes SSO administers Grafana: limit the Authentik application to admins.
        ini["auth"] = {"disable_login_form": True, "disable_signout_menu": True}
        ini["auth.basic"] = {"enabled": False}
        ini["auth.proxy"] = {
            "enabled": True,
            "header_name": "X-authentik-username",
            "header_property": "username",
            "auto_sign_up": True,
            "headers": "Email:X-authentik-email Name:X-authentik-name",
        }
        ini["users"]["auto_assign_org_role"] = "Admin"
        # No local admin at all: no default password in the tree, nothing to leak.
        values["env"] = {"GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION": "true"}
        values["adminPassword"] = ""
    else:
        # Public Grafana keeps its login; the admin password is a sealed Secret
        # (`homeport secret set grafana-admin -n monitoring ...`, see docs/monitoring.md).
        values["admin"] = {
            "existingSecret": GRAFANA_ADMIN_SECRET,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        }
    values["grafana.ini"] = ini
    return values


def chart_values(cfg: HomeportConfig) -> Obj:
    """kube-prometheus-stack values for this config.

    Args:
        cfg: The config.

    Returns:
        The Helm values (``valuesObject``).
    """
    small = lite(cfg)
    size = storage(cfg)
    alerts = cfg.components.monitoring.alerts
    prometheus_spec: Obj = {
        "image": {"tag": PROMETHEUS_VERSION},
        "retention": retention(cfg),
        "retentionSize": retention_size(size),
        "replicas": 1,
        "resources": _resources(
            "50m" if small else "200m", "384Mi" if small else "1Gi", "1Gi" if small else "3Gi"
        ),
        # Select every monitor and rule in the cluster, not only this release's.
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "scrapeConfigSelectorNilUsesHelmValues": False,
        "externalUrl": "",
        "storageSpec": {
            "volumeClaimTemplate": {
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}},
                }
            }
        },
    }
    am_spec: Obj = {
        "replicas": 1,
        "resources": _resources("10m", "32Mi", "128Mi"),
        "storage": {
            "volumeClaimTemplate": {
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "256Mi"}},
                }
            }
        },
    }
    if alerts.email:
        am_spec["secrets"] = [SMTP_SECRET]
    node_rules = not small
    return {
        # CRDs come from the monitoring-crds Application two waves earlier.
        "crds": {"enabled": False},
        "defaultRules": {
            "create": True,
            "rules": {
                # Single-node distributions (k3s, kubeadm on one box) hide these components.
                "etcd": False,
                "kubeControllerManager": False,
                "kubeSchedulerAlerting": False,
                "kubeSchedulerRecording": False,
                "kubeProxy": False,
                "node": node_rules,
                "nodeExporterAlerting": node_rules,
                "nodeExporterRecording": node_rules,
                "windows": False,
            },
        },
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "windowsMonitoring": {"enabled": False},
        "nodeExporter": {"enabled": not small},
        "prometheus-node-exporter": {
            "resources": _resources("10m", "24Mi", "64Mi"),
        },
        "kube-state-metrics": {
            "resources": _resources("10m", "48Mi" if small else "64Mi", "256Mi"),
        },
        "prometheusOperator": {
            # Rules are proven with promtool before they reach Git; the webhook's cert
            # jobs would only add Helm hooks and an API-server-to-pod port.
            "admissionWebhooks": {"enabled": False},
            "tls": {"enabled": False},
            "resources": _resources("20m", "64Mi", "256Mi"),
        },
        "prometheus": {"prometheusSpec": prometheus_spec},
        "alertmanager": {
            "config": alertmanager_config(cfg),
            "alertmanagerSpec": am_spec,
        },
        "grafana": _grafana_values(cfg),
    }


# ---------------------------------------------------------------- alerts


def _alert(
    name: str, expr: str, duration: str, severity: str, summary: str, description: str
) -> Obj:
    rule: Obj = {"alert": name, "expr": expr}
    if duration:
        rule["for"] = duration
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url(name),
    }
    return rule


_LEFT = "(certmanager_certificate_expiration_timestamp_seconds - time())"
_ISSUED = "certmanager_certificate_expiration_timestamp_seconds > 0"
_APP_BY = "name, project, dest_namespace"
_SYNCS = "sum by (name, project) (increase(argocd_app_sync_total"
_TRAEFIK_RATE = "sum by (service) (rate(traefik_service_requests_total[5m]))"


def alert_groups() -> list[Obj]:
    """Homeport's alert groups (the DDNS one is rendered by the ddns module).

    Returns:
        PrometheusRule ``spec.groups`` entries.
    """
    cert_desc = (
        "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in "
        "{{ $value | humanizeDuration }} and cert-manager has not renewed it."
    )
    certificates = [
        _alert(
            "CertificateExpiringSoon",
            f"{_LEFT} < {CERT_CRITICAL_DAYS} * {DAY}\nand {_ISSUED}",
            "15m",
            "critical",
            f"Certificate expires in under {CERT_CRITICAL_DAYS} days",
            cert_desc,
        ),
        _alert(
            "CertificateExpiringSoon",
            f"{_LEFT} < {CERT_WARNING_DAYS} * {DAY}\n"
            f"and {_LEFT} >= {CERT_CRITICAL_DAYS} * {DAY}\nand {_ISSUED}",
            "1h",
            "warning",
            f"Certificate expires in under {CERT_WARNING_DAYS} days",
            cert_desc,
        ),
    ]
    argocd = [
        _alert(
            "ArgoCDAppOutOfSync",
            f'max by ({_APP_BY}) (argocd_app_info{{sync_status!="Synced"}})',
            "15m",
            "warning",
            "Argo CD Application out of sync for 15 minutes",
            "Argo CD Application {{ $labels.name }} (project {{ $labels.project }}, namespace "
            "{{ $labels.dest_namespace }}) has not matched Git for 15 minutes.",
        ),
        _alert(
            "ArgoCDAppSyncFailed",
            f'{_SYNCS}{{phase=~"Error|Failed"}}[15m])) > 0\n'
            "unless on (name, project)\n"
            f'{_SYNCS}{{phase="Succeeded"}}[15m])) > 0',
            "15m",
            "warning",
            "Argo CD sync failing for 15 minutes",
            "Every sync of Argo CD Application {{ $labels.name }} (project "
            "{{ $labels.project }}) in the last 15 minutes failed.",
        ),
    ]
    workloads = [
        _alert(
            "ArgoCDAppUnhealthy",
            f'max by ({_APP_BY}) (argocd_app_info{{health_status!~"Healthy|Suspended"}})',
            "10m",
            "warning",
            "Argo CD Application unhealthy for 10 minutes",
            "Argo CD reports Application {{ $labels.name }} (namespace "
            "{{ $labels.dest_namespace }}) not Healthy for 10 minutes.",
        ),
        _alert(
            "DeploymentReplicasUnavailable",
            "max by (namespace, deployment) (kube_deployment_status_replicas_unavailable) > 0",
            "10m",
            "warning",
            "Deployment has unavailable replicas for 10 minutes",
            "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has had "
            "{{ $value }} unavailable replica(s) for 10 minutes.",
        ),
    ]
    traefik_rules = [
        _alert(
            "TraefikHighErrorRatio",
            f'sum by (service) (rate(traefik_service_requests_total{{code=~"5.."}}[5m]))\n'
            f"/ {_TRAEFIK_RATE}\n> {ERROR_RATIO}\n"
            f"and {_TRAEFIK_RATE} > {MIN_REQUEST_RATE}",
            "10m",
            "critical",
            "More than 5 % of requests fail with 5xx",
            "{{ $value | humanizePercentage }} of the requests Traefik sent to service "
            "{{ $labels.service }} failed with a 5xx status over the last 5 minutes.",
        ),
    ]
    return [
        {"name": "homeport-certificates", "rules": certificates},
        {"name": "homeport-argocd", "rules": argocd},
        {"name": "homeport-workloads", "rules": workloads},
        {"name": "homeport-traefik", "rules": traefik_rules},
    ]


def prometheus_rule() -> Obj:
    """The PrometheusRule holding homeport's alerts."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta("homeport-alerts", NAMESPACE, **{"app.kubernetes.io/part-of": "homeport"}),
        "spec": {"groups": alert_groups()},
    }


# ---------------------------------------------------------------- scraping


def argocd_service_monitors() -> list[Obj]:
    """ServiceMonitors for the metrics Services of Argo CD's upstream install."""
    out = []
    for service in ("argocd-metrics", "argocd-server-metrics", "argocd-repo-server"):
        out.append(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": meta(service, ARGOCD_NS),
                "spec": {
                    "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
                    "endpoints": [{"port": "metrics", "interval": "60s"}],
                },
            }
        )
    return out


# ---------------------------------------------------------------- dashboards


def _panel(
    pid: int,
    title: str,
    kind: str,
    targets: list[tuple[str, str]],
    pos: tuple[int, int, int, int],
    unit: str = "short",
    description: str = "",
    table: bool = False,
) -> Obj:
    x, y, w, h = pos
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                **({"format": "table", "instant": True} if table else {}),
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[Obj]) -> Obj:
    return {
        "uid": uid,
        "title": title,
        "tags": ["homeport"],
        "timezone": "browser",
        "schemaVersion": 39,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


_ROUTER_RATE = "sum by (router) (rate(traefik_router_requests_total[5m]))"


def dashboards() -> dict[str, Obj]:
    """Homeport's Grafana dashboards by file name.

    Returns:
        Dashboard JSON models (the platform overview, certificates, DDNS and Argo CD).
    """
    overview = _dashboard(
        "homeport-overview",
        "homeport / Platform overview",
        [
            _panel(
                1,
                "Requests per second by route (one host each)",
                "timeseries",
                [(_ROUTER_RATE, "{{router}}")],
                (0, 0, 12, 8),
                "reqps",
            ),
            _panel(
                2,
                "5xx error ratio by route",
                "timeseries",
                [
                    (
                        f'sum by (router) (rate(traefik_router_requests_total{{code=~"5.."}}[5m]))'
                        f" / {_ROUTER_RATE}",
                        "{{router}}",
                    )
                ],
                (12, 0, 12, 8),
                "percentunit",
            ),
            _panel(
                3,
                "Latency p50 / p95 by route",
                "timeseries",
                [
                    (
                        "histogram_quantile(0.5, sum by (router, le) "
                        "(rate(traefik_router_request_duration_seconds_bucket[5m])))",
                        "p50 {{router}}",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (router, le) "
                        "(rate(traefik_router_request_duration_seconds_bucket[5m])))",
                        "p95 {{router}}",
                    ),
                ],
                (0, 8, 12, 8),
                "s",
            ),
            _panel(
                4,
                "Firing alerts",
                "table",
                [('ALERTS{alertstate="firing"}', "{{alertname}}")],
                (12, 8, 12, 8),
                table=True,
            ),
            _panel(
                5,
                "Deployments with unavailable replicas",
                "table",
                [("kube_deployment_status_replicas_unavailable > 0", "")],
                (0, 16, 12, 8),
                table=True,
            ),
            _panel(
                6,
                "Available replicas / desired",
                "table",
                [
                    ("kube_deployment_status_replicas_available", ""),
                    ("kube_deployment_spec_replicas", ""),
                ],
                (12, 16, 12, 8),
                table=True,
            ),
        ],
    )
    certificates = _dashboard(
        "homeport-certificates",
        "homeport / Certificates",
        [
            _panel(
                1,
                "Days until expiry",
                "table",
                [
                    (
                        "(certmanager_certificate_expiration_timestamp_seconds - time()) / 86400",
                        "{{namespace}}/{{name}}",
                    )
                ],
                (0, 0, 12, 8),
                "d",
                table=True,
            ),
            _panel(
                2,
                "Ready",
                "table",
                [
                    (
                        'certmanager_certificate_ready_status{condition="True"}',
                        "{{namespace}}/{{name}}",
                    )
                ],
                (12, 0, 12, 8),
                table=True,
            ),
            _panel(
                3,
                "Next renewal (days from now)",
                "timeseries",
                [
                    (
                        "(certmanager_certificate_renewal_timestamp_seconds - time()) / 86400",
                        "{{namespace}}/{{name}}",
                    )
                ],
                (0, 8, 24, 8),
                "d",
            ),
        ],
    )
    ddns = _dashboard(
        "homeport-ddns",
        "homeport / DDNS",
        [
            _panel(
                1,
                "Consecutive failed cycles",
                "stat",
                [("max(homeport_ddns_consecutive_failures)", "")],
                (0, 0, 6, 6),
            ),
            _panel(
                2,
                "Since last success",
                "stat",
                [("time() - max(homeport_ddns_last_success_timestamp_seconds)", "")],
                (6, 0, 6, 6),
                "s",
            ),
            _panel(3, "Ready", "stat", [("max(homeport_ddns_ready)", "")], (12, 0, 6, 6)),
            _panel(
                4,
                "Current address",
                "table",
                [("homeport_ddns_address_info", "{{family}} {{address}}")],
                (18, 0, 6, 6),
                table=True,
            ),
            _panel(
                5,
                "Cycles by result",
                "timeseries",
                [("sum by (result) (increase(homeport_ddns_cycles_total[1h]))", "{{result}}")],
                (0, 6, 12, 8),
            ),
            _panel(
                6,
                "Cloudflare API requests by code",
                "timeseries",
                [("sum by (code) (increase(homeport_ddns_api_requests_total[1h]))", "{{code}}")],
                (12, 6, 12, 8),
            ),
            _panel(
                7,
                "Record changes",
                "timeseries",
                [
                    (
                        "sum by (action) (increase(homeport_ddns_record_changes_total[1h]))",
                        "{{action}}",
                    )
                ],
                (0, 14, 24, 8),
            ),
        ],
    )
    argocd = _dashboard(
        "homeport-argocd",
        "homeport / Argo CD",
        [
            _panel(
                1,
                "Applications by sync status",
                "piechart",
                [("count by (sync_status) (argocd_app_info)", "{{sync_status}}")],
                (0, 0, 8, 8),
            ),
            _panel(
                2,
                "Applications by health",
                "piechart",
                [("count by (health_status) (argocd_app_info)", "{{health_status}}")],
                (8, 0, 8, 8),
            ),
            _panel(
                3,
                "Syncs by result (1h)",
                "timeseries",
                [("sum by (phase) (increase(argocd_app_sync_total[1h]))", "{{phase}}")],
                (16, 0, 8, 8),
            ),
            _panel(
                4,
                "Applications",
                "table",
                [("argocd_app_info", "{{name}}")],
                (0, 8, 16, 10),
                table=True,
            ),
            _panel(
                5,
                "Reconcile time p95",
                "timeseries",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) "
                        "(rate(argocd_app_reconcile_bucket[5m])))",
                        "p95",
                    )
                ],
                (16, 8, 8, 10),
                "s",
            ),
        ],
    )
    return {
        "homeport-overview.json": overview,
        "homeport-certificates.json": certificates,
        "homeport-ddns.json": ddns,
        "homeport-argocd.json": argocd,
    }


def dashboard_configmaps() -> list[Obj]:
    """One ConfigMap per dashboard, labelled for Grafana's dashboard sidecar."""
    out = []
    for file, model in dashboards().items():
        name = file.removesuffix(".json") + "-dashboard"
        md = meta(name, NAMESPACE, **{DASHBOARD_LABEL: "1"})
        md["annotations"] = {"grafana_folder": "homeport"}
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": md,
                "data": {file: json.dumps(model, indent=2, sort_keys=True) + "\n"},
            }
        )
    return out


# ---------------------------------------------------------------- namespace


def _namespace(cfg: HomeportConfig) -> NamespaceSpec:
    ns = NAMESPACE
    any_address: Obj = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]}
    policies = (
        netpol(
            "allow-grafana-from-traefik",
            ns,
            pod_selector={"matchLabels": {"app.kubernetes.io/name": GRAFANA}},
            ingress=[{**FROM_TRAEFIK, "ports": [{"protocol": "TCP", "port": GRAFANA_PORT}]}],
        ),
        # Prometheus -> Alertmanager, Grafana -> Prometheus, and self-scraping.
        netpol(
            "allow-same-namespace",
            ns,
            ingress=[{"from": [from_namespace(ns)]}],
            egress=[{"to": [from_namespace(ns)]}],
        ),
        # Scraping: pods in every namespace, plus kubelets and node-exporter, which listen
        # on node addresses that no namespace selector matches.
        netpol(
            "allow-scrape",
            ns,
            egress=[
                {"to": [{"namespaceSelector": {}}]},
                {"ports": [{"protocol": "TCP", "port": 10250}, {"protocol": "TCP", "port": 9100}]},
            ],
        ),
        # Alert delivery: SMTP, ntfy and webhooks may be on the internet or the LAN.
        netpol(
            "allow-alert-delivery",
            ns,
            pod_selector={"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
            egress=[any_address],
        ),
        netpol("allow-apiserver", ns, egress=[APISERVER_EGRESS]),
        netpol("allow-dns", ns, egress=[DNS_EGRESS]),
    )
    # Prometheus's volume (a StatefulSet claim, not owned by Argo CD) lives here.
    return NamespaceSpec(ns, "restricted" if lite(cfg) else "privileged", policies, keep=True)


# ---------------------------------------------------------------- components


def crds_chart() -> Chart:
    """The ``prometheus-operator-crds`` chart pin."""
    return CHARTS["prometheus-operator-crds"]


def components(cfg: HomeportConfig) -> list[Component]:
    """The monitoring Applications (none when ``components.monitoring.enabled`` is false)."""
    mon = cfg.components.monitoring
    if not mon.enabled:
        return []
    route = traefik.ingress_route(
        cfg,
        name=GRAFANA,
        namespace=NAMESPACE,
        host=f"grafana.{cfg.domain}",
        service=GRAFANA_SERVICE,
        port=GRAFANA_SERVICE_PORT,
        auth=mon.auth,
    )
    return [
        Component(
            name="monitoring-crds",
            namespace=NAMESPACE,
            wave=WAVE_SEALED_SECRETS,
            chart=crds_chart(),
            release="prometheus-operator-crds",
            server_side=True,
            description="Prometheus Operator CRDs (ServiceMonitor, PrometheusRule, ...)",
        ),
        Component(
            name="monitoring",
            namespace=NAMESPACE,
            wave=WAVE_CONTROLLERS,
            chart=CHARTS["kube-prometheus-stack"],
            values=chart_values(cfg),
            release=RELEASE,
            server_side=True,
            namespaces=[_namespace(cfg)],
            description="Prometheus, Alertmanager and Grafana (kube-prometheus-stack)"
            + (", lite" if mon.lite else ""),
        ),
        Component(
            name="monitoring-config",
            namespace=NAMESPACE,
            wave=WAVE_CONFIG,
            objects=[prometheus_rule(), *argocd_service_monitors(), *dashboard_configmaps()],
            skip_dry_run=True,
            description="homeport's alerts, Grafana dashboards, Argo CD scraping",
        ),
        Component(
            name="monitoring-route",
            namespace=NAMESPACE,
            wave=WAVE_SSO,
            objects=[route],
            skip_dry_run=True,
            description="Grafana at grafana.<domain>",
        ),
    ]
