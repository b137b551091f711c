"""The built wheel, installed into a clean venv, works with nothing but itself.

Real parts: the package build (setuptools, with the schema-bundle build step), pip
installing the wheel and its declared dependencies into a fresh venv (offline, from the
wheelhouse scripts/setup.sh fills: ``--no-index``), the installed ``homeport`` entry
point run as a process in an empty directory with ``HOME`` an empty folder and no
``HOMEPORT_*`` variable, and a real etcd + kube-apiserver (tests/cluster/apiserver.py) for
``homeport bootstrap``. Negative control: the same installed commands with the package's
bundle hidden fail with one clear line and change nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeport.cluster.apply import pinned_crds
from homeport.cluster.kube import connect

from .apiserver import ApiServer

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
TOKEN = "cf-wheel-test-token-0123456789"
# What the package build needs from the source tree (a copy, so the worktree stays clean).
_SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


@dataclass
class Installed:
    venv: Path
    wheel: Path
    home: Path
    work: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "homeport"), *args],
            cwd=self.work,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src-copy"
    src.mkdir()
    for name in _SOURCES:
        shutil.copy2(ROOT / name, src / name)
    (src / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "build_schema_bundle.py", src / "scripts")
    shutil.copytree(
        ROOT / "src",
        src / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    dist = tmp / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
        env={**os.environ, "GOPROXY": "off"},
    )
    (wheel,) = dist.glob("homeport-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if not any(WHEELHOUSE.glob("*.whl")):
        pytest.fail(f"{WHEELHOUSE} is empty: run scripts/setup.sh (it fills it)")
    tmp = tmp_path_factory.mktemp("wheel")
    t0 = time.perf_counter()
    wheel = _build_wheel(tmp)
    t1 = time.perf_counter()
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            str(wheel),
        ],
        check=True,
    )
    t2 = time.perf_counter()
    print(
        f"\nwheel {wheel.name}: {wheel.stat().st_size / 1024:.0f} KiB, built in {t1 - t0:.1f} s, "
        f"installed with its dependencies in {t2 - t1:.1f} s"
    )
    home, work = tmp / "home", tmp / "work"
    home.mkdir()
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOMEPORT_", "XDG_", "GO", "VIRTUAL_ENV", "PYTHON"))
    }
    env["HOME"] = str(home)
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    return Installed(venv, wheel, home, work, env)


def test_the_wheel_carries_the_bundle(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    bundle = [n for n in names if n.startswith("homeport/data/schemas/")]
    assert "homeport/data/schemas/MANIFEST.json" in bundle
    assert {n.rsplit("/", 1)[1] for n in bundle if "/kubernetes/" in n} == {
        "v1.34.4.json.gz",
        "v1.35.4.json.gz",
        "v1.36.3.json.gz",
    }
    assert installed.wheel.stat().st_size < 2_000_000
    assert not [n for n in names if n.startswith(("tests/", "scripts/"))]


def test_every_module_of_the_installed_package_imports(installed: Installed) -> None:
    code = (
        "import importlib, pkgutil, homeport\n"
        "mods = sorted(m.name for m in pkgutil.walk_packages(homeport.__path__, 'homeport.'))\n"
        "for m in mods: importlib.import_module(m)\n"
        "print(homeport.__file__); print('\\n'.join(mods))\n"
    )
    res = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", code],
        cwd=installed.work,
        env=installed.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    where, *mods = res.stdout.split()
    assert where.startswith(str(installed.venv)), where  # the wheel, not the source tree
    src = ROOT / "src"
    expected = sorted(
        ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for p in (src / "homeport").rglob("*.py")
    )
    assert sorted([*mods, "homeport"]) == expected
    assert len(mods) > 50


@pytest.fixture(scope="module")
def own_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    # Its own server: the session's shared one holds another sealing key.
    server = ApiServer(tmp_path_factory.mktemp("apiserver")).start()
    try:
        yield server
    finally:
        server.stop()


def test_init_render_and_bootstrap_with_nothing_but_the_wheel(
    installed: Installed, own_apiserver: ApiServer
) -> None:
    init = installed.run(
        "init",
        "--non-interactive",
        "--domain",
        "example.com",
        "--email",
        "admin@example.com",
        "--git-url",
        "https://github.com/example/homelab.git",
        "--cloudflare-token-file",
        "-",
        stdin=TOKEN,
    )
    assert init.returncode == 0, init.stderr
    assert TOKEN not in init.stdout + init.stderr
    render = installed.run("render")
    assert render.returncode == 0, render.stdout + render.stderr
    summary = re.search(
        r"^ok: (\d+) objects in \d+ files, 0 errors, 0 warnings$", render.stderr, re.M
    )
    assert summary and int(summary.group(1)) > 50, render.stderr
    assert not (installed.home / ".cache").exists()  # nothing fetched, nothing cached

    boot = installed.run("bootstrap", "--kubeconfig", str(own_apiserver.kubeconfig))
    assert boot.returncode == 0, boot.stdout + boot.stderr
    with connect(own_apiserver.kubeconfig) as kube:
        crds = kube.list_objects("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        names = {c["metadata"]["name"] for c in crds}
        assert "certificates.cert-manager.io" in names
        assert "sealedsecrets.bitnami.com" in names
        assert "applications.argoproj.io" in names
        assert kube.get("apps/v1", "Deployment", "argocd-server", "argocd") is not None
        root = kube.get("argoproj.io/v1alpha1", "Application", "root", "argocd")
        assert root is not None
        assert root["spec"]["source"]["repoURL"] == "https://github.com/example/homelab.git"
    # Every bootstrapped CRD is the pinned upstream one (read here from ../shared).
    pinned = {c["metadata"]["name"]: c["spec"]["versions"] for c in pinned_crds()}
    served = {c["metadata"]["name"]: c["spec"]["versions"] for c in crds}
    for name in names & pinned.keys():
        assert [v["name"] for v in served[name]] == [v["name"] for v in pinned[name]], name

    # Negative control: hide the bundle; the same commands fail clearly, apply nothing.
    (schemas,) = installed.venv.glob("lib/python3*/site-packages/homeport/data/schemas")
    hidden = schemas.with_name("schemas-hidden")
    schemas.rename(hidden)
    try:
        again = installed.run("render")
        assert again.returncode == 2, again.stdout + again.stderr
        assert "no Kubernetes 1.36 OpenAPI schemas found" in again.stderr
        boot2 = installed.run("bootstrap", "--kubeconfig", str(own_apiserver.kubeconfig))
        assert boot2.returncode == 2, boot2.stdout + boot2.stderr
        assert "carries no Argo CD" in boot2.stderr
    finally:
        hidden.rename(schemas)
