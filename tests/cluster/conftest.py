"""Fixtures for tests against a real kube-apiserver (see apiserver.py)."""

from __future__ import annotations

import io
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer._click.termui as termui

from homeport import sealing
from homeport.cli import main
from homeport.cluster.kube import Kube, connect

from .apiserver import ApiServer, shared_apiserver


@pytest.fixture(scope="session")
def apiserver() -> ApiServer:
    """The session's API server (started once, shared by every cluster test)."""
    return shared_apiserver()


@pytest.fixture
def kubeconfig(apiserver: ApiServer) -> Path:
    """Admin kubeconfig of the shared API server (current context ``homeport-test``)."""
    if not apiserver.running:  # a previous test stopped it and failed before restarting
        apiserver.start()
    return apiserver.kubeconfig


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[Kube]:
    """A homeport connection to the shared API server."""
    with connect(kubeconfig) as k:
        yield k


@pytest.fixture
def namespace(kube: Kube) -> str:
    """A fresh namespace for this test (never deleted: no namespace controller runs)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One HOMEPORT_HOME with one sealing key for the session (the shared cluster holds one key)."""
    home = tmp_path_factory.mktemp("homeport-home")
    sealing.ensure_keypair(home)
    return home


@pytest.fixture
def keypair(session_home: Path, monkeypatch: pytest.MonkeyPatch) -> sealing.KeyPair:
    """The session's sealing key pair, with HOMEPORT_HOME pointing at it."""
    monkeypatch.setenv("HOMEPORT_HOME", str(session_home))
    pair, _ = sealing.ensure_keypair(session_home)
    return pair


CliRun = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliRun:
    """Run the real entry point (``homeport.cli.main``) in-process.

    Returns ``(exit code, stdout + stderr)``; ``input`` feeds prompts (hidden ones too).
    """

    def run(*args: str, input: str = "") -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["homeport", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        # getpass would read /dev/tty; prompts read the fed input instead.
        monkeypatch.setattr(
            termui, "hidden_prompt_func", lambda _p: sys.stdin.readline().rstrip("\n")
        )
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out + err

    return run
