"""The real Sealed Secrets controller, run out of cluster against a test API server.

The controller (``github.com/bitnami-labs/sealed-secrets/cmd/controller`` at the pinned
version, built by ``scripts/build-tools.sh`` as ``sealed-secrets-controller``) only
knows in-cluster configuration: ``KUBERNETES_SERVICE_HOST``/``PORT`` plus a
service-account token and CA under ``/var/run/secrets/kubernetes.io/serviceaccount``.
It runs in a private mount namespace (``unshare -m``) with a tmpfs over ``/run`` that
holds those files, so the host's ``/run`` is never touched. The token is a real one,
issued by the API server's TokenRequest API for the chart's ServiceAccount, so the
controller acts with exactly the RBAC the chart grants. Its HTTP and metrics servers
listen on loopback ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from homeport.cluster.kube import Kube

from .apiserver import ApiServer, _stop_process, _tail, binary, free_port

SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"
# Runs as the mount namespace's first process: mount the tmpfs, copy the files, exec.
_SETUP = (
    'set -e; mount -t tmpfs -o mode=0755,size=1m homeport-sa /run; mkdir -p "$SA_DIR"; '
    'cp "$SRC/token" "$SRC/ca.crt" "$SRC/namespace" "$SA_DIR/"; exec "$@"'
)


class SealedSecretsController:
    """One controller process.

    Attributes:
        api: The API server it talks to.
        namespace: Its namespace (``POD_NAMESPACE``; the sealing keys live there).
        service_account: The ServiceAccount whose token it uses (must exist).
        args: Controller arguments (e.g. the ones the chart's Deployment passes).
        in_cluster_env: ``KUBERNETES_SERVICE_HOST``/``PORT`` to give it (default: the API
            server's loopback address; a SimCluster passes its ``in_cluster_env()``).
        port: Loopback port of its HTTP API (``/healthz``, ``/v1/cert.pem``).
    """

    def __init__(
        self,
        api: ApiServer,
        kube: Kube,
        *,
        namespace: str = "kube-system",
        service_account: str = "sealed-secrets-controller",
        args: list[str] | None = None,
        in_cluster_env: dict[str, str] | None = None,
    ) -> None:
        self.api = api
        self.kube = kube
        self.namespace = namespace
        self.service_account = service_account
        self.args = list(args or [])
        self.in_cluster_env = in_cluster_env or {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(api.port),
        }
        self.port = free_port()
        self.metrics_port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="homeport-sealed-secrets-"))
        self.log = self.workdir / "controller.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _token(self) -> str:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        }
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.service_account}/token"
        got: Any = self.kube.raw_post(path, body)
        return str(got["status"]["token"])

    def start(self, timeout: float = 60.0) -> SealedSecretsController:
        """Start the controller; return once its HTTP server answers ``/healthz``."""
        src = self.workdir / "sa"
        src.mkdir(mode=0o700, exist_ok=True)
        (src / "token").write_text(self._token())
        shutil.copy(self.api.workdir / "pki" / "ca.crt", src / "ca.crt")
        (src / "namespace").write_text(self.namespace)
        args = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            _SETUP,
            "sh",
            str(binary("sealed-secrets-controller")),
            *self.args,
            f"--listen-addr=127.0.0.1:{self.port}",
            f"--listen-metrics-addr=127.0.0.1:{self.metrics_port}",
        ]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **self.in_cluster_env,
            "POD_NAMESPACE": self.namespace,
            "SA_DIR": SA_DIR,
            "SRC": str(src),
        }
        self._proc = subprocess.Popen(
            args, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"sealed-secrets-controller exited with {self._proc.returncode}:\n"
                    f"{_tail(self.log)}"
                )
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"sealed-secrets-controller not healthy:\n{_tail(self.log)}")

    def log_text(self) -> str:
        """The controller's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Stop the process (its mount namespace goes with it) and remove the files."""
        _stop_process(self._proc)
        self._proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SealedSecretsController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_synced(
    kube: Kube, wanted: list[tuple[str, str]], timeout: float = 90.0
) -> dict[tuple[str, str], dict[str, Any]]:
    """Wait until every (namespace, name) SealedSecret reports ``Synced=True``.

    Returns:
        The Synced condition of each SealedSecret (the last seen, on timeout).
    """
    deadline = time.monotonic() + timeout
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    while True:
        for ns, name in wanted:
            obj = kube.get("bitnami.com/v1alpha1", "SealedSecret", name, ns)
            conds = ((obj or {}).get("status") or {}).get("conditions") or []
            seen[(ns, name)] = next((c for c in conds if c.get("type") == "Synced"), {})
        if all(c.get("status") == "True" for c in seen.values()) or time.monotonic() > deadline:
            return seen
        time.sleep(0.3)
