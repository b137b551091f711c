"""Real programs for simulated pods: what a kubelet would run, run here next to the cluster.

KWOK marks every pod Running and Ready without running a container. For the controllers
whose work decides an Application's health, :class:`Kubelet` starts the real upstream
program as soon as Argo CD has created its Deployment: with the Deployment's own
arguments, as its own ServiceAccount (a client certificate for
``system:serviceaccount:<ns>:<sa>``, so it has exactly the RBAC the chart grants; the
Sealed Secrets controller gets a real token instead, as it only knows in-cluster
configuration), listening on loopback. A Deployment's webhook Service is routed to the
program's port with :meth:`SimCluster.expose`, as kube-proxy would route it to the pod.

What runs for real here (binaries from ``scripts/build-tools.sh``):

- ``sealed-secrets`` (kube-system): the Sealed Secrets controller;
- ``cert-manager`` controller, webhook and cainjector (cert-manager): the webhook answers
  the API server at the ``cert-manager-webhook`` Service address; the controller reaches
  the ACME server (pebble) on loopback and the Cloudflare API through the test's proxy;
- ``cloudnative-pg`` (cnpg-system): the operator, with its webhooks at
  ``cnpg-webhook-service``;
- ``prometheus-operator`` (monitoring), when the monitoring chart syncs;
- homeport's own DDNS controller (``homeport ddns run``, cloudflare-ddns), against the
  Cloudflare API stand-in (its ``--api-url``; the only argument changed besides the
  listen address), publishing its status ConfigMap with the Role homeport renders.

Everything else (Traefik, Argo CD's own in-cluster Deployments, the DDNS controller, demo
apps) stays simulated: their health is their Deployment's, which KWOK decides.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from certs.acme import CloudflareProxy, TestCA
from cluster.apiserver import free_port
from cluster.sealed_controller import SealedSecretsController
from homeport.cluster.kube import Kube

from .operators import (
    Proc,
    deployment_args,
    start_certmanager_cainjector,
    start_certmanager_webhook,
    start_cnpg,
    start_prometheus_operator,
    tool,
)
from .simcluster import SimCluster

Obj = dict[str, Any]


class Stoppable(Protocol):
    """A started program."""

    def stop(self) -> None:
        """Stop it."""


@dataclass
class Context:
    """What a program's start function gets.

    Attributes:
        sim: The cluster.
        kube: An admin connection.
        workdir: A folder of its own (logs, certificates).
        deployment: The Deployment Argo CD applied.
        kubeconfig: Credentials of the Deployment's ServiceAccount.
    """

    sim: SimCluster
    kube: Kube
    workdir: Path
    deployment: Obj
    kubeconfig: Path

    @property
    def namespace(self) -> str:
        """The Deployment's namespace."""
        return str(self.deployment["metadata"]["namespace"])

    @property
    def args(self) -> list[str]:
        """The Deployment's container args (``$(POD_NAMESPACE)`` substituted)."""
        return deployment_args(self.deployment, self.namespace)

    @property
    def service_account(self) -> str:
        """The pod's ServiceAccount."""
        spec = self.deployment["spec"]["template"]["spec"]
        return str(spec.get("serviceAccountName") or "default")


@dataclass
class Program:
    """A real program standing in for a simulated Deployment's pods.

    Attributes:
        name: Short name.
        namespace: Namespace of the Deployment.
        labels: Labels that select the Deployment.
        start: Starts the program.
        services: ``(service, port, local port name)``: Services routed to the program.
    """

    name: str
    namespace: str
    labels: dict[str, str]
    start: Callable[[Context], Stoppable]
    services: tuple[tuple[str, int, str], ...] = ()


@dataclass
class Kubelet:
    """Watches for the Deployments of :attr:`programs` and runs each program once.

    Attributes:
        sim: The cluster.
        workdir: Where programs keep their files.
        programs: What to run.
        started: Program name -> (process, seconds since :meth:`start`).
        errors: Program name -> why it could not start (re-tried every poll).
    """

    sim: SimCluster
    workdir: Path
    programs: list[Program]
    started: dict[str, tuple[Stoppable, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _began: float = 0.0

    def start(self) -> Kubelet:
        """Start watching (a thread; processes it starts inherit the caller's namespace)."""
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with self.sim.connect() as kube:
            while not self._stop.wait(0.5):
                for program in self.programs:
                    if program.name not in self.started:
                        try:
                            self._try(kube, program)
                        except Exception as exc:
                            self.errors[program.name] = f"{type(exc).__name__}: {exc}"

    def _try(self, kube: Kube, program: Program) -> None:
        labels: dict[str, str | None] = dict(program.labels)
        deps = kube.list_objects("apps/v1", "Deployment", program.namespace, labels)
        if not deps:
            return
        dep = deps[0]
        spec = dep["spec"]["template"]["spec"]
        sa = str(spec.get("serviceAccountName") or "default")
        if kube.get("v1", "ServiceAccount", sa, program.namespace) is None:
            return
        ns = program.namespace
        workdir = self.workdir / program.name
        workdir.mkdir(parents=True, exist_ok=True)
        # In the program's own folder: $KUBECONFIG is a colon-separated list, and the
        # user name (system:serviceaccount:...) would split a path made from it.
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(
            self.sim.user_kubeconfig_text(
                f"system:serviceaccount:{ns}:{sa}",
                ("system:serviceaccounts", f"system:serviceaccounts:{ns}"),
            )
        )
        kubeconfig.chmod(0o600)
        proc = program.start(Context(self.sim, kube, workdir, dep, kubeconfig))
        ports = getattr(proc, "ports", {})
        for service, port, key in program.services:
            self.sim.expose(ns, service, port, ports[key])
        self.started[program.name] = (proc, time.monotonic() - self._began)
        self.errors.pop(program.name, None)

    def stop(self) -> None:
        """Stop watching and stop every program started."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for proc, _ in reversed(list(self.started.values())):
            proc.stop()


# --- the programs ---------------------------------------------------------------------------


def _sealed_secrets(ctx: Context) -> Stoppable:
    ctl = SealedSecretsController(
        ctx.sim.api,
        ctx.kube,
        namespace=ctx.namespace,
        service_account=ctx.service_account,
        args=ctx.args,
        in_cluster_env=ctx.sim.in_cluster_env(),
    )
    return ctl.start()


def _cert_manager_controller(proxy: CloudflareProxy, ca: TestCA) -> Callable[[Context], Proc]:
    def start(ctx: Context) -> Proc:
        (ctx.workdir / "proxy-ca.pem").write_bytes(ca.pem)
        args = [
            *ctx.args,
            f"--kubeconfig={ctx.kubeconfig}",
            f"--metrics-listen-address=127.0.0.1:{free_port()}",
            f"--internal-healthz-listen-address=127.0.0.1:{free_port()}",
            "--enable-profiling=false",
        ]
        env = {
            # Its Cloudflare client has the API URL built in: the proxy routes
            # api.cloudflare.com to the emulator (see tests/certs/acme.py).
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "SSL_CERT_FILE": str(ctx.workdir / "proxy-ca.pem"),
            "POD_NAMESPACE": ctx.namespace,
        }
        argv = [str(tool("cert-manager-controller")), *args]
        return Proc("cert-manager-controller", argv, ctx.workdir, env=env).start()

    return start


def _cert_manager_webhook(ctx: Context) -> Proc:
    return start_certmanager_webhook(
        ctx.kubeconfig,
        ctx.workdir,
        secure_port=free_port(),
        namespace=ctx.namespace,
        chart_args=ctx.args,
    )


def _cert_manager_cainjector(ctx: Context) -> Proc:
    return start_certmanager_cainjector(ctx.kubeconfig, ctx.workdir, chart_args=ctx.args)


def _env_of(dep: Obj) -> dict[str, str]:
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {str(e["name"]): str(e["value"]) for e in container.get("env") or [] if "value" in e}


def _cnpg(ctx: Context) -> Proc:
    return start_cnpg(
        ctx.kubeconfig,
        ctx.workdir,
        webhook_port=free_port(),
        namespace=ctx.namespace,
        chart_args=ctx.args,
        env=_env_of(ctx.deployment),
    )


def _prometheus_operator(ctx: Context) -> Proc:
    return start_prometheus_operator(ctx.kubeconfig, ctx.workdir, chart_args=ctx.args)


def container_env(kube: Kube, dep: Obj) -> dict[str, str]:
    """The first container's environment as the kubelet resolves it (values, Secret keys)."""
    ns = dep["metadata"]["namespace"]
    out: dict[str, str] = {}
    for e in dep["spec"]["template"]["spec"]["containers"][0].get("env") or []:
        if "value" in e:
            out[str(e["name"])] = str(e["value"])
        elif ref := (e.get("valueFrom") or {}).get("secretKeyRef"):
            secret = kube.get("v1", "Secret", ref["name"], ns)
            if secret is None:  # not opened yet: the kubelet would not start the pod either
                raise RuntimeError(f"Secret {ns}/{ref['name']} does not exist yet")
            out[str(e["name"])] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return out


def _ddns(api_url: str) -> Callable[[Context], Proc]:
    def start(ctx: Context) -> Proc:
        args = list(ctx.deployment["spec"]["template"]["spec"]["containers"][0]["args"])
        port = free_port()
        if "--listen" in args:
            args[args.index("--listen") + 1] = f"127.0.0.1:{port}"
        env = {**container_env(ctx.kube, ctx.deployment), "KUBECONFIG": str(ctx.kubeconfig)}
        argv = [sys.executable, "-m", "homeport", *args, "--api-url", api_url]
        return Proc("homeport-ddns", argv, ctx.workdir, env=env, ports={"metrics": port}).start()

    return start


def platform_programs(proxy: CloudflareProxy, ca: TestCA, cloudflare_api: str) -> list[Program]:
    """The real programs of homeport's platform, selected by the charts' own labels."""
    cm = "cert-manager"
    return [
        Program(
            "ddns",
            "cloudflare-ddns",
            {"app.kubernetes.io/name": "ddns", "app.kubernetes.io/part-of": "homeport"},
            _ddns(cloudflare_api),
        ),
        Program(
            "sealed-secrets",
            "kube-system",
            {"app.kubernetes.io/name": "sealed-secrets"},
            _sealed_secrets,
        ),
        Program(
            "cert-manager-webhook",
            cm,
            {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/component": "webhook"},
            _cert_manager_webhook,
            (("cert-manager-webhook", 443, "webhook"),),
        ),
        Program(
            "cert-manager-cainjector",
            cm,
            {"app.kubernetes.io/name": "cainjector"},
            _cert_manager_cainjector,
        ),
        Program(
            "cert-manager-controller",
            cm,
            {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
            _cert_manager_controller(proxy, ca),
        ),
        Program(
            "cloudnative-pg",
            "cnpg-system",
            {"app.kubernetes.io/name": "cloudnative-pg"},
            _cnpg,
            (("cnpg-webhook-service", 443, "webhook"),),
        ),
        Program(
            "prometheus-operator",
            "monitoring",
            {"app": "kube-prometheus-stack-operator"},
            _prometheus_operator,
        ),
    ]
