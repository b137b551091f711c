"""A real Argo CD (the pinned release) out of cluster: redis, repo-server, application-controller.

The three processes run on this machine against a test API server, the way the upstream
install runs them as pods (``../shared/upstream/README.md``, "Argo CD out of cluster"):
one ``argocd`` binary, its role chosen by ``ARGOCD_BINARY_NAME``, ``ARGOCD_FAKE_IN_CLUSTER``
making the kubeconfig stand for the in-cluster configuration (so
``https://kubernetes.default.svc`` is the test API server). No argocd-server, dex or
applicationset controller: Applications are written straight to the API server.

Listeners: redis, the repo-server (gRPC and metrics) and every helper bind 127.0.0.1. The
application-controller's metrics server binds ``0.0.0.0:<--metrics-port>`` (hard-coded in
v3.5.1 ``controller/appcontroller.go``); run it inside a network namespace
(``tests/cluster/netns.py``) to keep even that private. Every process starts from the
calling thread, so it inherits that thread's network namespace.

Settings that speed tests up (everything else is upstream's default):
``--app-resync 10 --app-resync-jitter 0`` (a new commit is noticed within 10 s instead of
120 s; tests that cannot wait call :meth:`ArgoCD.refresh`) and
``--repo-error-grace-period-seconds 0`` (a repository error shows as ``ComparisonError`` from
the second comparison on, instead of after upstream's 180 s grace: controller/state.go).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.apiserver import _stop_process, _tail, binary, free_port
from homeport.cluster.apply import load_manifest
from homeport.cluster.kube import Obj, connect

from .repos import SHARED, _wait_port, argocd_module_dir

NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
APP_API = "argoproj.io/v1alpha1"
PROCESSES = ("redis", "repo-server", "application-controller")
RESYNC_SECONDS = 10
START_TIMEOUT = 60.0
_PART_OF = {"app.kubernetes.io/part-of": "argocd"}


def install_manifest() -> Path:
    """The pinned Argo CD ``install.yaml`` (``$HOMEPORT_ARGOCD_MANIFEST``, else ../shared)."""
    env = os.environ.get("HOMEPORT_ARGOCD_MANIFEST")
    return Path(env) if env else SHARED / "upstream" / "argo-cd-v3.5.1" / "install.yaml"


def settings_objects() -> list[Obj]:
    """What must exist before the controllers start, besides the CRDs.

    The namespace, the settings ConfigMaps and Secret (Argo CD finds them by the
    ``app.kubernetes.io/part-of: argocd`` label), as the upstream install creates them.
    """

    def meta(name: str) -> Obj:
        return {"name": name, "namespace": NAMESPACE, "labels": dict(_PART_OF)}

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("argocd-cm")},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("argocd-rbac-cm")},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta("argocd-secret"), "type": "Opaque"},
    ]


def default_project() -> Obj:
    """AppProject ``default`` as argocd-server creates it on start (it does not run here)."""
    return {
        "apiVersion": APP_API,
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": NAMESPACE},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }


def application(
    name: str,
    source: Obj,
    namespace: str,
    *,
    sync_options: tuple[str, ...] = (),
    automated: bool = True,
    project: str = "default",
) -> Obj:
    """An Application in ``argocd`` deploying ``source`` into ``namespace`` of this cluster.

    Args:
        name: Application name.
        source: ``spec.source`` (repoURL, path or chart, targetRevision, ...).
        namespace: Destination namespace.
        sync_options: ``syncPolicy.syncOptions``.
        automated: Auto-sync (with prune and self-heal) as homeport's Applications do.
        project: AppProject name.
    """
    policy: Obj = {"syncOptions": list(sync_options)}
    if automated:
        policy["automated"] = {"prune": True, "selfHeal": True}
    return {
        "apiVersion": APP_API,
        "kind": "Application",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "project": project,
            "source": source,
            "destination": {"server": IN_CLUSTER, "namespace": namespace},
            "syncPolicy": policy,
        },
    }


def app_summary(app: Obj | None) -> str:
    """One line on an Application's state, for assertion messages."""
    if app is None:
        return "Application not found"
    st = app.get("status") or {}
    op = st.get("operationState") or {}
    conds = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in st.get("conditions") or [])
    sync, health = status_of(app)
    return (
        f"sync={sync} health={health}"
        f" operation={op.get('phase')} ({op.get('message')}) conditions=[{conds}]"
    )


class ArgoCD:
    """Argo CD's redis, repo-server and application-controller against one cluster.

    Attributes:
        kubeconfig: Admin kubeconfig of the cluster (Argo CD's "in-cluster" credentials).
        workdir: Logs (``<process>.log``), HOME, TMPDIR and the PATH folder of the processes.
        redis_port, repo_port, repo_metrics_port, controller_metrics_port: Their ports.
    """

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.workdir = Path(workdir)
        self.redis_port = free_port()
        self.repo_port = free_port()
        self.repo_metrics_port = free_port()
        self.controller_metrics_port = free_port()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # cluster objects ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Apply Argo CD's CRDs (from the pinned install.yaml) and :func:`settings_objects`.

        ``homeport bootstrap`` applies all of that itself (the whole install.yaml); a test
        that ran it first starts with ``start(prepare=False)``.
        """
        crds = [
            o for o in load_manifest(install_manifest()) if o["kind"] == "CustomResourceDefinition"
        ]
        with connect(self.kubeconfig) as kube:
            for obj in crds + settings_objects():
                kube.apply(obj)
            kube.wait_established([c["metadata"]["name"] for c in crds])

    def ensure_default_project(self) -> None:
        """Create AppProject ``default`` unless it exists (argocd-server's job in a cluster)."""
        with connect(self.kubeconfig) as kube:
            if kube.get(APP_API, "AppProject", "default", NAMESPACE) is None:
                kube.apply(default_project(), field_manager="argocd-server")

    # processes ------------------------------------------------------------------------------
    def _path_dir(self) -> Path:
        """A PATH folder with what the repo-server runs: helm, kustomize, the GPG wrappers."""
        bindir = self.workdir / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        for tool in ("helm", "kustomize"):
            link = bindir / tool
            if not link.exists():
                link.symlink_to(binary(tool))
        hack = argocd_module_dir() / "hack"
        for script in ("git-verify-wrapper.sh", "gpg-wrapper.sh"):
            # The module cache is read-only (0444): copy, then make executable.
            dst = bindir / script
            if not dst.exists():
                shutil.copyfile(hack / script, dst)
                dst.chmod(0o755)
        return bindir

    def _env(self, role: str) -> dict[str, str]:
        home = self.workdir / "home"
        tmp = self.workdir / "tmp"
        home.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        return {
            "PATH": f"{self._path_dir()}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "KUBECONFIG": str(self.kubeconfig),
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "ARGOCD_BINARY_NAME": f"argocd-{role}",
            "ARGOCD_GPG_ENABLED": "false",
            # Git must not read this machine's configuration or ask for credentials.
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = self.workdir / f"{name}.log"
        self._procs[name] = subprocess.Popen(
            args, env=env, cwd=self.workdir, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )

    def start(self, prepare: bool = True) -> ArgoCD:
        """Start redis, the repo-server and the application-controller; return when ready.

        Args:
            prepare: Apply the CRDs and settings first (:meth:`prepare`). AppProject
                ``default`` is ensured either way.

        Raises:
            RuntimeError: A binary is missing (run ``scripts/build-tools.sh``) or a process
                exited or did not become ready (with its log's tail).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        argocd = str(binary("argocd"))
        if prepare:
            self.prepare()
        self.ensure_default_project()
        redis = f"127.0.0.1:{self.redis_port}"
        # redis: a cache only, nothing on disk.
        self._spawn(
            "redis",
            [
                str(binary("redis-server")),
                "--bind", "127.0.0.1",
                "--port", str(self.redis_port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
        )  # fmt: skip
        _wait_port(self.redis_port, self._procs["redis"], self.workdir / "redis.log", "redis")
        self._spawn(
            "repo-server",
            [
                argocd,
                "--address", "127.0.0.1",
                "--port", str(self.repo_port),
                "--metrics-address", "127.0.0.1",
                "--metrics-port", str(self.repo_metrics_port),
                "--redis", redis,
                "--logformat", "text",
            ],
            self._env("repo-server"),
        )  # fmt: skip
        self._spawn(
            "application-controller",
            [
                argocd,
                "--kubeconfig", str(self.kubeconfig),
                "--namespace", NAMESPACE,
                "--redis", redis,
                "--repo-server", f"127.0.0.1:{self.repo_port}",
                "--metrics-port", str(self.controller_metrics_port),
                "--app-resync", str(RESYNC_SECONDS),
                "--app-resync-jitter", "0",
                "--repo-error-grace-period-seconds", "0",
                "--logformat", "text",
            ],
            self._env("application-controller"),
        )  # fmt: skip
        _wait_port(
            self.repo_port,
            self._procs["repo-server"],
            self.workdir / "repo-server.log",
            "argocd-repo-server",
        )
        self._wait_healthz()
        return self

    def _wait_healthz(self) -> None:
        # The controller answers /healthz on its metrics port once its caches are warm.
        url = f"http://127.0.0.1:{self.controller_metrics_port}/healthz"
        proc = self._procs["application-controller"]
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"argocd-application-controller exited with {proc.returncode}:\n"
                    + self.log_tail("application-controller")
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"argocd-application-controller not healthy in {START_TIMEOUT:.0f}s:\n"
            + self.log_tail("application-controller")
        )

    def __enter__(self) -> ArgoCD:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the controller, the repo-server and redis (in that order)."""
        for name in reversed(PROCESSES):
            _stop_process(self._procs.pop(name, None))

    # observation ----------------------------------------------------------------------------
    def log_tail(self, name: str, lines: int = 30) -> str:
        """The last lines of one process's log (a name in :data:`PROCESSES`)."""
        return f"--- {name}.log ---\n" + _tail(self.workdir / f"{name}.log", lines)

    def logs(self, name: str) -> str:
        """One process's whole log."""
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pids(self) -> dict[str, int]:
        """Process ids of the running processes."""
        return {n: p.pid for n, p in self._procs.items() if p.poll() is None}

    def rss_kib(self) -> dict[str, int]:
        """Resident memory of each running process in KiB (``VmRSS``; children not counted)."""
        out: dict[str, int] = {}
        for name, pid in self.pids().items():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = int(line.split()[1])
        return out

    def get_app(self, name: str) -> Obj | None:
        """The Application ``name`` (None if absent)."""
        with connect(self.kubeconfig) as kube:
            return kube.get(APP_API, "Application", name, NAMESPACE)

    def apply_app(self, app: Obj) -> Obj:
        """Create or update an Application (server-side apply, as ``kubectl apply`` would)."""
        with connect(self.kubeconfig) as kube:
            return kube.apply(app, field_manager="homeport-test")

    def refresh(self, name: str) -> None:
        """Ask the controller to compare ``name`` with Git now (the refresh annotation)."""
        patch = {
            "apiVersion": APP_API,
            "kind": "Application",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "annotations": {"argocd.argoproj.io/refresh": "normal"},
            },
        }
        with connect(self.kubeconfig) as kube:
            kube.apply(patch, field_manager="homeport-test-refresh")

    def wait_app(
        self,
        name: str,
        until: Callable[[Obj], bool],
        timeout: float = 60.0,
        what: str = "",
    ) -> Obj:
        """Poll Application ``name`` until ``until(app)`` holds.

        Raises:
            AssertionError: Timed out; the message has the Application's state and the
                tails of the repo-server and controller logs.
        """
        deadline = time.monotonic() + timeout
        app: Obj | None = None
        with connect(self.kubeconfig) as kube:
            while time.monotonic() < deadline:
                app = kube.get(APP_API, "Application", name, NAMESPACE)
                if app is not None and until(app):
                    return app
                time.sleep(0.25)
        raise AssertionError(
            f"Application {name} not {what or 'as expected'} after {timeout:.0f}s: "
            f"{app_summary(app)}\n{self.log_tail('repo-server')}\n"
            f"{self.log_tail('application-controller')}"
        )


def status_of(app: Obj) -> tuple[Any, Any]:
    """``(sync status, health status)`` of an Application."""
    st = app.get("status") or {}
    return (st.get("sync") or {}).get("status"), (st.get("health") or {}).get("status")


def conditions(app: Obj) -> list[Obj]:
    """``status.conditions`` of an Application."""
    return list((app.get("status") or {}).get("conditions") or [])
