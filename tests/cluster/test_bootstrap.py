"""homeport bootstrap against the real API server."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest

from homeport import sealing
from homeport.cluster.bootstrap import (
    REPO_SECRET,
    REPO_SECRET_LABEL,
    SEALING_NAMESPACE,
    SEALING_SECRET,
    bootstrap,
)
from homeport.cluster.kube import Kube
from homeport.config import load_config
from homeport.errors import ClusterError
from homeport.platform.argocd import APPLICATION_HEALTH_LUA

from .apiserver import ApiServer
from .conftest import CliRun

EXAMPLE = Path(__file__).parents[2] / "examples" / "homeport.yaml"


def test_bootstrap_installs_everything_and_twice_changes_nothing(
    kube: Kube, kubeconfig: Path, keypair: sealing.KeyPair, cli: CliRun
) -> None:
    cfg = load_config(EXAMPLE)
    bootstrap(kube, cfg, pair=keypair)

    key = kube.get("v1", "Secret", SEALING_SECRET, SEALING_NAMESPACE)
    assert key is not None and key["type"] == "kubernetes.io/tls"
    assert key["metadata"]["labels"][sealing.KEY_LABEL] == "active"
    assert base64.b64decode(key["data"]["tls.crt"]) == keypair.cert_path.read_bytes()
    assert kube.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "certificates.cert-manager.io"
    )
    assert kube.get("apps/v1", "Deployment", "argocd-server", "argocd") is not None
    cm = kube.get("v1", "ConfigMap", "argocd-cm", "argocd")
    assert cm is not None
    assert (
        cm["data"]["resource.customizations.health.argoproj.io_Application"]
        == APPLICATION_HEALTH_LUA
    )
    root = kube.get("argoproj.io/v1alpha1", "Application", "root", "argocd")
    assert root is not None and root["spec"]["source"]["repoURL"] == cfg.git.url

    code, out = cli("bootstrap", "--config", str(EXAMPLE), "--kubeconfig", str(kubeconfig))
    assert code == 0, out
    assert "no changes: the cluster already matches" in out
    assert "existing Argo CD v3.5.1 found" in out
    assert " 0 created, 0 configured" in out


@pytest.fixture
def bootstrapped(kube: Kube, keypair: sealing.KeyPair) -> None:
    """The example is bootstrapped (once per session: later runs change nothing anyway)."""
    global _BOOTSTRAPPED
    if not _BOOTSTRAPPED or kube.get("apps/v1", "Deployment", "argocd-server", "argocd") is None:
        bootstrap(kube, load_config(EXAMPLE), pair=keypair)
        _BOOTSTRAPPED = True


_BOOTSTRAPPED = False


def test_dry_run_reports_the_change_and_stores_nothing(
    kube: Kube, keypair: sealing.KeyPair, bootstrapped: None
) -> None:
    cfg = load_config(EXAMPLE)
    changed = cfg.model_copy(update={"git": cfg.git.model_copy(update={"revision": "v9.9.9"})})
    result = bootstrap(kube, changed, pair=keypair, dry_run=True)
    root_step = next(s for s in result.steps if s.name == "root Application")
    assert root_step.result.configured == ["Application argocd/root"]
    root = kube.get("argoproj.io/v1alpha1", "Application", "root", "argocd")
    assert root is not None and root["spec"]["source"]["targetRevision"] == cfg.git.revision


def test_bootstrap_with_api_server_stopped_is_a_clear_error(
    apiserver: ApiServer, kubeconfig: Path, keypair: sealing.KeyPair, cli: CliRun
) -> None:
    with apiserver.apiserver_stopped():
        code, out = cli("bootstrap", "--config", str(EXAMPLE), "--kubeconfig", str(kubeconfig))
    assert code == 1
    line = out.strip().splitlines()[-1]
    assert line.startswith(f"error: cannot reach the Kubernetes API server at {apiserver.url}")
    assert "Traceback" not in out


def test_bootstrap_refuses_a_different_sealing_key(
    kube: Kube, keypair: sealing.KeyPair, tmp_path: Path, bootstrapped: None
) -> None:
    other, _ = sealing.ensure_keypair(tmp_path / "other")
    with pytest.raises(ClusterError, match="holds a different sealing key"):
        bootstrap(kube, load_config(EXAMPLE), pair=other)
    key = kube.get("v1", "Secret", SEALING_SECRET, SEALING_NAMESPACE)
    assert key is not None
    assert base64.b64decode(key["data"]["tls.crt"]) == keypair.cert_path.read_bytes()


def test_bootstrap_without_permissions_names_them(
    apiserver: ApiServer, keypair: sealing.KeyPair, cli: CliRun
) -> None:
    nobody = apiserver.write_user_kubeconfig("viewer")
    code, out = cli("bootstrap", "--config", str(EXAMPLE), "--kubeconfig", str(nobody))
    assert code == 1
    assert "lacks permissions bootstrap needs" in out
    assert "create customresourcedefinitions.apiextensions.k8s.io" in out


def test_private_repo_credentials_from_file_and_prompt(
    kube: Kube, kubeconfig: Path, keypair: sealing.KeyPair, tmp_path: Path, cli: CliRun
) -> None:
    creds = tmp_path / "repo.yaml"
    creds.write_text("username: robot\npassword: s3cr3t-token\n")
    code, out = cli(
        "bootstrap",
        "--config",
        str(EXAMPLE),
        "--kubeconfig",
        str(kubeconfig),
        "--repo-credentials",
        str(creds),
    )
    assert code == 0, out
    assert "s3cr3t-token" not in out
    secret = kube.get("v1", "Secret", REPO_SECRET, "argocd")
    assert secret is not None
    assert secret["metadata"]["labels"][REPO_SECRET_LABEL] == "repository"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "password": "s3cr3t-token",
        "type": "git",
        "url": load_config(EXAMPLE).git.url,
        "username": "robot",
    }
    # The prompt path: the token is typed, never given as a flag.
    code, out = cli(
        "bootstrap",
        "--config",
        str(EXAMPLE),
        "--kubeconfig",
        str(kubeconfig),
        "--repo-username",
        "robot",
        input="typed-token\n",
    )
    assert code == 0, out
    secret = kube.get("v1", "Secret", REPO_SECRET, "argocd")
    assert secret is not None
    assert base64.b64decode(secret["data"]["password"]).decode() == "typed-token"


def _mark_apps(kube: Kube, sync: str, health: str) -> None:
    for a in kube.list_objects("argoproj.io/v1alpha1", "Application", "argocd"):
        kube.apply(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": a["metadata"]["name"], "namespace": "argocd"},
                "status": {
                    "sync": {"status": sync, "revision": "0123456789abcdef"},
                    "health": {"status": health},
                },
            },
            field_manager="argocd-application-controller",
        )


def test_wait_follows_applications_until_healthy(
    kube: Kube, kubeconfig: Path, keypair: sealing.KeyPair, cli: CliRun, bootstrapped: None
) -> None:
    _mark_apps(kube, "OutOfSync", "Progressing")
    code, out = cli(
        "bootstrap",
        "--config",
        str(EXAMPLE),
        "--kubeconfig",
        str(kubeconfig),
        "--wait",
        "--timeout",
        "1",
    )
    assert code == 1
    assert "error: timed out after 1s at " in out and "root: OutOfSync/Progressing" in out

    # The controller (played by this thread) gets everything healthy while bootstrap waits.
    timer = threading.Timer(3.0, _mark_apps, (kube, "Synced", "Healthy"))
    timer.start()
    try:
        code, out = cli(
            "bootstrap",
            "--config",
            str(EXAMPLE),
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "--timeout",
            "120",
        )
    finally:
        timer.join()
    assert code == 0, out
    assert "all Applications are Synced and Healthy" in out


def test_bootstrap_applies_the_sealed_mirror_logins(
    kube: Kube, kubeconfig: Path, keypair: sealing.KeyPair, tmp_path: Path, cli: CliRun
) -> None:
    """The CLI opens the tree's mirror logins with the sealing key and applies them first."""
    from homeport import mirrorcreds, secretstore
    from homeport.platform.mirror import logins

    config = tmp_path / "homeport.yaml"
    config.write_text(
        EXAMPLE.read_text()
        + "mirror:\n  charts: https://charts.lab.example/mirror\n  credentials: true\n"
    )
    args = ["bootstrap", "--config", str(config), "--kubeconfig", str(kubeconfig)]
    # Negative control: asked for, not sealed: nothing is applied.
    code, out = cli(*args)
    assert code == 2
    assert "homeport secret set mirror-charts --namespace argocd" in out
    cfg = load_config(config)
    [login] = logins(cfg)
    sealed = mirrorcreds.seal_login(
        keypair.certificate(), login, {"username": b"robot", "password": b"mirror-pw-77"}
    )
    secretstore.write_sealed(tmp_path / cfg.git.path, sealed)
    code, out = cli(*args)
    assert code == 0, out
    assert "mirror credentials: applied 1" in out and "mirror-pw-77" not in out
    secret = kube.get("v1", "Secret", login.name, "argocd")
    assert secret is not None
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "password": "mirror-pw-77",
        "type": "helm",
        "url": "https://charts.lab.example/mirror",
        "username": "robot",
    }
