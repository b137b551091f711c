"""`homeport check` misses and false alarms found by playing an independent checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs import base_yaml
from homeport import sealing, secretstore
from homeport.check import check_tree
from homeport.check.argoapp import glob_match
from homeport.config import HomeportConfig, parse_config
from homeport.gitops import render_tree
from keys import throwaway_cert

from .trees import seal_required as _seal_required

CONFIG = (
    base_yaml(git_url="https://github.com/me/lab.git")
    + """\
components:
  ddns:
    enabled: false
apps:
  - name: deep
    image: ghcr.io/me/deep:1.0.0
    port: 8080
    host: a.b.example.com
"""
)
CERT = "components/cert-manager-config/certificate-wildcard.yaml"
ROUTE = "components/app-deep/ingressroute-deep.yaml"
DEPLOY = "components/app-deep/deployment-deep.yaml"


@pytest.fixture(scope="module")
def cfg() -> HomeportConfig:
    return parse_config(CONFIG)


def _tree(cfg: HomeportConfig, root: Path) -> Path:
    for rel, text in render_tree(cfg).files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    _seal_required(cfg, root)
    return root


def _line(root: Path, rel: str, needle: str) -> int:
    lines = (root / rel).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def _found(root: Path) -> list[tuple[str, int, str, str]]:
    return [(f.file, f.line, f.rule_id, f.message) for f in check_tree(root).findings]


def test_secret_of_a_disabled_component_is_not_synced_nor_an_error(
    cfg: HomeportConfig, tmp_path: Path
) -> None:
    # `homeport init` sealed the DDNS token before the user disabled DDNS.
    root = _tree(cfg, tmp_path)
    stale = sealing.seal_secret(
        throwaway_cert(), "cloudflare-api-token", "cloudflare-ddns", {"t": b"x"}
    )
    secretstore.write_sealed(root, stale, replace=True)
    report = check_tree(root)
    assert report.findings == []
    assert any("secrets/cloudflare-ddns/cloudflare-api-token.yaml" in n for n in report.notes)
    # A plain Secret there is still caught: unsynced is not unchecked for plaintext.
    (root / "secrets/cloudflare-ddns/plain.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: p\n  namespace: cloudflare-ddns\n"
        "stringData:\n  a: b\n"
    )
    assert "HP-P010" in {f.rule_id for f in check_tree(root).findings}


def test_host_not_covered_by_the_certificate(cfg: HomeportConfig, tmp_path: Path) -> None:
    root = _tree(cfg, tmp_path)
    assert _found(root) == []
    cert = (root / CERT).read_text()
    (root / CERT).write_text(cert.replace("    - a.b.example.com\n", ""))
    got = _found(root)
    assert [(f, line, r) for f, line, r, _ in got] == [
        (ROUTE, _line(root, ROUTE, "match:"), "HP-R003")
    ]
    assert "a wildcard covers one label only" in got[0][3]


def test_malformed_quantity_is_a_schema_error(cfg: HomeportConfig, tmp_path: Path) -> None:
    root = _tree(cfg, tmp_path)
    text = (root / DEPLOY).read_text()
    (root / DEPLOY).write_text(text.replace("memory: 256Mi", "memory: 256MB", 1))
    got = _found(root)
    assert [(f, r) for f, _, r, _ in got] == [(DEPLOY, "HP-S002")]
    assert got[0][1] == _line(root, DEPLOY, "memory: 256MB")
    assert '"256MB" is not a Kubernetes quantity' in got[0][3]


def test_argocd_directory_globs() -> None:
    # Argo CD (gobwas glob, no separators): `*` crosses `/`, `{a,b}` alternates.
    assert glob_match("{authentik/*,default/*}", "authentik/x.yaml")
    assert glob_match("{authentik/*,default/*}", "default/sub/x.yaml")
    assert not glob_match("{authentik/*,default/*}", "cloudflare-ddns/x.yaml")
    assert not glob_match("{authentik/*}", "authentik-x/x.yaml")
    assert glob_match("*.yaml", "a/b.yaml") and not glob_match("*.yaml", "a/b.json")
    assert glob_match("[!x]?.yaml", "ab.yaml") and not glob_match("[!x]?.yaml", "xb.yaml")
