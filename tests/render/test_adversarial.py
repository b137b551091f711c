"""Render bugs found by playing an independent checker with unseen configs."""

from __future__ import annotations

from typing import Any

from configs import base_yaml
from homeport import yamlio
from homeport.config import parse_config
from homeport.gitops import render_tree

BASE = base_yaml(git_url="https://github.com/me/lab.git")


def _obj(files: dict[str, str], path: str) -> Any:
    return yamlio.load(files[path])


def test_secrets_app_syncs_only_namespaces_the_tree_creates() -> None:
    # init seals the DDNS token and Authentik's secrets; with those components off, the
    # Application must not sync secrets/<ns>/ of namespaces that no longer exist (the
    # whole wave -7 would fail and block every later wave).
    cfg = parse_config(BASE + "components:\n  ddns:\n    enabled: false\n")
    files = render_tree(cfg).files
    include = _obj(files, "apps/secrets.yaml")["spec"]["source"]["directory"]["include"]
    parts = include.strip("{}").split(",")
    assert "cert-manager/*" in parts and "authentik/*" in parts and "kube-system/*" in parts
    assert "cloudflare-ddns/*" not in parts
    assert parts == sorted(parts)


def test_hosts_deeper_than_the_wildcard_are_on_the_certificate() -> None:
    cfg = parse_config(
        BASE
        + "apps:\n  - name: deep\n    image: a/b:1\n    port: 80\n    host: a.b.example.com\n"
        + "  - name: apex\n    image: a/b:1\n    port: 80\n    host: example.com\n"
        + "  - name: flat\n    image: a/b:1\n    port: 80\n"
    )
    cert = _obj(render_tree(cfg).files, "components/cert-manager-config/certificate-wildcard.yaml")
    assert cert["spec"]["dnsNames"] == ["example.com", "*.example.com", "a.b.example.com"]
