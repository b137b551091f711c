"""A Git server and a Helm repository on loopback, the sources a real Argo CD syncs from.

- :class:`GitServer`: ``git daemon`` serving bare repositories over ``git://127.0.0.1:PORT``;
  :meth:`GitServer.publish` commits a folder to one of them (a new commit every call).
- :class:`HelmRepo`: the pinned charts (``../shared/charts``, unpacked with their
  dependencies) packaged with the real ``helm``, indexed with ``helm repo index`` and
  served over HTTP on loopback; it records every request, so a test can prove Argo CD
  fetched a chart through it.
- :func:`argocd_manifests_repo`: Argo CD's own ``manifests/`` at the pinned tag, the
  source homeport's self-managing ``argocd`` Application points at.

Every server binds in the calling thread, so one started inside a test's network
namespace (``tests/cluster/netns.py``) lives there.
"""

from __future__ import annotations

import atexit
import functools
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cluster.apiserver import _stop_process, _tail, binary, free_port
from homeport.versions import ARGOCD_VERSION

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
CHARTS = SHARED / "charts"
GO = "/usr/local/go/bin/go"

# Commits are reproducible: same tree, same parent, same number -> same SHA.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "homeport test",
    "GIT_AUTHOR_EMAIL": "test@homeport.invalid",
    "GIT_COMMITTER_NAME": "homeport test",
    "GIT_COMMITTER_EMAIL": "test@homeport.invalid",
    # No user or system git configuration leaks in (hooks, signing, init.defaultBranch).
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def _git(
    *args: str, git_dir: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    full_env = {**os.environ, **_GIT_ENV, "GIT_DIR": str(git_dir), **(env or {})}
    proc = subprocess.run(
        ["git", *args], env=full_env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {git_dir}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} in 20s:\n{_tail(log)}")


class GitServer:
    """``git daemon`` on a free loopback port, serving the bare repositories under ``root``.

    Started on construction (from the calling thread). Read-only: Argo CD only fetches.

    Attributes:
        root: Folder holding ``<name>.git`` bare repositories.
        port: The daemon's TCP port on 127.0.0.1.
        log: The daemon's log file.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.root / "git-daemon.log"
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [
                "git",
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--informative-errors",
                "--verbose",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={self.root}",
                str(self.root),
            ],
            env={**os.environ, **_GIT_ENV},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self._proc, self.log, "git daemon")

    def url(self, name: str) -> str:
        """The clone URL of repository ``name`` (``git://127.0.0.1:PORT/<name>.git``)."""
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def git_dir(self, name: str) -> Path:
        """The bare repository's folder."""
        return self.root / f"{name}.git"

    def publish(
        self,
        name: str,
        tree: Path,
        *,
        branch: str = "main",
        tag: str | None = None,
        subdir: str = "",
    ) -> str:
        """Commit the content of ``tree`` to repository ``name`` (created on first use).

        With ``subdir`` the folder lands under that path and the rest of the branch's
        tree stays; without it the commit holds exactly ``tree``. Every call adds a commit.

        Args:
            name: Repository name (the URL's ``<name>.git``).
            tree: Folder whose files are committed (``.git`` folders inside are skipped).
            branch: Branch to commit on (also the repository's HEAD when it is created).
            tag: A lightweight tag moved to the new commit.
            subdir: Path inside the repository to put ``tree`` under.

        Returns:
            The new commit's SHA.
        """
        gd = self.git_dir(name)
        if not gd.exists():
            _git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(gd), git_dir=gd)
        ref = f"refs/heads/{branch}"
        parent = (
            _git("rev-parse", "--verify", "--quiet", ref, git_dir=gd) if self._has(gd, ref) else ""
        )
        with tempfile.TemporaryDirectory(prefix="homeport-git-") as tmp:
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            _git(
                "--work-tree",
                str(tree),
                "add",
                "--all",
                "--force",
                ".",
                git_dir=gd,
                env=index,
                cwd=tree,
            )
            content = _git("write-tree", git_dir=gd, env=index)
            sub = subdir.strip("/")
            if sub:
                # read-tree --prefix and rm --cached want a work tree: an empty one.
                whole = {"GIT_INDEX_FILE": str(Path(tmp) / "whole"), "GIT_WORK_TREE": tmp}
                if parent:
                    _git("read-tree", parent, git_dir=gd, env=whole)
                    _git(
                        "rm",
                        "-r",
                        "--cached",
                        "--quiet",
                        "--ignore-unmatch",
                        sub,
                        git_dir=gd,
                        env=whole,
                    )
                _git("read-tree", f"--prefix={sub}/", content, git_dir=gd, env=whole)
                content = _git("write-tree", git_dir=gd, env=whole)
        count = int(_git("rev-list", "--count", ref, git_dir=gd)) if parent else 0
        date = f"@{_EPOCH + count} +0000"
        sha = _git(
            "commit-tree",
            content,
            *(["-p", parent] if parent else []),
            "-m",
            f"publish {tree.name} ({count + 1})",
            git_dir=gd,
            env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
        )
        _git("update-ref", ref, sha, git_dir=gd)
        if tag:
            _git("update-ref", f"refs/tags/{tag}", sha, git_dir=gd)
        return sha

    @staticmethod
    def _has(gd: Path, ref: str) -> bool:
        env = {**os.environ, **_GIT_ENV, "GIT_DIR": str(gd)}
        return (
            subprocess.run(
                ["git", "show-ref", "--verify", "--quiet", ref], env=env, check=False
            ).returncode
            == 0
        )

    def __enter__(self) -> GitServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the daemon (the repositories stay on disk)."""
        _stop_process(self._proc)
        self._proc = None


# --- Helm repository ------------------------------------------------------------------------


@functools.cache
def packaged_charts(charts_dir: Path = CHARTS) -> tuple[Path, dict[str, str]]:
    """Every chart folder under ``charts_dir`` packaged and indexed, once per test process.

    A chart ``helm package`` refuses (kube-prometheus-stack here: its copy lacks the
    grafana, kube-state-metrics and exporter sub-charts) is left out, with helm's message.

    Returns:
        A temporary folder (removed at exit) with ``<name>-<version>.tgz`` files and an
        ``index.yaml`` whose URLs are relative (any server address can serve it), and
        ``{chart folder name: helm's error}`` for the charts left out.

    Raises:
        RuntimeError: ``charts_dir`` holds no chart, or ``helm repo index`` failed.
    """
    helm = str(binary("helm"))
    out = Path(tempfile.mkdtemp(prefix="homeport-helm-repo-"))
    atexit.register(shutil.rmtree, out, True)
    charts = sorted(p for p in Path(charts_dir).iterdir() if (p / "Chart.yaml").is_file())
    if not charts:
        raise RuntimeError(f"{charts_dir}: no chart folders (each needs a Chart.yaml)")
    failed: dict[str, str] = {}
    for chart in charts:
        # Dependencies are already unpacked under charts/: package them as they are.
        proc = subprocess.run(
            [helm, "package", str(chart), "--destination", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            failed[chart.name] = proc.stderr.strip()
    proc = subprocess.run(
        [helm, "repo", "index", str(out)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"helm repo index {out}: {proc.stderr.strip()}")
    return out, failed


class _Handler(http.server.SimpleHTTPRequestHandler):
    repo: HelmRepo

    def log_message(self, format: str, *args: Any) -> None:
        # Goes to HelmRepo.requests instead of stderr.
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.repo.requests.append(
            (self.command, self.path, int(code) if str(code).isdigit() else 0)
        )


class HelmRepo:
    """A Helm chart repository on a free loopback port, serving :func:`packaged_charts`.

    Started on construction (the socket binds in the calling thread; a daemon thread serves).

    Attributes:
        url: ``http://127.0.0.1:PORT`` (the ``repoURL`` of a Helm Application).
        folder: The served folder (``index.yaml`` and the packaged charts).
        unpackaged: Chart folders ``helm package`` refused, with its message.
        requests: Every request so far, as ``(method, path, status)``.
    """

    def __init__(self, charts_dir: Path = CHARTS) -> None:
        self.folder, self.unpackaged = packaged_charts(Path(charts_dir))
        self.requests: list[tuple[str, str, int]] = []
        handler = type("Handler", (_Handler,), {"repo": self})
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(self.folder))
        )
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="helm-repo", daemon=True
        )
        self._thread.start()

    def charts(self) -> list[str]:
        """The packaged chart files served (``<name>-<version>.tgz``), sorted."""
        return sorted(p.name for p in self.folder.glob("*.tgz"))

    def fetched(self, filename: str) -> bool:
        """Whether ``GET /<filename>`` was answered 200."""
        return ("GET", f"/{filename}", 200) in self.requests

    def __enter__(self) -> HelmRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- Argo CD's own manifests ----------------------------------------------------------------


def argocd_module_dir() -> Path:
    """Argo CD's module source at the pinned version, from the Go module cache.

    Raises:
        RuntimeError: Not downloaded yet (``scripts/build-tools.sh`` downloads it when it
            builds ``argocd``).
    """
    cache = os.environ.get("GOMODCACHE")
    if not cache:
        try:
            cache = subprocess.run(
                [shutil.which("go") or GO, "env", "GOMODCACHE"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            cache = str(Path.home() / "go" / "pkg" / "mod")
    path = Path(cache) / "github.com" / "argoproj" / "argo-cd" / f"v3@{ARGOCD_VERSION}"
    if not (path / "manifests" / "cluster-install").is_dir():
        raise RuntimeError(
            f"{path} is missing: run scripts/build-tools.sh "
            f"(building argocd downloads Argo CD {ARGOCD_VERSION}'s module)"
        )
    return path


def argocd_manifests_repo(git: GitServer) -> str:
    """Publish Argo CD's ``manifests/`` as repository ``argo-cd``, tagged with the pin.

    homeport's ``argocd`` Application points at ``manifests/cluster-install`` of this
    repository at ``targetRevision: <ARGOCD_VERSION>``.

    Returns:
        The repository's URL.
    """
    if not git.git_dir("argo-cd").exists():
        git.publish(
            "argo-cd",
            argocd_module_dir() / "manifests",
            branch="master",
            tag=ARGOCD_VERSION,
            subdir="manifests",
        )
    return git.url("argo-cd")
