"""homeport status over objects written as their controllers would write them.

A dedicated API server: status reads the whole cluster, so other tests' objects must not
leak into these verdicts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

import pytest

from homeport.cluster.apply import apply_objects, pinned_crds
from homeport.cluster.kube import Kube, connect
from homeport.cluster.status import collect

from .apiserver import ApiServer
from .conftest import CliRun


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    srv = ApiServer().start()
    try:
        with connect(srv.kubeconfig) as k:
            apply_objects(k, pinned_crds(["argocd", "cert-manager"]))
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def skube(server: ApiServer) -> Iterator[Kube]:
    with connect(server.kubeconfig) as k:
        yield k


def set_state(
    kube: Kube,
    *,
    health: str = "Healthy",
    sync: str = "Synced",
    cert_days: float = 60,
    cert_ready: bool = True,
    ddns_failures: int = 0,
    traefik_ready: int = 1,
    ddns_age: float = 0,
    ddns_ready: int = 1,
    ddns_interval: str = "5m",
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for ns in ("argocd", "cert-manager", "cloudflare-ddns", "traefik"):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for name, h in (("platform", "Healthy"), ("blog", health)):
        md = {"name": name, "namespace": "argocd"}
        kube.apply(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": md,
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://example.com/r.git", "path": name},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                },
            }
        )
        kube.apply(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": md,
                "status": {
                    "sync": {
                        "status": sync if name == "blog" else "Synced",
                        "revision": "a1b2c3d4e5f60718",
                    },
                    "health": {
                        "status": h,
                        "message": "Deployment blog has 0 ready pods" if h != "Healthy" else "",
                    },
                },
            },
            field_manager="argocd-application-controller",
        )
    cert = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "wildcard", "namespace": "cert-manager"},
        "spec": {
            "secretName": "wildcard-tls",
            "dnsNames": ["example.com", "*.example.com"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        },
    }
    kube.apply(cert)
    not_after = now + dt.timedelta(days=cert_days)
    kube.apply_status(
        {
            **cert,
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if cert_ready else "False",
                        "reason": "Ready" if cert_ready else "Failed",
                        "message": "Certificate is up to date"
                        if cert_ready
                        else "ACME order failed",
                        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                ],
                "notAfter": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
        field_manager="cert-manager-certificates-controller",
    )
    last_run = now - dt.timedelta(seconds=ddns_age)
    doc = {
        "lastRun": last_run.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastSuccess": None if ddns_failures >= 3 else now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "addresses": {"ipv4": "203.0.113.7", "ipv6": None},
        "records": [{"name": "example.com", "type": "A", "content": "203.0.113.7", "state": "ok"}],
        "lastError": "cloudflare: 403 Invalid access token" if ddns_failures else None,
        "consecutiveFailures": ddns_failures,
    }
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "homeport-ddns-status", "namespace": "cloudflare-ddns"},
            "data": {"status.json": json.dumps(doc)},
        },
        field_manager="homeport-ddns",
    )
    _deployment(
        kube,
        "cloudflare-ddns",
        "homeport-ddns",
        ddns_ready,
        ["ddns", "run", "--zone", "example.com", "--interval", ddns_interval],
    )
    labels = {"app.kubernetes.io/name": "traefik"}
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "traefik", "namespace": "traefik"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "traefik", "image": "traefik:v3.7.11"}]},
            },
        },
    }
    kube.apply(dep)
    kube.apply_status(
        {
            **dep,
            "status": {
                "replicas": 1,
                "readyReplicas": traefik_ready,
                "availableReplicas": traefik_ready,
            },
        },
        field_manager="kube-controller-manager",
    )


def _deployment(kube: Kube, ns: str, name: str, ready: int, args: list[str]) -> None:
    """A one-replica Deployment and the status the controller manager would write."""
    labels = {"app.kubernetes.io/name": name}
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "ghcr.io/homeport-dev/homeport:0.1.0", "args": args}
                    ]
                },
            },
        },
    }
    kube.apply(dep)
    kube.apply_status(
        {**dep, "status": {"replicas": 1, "readyReplicas": ready, "availableReplicas": ready}},
        field_manager="kube-controller-manager",
    )


Status = Callable[..., tuple[int, str]]


@pytest.fixture
def status(server: ApiServer, cli: CliRun) -> Status:
    return lambda *extra: cli("status", "--kubeconfig", str(server.kubeconfig), *extra)


def test_healthy_platform_exits_zero(skube: Kube, status: Status) -> None:
    set_state(skube)
    code, out = status("--output", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["level"] == "ok"
    by = {(c["section"], c["name"]): c for c in doc["checks"]}
    assert by[("applications", "blog")]["data"] == {
        "sync": "Synced",
        "health": "Healthy",
        "revision": "a1b2c3d4e5f60718",
        "wave": 0,
    }
    cert = by[("certificates", "cert-manager/wildcard")]["data"]
    assert cert["ready"] is True and cert["daysLeft"] in (59, 60)
    ddns = by[("ddns", "cloudflare-ddns")]["data"]
    assert ddns["addresses"]["ipv4"] == "203.0.113.7" and ddns["consecutiveFailures"] == 0
    assert by[("traefik", "traefik/traefik")]["level"] == "ok"
    code, text = status()
    assert code == 0 and "overall: ok" in text


def test_degraded_application_exits_one(skube: Kube, status: Status) -> None:
    set_state(skube, health="Degraded")
    code, out = status("--output", "json")
    assert code == 1
    blog = next(c for c in json.loads(out)["checks"] if c["name"] == "blog")
    assert blog["level"] == "error"
    assert "Deployment blog has 0 ready pods" in blog["detail"]


def test_certificate_expiry_warns_under_14_days_and_fails_under_7(
    skube: Kube, status: Status
) -> None:
    set_state(skube, cert_days=10.5)
    code, out = status("--output", "json")
    assert code == 3
    cert = next(c for c in json.loads(out)["checks"] if c["section"] == "certificates")
    assert cert["level"] == "warning" and cert["data"]["daysLeft"] == 10
    set_state(skube, cert_days=3.5)
    code, out = status("--output", "json")
    assert code == 1
    cert = next(c for c in json.loads(out)["checks"] if c["section"] == "certificates")
    assert cert["level"] == "error" and "(3 days left)" in cert["detail"]


def test_ddns_failure_streak_and_unready_traefik_are_errors(skube: Kube, status: Status) -> None:
    set_state(skube, ddns_failures=1)
    assert status()[0] == 3
    set_state(skube, ddns_failures=4, traefik_ready=0)
    report = collect(skube)
    # The DDNS controller's Deployment is a check of its own (ready here).
    levels = {
        c.section: c.level for c in report.checks if c.name != "cloudflare-ddns/homeport-ddns"
    }
    assert levels["ddns"] == "error" and levels["traefik"] == "error" and report.exit_code == 1
    ddns = next(c for c in report.checks if c.section == "ddns")
    assert "4 failures in a row: cloudflare: 403 Invalid access token" in ddns.detail


def test_status_unreachable_is_one_clear_line(server: ApiServer, status: Status) -> None:
    with server.apiserver_stopped():
        code, out = status()
    assert code == 1
    assert out.strip().startswith("error: cannot reach the Kubernetes API server")


def test_stale_ddns_report_is_an_error(skube: Kube, status: Status) -> None:
    """A report older than two intervals is not trusted, however good it looks (item 7)."""
    set_state(skube, ddns_age=25 * 60)  # 25 minutes, interval 5m: the controller stopped
    report = collect(skube)
    ddns = next(c for c in report.checks if c.section == "ddns" and c.name == "cloudflare-ddns")
    assert ddns.level == "error" and "stale: last run 25m ago, expected every 5m" in ddns.detail
    assert ddns.data["ageSeconds"] >= 25 * 60 and ddns.data["intervalSeconds"] == 300
    code, out = status()
    assert code == 1 and "stale" in out
    # The interval comes from the Deployment: 9 minutes is fresh at 5m, stale at 1m.
    set_state(skube, ddns_age=9 * 60)
    assert collect(skube).exit_code == 0
    set_state(skube, ddns_age=9 * 60, ddns_interval="1m")
    ddns = next(c for c in collect(skube).checks if c.name == "cloudflare-ddns")
    assert ddns.level == "error" and "expected every 60s" in ddns.detail


def test_ddns_deployment_availability_counts(skube: Kube, status: Status) -> None:
    """A crash-looping controller (0/1 ready) is an error even with a fresh, good report."""
    set_state(skube, ddns_ready=0)
    report = collect(skube)
    dep = next(c for c in report.checks if c.name == "cloudflare-ddns/homeport-ddns")
    assert dep.section == "ddns" and dep.level == "error" and dep.detail == "0/1 ready"
    assert report.exit_code == 1
    # Negative control: ready again, everything ok.
    set_state(skube, ddns_ready=1)
    report = collect(skube)
    assert report.exit_code == 0, [(c.name, c.detail) for c in report.checks if c.level != "ok"]
    # A missing Deployment is an error too.
    # Kube has no delete (homeport never deletes); the raw client does it here.
    resp = skube._http.delete("/apis/apps/v1/namespaces/cloudflare-ddns/deployments/homeport-ddns")
    assert resp.status_code == 200, resp.text
    dep = next(c for c in collect(skube).checks if c.name == "cloudflare-ddns/homeport-ddns")
    assert dep.level == "error" and "missing" in dep.detail
