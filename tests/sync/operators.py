"""Upstream operators and admission webhooks, run for real out of cluster against a kubeconfig.

The Argo CD sync test syncs charts whose Deployments KWOK only simulates; the programs
below are the real ones those Deployments would run, started as processes next to the
control plane (binaries from ``scripts/build-tools.sh``):

- ``prometheus-operator`` (cmd/operator of prometheus-operator at PROMETHEUS_OPERATOR_VERSION).
  homeport's values turn kube-prometheus-stack's admission webhooks off, so the separate
  cmd/admission-webhook program is not needed.
- ``cnpg-manager controller`` (CloudNativePG at CLOUDNATIVE_PG_VERSION). It serves its
  own webhooks and manages their PKI as in a cluster: it creates the CA and serving
  certificate Secrets and injects the caBundle into the chart's webhook configurations.
  Its certificate directory is fixed (``/run/secrets/cnpg.io/webhook``); it runs in a
  private mount namespace with that directory bound to a work folder, and a thread here
  copies the ``cnpg-webhook-cert`` Secret into it, as the kubelet mounts it in a pod.
- ``cert-manager-webhook`` and ``cert-manager-cainjector`` (cert-manager at
  CERT_MANAGER_VERSION): upstream's packages behind a small command line of homeport's
  (``tools/cert-manager``; upstream's own commands are nested modules the module proxy
  does not serve). The webhook keeps its serving CA in the Secret the chart names; the
  cainjector copies that CA into the caBundle of the webhook configurations.

Listening: every port that has a bind-address flag is bound to 127.0.0.1. CloudNativePG's
webhook port and the cert-manager webhook's TLS and healthz ports have none (upstream
binds them on every interface), so those two programs refuse to start where the calling
thread sees any interface but ``lo``: start them inside a network namespace the test
created (tests/cluster/netns.py).

Like the kubelet, a :class:`Proc` restarts its program when it exits (after 1 s, doubling
to 10 s): CloudNativePG exits at start until its webhook configurations and Deployment
exist, exactly as its pod crash-loops in a cluster until Argo CD has applied them.
"""

from __future__ import annotations

import base64
import os
import platform
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cluster.apiserver import _tail, free_port, tools_bin
from homeport.cluster.kube import connect

BUILD_HINT = "run scripts/build-tools.sh"
CNPG_CERT_DIR = "/run/secrets/cnpg.io/webhook"
CNPG_WEBHOOK_SECRET = "cnpg-webhook-cert"
# Runs as the mount namespace's first process: a tmpfs over /run (the host's stays
# untouched), the work folder bound at the fixed certificate path, then the operator.
_CNPG_MOUNTS = (
    "set -e; mount -t tmpfs -o mode=0755,size=1m homeport-cnpg /run; "
    'mkdir -p "$CERT_DIR"; mount --bind "$CERTS" "$CERT_DIR"; exec "$@"'
)


def tool(name: str) -> Path:
    """A built binary, or a RuntimeError naming scripts/build-tools.sh."""
    path = tools_bin() / name
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is missing: {BUILD_HINT} (it builds {name})")
    return path


def network_interfaces() -> list[str]:
    """Interfaces of the calling thread's network namespace (what a process it starts sees)."""
    return sorted(name for _index, name in socket.if_nameindex())


def _require_private_netns(name: str) -> None:
    found = network_interfaces()
    if found != ["lo"]:
        raise RuntimeError(
            f"{name} binds its webhook on every interface (no bind-address flag) and this "
            f"network namespace has {', '.join(found)}: start it inside one the test "
            "created, loopback only (tests/cluster/netns.py)"
        )


class Proc:
    """One upstream program, restarted when it exits (as the kubelet restarts a container).

    Attributes:
        name: Short name, used in messages and the log file name.
        argv: The command line.
        log: File holding its stdout and stderr (every run appended).
        restarts: How many times it was started again after exiting.
        ports: Named loopback ports it listens on (e.g. ``webhook``, ``metrics``).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = workdir / f"{name}.log"
        self.restarts = 0
        self.ports = dict(ports or {})
        self._env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
        self._cwd = workdir
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> Proc:
        """Start the program and its supervisor thread."""
        self._spawn()
        self.add_thread(self._supervise)
        return self

    def _spawn(self) -> None:
        with self._lock, self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                self.argv, env=self._env, cwd=self._cwd, stdout=out, stderr=subprocess.STDOUT
            )

    def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None and proc.poll() is None:
                self._stopping.wait(0.2)
                continue
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, 10.0)
            self.restarts += 1
            self._spawn()

    def add_thread(self, target: Callable[[], None]) -> None:
        """Run a helper loop until :meth:`stop` (it should watch :attr:`stopping`)."""
        t = threading.Thread(target=target, name=f"{self.name}-helper", daemon=True)
        t.start()
        self._threads.append(t)

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`stop` was called."""
        return self._stopping

    @property
    def running(self) -> bool:
        """Whether the program is running right now."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 15, width: int = 400) -> str:
        """The last lines of its log, each cut to ``width`` characters."""
        return "\n".join(line[:width] for line in _tail(self.log, lines).splitlines())

    def log_text(self) -> str:
        """Its whole log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Stop the program (SIGTERM, then SIGKILL after 20 s) and its helper threads."""
        self._stopping.set()
        for t in self._threads:
            t.join(timeout=10)
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def deployment_args(deployment: dict[str, Any], namespace: str) -> list[str]:
    """A chart Deployment's first container args, ``$(POD_NAMESPACE)`` substituted."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return [str(a).replace("$(POD_NAMESPACE)", namespace) for a in container.get("args") or []]


def deployment_env(deployment: dict[str, Any]) -> dict[str, str]:
    """A chart Deployment's first container plain env values (``valueFrom`` ones left out)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}


def _without(args: Sequence[str], *flags: str) -> list[str]:
    """``args`` minus every ``--flag`` / ``--flag=value`` named (each is set again here).

    Charts write every flag as one ``--flag=value`` word; a separate value word would stay.
    """
    return [a for a in args if a.split("=", 1)[0] not in flags]


def start_prometheus_operator(
    kubeconfig: Path, workdir: Path, *, chart_args: Sequence[str] = ()
) -> Proc:
    """prometheus-operator with the chart's args, its web server on a loopback port.

    Args:
        kubeconfig: Its credentials (the chart's RBAC, or admin).
        workdir: Folder for its log.
        chart_args: The args of kube-prometheus-stack's operator Deployment.

    Returns:
        The running process (``ports["web"]`` serves ``/healthz`` and ``/metrics``).
    """
    web = free_port()
    args = [*_without(chart_args, "--web.listen-address"), f"--web.listen-address=127.0.0.1:{web}"]
    argv = [str(tool("prometheus-operator")), *args]
    # No --kubeconfig flag: it reads $KUBECONFIG (in-cluster configuration without it).
    env = {"KUBECONFIG": str(kubeconfig)}
    return Proc("prometheus-operator", argv, workdir, env=env, ports={"web": web}).start()


def start_cnpg(
    kubeconfig: Path,
    workdir: Path,
    *,
    webhook_port: int,
    namespace: str = "cnpg-system",
    chart_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Proc:
    """CloudNativePG's operator (``manager controller``) with its webhooks on ``webhook_port``.

    Before it starts for good, the chart's objects must exist: the webhook configurations
    ``cnpg-mutating-webhook-configuration`` and ``cnpg-validating-webhook-configuration``
    (it injects their caBundle) and a Deployment labelled
    ``app.kubernetes.io/name=cloudnative-pg`` in ``namespace`` (it owns the certificate
    Secrets); until then it exits and is restarted.

    Args:
        kubeconfig: Its credentials.
        workdir: Folder for its log and webhook certificates.
        webhook_port: Port of its webhook server (every interface: see the module doc).
        namespace: ``OPERATOR_NAMESPACE``, where its CA and serving certificate live.
        chart_args: The chart Deployment's args (``controller ...``); leader election
            is turned off and the metrics server moved to loopback.
        env: Extra environment, e.g. the chart's ``OPERATOR_IMAGE_NAME`` and
            ``MONITORING_QUERIES_CONFIGMAP``.

    Returns:
        The running process (``ports["webhook"]``, ``ports["metrics"]``).
    """
    _require_private_netns("CloudNativePG")
    binary = tool("cnpg-manager")
    certs = workdir / "cnpg-webhook"
    certs.mkdir(parents=True, exist_ok=True)
    # The operator image ships its instance manager as /operator/manager_<arch> (the same
    # binary); the operator reads it relative to its working directory, hashes it into
    # every Cluster's status and refuses to update the status without it.
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    manager = workdir / "operator" / f"manager_{arch}"
    manager.parent.mkdir(exist_ok=True)
    if not manager.is_symlink():
        manager.symlink_to(binary)
    metrics = free_port()
    base = list(chart_args) or ["controller"]
    args = [
        *_without(base, "--leader-elect", "--webhook-port", "--metrics-bind-address"),
        "--leader-elect=false",
        f"--webhook-port={webhook_port}",
        f"--metrics-bind-address=127.0.0.1:{metrics}",
    ]
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", _CNPG_MOUNTS, "sh"]
    argv += [str(binary), *args]
    proc_env = {
        "KUBECONFIG": str(kubeconfig),
        "OPERATOR_NAMESPACE": namespace,
        "CERT_DIR": CNPG_CERT_DIR,
        "CERTS": str(certs),
        **(env or {}),
    }
    ports = {"webhook": webhook_port, "metrics": metrics}
    proc = Proc("cnpg", argv, workdir, env=proc_env, ports=ports)
    proc.add_thread(lambda: _mount_secret(proc, kubeconfig, namespace, certs))
    return proc.start()


def _mount_secret(proc: Proc, kubeconfig: Path, namespace: str, folder: Path) -> None:
    """Keep ``folder`` holding the webhook Secret's keys, as the kubelet's secret volume."""
    with connect(kubeconfig) as kube:
        while not proc.stopping.wait(0.25):
            try:
                secret = kube.get("v1", "Secret", CNPG_WEBHOOK_SECRET, namespace)
            except Exception:  # the API server restarting: try again, as the kubelet does
                continue
            for key, b64 in ((secret or {}).get("data") or {}).items():
                data = base64.b64decode(b64)
                path = folder / key
                if not path.exists() or path.read_bytes() != data:
                    tmp = folder / f".{key}.tmp"
                    tmp.write_bytes(data)
                    tmp.chmod(0o600)
                    tmp.replace(path)


def start_certmanager_webhook(
    kubeconfig: Path,
    workdir: Path,
    *,
    secure_port: int,
    namespace: str = "cert-manager",
    chart_args: Sequence[str] = (),
    extra_dns_names: Sequence[str] = (),
) -> Proc:
    """cert-manager's admission webhook, TLS on ``secure_port`` with its dynamic serving CA.

    Args:
        kubeconfig: Its credentials.
        workdir: Folder for its log.
        secure_port: Its TLS port (every interface: see the module doc).
        namespace: The chart's namespace (``$(POD_NAMESPACE)`` in the chart's args).
        chart_args: The chart webhook Deployment's args (``--dynamic-serving-*`` name
            the CA Secret and the Service DNS names the serving certificate carries).
        extra_dns_names: More DNS names for the serving certificate.

    Returns:
        The running process (``ports["webhook"]``, ``ports["healthz"]``, ``ports["metrics"]``).
    """
    _require_private_netns("cert-manager's webhook")
    healthz, metrics = free_port(), free_port()
    flags = ("--secure-port", "--healthz-port", "--metrics-listen-address", "--kubeconfig")
    args = [
        *_without(chart_args, *flags),
        f"--kubeconfig={kubeconfig}",
        f"--secure-port={secure_port}",
        f"--healthz-port={healthz}",
        f"--metrics-listen-address=127.0.0.1:{metrics}",
        *(f"--dynamic-serving-dns-names={n}" for n in extra_dns_names),
    ]
    if not chart_args:
        args += [
            f"--dynamic-serving-ca-secret-namespace={namespace}",
            "--dynamic-serving-ca-secret-name=cert-manager-webhook-ca",
            *(
                f"--dynamic-serving-dns-names=cert-manager-webhook.{namespace}{s}"
                for s in ("", ".svc")
            ),
        ]
    argv = [str(tool("cert-manager-webhook")), *args]
    ports = {"webhook": secure_port, "healthz": healthz, "metrics": metrics}
    return Proc("cert-manager-webhook", argv, workdir, ports=ports).start()


def start_certmanager_cainjector(
    kubeconfig: Path, workdir: Path, *, chart_args: Sequence[str] = ()
) -> Proc:
    """cert-manager's CA injector (leader election off, metrics on loopback).

    Args:
        kubeconfig: Its credentials.
        workdir: Folder for its log.
        chart_args: The chart cainjector Deployment's args.

    Returns:
        The running process (``ports["metrics"]``).
    """
    metrics = free_port()
    flags = ("--leader-elect", "--metrics-listen-address", "--kubeconfig")
    args = [
        *_without(chart_args, *flags),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        f"--metrics-listen-address=127.0.0.1:{metrics}",
    ]
    argv = [str(tool("cert-manager-cainjector")), *args]
    return Proc("cert-manager-cainjector", argv, workdir, ports={"metrics": metrics}).start()


def wait_for(what: str, check: Callable[[], bool], proc: Proc, timeout: float = 60.0) -> None:
    """Poll ``check`` until true; on timeout raise with the program's log tail."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{proc.name}: {what} not within {timeout:.0f} s:\n{proc.log_tail()}"
            )
        time.sleep(0.25)
