"""``mirror:``: every chart, Argo CD itself and their logins come from the user's mirrors.

Real: render_tree, ``homeport check`` of the rendered trees (pinned CRDs and chart value
schemas from ../shared), the CLI entry point in-process (``init``, ``secret set``,
``render``), sealing with a real key pair and opening with it. Nothing is stubbed; no
network (the mirror URLs are never dialled here; tests/check/test_charts_pull.py pulls
from a loopback mirror).
"""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from configs import base_yaml
from homeport import mirrorcreds, sealing, secretstore, yamlio
from homeport.cli import main
from homeport.config import HomeportConfig, parse_config
from homeport.gitops import RenderedTree, render_tree
from homeport.platform.mirror import logins
from homeport.versions import ARGOCD_REPO, ARGOCD_VERSION, CHARTS

ROOT = Path(__file__).resolve().parents[2]
HTTP_MIRROR = "http://127.0.0.1:8879/charts"
GIT_MIRROR = "git://127.0.0.1:9418/argo-cd.git"
MIRROR = f"mirror:\n  charts: {HTTP_MIRROR}\n  argocd: {GIT_MIRROR}\n"


def _cfg(example: str, extra: str = "") -> HomeportConfig:
    text = (ROOT / "examples" / f"{example}.yaml").read_text()
    return parse_config(text + extra, f"{example}.yaml")


def _apps(tree: RenderedTree) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for p, o in tree.objects()
        if p.startswith("apps/") and o["kind"] == "Application"
    }


def _project(tree: RenderedTree) -> dict[str, Any]:
    return next(o for p, o in tree.objects() if o["kind"] == "AppProject")


def test_mirror_replaces_every_upstream_repository() -> None:
    """full-ha and bare-metal (MetalLB) together install every pinned chart."""
    upstream = {c.repo for c in CHARTS.values()} | {ARGOCD_REPO}
    seen_charts: set[str] = set()
    for example in ("full-ha", "bare-metal"):
        plain, mirrored = render_tree(_cfg(example)), render_tree(_cfg(example, MIRROR))
        before, after = _apps(plain), _apps(mirrored)
        assert before.keys() == after.keys()
        for name, app in after.items():
            src, old = app["spec"]["source"], before[name]["spec"]["source"]
            if "chart" in src:
                seen_charts.add(src["chart"])
                assert src["repoURL"] == HTTP_MIRROR, name
                # Only the repository changes: chart, version and values stay.
                assert {**src, "repoURL": old["repoURL"]} == old, name
            elif name == "argocd":
                assert src["repoURL"] == GIT_MIRROR
                assert src["targetRevision"] == ARGOCD_VERSION
                assert src["path"] == "manifests/cluster-install"
                assert {**src, "repoURL": ARGOCD_REPO} == old
            else:
                assert src == old, name
        git_url = _cfg(example).git.url
        assert _project(mirrored)["spec"]["sourceRepos"] == sorted(
            {git_url, HTTP_MIRROR, GIT_MIRROR}
        )
        # No upstream repository is named anywhere in the mirrored tree...
        text = "".join(mirrored.files.values())
        assert [u for u in sorted(upstream) if u in text] == []
        # ...and only the Applications and the project changed (loopback needs no policy).
        changed = {p for p in plain.files if plain.files[p] != mirrored.files.get(p)}
        chart_apps = {f"apps/{n}.yaml" for n, a in after.items() if "chart" in a["spec"]["source"]}
        assert changed == chart_apps | {"apps/argocd.yaml", "apps/project.yaml"}
        # Negative control: without the mirror the upstream URLs are there.
        plain_text = "".join(plain.files.values())
        assert ARGOCD_REPO in plain_text and CHARTS["traefik"].repo in plain_text
    assert seen_charts == {c.name for c in CHARTS.values()}


def test_oci_mirror_renders_helm_over_oci() -> None:
    """Argo CD v3.5 reads a Helm chart from OCI as repoURL without a scheme + chart."""
    cfg = _cfg("minimal", "mirror:\n  charts: oci://registry.example.org/helm/\n")
    tree = render_tree(cfg)
    traefik = _apps(tree)["traefik"]["spec"]["source"]
    assert traefik["repoURL"] == "registry.example.org/helm"
    assert (traefik["chart"], traefik["targetRevision"]) == ("traefik", CHARTS["traefik"].version)
    assert "registry.example.org/helm" in _project(tree)["spec"]["sourceRepos"]
    # Argo CD itself still comes from GitHub: only the charts are mirrored.
    assert _apps(tree)["argocd"]["spec"]["source"]["repoURL"] == ARGOCD_REPO
    assert "oci://" not in "".join(tree.files.values())


def _argocd_policies(tree: RenderedTree) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for p, o in tree.objects()
        if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "argocd"
    }


@pytest.mark.parametrize(
    ("mirror", "lan", "rules"),
    [
        # A LAN host: allowed to network.lan on the mirror's port.
        (
            "charts: http://charts.home.lan:8080/c\n  argocd: https://git.home.lan/argo-cd.git",
            '["192.168.1.0/24"]',
            [("192.168.1.0/24", 443), ("192.168.1.0/24", 8080)],
        ),
        # A private IP: that address.
        ("charts: oci://10.0.0.5/charts", "[]", [("10.0.0.5/32", 443)]),
        # A public host: the internet allow already covers it.
        ("charts: https://charts.example.org/mirror", "[]", []),
    ],
)
def test_mirror_egress_follows(mirror: str, lan: str, rules: list[tuple[str, int]]) -> None:
    cfg = _cfg("minimal", f"mirror:\n  {mirror}\nnetwork:\n  lan: {lan}\n")
    pol = _argocd_policies(render_tree(cfg)).get("allow-mirrors")
    got = [
        (peer["ipBlock"]["cidr"], port["port"])
        for rule in (pol or {}).get("spec", {}).get("egress", [])
        for peer in rule["to"]
        for port in rule["ports"]
    ]
    assert got == rules


# -- the logins (mirror.credentials) --------------------------------------------------------


def cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> tuple[int, str]:
    """Run the CLI's real entry point in-process; return (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["homeport", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out + err


PASSWORD = "mirror-pass-7f3a91c2"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUtc2VjcmV0\n"


def test_logins_are_sealed_repository_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    home, repo, outside = tmp_path / "home", tmp_path / "repo", tmp_path / "outside"
    repo.mkdir()
    outside.mkdir()
    monkeypatch.setenv("HOMEPORT_HOME", str(home))
    config = repo / "homeport.yaml"
    config.write_text(
        base_yaml(git_url="git://127.0.0.1:9418/lab.git")
        + "mirror:\n  charts: oci://registry.lab.internal/charts\n"
        "  argocd: git@git.lab.internal:mirror/argo-cd.git\n  credentials: true\n"
        # The SSH mirror is on the LAN: Argo CD's egress allows it there (else HP-P013).
        'network:\n  lan: ["192.168.1.0/24"]\n'
    )
    (outside / "cf").write_text("cf-token-0123456789")
    (outside / "pw").write_text(PASSWORD)
    (outside / "key").write_text(SSH_KEY)
    c = ["--config", str(config)]
    init = ["init", "--use-config", "--non-interactive", "--dir", str(repo)]
    code, out = cli([*init, "--cloudflare-token-file", str(outside / "cf")], monkeypatch, capsys)
    assert code == 0, out
    # Asked for but not sealed: one line naming the field, the file and the command.
    code, out = cli(["render", *c], monkeypatch, capsys)
    assert code == 2
    assert out.strip().splitlines() == [
        "error: mirror.credentials: the login of mirror.charts is not sealed "
        "(cluster/secrets/argocd/mirror-charts.yaml is missing); run: homeport secret set "
        "mirror-charts --namespace argocd --from-literal username=USER "
        "--from-file password=PASSWORD_FILE"
    ]
    assert not (repo / "cluster" / "apps").exists()  # nothing was written
    # `app add` keeps its edit of homeport.yaml and says the tree waits for the login.
    add = ["app", "add", "wiki", "--image", "requarks/wiki:2.5.300", "--port", "3000"]
    code, out = cli([*add, "--auth", "public", *c], monkeypatch, capsys)
    assert code == 2 and f"{config} was updated but {repo / 'cluster'} was not: " in out, out
    assert "homeport secret set mirror-charts" in out and "name: wiki" in config.read_text()
    # The wrong keys are refused, naming the keys (never the values).
    wrong = [
        "secret",
        "set",
        "mirror-charts",
        "-n",
        "argocd",
        "--from-literal",
        f"token={PASSWORD}",
    ]
    code, out = cli([*wrong, *c], monkeypatch, capsys)
    assert code == 2 and "needs keys password and username (given: token)" in out, out
    assert PASSWORD not in out
    for name, given in (
        (
            "mirror-charts",
            ["--from-literal", "username=robot", "--from-file", f"password={outside / 'pw'}"],
        ),
        ("mirror-argocd", ["--from-file", f"sshPrivateKey={outside / 'key'}"]),
    ):
        code, out = cli(["secret", "set", name, "-n", "argocd", *given, *c], monkeypatch, capsys)
        assert code == 0, out
    code, out = cli(["render", *c], monkeypatch, capsys)
    assert code == 0, out

    tree = repo / "cluster"
    charts = secretstore.read_sealed(tree / "secrets" / "argocd" / "mirror-charts.yaml")
    template = charts["spec"]["template"]
    assert template["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "homeport",
        "argocd.argoproj.io/secret-type": "repository",
    }
    assert template["data"] == {
        "enableOCI": "true",
        "type": "helm",
        "url": "registry.lab.internal/charts",
    }
    assert sorted(charts["spec"]["encryptedData"]) == ["password", "username"]
    argocd = secretstore.read_sealed(tree / "secrets" / "argocd" / "mirror-argocd.yaml")
    assert argocd["spec"]["template"]["data"] == {
        "type": "git",
        "url": "git@git.lab.internal:mirror/argo-cd.git",
    }
    key = sealing.load_private_key(home / sealing.KEY_FILE)
    assert sealing.unseal(charts, [key]) == {"password": PASSWORD.encode(), "username": b"robot"}
    assert sealing.unseal(argocd, [key]) == {"sshPrivateKey": SSH_KEY.encode()}
    # Never plaintext: not in the repository, raw or base64.
    assert secretstore.find_plaintext([repo], {"password": PASSWORD, "key": SSH_KEY}) == []

    # What bootstrap applies before the controller runs (in memory only).
    cfg = parse_config(config.read_text())
    opened = mirrorcreds.open_logins(tree, cfg, [key])
    secret = mirrorcreds.repository_secret(*opened[0])
    assert secret["metadata"]["annotations"] == {"sealedsecrets.bitnami.com/managed": "true"}
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "enableOCI": "true",
        "password": PASSWORD,
        "type": "helm",
        "url": "registry.lab.internal/charts",
        "username": "robot",
    }

    # A login sealed for another URL is stale: render names the key and the fix.
    config.write_text(config.read_text().replace("registry.lab.internal", "registry2.lab.internal"))
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    code, out = cli(["render", *c], monkeypatch, capsys)
    assert code == 2
    assert (
        'mirror-charts.yaml has url "registry.lab.internal/charts" but mirror.charts needs '
        '"registry2.lab.internal/charts"; seal it again: homeport secret set mirror-charts'
    ) in out
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before


def test_login_keys_follow_the_url() -> None:
    cfg = parse_config(
        base_yaml() + "mirror:\n  charts: https://charts.lab.internal\n"
        "  argocd: ssh://git@git.lab.internal/argo-cd.git\n  credentials: [argocd]\n"
    )
    [login] = logins(cfg)
    assert (login.name, login.keys, login.repo_type) == ("mirror-argocd", ("sshPrivateKey",), "git")
    assert login.set_command() == (
        "homeport secret set mirror-argocd --namespace argocd --from-file sshPrivateKey=KEY_FILE"
    )
    # Not asked for: no login, and the generic `secret set` path is untouched.
    assert mirrorcreds.login_for(cfg, "argocd", "mirror-charts") is None
    assert yamlio.dump(login.template_data()) == (
        "type: git\nurl: ssh://git@git.lab.internal/argo-cd.git\n"
    )
