"""A real Argo CD v3.5.1 syncing from a real Git server and a real Helm repository.

Real: etcd + kube-apiserver (tests/cluster/apiserver.py), Argo CD's repo-server and
application-controller (the pinned release, built by scripts/build-tools.sh) with redis,
``git daemon``, ``helm package``/``helm repo index`` served over HTTP, kustomize and helm
as the repo-server runs them. All of it in one network namespace with loopback only.

Not here: kube-controller-manager, a scheduler or nodes. Nothing rolls a Deployment out,
so anything holding one stays ``Progressing`` (asserted as such below); the Git
Applications use objects Argo CD judges without a controller (ConfigMaps, RBAC, a
ServiceAccount), and the one that prunes does it in the background (a foreground
deletion waits for the garbage collector). argocd-server does not run either: it only
creates AppProject ``default``, which :class:`~sync.argocd.ArgoCD` applies in its place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from configs import NO_SSO, config
from homeport.cluster.kube import Obj, connect
from homeport.platform import argocd as argocd_platform
from homeport.versions import ARGOCD_VERSION, SEALED_SECRETS_CHART_VERSION

from .argo_fixtures import argo, argo_apiserver, argo_netns, git_server, helm_repo
from .argocd import NAMESPACE, ArgoCD, app_summary, application, conditions, status_of
from .repos import GitServer, HelmRepo, argocd_manifests_repo

__all__ = ["argo", "argo_apiserver", "argo_netns", "git_server", "helm_repo"]

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

WAVE = "argocd.argoproj.io/sync-wave"


def _write(tree: Path, name: str, objs: list[Obj]) -> None:
    tree.mkdir(parents=True, exist_ok=True)
    (tree / name).write_text(yaml.safe_dump_all(objs, sort_keys=True))


def _cm(name: str, data: dict[str, str], wave: int | None = None) -> Obj:
    md: Obj = {"name": name}
    if wave is not None:
        md["annotations"] = {WAVE: str(wave)}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data}


def _synced_healthy(app: Obj) -> bool:
    return status_of(app) == ("Synced", "Healthy")


def _operation(app: Obj) -> Obj:
    return dict((app.get("status") or {}).get("operationState") or {})


def _succeeded_at(sha: str) -> Callable[[Obj], bool]:
    def check(app: Obj) -> bool:
        op = _operation(app)
        return (
            status_of(app)[0] == "Synced"
            and op.get("phase") == "Succeeded"
            and (op.get("syncResult") or {}).get("revision") == sha
        )

    return check


def _comparison_error(app: Obj) -> str:
    return " ".join(
        str(c.get("message")) for c in conditions(app) if c.get("type") == "ComparisonError"
    )


def test_argo_cd_runs_inside_the_network_namespace(argo: ArgoCD, argo_netns: str) -> None:
    # The controller's metrics listen on 0.0.0.0: private only inside the namespace.
    inside = os.stat(f"/run/netns/{argo_netns}").st_ino
    spaces = {n: os.stat(f"/proc/{pid}/ns/net").st_ino for n, pid in argo.pids().items()}
    assert set(spaces) == {"redis", "repo-server", "application-controller"}
    assert set(spaces.values()) == {inside}, spaces
    # The control: the process that started pytest stayed in the namespace it had.
    assert os.stat(f"/proc/{os.getppid()}/ns/net").st_ino != inside


def test_git_application_syncs_and_follows_new_commits(
    argo: ArgoCD, git_server: GitServer, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    objs = [
        _cm("settings", {"greeting": "hello"}),
        _cm("other", {"k": "v"}),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        },
    ]
    _write(tree / "apps" / "demo", "objects.yaml", objs)
    first = git_server.publish("platform", tree)
    source = {"repoURL": git_server.url("platform"), "path": "apps/demo", "targetRevision": "main"}
    idle = argo.rss_kib()
    start = time.monotonic()
    # Prune in the background: Argo CD's default (foreground) leaves the pruned object
    # waiting for the garbage collector, which runs in kube-controller-manager (not here).
    options = ("CreateNamespace=true", "PrunePropagationPolicy=background")
    argo.apply_app(application("demo", source, "demo", sync_options=options))
    app = argo.wait_app("demo", lambda a: _synced_healthy(a) and _succeeded_at(first)(a), 60)
    print(f"\ngit app Synced/Healthy in {time.monotonic() - start:.1f}s; RSS idle KiB {idle}")
    assert (app["status"]["sync"]["revision"]) == first
    with connect(argo.kubeconfig) as kube:
        cm = kube.get("v1", "ConfigMap", "settings", "demo")
        assert cm is not None and cm["data"] == {"greeting": "hello"}
        # Argo CD marks what it manages (annotation tracking, v3's default).
        assert cm["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == (
            "demo:/ConfigMap:demo/settings"
        )
        assert kube.get("rbac.authorization.k8s.io/v1", "Role", "reader", "demo") is not None
    kinds = sorted(r["kind"] for r in app["status"]["resources"])
    assert kinds == ["ConfigMap", "ConfigMap", "Role", "ServiceAccount"]

    # A second commit: the changed value reaches the cluster, the removed object is pruned.
    _write(
        tree / "apps" / "demo", "objects.yaml", [_cm("settings", {"greeting": "bye"}), *objs[2:]]
    )
    second = git_server.publish("platform", tree)
    assert second != first
    start = time.monotonic()
    argo.refresh("demo")
    argo.wait_app("demo", _succeeded_at(second), 60, "synced to the second commit")
    print(f"second commit synced in {time.monotonic() - start:.1f}s")
    with connect(argo.kubeconfig) as kube:
        cm = kube.get("v1", "ConfigMap", "settings", "demo")
        assert cm is not None and cm["data"] == {"greeting": "bye"}
        assert kube.get("v1", "ConfigMap", "other", "demo") is None


def test_sync_waves_apply_in_order(argo: ArgoCD, git_server: GitServer, tmp_path: Path) -> None:
    # Names sort against the waves, so order by name would fail this test.
    objs = [
        _cm("a-last", {"w": "0"}, 0),
        _cm("b-middle", {"w": "-1"}, -1),
        _cm("c-first", {"w": "-2"}, -2),
    ]
    _write(tmp_path / "waves", "cms.yaml", objs)
    sha = git_server.publish("waves", tmp_path / "waves")
    source = {"repoURL": git_server.url("waves"), "path": ".", "targetRevision": "main"}
    # No self-heal: it may start a second, partial sync right after the first one when
    # the controller's cache has not seen the last wave yet, and that operation's result
    # would list only that object.
    app = application("waves", source, "waves", sync_options=("CreateNamespace=true",))
    app["spec"]["syncPolicy"]["automated"]["selfHeal"] = False
    argo.apply_app(app)
    app = argo.wait_app("waves", lambda a: _synced_healthy(a) and _succeeded_at(sha)(a), 60)
    created = {}
    with connect(argo.kubeconfig) as kube:
        for name in ("c-first", "b-middle", "a-last"):
            cm = kube.get("v1", "ConfigMap", name, "waves")
            assert cm is not None
            created[name] = cm["metadata"]["creationTimestamp"]
    # Argo CD waits for each wave to be healthy, then 2 s (ARGOCD_SYNC_WAVE_DELAY), so the
    # second-resolution creation times are strictly increasing in wave order.
    assert created["c-first"] < created["b-middle"] < created["a-last"], created
    # The sync result lists what was applied in order (the Namespace CreateNamespace
    # makes comes first, before any wave).
    results = [
        r["name"] for r in _operation(app)["syncResult"]["resources"] if r["kind"] == "ConfigMap"
    ]
    assert results == ["c-first", "b-middle", "a-last"], results


def test_helm_application_from_helm_repo(argo: ArgoCD, helm_repo: HelmRepo) -> None:
    chart = f"sealed-secrets-{SEALED_SECRETS_CHART_VERSION}.tgz"
    assert chart in helm_repo.charts()
    source = {
        "repoURL": helm_repo.url,
        "chart": "sealed-secrets",
        "targetRevision": SEALED_SECRETS_CHART_VERSION,
        "helm": {"releaseName": "sealed-secrets"},
    }
    start = time.monotonic()
    argo.apply_app(application("sealed", source, "sealed", sync_options=("CreateNamespace=true",)))
    app = argo.wait_app(
        "sealed",
        lambda a: status_of(a)[0] == "Synced" and _operation(a).get("phase") == "Succeeded",
        90,
        "Synced",
    )
    print(f"\nhelm app Synced in {time.monotonic() - start:.1f}s: {app_summary(app)}")
    assert helm_repo.fetched("index.yaml") and helm_repo.fetched(chart), helm_repo.requests
    with connect(argo.kubeconfig) as kube:
        assert kube.get("v1", "ServiceAccount", "sealed-secrets", "sealed") is not None
        crd = kube.get(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", "sealedsecrets.bitnami.com"
        )
        assert crd is not None
    # No controller-manager: nothing rolls the Deployment out, so it never reports an
    # observed generation, Argo CD judges it "Progressing" ("waiting for rollout"), and the
    # Application's health is its worst resource's. (v3 keeps per-resource health out of
    # the Application unless --persist-resource-health is set.)
    assert status_of(app)[1] == "Progressing", app_summary(app)
    with connect(argo.kubeconfig) as kube:
        deploy = kube.get("apps/v1", "Deployment", "sealed-secrets", "sealed")
    assert deploy is not None and "observedGeneration" not in (deploy.get("status") or {})


def test_argocd_manages_itself_from_its_release_manifests(
    argo: ArgoCD, git_server: GitServer
) -> None:
    """homeport's own ``argocd`` Application (kustomize patches included), pointed at the
    release's ``manifests/`` published on loopback instead of github.com."""
    url = argocd_manifests_repo(git_server)
    cfg = config(NO_SSO)
    comp = next(c for c in argocd_platform.components(cfg) if c.name == "argocd")
    app = argocd_platform.application(cfg, comp)
    app["spec"]["project"] = "default"
    app["spec"]["source"]["repoURL"] = url
    app["metadata"].pop("finalizers", None)
    assert app["spec"]["source"]["path"] == "manifests/cluster-install"
    assert app["spec"]["source"]["targetRevision"] == ARGOCD_VERSION
    rss_max: dict[str, int] = {}
    start = time.monotonic()
    argo.apply_app(app)

    def done(a: Obj) -> bool:
        for k, v in argo.rss_kib().items():
            rss_max[k] = max(rss_max.get(k, 0), v)
        return status_of(a)[0] == "Synced" and _operation(a).get("phase") == "Succeeded"

    got = argo.wait_app("argocd", done, 120, "Synced")
    print(f"\nargocd app Synced in {time.monotonic() - start:.1f}s: {app_summary(got)}")
    print(f"RSS while syncing (max KiB): {rss_max}")
    kinds = {r["kind"] for r in got["status"]["resources"]}
    assert {"CustomResourceDefinition", "Deployment", "StatefulSet", "ClusterRole"} <= kinds
    with connect(argo.kubeconfig) as kube:
        assert kube.get("apps/v1", "Deployment", "argocd-repo-server", NAMESPACE) is not None
        cm = kube.get("v1", "ConfigMap", "argocd-cm", NAMESPACE)
        # homeport's kustomize patch reached the cluster through Argo CD's kustomize.
        assert cm is not None
        assert "resource.customizations.health.argoproj.io_Application" in cm["data"]
    # Deployments and the StatefulSet are never rolled out here.
    assert status_of(got)[1] == "Progressing"


def test_missing_path_is_a_comparison_error(argo: ArgoCD, git_server: GitServer) -> None:
    source = {
        "repoURL": git_server.url("platform"),
        "path": "apps/nowhere",
        "targetRevision": "main",
    }
    argo.apply_app(application("no-path", source, "default"))
    app = argo.wait_app("no-path", lambda a: bool(_comparison_error(a)), 60, "in ComparisonError")
    print(f"\n{_comparison_error(app)}")
    assert "apps/nowhere: app path does not exist" in _comparison_error(app)
    assert status_of(app)[0] == "Unknown"


def test_missing_chart_version_is_a_comparison_error(argo: ArgoCD, helm_repo: HelmRepo) -> None:
    source = {"repoURL": helm_repo.url, "chart": "sealed-secrets", "targetRevision": "9.9.9"}
    argo.apply_app(application("no-version", source, "default"))
    app = argo.wait_app(
        "no-version", lambda a: bool(_comparison_error(a)), 60, "in ComparisonError"
    )
    print(f"\n{_comparison_error(app)}")
    assert f'version "9.9.9" not found in {helm_repo.url}' in _comparison_error(app)


def test_helm_repo_down_is_a_comparison_error(argo: ArgoCD) -> None:
    from cluster.apiserver import free_port

    down = f"http://127.0.0.1:{free_port()}"
    source = {
        "repoURL": down,
        "chart": "sealed-secrets",
        "targetRevision": SEALED_SECRETS_CHART_VERSION,
    }
    argo.apply_app(application("repo-down", source, "default"))
    app = argo.wait_app("repo-down", lambda a: bool(_comparison_error(a)), 60, "in ComparisonError")
    message = _comparison_error(app)
    print(f"\n{message}")
    assert f'Get "{down}/index.yaml"' in message and "connection refused" in message, message
