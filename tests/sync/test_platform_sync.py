"""homeport's platform synced by a real Argo CD, from an empty cluster to every Application
Healthy, then rebuilt from a backup on a second, fresh cluster (disaster recovery).

What is real and what is a stand-in: see platform.py and kubelet.py. In short: the control
plane, Argo CD, Git, Helm, kustomize, the Sealed Secrets controller, cert-manager (with
its webhook and cainjector), CloudNativePG's operator, pebble and homeport are the real
programs; the Cloudflare API, k3s's ServiceLB and the pods' containers are stand-ins.

The platform synced here is the example's minus two components whose Applications cannot
turn Healthy on simulated nodes here (asserted precisely in test_full_example.py):
monitoring (../shared's kube-prometheus-stack-88.2.0 lacks its sub-charts, so Helm
refuses to template it) and Authentik (its PostgreSQL ``Cluster`` needs CloudNativePG's
instance manager running inside a real Postgres pod).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.netns import network_namespace
from homeport.cluster.kube import Kube
from homeport.cluster.waves import WaveReport, read_waves
from homeport.cluster.wavewait import entered_in_order, wave_inversions

from .platform import (
    DOMAIN,
    PUBLIC_IP,
    REPO,
    Cluster,
    Services,
    cli,
    make_repo,
    render_and_publish,
    wait_until,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

BOOTSTRAP_TIMEOUT = 900


def _edit(cfg: dict[str, Any]) -> None:
    comps = cfg.setdefault("components", {})
    comps["authentik"] = {"enabled": False}
    comps["argocd"] = {"auth": "public"}
    comps["monitoring"] = {"enabled": False}
    cfg["apps"] = [
        {
            "name": "notes",
            "image": "ghcr.io/silverbulletmd/silverbullet:0.10.4",
            "port": 3000,
            "replicas": 1,
            "auth": "public",
            "storage": {"size": "1Gi", "path": "/space"},
        }
    ]


@dataclass
class Synced:
    """The first cluster after ``homeport bootstrap --wait``."""

    svc: Services
    cluster: Cluster
    kube: Kube
    repo: Path
    home: Path
    workdir: Path
    rc: int
    output: str
    seconds: float
    report: WaveReport


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    base = tmp_path_factory.mktemp("sync")
    with network_namespace():
        svc = Services.start(base)
        cluster: Cluster | None = None
        try:
            repo = make_repo(base, svc, _edit)
            home = base / "home"
            render_and_publish(repo, home, svc.git)
            cluster = Cluster.start(base / "c1", svc)
            kube = cluster.sim.connect()
            t0 = time.monotonic()
            proc = cluster.bootstrap(
                base / "c1", repo, home, "--wait", f"--timeout={BOOTSTRAP_TIMEOUT}", "--interval=1"
            )
            rc = proc.wait(timeout=BOOTSTRAP_TIMEOUT + 60)
            seconds = time.monotonic() - t0
            output = (base / "c1" / "bootstrap.log").read_text()
            report = read_waves(kube)
            yield Synced(svc, cluster, kube, repo, home, base, rc, output, seconds, report)
        finally:
            if cluster is not None:
                cluster.stop()
            svc.stop()


def _diagnose(s: Synced) -> str:
    lines = [s.output[-4000:]]
    if s.cluster.argo is not None:
        lines.append(s.cluster.argo.log_tail("application-controller", 20))
    lines.append(json.dumps(s.cluster.kubelet.errors, indent=1))
    return "\n".join(lines)


def test_bootstrap_wait_brings_every_application_to_healthy(synced: Synced) -> None:
    assert synced.rc == 0, _diagnose(synced)
    assert synced.report.ready, _diagnose(synced)
    apps = [a for w in synced.report.waves for a in w.apps]
    assert len(apps) >= 10
    assert all(a.sync == "Synced" and a.health == "Healthy" for a in apps)
    print(f"bootstrap --wait to all Healthy: {synced.seconds:.0f} s")
    for w in synced.report.waves:
        print(f"  {w.label}: {len(w.apps)} apps, {w.took}")


def _tls_serial(kube: Kube) -> int:
    from cryptography import x509

    secret = kube.get("v1", "Secret", "wildcard-tls", "traefik")
    assert secret is not None, "the wildcard certificate's Secret is missing"
    pem = base64.b64decode(secret["data"]["tls.crt"])
    return int(x509.load_pem_x509_certificate(pem).serial_number)


def _sealed_secrets(kube: Kube) -> dict[str, str]:
    out = {}
    for ss in kube.list_objects("bitnami.com/v1alpha1", "SealedSecret"):
        conds = (ss.get("status") or {}).get("conditions") or []
        synced = next((c for c in conds if c.get("type") == "Synced"), {})
        out[f"{ss['metadata']['namespace']}/{ss['metadata']['name']}"] = str(synced.get("status"))
    return out


def test_waves_were_entered_in_the_rendered_order(synced: Synced) -> None:
    assert synced.rc == 0, _diagnose(synced)
    # Each wave entered only after the one before was done (read from the Applications'
    # creation times and their operation history), in the order the tree renders.
    assert entered_in_order(synced.report, after_done=True), wave_inversions(
        synced.report, after_done=True
    )
    rendered = sorted(
        {
            int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
            for f in (synced.repo / "cluster" / "apps").glob("*.yaml")
            for a in yaml.safe_load_all(f.read_text())
            if a and a.get("kind") == "Application"
        }
    )
    assert [w.number for w in synced.report.waves if not w.root] == rendered
    assert "total:" in synced.output


def test_the_real_controllers_did_the_work(synced: Synced) -> None:
    kube = synced.kube
    # The Sealed Secrets controller opened every SealedSecret of the tree.
    states = _sealed_secrets(kube)
    assert states and set(states.values()) == {"True"}, states
    # cert-manager got the wildcard certificate from pebble (DNS-01 through the Cloudflare
    # API stand-in), after its webhook had admitted the ClusterIssuer and Certificate.
    cert = kube.get("cert-manager.io/v1", "Certificate", "wildcard", "traefik")
    ready = next(c for c in cert["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    webhook = kube.get("v1", "Service", "cert-manager-webhook", "cert-manager")
    assert synced.cluster.sim.connections(webhook["spec"]["clusterIP"], 443) > 0
    # CloudNativePG's operator injected its webhooks' CA (it runs them itself).
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for conf in kube.list_objects("admissionregistration.k8s.io/v1", kind):
            for hook in conf.get("webhooks") or []:
                assert hook["clientConfig"].get("caBundle"), (
                    conf["metadata"]["name"],
                    hook["name"],
                )
    # Traefik's LoadBalancer got its address, the app's volume is bound.
    svc = kube.get("v1", "Service", "traefik", "traefik")
    assert svc["status"]["loadBalancer"].get("ingress"), svc["status"]
    pvcs = kube.list_objects("v1", "PersistentVolumeClaim", "notes")
    assert pvcs and all(p["status"]["phase"] == "Bound" for p in pvcs)
    # homeport's own DDNS controller pointed both records at the address and published its
    # status with the RBAC homeport renders.
    assert "ddns" in synced.cluster.kubelet.started, synced.cluster.kubelet.errors
    wait_until("the DDNS records", lambda: synced.svc.cf.records_named(DOMAIN, "A"), timeout=60)
    assert synced.svc.cf.records_named(DOMAIN, "A") == [PUBLIC_IP]
    assert synced.svc.cf.records_named(f"*.{DOMAIN}", "A") == [PUBLIC_IP]
    wait_until(
        "the DDNS status ConfigMap",
        lambda: kube.get("v1", "ConfigMap", "homeport-ddns-status", "cloudflare-ddns"),
        timeout=60,
    )
    r = cli(["status"], synced.home, kubeconfig=synced.cluster.sim.kubeconfig)
    assert r.returncode == 0, r.stdout + r.stderr
    print("resources (RSS MiB):", {k: v >> 20 for k, v in synced.cluster.sim.resources().items()})
    if synced.cluster.argo is not None:
        print("Argo CD (RSS KiB):", synced.cluster.argo.rss_kib())


def test_a_broken_deployment_degrades_its_application_and_fails_the_wait(synced: Synced) -> None:
    """Negative control: a commit that breaks the app's Deployment (unschedulable, with a
    short progress deadline) leaves the Application Degraded; `bootstrap --wait` names it."""
    path = synced.repo / "cluster" / "components" / "app-notes" / "deployment-notes.yaml"
    good = path.read_text()
    dep = yaml.safe_load(good)
    dep["spec"]["progressDeadlineSeconds"] = 10
    dep["spec"]["template"]["spec"]["nodeSelector"] = {"homeport.test/no-such-node": "x"}
    path.write_text(yaml.safe_dump(dep, sort_keys=False))
    try:
        synced.svc.git.publish(REPO, synced.repo)
        assert synced.cluster.argo is not None
        synced.cluster.argo.refresh("app-notes")
        wait_until(
            "app-notes Degraded",
            lambda: (
                (
                    synced.kube.get("argoproj.io/v1alpha1", "Application", "app-notes", "argocd")
                    or {}
                )
                .get("status", {})
                .get("health", {})
                .get("status")
                == "Degraded"
            ),
            timeout=180,
        )
        r = cli(
            [
                "bootstrap",
                "-c",
                str(synced.repo / "homeport.yaml"),
                "--wait",
                "--timeout=120",
                "--interval=1",
                "--degraded-grace=3",
            ],
            synced.home,
            kubeconfig=synced.cluster.sim.kubeconfig,
        )
        assert r.returncode != 0
        assert "wave 0: app-notes is Degraded" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        path.write_text(good)
        synced.svc.git.publish(REPO, synced.repo)
        synced.cluster.argo.refresh("app-notes")  # type: ignore[union-attr]
    r = cli(
        [
            "bootstrap",
            "-c",
            str(synced.repo / "homeport.yaml"),
            "--wait",
            "--timeout=300",
            "--interval=1",
        ],
        synced.home,
        kubeconfig=synced.cluster.sim.kubeconfig,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_disaster_recovery_on_a_fresh_cluster(synced: Synced) -> None:
    """Backup, lose the cluster, restore into a fresh one, resync: the RTO, measured.

    Negative control on the way: the fresh cluster first has no load-balancer answer, and
    `bootstrap --wait` shows the wave that waits for it (traefik's LoadBalancer)."""
    s = synced
    assert s.rc == 0, _diagnose(s)
    passphrase = s.workdir / "backup-passphrase"
    passphrase.write_text("correct horse battery staple\n")
    archive = s.workdir / "backup.age"
    r = cli(
        ["backup", "-o", str(archive), "--passphrase-file", str(passphrase)],
        s.home,
        kubeconfig=s.cluster.sim.kubeconfig,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    serial = _tls_serial(s.kube)
    s.kube.close()
    s.cluster.stop()  # the disaster: every process of the cluster, and its etcd, gone

    t0 = time.monotonic()
    c2 = Cluster.start(s.workdir / "c2", s.svc, load_balancer=False)
    try:
        kube = c2.sim.connect()
        r = cli(
            ["restore", str(archive), "--passphrase-file", str(passphrase)],
            s.home,
            kubeconfig=c2.sim.kubeconfig,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        c2.start_argocd_when_installed(s.workdir / "c2" / "argocd", kube, timeout=60)

        def only_traefik_waits() -> bool:
            report = read_waves(kube)
            waiting = [a.name for w in report.waves for a in w.apps if not a.ready]
            return waiting == ["traefik"] or (
                report.current is not None and report.current.number == -6 and "traefik" in waiting
            )

        paused = time.monotonic()
        wait_until("every wave but traefik's", only_traefik_waits, timeout=600)
        r = cli(
            [
                "bootstrap",
                "-c",
                str(s.repo / "homeport.yaml"),
                "--wait",
                "--timeout=15",
                "--interval=1",
            ],
            s.home,
            kubeconfig=c2.sim.kubeconfig,
        )
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        assert "at wave -6" in out and "traefik" in out, out
        c2.sim.answer_load_balancers("servicelb")
        pause = time.monotonic() - paused
        r = cli(
            [
                "bootstrap",
                "-c",
                str(s.repo / "homeport.yaml"),
                "--wait",
                "--timeout=600",
                "--interval=1",
            ],
            s.home,
            kubeconfig=c2.sim.kubeconfig,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        rto = time.monotonic() - t0 - pause
        assert read_waves(kube).ready
        assert _tls_serial(kube) == serial  # the certificate came back, not re-issued
        states = _sealed_secrets(kube)
        assert states and set(states.values()) == {"True"}, states
        print(
            f"RTO: {rto:.0f} s from an empty cluster to all Healthy (seed: 15 min); "
            f"first sync {s.seconds:.0f} s"
        )
        kube.close()
    finally:
        c2.stop()
