"""`homeport render`: snapshots over realistic configs, invariants on every object,
determinism, atomic writes and file ownership."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from homeport import yamlio
from homeport.config import HomeportConfig, load_config, parse_config
from homeport.errors import ConfigError, PlaintextSecretError, RenderError
from homeport.gitops import (
    OWNED_FILE,
    RenderedTree,
    diff,
    guard_no_plaintext,
    read_owned,
    render_tree,
    tree_digest,
    write_tree,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = os.environ.get("HOMEPORT_UPDATE_SNAPSHOTS") == "1"

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterIssuer",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
}
# Objects created by charts or operators the tree installs (name, namespace) per kind.
EXTERNAL_SERVICES = {
    ("argocd-server", "argocd"),  # upstream install.yaml
    ("api@internal", "traefik"),  # Traefik's own dashboard service
    ("authentik-server", "authentik"),  # authentik chart, release "authentik"
}


def snapshot_text(tree: RenderedTree) -> str:
    return "".join(f"### {path}\n{text}" for path, text in tree.files.items())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_snapshot(example: Path) -> None:
    tree = render_tree(load_config(example))
    snap = SNAPSHOTS / f"{example.stem}.txt"
    text = snapshot_text(tree)
    if UPDATE:
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_text(text, encoding="utf-8")
    assert snap.exists(), f"no snapshot {snap}; run with HOMEPORT_UPDATE_SNAPSHOTS=1"
    assert text == snap.read_text(encoding="utf-8"), (
        f"render of {example.name} changed; review and re-run with HOMEPORT_UPDATE_SNAPSHOTS=1"
    )


def all_objects(cfg: HomeportConfig) -> list[tuple[str, dict[str, Any]]]:
    return render_tree(cfg).objects()


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.stem)
def rendered(
    request: pytest.FixtureRequest,
) -> tuple[HomeportConfig, list[tuple[str, dict[str, Any]]]]:
    cfg = load_config(request.param)
    return cfg, all_objects(cfg)


def test_every_object_is_well_formed(
    rendered: tuple[HomeportConfig, list[tuple[str, Any]]],
) -> None:
    _, objs = rendered
    assert objs
    for path, obj in objs:
        assert isinstance(obj.get("apiVersion"), str) and obj["apiVersion"], path
        assert isinstance(obj.get("kind"), str) and obj["kind"], path
        md = obj.get("metadata") or {}
        assert md.get("name"), path
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in md, path
        else:
            assert md.get("namespace"), f"{path}: namespaced {obj['kind']} without namespace"


def test_no_plain_secret_and_no_latest(
    rendered: tuple[HomeportConfig, list[tuple[str, Any]]],
) -> None:
    _, objs = rendered
    for path, obj in objs:
        assert obj["kind"] != "Secret", path
        text = yamlio.dump(obj)
        assert ":latest" not in text, path


def test_ingressroute_hosts_are_unique_and_inside_the_domain(
    rendered: tuple[HomeportConfig, list[tuple[str, Any]]],
) -> None:
    cfg, objs = rendered
    hosts: list[str] = []
    for _, obj in objs:
        if obj["kind"] != "IngressRoute":
            continue
        for route in obj["spec"]["routes"]:
            host = route["match"].removeprefix("Host(`").removesuffix("`)")
            assert host == cfg.domain or host.endswith("." + cfg.domain)
            hosts.append(host)
        assert obj["spec"]["tls"] == {}, "routes use the default TLSStore certificate"
    assert len(hosts) == len(set(hosts))


def test_references_resolve(rendered: tuple[HomeportConfig, list[tuple[str, Any]]]) -> None:
    cfg, objs = rendered
    by_kind: dict[str, set[tuple[str, str | None]]] = {}
    for _, obj in objs:
        md = obj["metadata"]
        by_kind.setdefault(obj["kind"], set()).add((md["name"], md.get("namespace")))
    namespaces = {n for n, _ in by_kind["Namespace"]} | {"kube-system", "default"}
    # kube-prometheus-stack names Grafana's service after the release.
    chart_services = {
        (f"{src['helm']['releaseName']}-grafana", o["spec"]["destination"]["namespace"])
        for _, o in objs
        if o["kind"] == "Application"
        and (src := o["spec"]["source"]).get("chart") == "kube-prometheus-stack"
    }
    for path, obj in objs:
        ns = obj["metadata"].get("namespace")
        if ns:
            assert ns in namespaces, f"{path}: namespace {ns} is not rendered"
        if obj["kind"] == "IngressRoute":
            for route in obj["spec"]["routes"]:
                for mw in route.get("middlewares", []):
                    key = (mw["name"], mw.get("namespace", ns))
                    assert key in by_kind.get("Middleware", set()), f"{path}: middleware {key}"
                for svc in route["services"]:
                    key = (svc["name"], svc.get("namespace", ns))
                    known = by_kind.get("Service", set()) | EXTERNAL_SERVICES | chart_services
                    assert key in known, f"{path}: service {key}"
        if obj["kind"] == "Certificate":
            issuer = obj["spec"]["issuerRef"]["name"]
            assert (issuer, None) in by_kind["ClusterIssuer"]
            assert issuer == f"letsencrypt-{cfg.acme.environment}"


def test_applications_point_at_rendered_paths_and_order_waves(
    rendered: tuple[HomeportConfig, list[tuple[str, Any]]],
) -> None:
    cfg, objs = rendered
    tree_files = {p for p, _ in objs}
    apps = [o for p, o in objs if o["kind"] == "Application" and p.startswith("apps/")]
    assert apps
    waves = {}
    for a in apps:
        waves[a["metadata"]["name"]] = int(
            a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        )
        src = a["spec"]["source"]
        if "chart" in src:
            assert src["targetRevision"][0].isdigit() or src["targetRevision"].startswith("v")
            assert src["helm"]["releaseName"]
            continue
        path = src["path"]
        if src["repoURL"] == cfg.git.url and not path.endswith("/secrets"):
            rel = path.removeprefix(cfg.git.path + "/")
            assert any(f.startswith(rel + "/") for f in tree_files), (
                f"{a['metadata']['name']}: {path}"
            )
    assert waves["namespaces"] < waves["sealed-secrets"] < waves["secrets"]
    assert waves["secrets"] < waves["cert-manager"] < waves["cert-manager-config"]
    assert (
        waves["traefik"]
        < waves["traefik-config"]
        < min(w for n, w in waves.items() if n.startswith("app-") or n == "demo-apps")
        if any(n.startswith("app-") or n == "demo-apps" for n in waves)
        else True
    )


def test_argocd_application_health_check_and_self_management() -> None:
    cfg = load_config(ROOT / "examples" / "homeport.yaml")
    tree = render_tree(cfg)
    app = yamlio.load(tree.files["apps/argocd.yaml"])
    src = app["spec"]["source"]
    assert src["repoURL"] == "https://github.com/argoproj/argo-cd.git"
    assert src["path"] == "manifests/cluster-install"
    patches = "".join(p["patch"] for p in src["kustomize"]["patches"])
    assert "resource.customizations.health.argoproj.io_Application" in patches
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    root = yamlio.load(tree.files["root-app.yaml"])
    assert root["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert root["spec"]["syncPolicy"]["retry"]["backoff"]["factor"] == 2


def test_traefik_redirect_tlsstore_and_headers() -> None:
    tree = render_tree(load_config(ROOT / "examples" / "homeport.yaml"))
    values = yamlio.load(tree.files["apps/traefik.yaml"])["spec"]["source"]["helm"]["valuesObject"]
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"] == {
        "to": "websecure",
        "scheme": "https",
        "permanent": True,
    }
    assert values["tlsStore"]["default"]["defaultCertificate"]["secretName"] == "wildcard-tls"
    assert values["providers"]["kubernetesCRD"]["allowCrossNamespace"] is True
    headers = yamlio.load(tree.files["components/traefik-config/middleware-security-headers.yaml"])
    h = headers["spec"]["headers"]
    assert h["stsSeconds"] >= 31536000 and h["contentTypeNosniff"] and h["frameDeny"]


def test_certificate_and_issuers() -> None:
    cfg = load_config(ROOT / "examples" / "full-ha.yaml")
    tree = render_tree(cfg)
    cert = yamlio.load(tree.files["components/cert-manager-config/certificate-wildcard.yaml"])
    assert cert["spec"]["dnsNames"] == [cfg.domain, f"*.{cfg.domain}"]
    assert cert["spec"]["issuerRef"]["name"] == "letsencrypt-production"
    values = yamlio.load(tree.files["apps/cert-manager.yaml"])["spec"]["source"]["helm"][
        "valuesObject"
    ]
    assert values["dns01RecursiveNameserversOnly"] is True
    assert values["dns01RecursiveNameservers"] == "1.1.1.1:53,9.9.9.9:53"


def test_every_namespace_has_psa_labels_and_default_deny() -> None:
    tree = render_tree(load_config(ROOT / "examples" / "homeport.yaml"))
    objs = [o for _, o in tree.objects()]
    nss = [o for o in objs if o["kind"] == "Namespace"]
    assert {"traefik", "cert-manager", "demo-apps", "argocd", "blog", "notes"} <= {
        n["metadata"]["name"] for n in nss
    }
    for ns in nss:
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] in (
            "restricted",
            "baseline",
            "privileged",
        )
        name = ns["metadata"]["name"]
        deny = [
            o
            for o in objs
            if o["kind"] == "NetworkPolicy"
            and o["metadata"]["namespace"] == name
            and o["metadata"]["name"] == "default-deny"
        ]
        assert deny and deny[0]["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_demo_apps_are_hardened() -> None:
    tree = render_tree(load_config(ROOT / "examples" / "homeport.yaml"))
    for name in ("whoami", "hello"):
        dep = yamlio.load(tree.files[f"components/demo-apps/deployment-{name}.yaml"])
        assert dep["spec"]["replicas"] == 2
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = pod["containers"][0]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["livenessProbe"] and c["readinessProbe"]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        assert f"components/demo-apps/poddisruptionbudget-{name}.yaml" in tree.files
    whoami = yamlio.load(tree.files["components/demo-apps/ingressroute-whoami.yaml"])
    assert whoami["spec"]["routes"][0]["match"] == "Host(`whoami.example.com`)"


def test_render_twice_gives_identical_bytes(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "examples" / "full-ha.yaml")
    write_tree(render_tree(cfg), tmp_path / "a")
    write_tree(render_tree(cfg), tmp_path / "b")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    # A second render into the same directory changes nothing.
    res = write_tree(render_tree(cfg), tmp_path / "a")
    assert res.total_changes == 0
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_render_is_deterministic_across_processes(tmp_path: Path) -> None:
    digests = set()
    for i in range(2):
        out = tmp_path / f"t{i}"
        env = {**os.environ, "PYTHONHASHSEED": str(i + 1)}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "homeport",
                "render",
                "-c",
                str(ROOT / "examples" / "homeport.yaml"),
                "--out",
                str(out),
                "--no-check",
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        digests.add(tree_digest(out))
    assert len(digests) == 1


def test_failure_mid_write_leaves_old_tree_intact(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    old_cfg = load_config(ROOT / "examples" / "minimal.yaml")
    write_tree(render_tree(old_cfg), out)
    before = tree_digest(out)
    new_tree = render_tree(load_config(ROOT / "examples" / "full-ha.yaml"))
    with pytest.raises(RenderError, match="previous tree is untouched"):
        write_tree(new_tree, out, _fail_after=5)
    assert tree_digest(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name != "cluster"], "temporary files left behind"


def test_crash_between_swap_renames_is_recovered(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    cfg = load_config(ROOT / "examples" / "minimal.yaml")
    write_tree(render_tree(cfg), out)
    before = tree_digest(out)
    os.replace(out, tmp_path / "cluster.homeport-old")  # as if killed between the renames
    res = write_tree(render_tree(cfg), out)
    assert res.total_changes == 0
    assert tree_digest(out) == before


def test_removes_only_files_it_owns_and_keeps_sealed_secrets(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    text = (ROOT / "examples" / "homeport.yaml").read_text()
    cfg = parse_config(text)
    write_tree(render_tree(cfg), out)
    sealed = out / "secrets" / "blog" / "blog-env.yaml"
    sealed.parent.mkdir(parents=True)
    sealed.write_text("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n")
    notes = out / "NOTES.md"
    notes.write_text("my notes\n")
    assert "components/app-notes/deployment-notes.yaml" in read_owned(out)
    # Drop the "notes" app: its files go, the user's files stay.
    data = yamlio.load(text)
    data["apps"] = [a for a in data["apps"] if a["name"] != "notes"]
    cfg2 = parse_config(yamlio.dump(data))
    res = write_tree(render_tree(cfg2), out)
    assert "components/app-notes/deployment-notes.yaml" in res.removed
    assert not (out / "components" / "app-notes").exists() or not any(
        (out / "components" / "app-notes").iterdir()
    )
    assert sealed.read_text().startswith("apiVersion: bitnami.com")
    assert notes.read_text() == "my notes\n"
    assert (out / OWNED_FILE).exists()


def test_refuses_to_take_over_a_foreign_directory(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    out.mkdir()
    (out / "important.yaml").write_text("mine\n")
    with pytest.raises(RenderError, match="did not render"):
        write_tree(render_tree(load_config(ROOT / "examples" / "minimal.yaml")), out)
    assert (out / "important.yaml").read_text() == "mine\n"


def test_refuses_a_git_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    with pytest.raises(RenderError, match="Git repository root"):
        write_tree(render_tree(load_config(ROOT / "examples" / "minimal.yaml")), tmp_path)


def test_guard_refuses_plain_secrets() -> None:
    with pytest.raises(PlaintextSecretError, match="plaintext"):
        guard_no_plaintext(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "x"},
                "stringData": {"a": "b"},
            },
            "f",
        )
    guard_no_plaintext({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, "f")


def test_diff_shows_changes_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    cfg = load_config(ROOT / "examples" / "homeport.yaml")
    write_tree(render_tree(cfg), out)
    assert diff(render_tree(cfg), out) == ""
    data = yamlio.load((ROOT / "examples" / "homeport.yaml").read_text())
    data["apps"][0]["replicas"] = 1
    data["apps"][0]["image"] = "ghost:5.131.0-alpine"
    text = diff(render_tree(parse_config(yamlio.dump(data))), out)
    lines = text.splitlines()
    assert any(
        ln.startswith("-") and ln.strip("- ") == "image: ghost:5.130.2-alpine" for ln in lines
    )
    assert any(
        ln.startswith("+") and ln.strip("+ ") == "image: ghost:5.131.0-alpine" for ln in lines
    )
    before = tree_digest(out)
    assert tree_digest(out) == before


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_app_add_keeps_comments_and_rerenders(tmp_path: Path) -> None:
    cfg_file = tmp_path / "homeport.yaml"
    original = (ROOT / "examples" / "homeport.yaml").read_text()
    cfg_file.write_text(original)
    res = run_cli("render", "--no-check", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli(
        "app",
        "add",
        "wiki",
        "--image",
        "requarks/wiki:2.5.300",
        "--port",
        "3000",
        "--auth",
        "public",
        "--no-render",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    text = cfg_file.read_text()
    assert text.startswith(original.rstrip("\n").rsplit("\n", 0)[0][:200])
    assert "# switch to production once staging certificates work" in text
    assert (
        "  - name: wiki\n    image: requarks/wiki:2.5.300\n    port: 3000\n    auth: public\n"
        in text
    )
    res = run_cli("diff", "--stat", cwd=tmp_path)
    assert (
        "A cluster/components/app-wiki/deployment-wiki.yaml"
        in res.stdout.replace("cluster/", "cluster/")
        or "A components/app-wiki/deployment-wiki.yaml" in res.stdout
    )
    res = run_cli("app", "remove", "wiki", "--no-render", cwd=tmp_path)
    assert res.returncode == 0
    assert cfg_file.read_text() == original


def test_app_add_bad_input_changes_nothing(tmp_path: Path) -> None:
    cfg_file = tmp_path / "homeport.yaml"
    original = (ROOT / "examples" / "homeport.yaml").read_text()
    cfg_file.write_text(original)
    for args in (
        ("app", "add", "blog", "--image", "ghost:5.1", "--port", "80"),
        ("app", "add", "x", "--image", "nginx:latest", "--port", "80"),
        ("app", "add", "x", "--image", "nginx:1.29", "--port", "70000"),
        ("app", "add", "x", "--image", "nginx:1.29", "--port", "80", "--host", "x.elsewhere.org"),
        ("app", "remove", "nope"),
    ):
        res = run_cli(*args, "--no-render", cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1, (
            res.stderr
        )
        assert cfg_file.read_text() == original


def test_platform_backup_cronjob_only_when_configured() -> None:
    full = render_tree(load_config(ROOT / "examples" / "full-ha.yaml"))
    cron = yamlio.load(full.files["components/backup/cronjob-homeport-backup.yaml"])
    assert cron["spec"]["schedule"] == "30 2 * * *"
    recipients = yamlio.load(full.files["components/backup/configmap-homeport-backup.yaml"])
    assert recipients["data"]["recipients.txt"].startswith("age1")
    app = yamlio.load(full.files["apps/backup.yaml"])
    assert app["spec"]["destination"]["namespace"] == "homeport-backup"
    minimal = render_tree(load_config(ROOT / "examples" / "minimal.yaml"))
    assert not any(p.startswith("components/backup/") for p in minimal.files)


@pytest.mark.parametrize(
    ("recipient", "fragment"),
    [("age1short", "not an age public key"), ("ssh-ed25519 AAAA", "not an age public key")],
)
def test_platform_backup_rejects_bad_recipients(recipient: str, fragment: str) -> None:
    text = (ROOT / "examples" / "minimal.yaml").read_text() + (
        f"backup:\n  platform:\n    recipients: ['{recipient}']\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(text)
    assert fragment in exc.value.lines()[0]
    assert "backup.platform.recipients" in exc.value.lines()[0]
