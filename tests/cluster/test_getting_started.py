"""docs/getting-started.md, command by command: the commands are read from the doc itself.

Every ``homeport`` line of the doc's ``sh`` blocks runs, in the doc's order, through the CLI's
real entry point, in an empty directory with only the Cloudflare token file the doc tells
the user to create. Inline mentions (`homeport init --use-config`, ...) run too. Real parts:
init (real sealing), render with its offline check (pinned CRDs and chart schemas from
../shared), the doc's kubeadm + MetalLB snippet merged into the homeport.yaml init wrote, and
``bootstrap --wait`` and ``status`` against the real kube-apiserver of the tests/cluster
harness (KUBECONFIG pointing at it, the way the doc's user has ~/.kube/config).

Not real, and said so: no Argo CD controller runs here, so while ``bootstrap --wait`` waits,
this test writes each Application's status the way the controller would (Synced/Healthy);
and no workloads run, so ``status`` judges only the Applications there are (the root app).
The non-homeport lines (k3s install, git push) are not run.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport import __version__, sealing, yamlio
from homeport.cluster.kube import Kube
from homeport.errors import ClusterError

from .apiserver import ApiServer
from .conftest import CliRun


@pytest.fixture(scope="module")
def apiserver() -> Iterator[ApiServer]:
    """A fresh API server of its own: the guide starts from an empty cluster, and `status`
    judges every workload it finds, so objects other tests left in the shared one (a DDNS
    Deployment, a database Cluster) must not be there."""
    server = ApiServer().start()
    try:
        yield server
    finally:
        server.stop()


DOC = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
OFFLINE = ("--version", "init", "render")


def fenced_commands() -> list[str]:
    """``homeport ...`` lines of the doc's sh blocks, in order."""
    out: list[str] = []
    fence: str | None = None
    for raw in DOC.read_text().splitlines():
        line = raw.strip()
        if line.startswith("```"):
            fence = line[3:] if fence is None else None
            continue
        if fence in ("sh", "bash") and line.startswith("homeport "):
            out.append(line.split(" # ")[0].strip())
    return out


def inline_commands() -> set[str]:
    """``homeport ...`` code spans in the prose."""
    spans = re.findall(r"(?<!`)`(homeport [^`]+)`(?!`)", DOC.read_text())
    return {s.strip() for s in spans}


def yaml_block() -> dict[str, Any]:
    """The doc's homeport.yaml snippet (kubeadm + MetalLB)."""
    m = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert m, "the doc has no yaml block"
    return dict(yamlio.load(m.group(1)))


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    assert argv[0] == "homeport"
    return argv[1:]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keypair: sealing.KeyPair) -> Path:
    """An empty directory holding only the token file; the session's sealing key as home.

    The shared API server holds one sealing key, so init reuses the session's key pair.
    """
    d = tmp_path / "homelab"
    d.mkdir()
    (d / "cloudflare-token.txt").write_text("cf-token-from-the-dashboard\n")
    monkeypatch.chdir(d)
    return d


def test_the_doc_walks_the_first_hour_in_order() -> None:
    commands = [_argv(c)[0] for c in fenced_commands()]
    assert commands == ["--version", "init", "render", "bootstrap", "status"]
    assert _argv(fenced_commands()[3]) == ["bootstrap", "--wait"]
    # Inline mentions are one of those commands (or its start), or run below.
    fenced = fenced_commands()
    extra = {
        s for s in inline_commands() if not any(f == s or f.startswith(s + " ") for f in fenced)
    }
    assert extra == {"homeport init --use-config"}


def _run_offline(cli: CliRun, workdir: Path) -> None:
    for command in fenced_commands():
        argv = _argv(command)
        if argv[0] not in OFFLINE:
            continue
        code, out = cli(*argv)
        assert code == 0, f"{command}: {out}"
        if argv[0] == "--version":
            assert __version__ in out
        if argv[0] == "render":
            assert "0 errors, 0 warnings" in out, out
    assert (workdir / "cluster" / "secrets").is_dir()


def test_offline_commands_and_the_metallb_variant(cli: CliRun, workdir: Path) -> None:
    """--version, init, render as written; then `init --use-config`; then the MetalLB snippet."""
    _run_offline(cli, workdir)
    before = {p: p.read_bytes() for p in (workdir / "cluster" / "secrets").rglob("*.yaml")}
    code, out = cli(*_argv("homeport init --use-config"))
    assert code == 0, out
    assert {p: p.read_bytes() for p in (workdir / "cluster" / "secrets").rglob("*.yaml")} == before

    config = workdir / "homeport.yaml"
    merged = _merge(yamlio.load(config.read_text()), yaml_block())
    config.write_text(yamlio.dump(merged))
    code, out = cli(*_argv("homeport render"))
    assert code == 0, out
    assert "0 errors, 0 warnings" in out
    assert (workdir / "cluster" / "apps" / "metallb.yaml").is_file()
    pool = (workdir / "cluster/components/metallb-config/ipaddresspool-homeport.yaml").read_text()
    assert "192.168.1.240-192.168.1.250" in pool

    # Negative control: the doc says render names the field of a bad address.
    merged["load_balancer"]["addresses"] = ["192.168.1.1-192.168.1.9"]
    config.write_text(yamlio.dump(merged))
    code, out = cli(*_argv("homeport render"))
    assert code == 2 and "load_balancer.addresses[0]" in out and "router" in out


def _play_argocd(kube: Kube, stop: threading.Event) -> None:
    """Stand-in for Argo CD's controller: mark every Application Synced and Healthy."""
    while not stop.is_set():
        # A busy or (re)starting API server: try again, as a controller would.
        with contextlib.suppress(ClusterError):
            _mark_healthy(kube)
        time.sleep(0.5)


def _mark_healthy(kube: Kube) -> None:
    for a in kube.list_objects("argoproj.io/v1alpha1", "Application", "argocd"):
        health = ((a.get("status") or {}).get("health") or {}).get("status")
        if health == "Healthy":
            continue
        kube.apply(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": a["metadata"]["name"], "namespace": "argocd"},
                "status": {
                    "sync": {"status": "Synced", "revision": "0123456789abcdef"},
                    "health": {"status": "Healthy"},
                },
            },
            field_manager="argocd-application-controller",
        )


def test_bootstrap_wait_and_status_against_the_api_server(
    cli: CliRun,
    workdir: Path,
    kube: Kube,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The doc's cluster commands, unchanged, with KUBECONFIG at the test API server."""
    _run_offline(cli, workdir)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    rest = [c for c in fenced_commands() if _argv(c)[0] not in OFFLINE]
    assert [_argv(c)[0] for c in rest] == ["bootstrap", "status"]

    stop = threading.Event()
    controller = threading.Thread(target=_play_argocd, args=(kube, stop), daemon=True)
    controller.start()
    try:
        code, out = cli(*_argv(rest[0]))
    finally:
        stop.set()
        controller.join(timeout=10)
    assert code == 0, out
    assert "all Applications are Synced and Healthy" in out
    root = kube.get("argoproj.io/v1alpha1", "Application", "root", "argocd")
    assert root is not None and root["spec"]["source"]["path"] == "cluster/apps"

    # Right after bootstrap the API server may still be initialising the storage of the CRDs
    # it just installed (429 "storage is (re)initializing"); a user would simply run it again.
    deadline = time.monotonic() + 120
    while True:
        code, out = cli(*_argv(rest[1]))
        if "storage is (re)initializing" not in out or time.monotonic() > deadline:
            break
        time.sleep(2)
    # The Applications are Healthy; no workloads exist here, so status judges the root app.
    assert code == 0, out
    assert re.search(r"applications\s.*root\s.*Synced/Healthy", out), out
    assert "overall: ok" in out
