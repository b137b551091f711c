"""homeport's own DDNS controller in the ``cloudflare-ddns`` namespace.

One Deployment runs ``homeport ddns run`` with the token from the sealed Secret
``cloudflare-api-token`` (written by ``homeport init``); it may write exactly one ConfigMap
(its status, read by ``homeport status``), exposes metrics to the monitoring namespace, and
reaches only DNS, the API server and HTTPS on the internet.
"""

from __future__ import annotations

from homeport.config import HomeportConfig
from homeport.ddns.options import STATUS_CONFIGMAP
from homeport.platform import egress as egress_
from homeport.platform.base import (
    WAVE_SERVICES,
    Component,
    NamespaceSpec,
    Obj,
    meta,
    restricted_security_context,
)
from homeport.platform.policies import (
    APISERVER_EGRESS,
    DNS_EGRESS,
    INTERNET_EGRESS,
    metrics_policy,
    netpol,
)
from homeport.platform.secrets import CLOUDFLARE_TOKEN_KEY, DDNS_TOKEN

NAMESPACE = DDNS_TOKEN.namespace
NAME = "homeport-ddns"
METRICS_PORT = 9090
RUNBOOK_URL = "https://github.com/homeport-dev/homeport/blob/main/docs/runbooks/ddns-failing.md"
_LABELS = {"app.kubernetes.io/name": "ddns", "app.kubernetes.io/part-of": "homeport"}
_SELECTOR = {"app.kubernetes.io/name": "ddns"}
_FAILING_EXPR = (
    f'max by (namespace) (homeport_ddns_consecutive_failures{{namespace="{NAMESPACE}"}}) > 0'
)


def _args(cfg: HomeportConfig) -> list[str]:
    cf = cfg.cloudflare
    comp = cfg.components.ddns
    args = ["ddns", "run", "--zone", cfg.zone]
    for r in cf.records:
        args += ["--record", r]
    args += [
        "--ipv4" if cf.ipv4 else "--no-ipv4",
        "--ipv6" if cf.ipv6 else "--no-ipv6",
        "--proxied" if cf.proxied else "--no-proxied",
        "--ttl",
        str(cf.ttl),
        "--interval",
        cf.interval,
    ]
    for p in comp.ip_providers:
        args += ["--ip-provider", p]
    args += [
        "--listen",
        f"0.0.0.0:{METRICS_PORT}",
        "--status-configmap",
        STATUS_CONFIGMAP,
        "--status-namespace",
        NAMESPACE,
    ]
    if comp.healthchecks_url:
        args += ["--healthchecks-url", comp.healthchecks_url]
    if comp.uptime_kuma_url:
        args += ["--uptime-kuma-url", comp.uptime_kuma_url]
    return args


def _deployment(cfg: HomeportConfig) -> Obj:
    pod_sc, container_sc = restricted_security_context()
    container: Obj = {
        "name": "ddns",
        "image": cfg.components.ddns.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["homeport"],
        "args": _args(cfg),
        "env": [
            {
                "name": "CLOUDFLARE_API_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": DDNS_TOKEN.name, "key": CLOUDFLARE_TOKEN_KEY}
                },
            },
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "metrics"},
            "initialDelaySeconds": 10,
            "periodSeconds": 30,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "metrics"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "10m", "memory": "48Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
        "securityContext": container_sc,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(NAME, NAMESPACE, **_LABELS),
        "spec": {
            "replicas": 1,
            # Never two writers: the old pod stops before the new one starts.
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": dict(_SELECTOR)},
            "template": {
                "metadata": {"labels": dict(sorted(_LABELS.items()))},
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": True,
                    "securityContext": pod_sc,
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                },
            },
        },
    }


def _rbac() -> list[Obj]:
    sa: Obj = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(NAME, NAMESPACE, **_LABELS),
    }
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": meta(NAME, NAMESPACE, **_LABELS),
        "rules": [
            {
                # Server-side apply creates by name (PATCH), so resourceNames also covers create.
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [STATUS_CONFIGMAP],
                "verbs": ["get", "create", "update", "patch"],
            }
        ],
    }
    binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta(NAME, NAMESPACE, **_LABELS),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }
    return [sa, role, binding]


def _service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(NAME, NAMESPACE, **_LABELS),
        "spec": {
            "selector": dict(_SELECTOR),
            # Scrape a not-ready controller too: that is exactly when its metrics matter.
            "publishNotReadyAddresses": True,
            "ports": [
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


def _monitoring() -> list[Obj]:
    monitor: Obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(NAME, NAMESPACE, **_LABELS),
        "spec": {
            "selector": {"matchLabels": dict(_SELECTOR)},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "60s"}],
        },
    }
    rule: Obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta(NAME, NAMESPACE, **_LABELS),
        "spec": {
            "groups": [
                {
                    "name": "homeport-ddns",
                    "rules": [
                        {
                            "alert": "DDNSFailing",
                            "expr": _FAILING_EXPR,
                            "for": "15m",
                            "labels": {"severity": "warning"},
                            "annotations": {
                                "summary": "DDNS failing for 15 minutes",
                                "description": (
                                    "homeport's DDNS controller has not been able to make the "
                                    "Cloudflare records right for 15 minutes "
                                    "({{ $value }} failed cycles in a row). Run `homeport status` "
                                    f"or read the lastError of ConfigMap {STATUS_CONFIGMAP}."
                                ),
                                "runbook_url": RUNBOOK_URL,
                            },
                        }
                    ],
                }
            ]
        },
    }
    return [monitor, rule]


def _policies(cfg: HomeportConfig) -> tuple[Obj, ...]:
    https_out: Obj = {**INTERNET_EGRESS, "ports": [{"protocol": "TCP", "port": 443}]}
    pods = {"matchLabels": dict(_SELECTOR)}
    egress = netpol(
        "ddns-egress",
        NAMESPACE,
        pod_selector=pods,
        egress=[DNS_EGRESS, https_out, APISERVER_EGRESS],
    )
    ingress = metrics_policy(
        NAMESPACE, METRICS_PORT, name="ddns-metrics-from-monitoring", pod_selector=pods
    )
    # Ping URLs and IP providers on the LAN, in the cluster or on other ports.
    endpoints = egress_.policy_for(
        cfg, "ddns-endpoints", NAMESPACE, egress_.ddns_endpoints(cfg), {443}, pods
    )
    return (egress, ingress, *endpoints)


def components(cfg: HomeportConfig) -> list[Component]:
    """The DDNS Application (empty when ``components.ddns.enabled`` is false)."""
    if not cfg.components.ddns.enabled:
        return []
    monitoring = cfg.components.monitoring.enabled
    objects = [*_rbac(), _deployment(cfg), _service()]
    if monitoring:
        objects += _monitoring()
    return [
        Component(
            name="ddns",
            namespace=NAMESPACE,
            wave=WAVE_SERVICES,
            objects=objects,
            namespaces=[NamespaceSpec(NAMESPACE, policies=_policies(cfg))],
            description="Cloudflare DDNS controller (homeport ddns run)",
            skip_dry_run=monitoring,
        )
    ]
