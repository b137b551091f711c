"""The real Sealed Secrets controller opens the tree's SealedSecrets; backup and restore keep it so.

Real: kube-apiserver + etcd (two of them: source and restore target), the Sealed Secrets
controller built from upstream at the pinned version (sealed_controller.py), run with the
arguments and RBAC that the pinned sealed-secrets chart renders for homeport's values
(expanded by the real Helm), `homeport init` (a real process) sealing the platform
secrets, `homeport render`, bootstrap (installs the sealing key), `homeport backup` /
`restore`, a mirror login bootstrap applies before the controller takes it over.
Stand-in: Argo CD's sync of the `secrets` Application is replaced by applying
the SealedSecrets of the tree directly; cert-manager's issuance by a TLS Secret written
as cert-manager writes it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography import x509

from configs import base_yaml
from homeport import mirrorcreds, sealing, secretstore
from homeport.check import expand as ex
from homeport.cluster import backup as bk
from homeport.cluster.apply import apply_objects, load_manifest_text
from homeport.cluster.bootstrap import bootstrap
from homeport.cluster.kube import Kube, connect
from homeport.config import HomeportConfig, load_config, parse_config
from homeport.platform.mirror import logins

from .apiserver import ApiServer
from .sealed_controller import SealedSecretsController, wait_synced

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
TOKEN = "cf-token-for-the-test-0123456789abcdef"
# The chart's objects the controller needs to run with its own permissions.
_RBAC = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


@dataclass
class Platform:
    home: Path
    cfg: HomeportConfig
    tree: Path
    pair: sealing.KeyPair
    sealed: list[dict[str, Any]]
    chart_objects: list[dict[str, Any]]
    controller_args: list[str]


def _homeport(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env["HOMEPORT_HOME"] = str(home)
    for k in ("HOMEPORT_CRD_DIR", "HOMEPORT_CHART_SCHEMA_DIR", "HOMEPORT_TOOLS"):
        if k in os.environ:
            env[k] = os.environ[k]
    r = subprocess.run(
        [sys.executable, "-m", "homeport", *args], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _chart(tree: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The sealed-secrets chart as Argo CD would expand it: RBAC, CRD and controller args."""
    app = load_manifest_text((tree / "apps" / "sealed-secrets.yaml").read_text(), "app")[0]
    src = app["spec"]["source"]
    helm = ex.helm_binary()
    assert helm, "helm is missing: run scripts/build-tools.sh"
    chart = ex.chart_dir(SHARED / "charts", src["chart"], src["targetRevision"])
    assert chart is not None, f"{src['chart']} {src['targetRevision']} not in ../shared/charts"
    hs = ex.HelmSource(
        app["metadata"]["name"],
        src["chart"],
        src["targetRevision"],
        src["helm"].get("releaseName") or app["metadata"]["name"],
        app["spec"]["destination"]["namespace"],
        src["helm"]["valuesObject"],
    )
    result = ex.expand_one(helm, chart, hs, "v1.36.3", ["v1", "apps/v1"])
    assert result.error == ""
    objs = [o for _t, o in result.objects if o["kind"] in _RBAC | {"CustomResourceDefinition"}]
    deploy = next(o for _t, o in result.objects if o["kind"] == "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["controller"]
    return objs, list(container.get("args") or [])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    d = tmp_path_factory.mktemp("sealed-platform")
    home, repo = d / "home", d / "repo"
    token = d / "token"
    token.write_text(TOKEN)
    _homeport(
        home,
        "init",
        "--non-interactive",
        "--dir",
        str(repo),
        "--domain",
        "example.com",
        "--email",
        "me@example.com",
        "--git-url",
        "https://github.com/example/homelab.git",
        "--cloudflare-token-file",
        str(token),
    )
    _homeport(home, "render", "--config", str(repo / "homeport.yaml"), "--no-check")
    cfg = load_config(repo / "homeport.yaml")
    tree = repo / cfg.git.path
    sealed = [secretstore.read_sealed(s.path) for s in secretstore.list_secrets(tree)]
    assert len(sealed) >= 4
    pair, created = sealing.ensure_keypair(home)
    assert not created  # init made it
    objs, args = _chart(tree)
    return Platform(home, cfg, tree, pair, sealed, objs, args)


def _namespaces(tree: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in sorted((tree / "components" / "namespaces").glob("*.yaml")):
        out += load_manifest_text(p.read_text(), str(p))
    return out


def _opened(p: Platform, sealed: dict[str, Any]) -> dict[str, bytes]:
    return sealing.unseal(sealed, [sealing.load_private_key(p.pair.key_path)])


def _secret_data(kube: Kube, ns: str, name: str) -> tuple[str, dict[str, bytes]] | None:
    s = kube.get("v1", "Secret", name, ns)
    if s is None:
        return None
    data = {k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}
    return str(s.get("type", "Opaque")), data


def _ids(sealed: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in sealed]


def _assert_opened(kube: Kube, p: Platform, sealed: list[dict[str, Any]]) -> None:
    for s in sealed:
        md = s["metadata"]
        got = _secret_data(kube, md["namespace"], md["name"])
        assert got is not None, f"{md['namespace']}/{md['name']} was not created"
        want_type = (s["spec"].get("template") or {}).get("type") or "Opaque"
        assert got == (want_type, _opened(p, s)), f"{md['namespace']}/{md['name']}"


@pytest.fixture(scope="module")
def source(platform: Platform) -> Iterator[tuple[ApiServer, Kube, SealedSecretsController]]:
    srv = ApiServer().start()
    kube = connect(srv.kubeconfig)
    ctl = None
    try:
        bootstrap(kube, platform.cfg, pair=platform.pair)
        apply_objects(kube, [*_namespaces(platform.tree), *platform.chart_objects])
        ctl = SealedSecretsController(srv, kube, args=platform.controller_args).start()
        apply_objects(kube, platform.sealed)
        yield srv, kube, ctl
    finally:
        if ctl is not None:
            ctl.stop()
        kube.close()
        srv.stop()


def test_controller_opens_every_sealed_secret_of_the_tree(
    platform: Platform, source: tuple[ApiServer, Kube, SealedSecretsController]
) -> None:
    _srv, kube, ctl = source
    synced = wait_synced(kube, _ids(platform.sealed))
    assert {k: c.get("status") for k, c in synced.items()} == {
        k: "True" for k in _ids(platform.sealed)
    }, ctl.log_text()[-3000:]
    _assert_opened(kube, platform, platform.sealed)
    # The Cloudflare token is the one given to `homeport init`, opened by the controller.
    assert _secret_data(kube, "cert-manager", "cloudflare-api-token") == (
        "Opaque",
        {"api-token": TOKEN.encode()},
    )
    # Negative control: a SealedSecret sealed for another key stays unopened.
    other_key, other_cert = sealing.generate_keypair()
    del other_key
    cert = x509.load_pem_x509_certificate(other_cert)
    foreign = sealing.seal_secret(cert, "foreign", "monitoring", {"k": b"v"})
    apply_objects(kube, [foreign])
    bad = wait_synced(kube, [("monitoring", "foreign")], timeout=20)
    assert bad[("monitoring", "foreign")].get("status") == "False"
    assert kube.get("v1", "Secret", "foreign", "monitoring") is None


def test_unowned_secret_is_refused_by_the_controller(
    platform: Platform, source: tuple[ApiServer, Kube, SealedSecretsController]
) -> None:
    """Why restore must not bring back controller-made Secrets without their owner."""
    _srv, kube, _ctl = source
    apply_objects(
        kube,
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "restored-copy", "namespace": "monitoring"},
                "data": {"k": base64.b64encode(b"old").decode()},
            }
        ],
    )
    cert = sealing.load_cert(platform.pair.cert_path)
    apply_objects(kube, [sealing.seal_secret(cert, "restored-copy", "monitoring", {"k": b"new"})])
    got = wait_synced(kube, [("monitoring", "restored-copy")], timeout=30)
    cond = got[("monitoring", "restored-copy")]
    assert cond.get("status") == "False"
    assert "not managed by SealedSecret" in str(cond.get("message"))
    assert _secret_data(kube, "monitoring", "restored-copy") == ("Opaque", {"k": b"old"})


def test_mirror_login_bootstrap_applied_is_adopted_by_the_controller(
    platform: Platform, source: tuple[ApiServer, Kube, SealedSecretsController]
) -> None:
    """A mirror login: bootstrap applies the Secret first, the controller then takes it over.

    Argo CD needs the login before the controller (itself fetched from the mirror) runs,
    so bootstrap opens the SealedSecret and applies the Secret marked
    ``sealedsecrets.bitnami.com/managed``; once the ``secrets`` Application syncs the
    SealedSecret, the controller opens it (the login encrypted, url/type/enableOCI plain in
    the template) and adopts the Secret, which keeps Argo CD's repository label.
    """
    _srv, kube, ctl = source
    cfg = parse_config(
        base_yaml() + "mirror:\n  charts: oci://registry.lab.internal/charts\n  credentials: true\n"
    )
    [login] = logins(cfg)
    values = {"password": b"mirror-token-51", "username": b"robot"}
    sealed = mirrorcreds.seal_login(sealing.load_cert(platform.pair.cert_path), login, values)
    result = bootstrap(
        kube,
        platform.cfg,
        pair=platform.pair,
        mirror_secrets=[mirrorcreds.repository_secret(login, values)],
    )
    step = next(st for st in result.steps if st.name == "mirror credentials")
    assert step.result.total == 1
    want = {
        "enableOCI": b"true",
        "password": b"mirror-token-51",
        "type": b"helm",
        "url": b"registry.lab.internal/charts",
        "username": b"robot",
    }
    assert _secret_data(kube, "argocd", login.name) == ("Opaque", want)
    before = kube.get("v1", "Secret", login.name, "argocd")
    assert before is not None and not before["metadata"].get("ownerReferences")
    # (test_unowned_secret_is_refused_by_the_controller: without the annotation it is not.)
    apply_objects(kube, [sealed])
    synced = wait_synced(kube, [("argocd", login.name)])
    assert synced[("argocd", login.name)].get("status") == "True", ctl.log_text()[-3000:]
    secret = kube.get("v1", "Secret", login.name, "argocd")
    assert secret is not None
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    owners = secret["metadata"].get("ownerReferences") or []
    assert [(o["kind"], o["name"]) for o in owners] == [("SealedSecret", login.name)]
    assert _secret_data(kube, "argocd", login.name) == ("Opaque", want)


def _tls(cfg: HomeportConfig, pair: sealing.KeyPair) -> list[dict[str, Any]]:
    cert = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "wildcard", "namespace": "traefik"},
        "spec": {
            "secretName": "wildcard-tls",
            "dnsNames": [cfg.domain, f"*.{cfg.domain}"],
            "issuerRef": {"name": "letsencrypt-production", "kind": "ClusterIssuer"},
        },
    }
    tls = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "wildcard-tls",
            "namespace": "traefik",
            "annotations": {"cert-manager.io/certificate-name": "wildcard"},
        },
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(pair.cert_path.read_bytes()).decode(),
            "tls.key": base64.b64encode(b"issued-key").decode(),
        },
    }
    return [tls, cert]


def _all_secrets(kube: Kube, namespaces: list[str]) -> dict[tuple[str, str], tuple[Any, Any]]:
    out = {}
    for ns in namespaces:
        for s in kube.list_objects("v1", "Secret", ns):
            if s.get("type") in bk.SKIP_SECRET_TYPES:
                continue
            out[(ns, s["metadata"]["name"])] = (s.get("type"), s.get("data"))
    return out


def test_backup_and_restore_keep_the_controller_in_charge(
    platform: Platform,
    source: tuple[ApiServer, Kube, SealedSecretsController],
    tmp_path: Path,
) -> None:
    _srv, kube, _ctl = source
    assert wait_synced(kube, _ids(platform.sealed))  # the first test may not have run
    apply_objects(kube, _tls(platform.cfg, platform.pair))
    # The controller-made Secrets are not archived; the TLS Secret and the key are.
    sections = bk.collect(kube)
    archived = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in sections["secrets"]}
    assert not archived & set(_ids(platform.sealed))
    assert ("traefik", "wildcard-tls") in archived
    assert len(sections["sealing-keys"]) == 1
    namespaces = sorted({ns for ns, _ in _ids(platform.sealed)} | {"traefik"})
    before = _all_secrets(kube, namespaces)
    before.pop(("monitoring", "restored-copy"), None)  # the previous test's refused copy
    ident = pyrage.x25519.Identity.generate()
    out = tmp_path / "backup.age"
    bk.backup(kube, out, bk.Key(recipients=(str(ident.to_public()),)))
    archive = bk.open_archive(out, bk.Key(identities=(str(ident),)))

    target = ApiServer().start()
    ctl2 = None
    try:
        with connect(target.kubeconfig) as k2:
            bk.restore(k2, archive)
            # Argo CD's next steps, from Git: the controller's chart, then the secrets folder.
            apply_objects(k2, platform.chart_objects)
            ctl2 = SealedSecretsController(target, k2, args=platform.controller_args).start()
            apply_objects(k2, platform.sealed)
            synced = wait_synced(k2, _ids(platform.sealed))
            assert all(c.get("status") == "True" for c in synced.values()), (
                synced,
                ctl2.log_text()[-3000:],
            )
            after = _all_secrets(k2, namespaces)
            lost = sorted(set(before) - set(after))
            assert lost == []
            assert {k: after[k] for k in before} == before  # same type and data, TLS included
            assert after[("traefik", "wildcard-tls")] == before[("traefik", "wildcard-tls")]
            _assert_opened(k2, platform, platform.sealed)
            # A rotation in Git (a re-sealed value) reaches the Secret.
            cert = sealing.load_cert(platform.pair.cert_path)
            rotated = sealing.seal_secret(
                cert, "cloudflare-api-token", "cert-manager", {"api-token": b"rotated-token"}
            )
            apply_objects(k2, [rotated])
            want = ("Opaque", {"api-token": b"rotated-token"})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if _secret_data(k2, "cert-manager", "cloudflare-api-token") == want:
                    break
                time.sleep(0.2)
            assert _secret_data(k2, "cert-manager", "cloudflare-api-token") == want, (
                ctl2.log_text()[-3000:]
            )
    finally:
        if ctl2 is not None:
            ctl2.stop()
        target.stop()
