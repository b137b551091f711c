"""Module-scoped fixtures for tests that run a real Argo CD (see argocd.py and repos.py).

Import the ones a test module uses (``from .argo_fixtures import argo, git_server``). Every
server lives inside one network namespace per module (``argo_netns``, requested first so
it is left last): Argo CD's controller binds its metrics on 0.0.0.0, and inside the
namespace that address holds only loopback. The API server is a fresh one per module
(not ``shared_apiserver``): Argo CD watches every object in the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster.apiserver import ApiServer
from cluster.netns import network_namespace

from .argocd import ArgoCD
from .repos import GitServer, HelmRepo


@pytest.fixture(scope="module")
def argo_netns() -> Iterator[str]:
    """A network namespace (loopback only) the module's servers all start in."""
    with network_namespace() as name:
        yield name


@pytest.fixture(scope="module")
def argo_apiserver(
    argo_netns: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A clean etcd + kube-apiserver for this module."""
    server = ApiServer(tmp_path_factory.mktemp("apiserver")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def git_server(argo_netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """``git daemon`` on loopback, serving repositories published during the module."""
    server = GitServer(tmp_path_factory.mktemp("git"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def helm_repo(argo_netns: str) -> Iterator[HelmRepo]:
    """The pinned charts as a Helm repository on loopback (packaged once per process)."""
    repo = HelmRepo()
    try:
        yield repo
    finally:
        repo.stop()


@pytest.fixture(scope="module")
def argo(argo_apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArgoCD]:
    """Argo CD (redis, repo-server, application-controller) on the module's API server."""
    instance = ArgoCD(argo_apiserver.kubeconfig, tmp_path_factory.mktemp("argocd"))
    try:
        yield instance.start()
    finally:
        instance.stop()
