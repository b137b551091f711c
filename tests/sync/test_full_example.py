"""The bundled example, whole, synced by the real Argo CD: where it stops here, precisely.

Same real programs as test_platform_sync.py (see platform.py, kubelet.py). Two
Applications of the full example cannot turn Healthy on this machine, and this test pins
down exactly how they fail, so a change in either shows:

- ``monitoring`` (kube-prometheus-stack 88.2.0, wave -6): the copy of the chart in
  ``../shared/charts`` lacks its sub-charts (grafana, kube-state-metrics,
  prometheus-node-exporter, prometheus-windows-exporter), so the real Helm refuses to
  package it into the test's chart mirror, and Argo CD reports a ComparisonError: the
  chart version is not in the mirror. Wave -6 never completes,
  and ``bootstrap --wait`` names that wave and that Application.
- ``authentik-database`` (wave -5, applied here by hand since the root never gets there):
  CloudNativePG's operator runs for real and its webhooks admit the ``Cluster``, but the
  Postgres instance manager must run inside the database pod, which KWOK only simulates,
  so the operator's status request to the instance gets no answer: the Cluster's phase
  becomes "Instance Status Extraction Error: HTTP communication issue", which Argo CD's
  health check for CloudNativePG does not know, so the Application is Unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.netns import network_namespace
from homeport.cluster.kube import Kube

from .platform import Cluster, Services, cli, make_repo, render_and_publish, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "homeport.yaml"


def _as_example(cfg: dict[str, Any]) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    cfg["apps"] = example["apps"]
    cfg["cloudflare"] = example["cloudflare"]


@dataclass
class Stuck:
    svc: Services
    cluster: Cluster
    kube: Kube
    repo: Path
    home: Path


@pytest.fixture(scope="module")
def stuck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stuck]:
    base = tmp_path_factory.mktemp("example")
    with network_namespace():
        svc = Services.start(base)
        cluster: Cluster | None = None
        try:
            repo = make_repo(base, svc, _as_example)
            home = base / "home"
            render_and_publish(repo, home, svc.git)
            cluster = Cluster.start(base / "c", svc)
            kube = cluster.sim.connect()
            proc = cluster.bootstrap(base / "c", repo, home)
            assert proc.wait(timeout=300) == 0, (base / "c" / "bootstrap.log").read_text()
            yield Stuck(svc, cluster, kube, repo, home)
            kube.close()
        finally:
            if cluster is not None:
                cluster.stop()
            svc.stop()


def _app(kube: Kube, name: str) -> dict[str, Any]:
    return kube.get("argoproj.io/v1alpha1", "Application", name, "argocd") or {}


def _conditions(app: dict[str, Any]) -> list[str]:
    return [
        f"{c.get('type')}: {c.get('message')}"
        for c in (app.get("status") or {}).get("conditions") or []
    ]


def test_monitoring_cannot_render_and_holds_wave_minus_6(stuck: Stuck) -> None:
    kube = stuck.kube

    def comparison_error() -> str:
        conds = _conditions(_app(kube, "monitoring"))
        return next((c for c in conds if c.startswith("ComparisonError")), "")

    # `helm package` refused the chart when the mirror was built (its dependencies are
    # missing), so the mirror does not hold it, and Argo CD's Helm says so.
    refused = stuck.svc.helm.unpackaged["kube-prometheus-stack-88.2.0"]
    for sub in ("grafana", "kube-state-metrics", "prometheus-node-exporter"):
        assert sub in refused, refused
    message = wait_until("monitoring's ComparisonError", comparison_error, timeout=300)
    assert 'chart "kube-prometheus-stack" version "88.2.0" not found' in message, message
    # The waves before it completed; nothing after it was created.
    for name in ("namespaces", "argocd", "sealed-secrets", "secrets"):
        wait_until(
            f"{name} Healthy",
            lambda n=name: (
                (_app(kube, n).get("status") or {}).get("health", {}).get("status") == "Healthy"
            ),
            timeout=300,
        )
    assert not _app(kube, "authentik")
    r = cli(
        ["bootstrap", "-c", str(stuck.repo / "homeport.yaml"), "--wait", "--timeout=20"],
        stuck.home,
        kubeconfig=stuck.cluster.sim.kubeconfig,
    )
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "at wave -6" in out and "monitoring" in out, out


def test_authentik_database_waits_for_a_postgres_instance_manager(stuck: Stuck) -> None:
    kube = stuck.kube
    wait_until(
        "cloudnative-pg Healthy",
        lambda: (
            (_app(kube, "cloudnative-pg").get("status") or {}).get("health", {}).get("status")
            == "Healthy"
        ),
        timeout=300,
    )
    app = yaml.safe_load((stuck.repo / "cluster" / "apps" / "authentik-database.yaml").read_text())
    kube.apply(app)

    def cluster_phase() -> str:
        for c in kube.list_objects("postgresql.cnpg.io/v1", "Cluster", "authentik"):
            phase = (c.get("status") or {}).get("phase")
            if phase:
                return str(phase)
        return ""

    # First "Setting up primary"; once KWOK has completed the initdb Job and marked the
    # instance pod Ready, the operator asks the instance manager at the pod's IP (port 8000)
    # for its status; nothing answers there.
    stuck_phase = "Instance Status Extraction Error: HTTP communication issue"
    wait_until(stuck_phase, lambda: cluster_phase() == stuck_phase, timeout=240)
    # Argo CD v3.5.1's health check for postgresql.cnpg.io/Cluster has no entry for that
    # phase: the Cluster is Unknown, and so is the Application.
    health = wait_until(
        "authentik-database Unknown",
        lambda: (
            (_app(kube, "authentik-database").get("status") or {}).get("health", {}).get("status")
            == "Unknown"
        ),
        timeout=120,
    )
    assert health
