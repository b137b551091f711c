"""Everything the Argo CD sync test runs, started in the test's network namespace.

Real: etcd, kube-apiserver, kube-controller-manager, kube-scheduler (SimCluster), KWOK's
simulated nodes, Argo CD v3.5.1's repo-server and application controller with redis,
``git daemon``, a Helm repository of the pinned charts (``helm package``), Helm and
kustomize (run by Argo CD), the Sealed Secrets controller, cert-manager's controller,
webhook and cainjector, CloudNativePG's operator (kubelet.py), pebble (Let's Encrypt's
ACME test server) with its DNS server, and homeport itself (``homeport init``,
``render``, ``bootstrap --wait``, ``status``, ``backup``, ``restore`` as processes).

Stand-ins, for what cannot run here: the Cloudflare API (tests/ddns/emulator.py, its
documented wire format, through an HTTPS proxy), k3s's ServiceLB (servicelb.py), and the
pods themselves (KWOK marks them Ready; the programs above run in their place).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from certs.acme import ChallTestSrv, CloudflareProxy, Pebble, TestCA
from ddns.emulator import CloudflareEmulator
from homeport.cluster.kube import Kube

from .argocd import ArgoCD
from .kubelet import Kubelet, platform_programs
from .repos import GitServer, HelmRepo, argocd_manifests_repo
from .simcluster import SimCluster

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
DOMAIN = "example.com"
EMAIL = "admin@example.com"
# A Cloudflare-shaped 40-character token (what the user pastes into `homeport init`).
TOKEN = "hpTESTcf0123456789abcdefghijklmnopqrstuv"
REPO = "homelab"
PUBLIC_IP = "81.2.69.160"


def _cli_env(home: Path, kubeconfig: Path | None) -> dict[str, str]:
    """The CLI's environment: the caller's, minus its homeport and cluster settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEPORT_", "KUBECONFIG"))}
    for k in ("HOMEPORT_CRD_DIR", "HOMEPORT_CHART_SCHEMA_DIR", "HOMEPORT_TOOLS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env["HOMEPORT_HOME"] = str(home)
    env["HOMEPORT_ARGOCD_MANIFEST"] = str(SHARED / "upstream/argo-cd-v3.5.1/install.yaml")
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


def cli(
    args: list[str], home: Path, *, kubeconfig: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``homeport`` as a process (in the caller's network namespace)."""
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        env=_cli_env(home, kubeconfig),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(args: list[str], home: Path, kubeconfig: Path, log: Path) -> subprocess.Popen[str]:
    """:func:`cli` in the background, its output going to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "homeport", *args],
        env=_cli_env(home, kubeconfig),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@dataclass
class Services:
    """What lives outside the cluster: Git, Helm, ACME, DNS, the Cloudflare API."""

    git: GitServer
    helm: HelmRepo
    argocd_repo: str
    cf: CloudflareEmulator
    ca: TestCA
    chall: ChallTestSrv
    proxy: CloudflareProxy
    pebble: Pebble

    @classmethod
    def start(cls, workdir: Path) -> Services:
        """Start them all (on loopback of the caller's namespace)."""
        git = GitServer(workdir / "git")
        helm = HelmRepo()
        cf = CloudflareEmulator(DOMAIN).start()
        cf.tokens[TOKEN] = "edit"  # Zone:DNS:Edit + Zone:Zone:Read on the zone
        ca = TestCA()
        chall = ChallTestSrv(workdir)
        cf.on_change = chall.mirror()
        proxy = CloudflareProxy(workdir, ca, cf)
        pebble = Pebble(workdir, ca, chall.dns)
        return cls(git, helm, argocd_manifests_repo(git), cf, ca, chall, proxy, pebble)

    def stop(self) -> None:
        """Stop them all."""
        for thing in (self.pebble, self.proxy, self.chall, self.cf, self.helm, self.git):
            thing.stop()


def make_repo(base: Path, svc: Services, edit: Callable[[dict[str, Any]], None]) -> Path:
    """``homeport init`` as a user runs it, then the user's own edits to homeport.yaml.

    The edits a user of this cluster makes: the Git URL of its server, the mirror (charts
    from the loopback Helm repository, Argo CD's manifests from the loopback Git mirror),
    the ACME server (pebble, with its CA) and the resolvers of the DNS-01 self-check.
    """
    home, repo = base / "home", base / "repo"
    token = base / "cf-token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    r = cli(
        [
            "init",
            "--non-interactive",
            "--dir",
            str(repo),
            "--domain",
            DOMAIN,
            "--email",
            EMAIL,
            "--git-url",
            svc.git.url(REPO),
            "--cloudflare-token-file",
            str(token),
        ],
        home,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    path = repo / "homeport.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["mirror"] = {"charts": svc.helm.url, "argocd": svc.argocd_repo}
    cfg["acme"] = {"server": svc.pebble.directory, "ca_bundle": svc.ca.pem.decode()}
    comps = cfg.setdefault("components", {})
    comps.setdefault("cert_manager", {})["nameservers"] = [svc.chall.dns]
    # A fixed public address: the DDNS controller asks no one.
    comps.setdefault("ddns", {})["ip_providers"] = [f"static:{PUBLIC_IP}"]
    edit(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return repo


def render_and_publish(repo: Path, home: Path, git: GitServer) -> str:
    """``homeport render`` (with its check) and a commit of the repository to the Git server."""
    r = cli(["render", "-c", str(repo / "homeport.yaml")], home)
    assert r.returncode == 0, r.stdout + r.stderr
    return git.publish(REPO, repo)


@dataclass
class Cluster:
    """One simulated cluster with Argo CD and the real programs running for its pods."""

    sim: SimCluster
    kubelet: Kubelet
    argo: ArgoCD | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, workdir: Path, svc: Services, *, load_balancer: bool = True) -> Cluster:
        """A fresh SimCluster (in the caller's namespace) and the kubelet stand-in."""
        t0 = time.monotonic()
        sim = SimCluster(workdir / "sim").start()
        if load_balancer:
            sim.answer_load_balancers("servicelb")
        kubelet = Kubelet(
            sim, workdir / "programs", platform_programs(svc.proxy, svc.ca, svc.cf.url)
        ).start()
        c = cls(sim, kubelet)
        c.timings["cluster-start"] = time.monotonic() - t0
        return c

    def start_argocd_when_installed(self, workdir: Path, kube: Kube, timeout: float) -> None:
        """Start Argo CD's controllers once its install (applied by bootstrap or restore) is in.

        In a cluster its pods start when the install manifest is applied; here that is
        when the Application CRD and ``argocd-cm`` exist.
        """

        def installed() -> bool:
            crd = kube.get(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", "applications.argoproj.io"
            )
            return (
                crd is not None and kube.get("v1", "ConfigMap", "argocd-cm", "argocd") is not None
            )

        wait_until("Argo CD installed", installed, timeout)
        self.argo = ArgoCD(self.sim.kubeconfig, workdir).start(prepare=False)

    def bootstrap(
        self, workdir: Path, repo: Path, home: Path, *extra: str
    ) -> subprocess.Popen[str]:
        """Start ``homeport bootstrap`` (output in ``workdir/bootstrap.log``), then Argo CD.

        Returns:
            The running bootstrap process.
        """
        proc = start_cli(
            ["bootstrap", "-c", str(repo / "homeport.yaml"), *extra],
            home,
            self.sim.kubeconfig,
            workdir / "bootstrap.log",
        )
        with self.sim.connect() as kube:
            self.start_argocd_when_installed(workdir / "argocd", kube, timeout=120)
        return proc

    def stop(self) -> None:
        """Stop Argo CD, the programs and the cluster."""
        if self.argo is not None:
            self.argo.stop()
        self.kubelet.stop()
        self.sim.stop()
