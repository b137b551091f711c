"""Argo CD and the DDNS controller are never locked out of their endpoints (issue 15, item 3).

Real: the renderer, the rendered NetworkPolicies, ``homeport check`` on the written tree,
and name resolution through the system resolver for ``localhost`` (``/etc/hosts``; no
packet leaves the machine). Not run: a CNI enforcing the policies; the check's offline
evaluation of them (docs/policy/HP-P013.md) stands in, and the structural assertions
below name the exact rule each endpoint needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from configs import base_yaml
from homeport.check import check_tree
from homeport.config import parse_config
from homeport.gitops import render_tree, write_tree


def _base(url: str) -> str:
    return base_yaml(domain="home.example.org", email="me@example.org", git_url=url)


def _render(tmp_path: Path, text: str) -> tuple[Path, list[tuple[str, dict[str, Any]]]]:
    tree = render_tree(parse_config(text))
    out = tmp_path / "cluster"
    write_tree(tree, out)
    return out, tree.objects()


def _p013(out: Path) -> list[str]:
    return [f.message for f in check_tree(out).findings if f.rule_id == "HP-P013"]


def _policy(objs: list[tuple[str, dict[str, Any]]], ns: str, name: str) -> dict[str, Any] | None:
    for _, o in objs:
        md = o["metadata"]
        if o["kind"] == "NetworkPolicy" and md["namespace"] == ns and md["name"] == name:
            return o
    return None


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://github.com/me/lab.git", "github.com", 443),
        ("git@github.com:me/lab.git", "github.com", 22),
        ("ssh://git@gitea.lan:2222/me/lab.git", "gitea.lan", 2222),
        ("http://192.168.1.10:3000/me/lab.git", "192.168.1.10", 3000),
        ("http://[fd00::5]/me/lab.git", "fd00::5", 80),
        ("ghcr.io/org/charts", "ghcr.io", 443),
    ],
)
def test_parse_url(url: str, host: str, port: int) -> None:
    from homeport.platform.egress import Endpoint, parse_url

    assert parse_url("git.url", url) == Endpoint("git.url", host, port)


def test_lan_git_server_by_address_is_allowed_and_checked(tmp_path: Path) -> None:
    out, objs = _render(tmp_path, _base("http://192.168.1.10:3000/me/lab.git"))
    pol = _policy(objs, "argocd", "allow-git")
    assert pol is not None
    assert pol["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "192.168.1.10/32"}}],
            "ports": [{"protocol": "TCP", "port": 3000}],
        }
    ]
    assert _p013(out) == []


def test_lan_git_server_by_name_needs_the_network(tmp_path: Path) -> None:
    url = "ssh://git@gitea.lan:2222/me/lab.git"
    out, objs = _render(tmp_path, _base(url))
    found = _p013(out)
    # One finding for the repository, not one per Application.
    assert len(found) == 1, found
    assert '"gitea.lan" port 2222' in found[0] and "network.lan" in found[0]
    assert _policy(objs, "argocd", "allow-git") is None
    # Naming the network fixes it.
    text = _base(url) + "network:\n  lan: [192.168.1.0/24]\n"
    out, objs = _render(tmp_path / "fixed", text)
    pol = _policy(objs, "argocd", "allow-git")
    assert pol is not None
    assert pol["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "192.168.1.0/24"}}]
    assert _p013(out) == []


def test_in_cluster_git_server(tmp_path: Path) -> None:
    url = "http://gitea-http.gitea.svc.cluster.local:3000/me/lab.git"
    out, objs = _render(tmp_path, _base(url))
    pol = _policy(objs, "argocd", "allow-git")
    assert pol is not None
    peer = pol["spec"]["egress"][0]["to"][0]
    assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gitea"}}}
    assert _p013(out) == []


def test_resolve_at_render_time_only_when_asked(tmp_path: Path) -> None:
    url = "http://localhost:3000/me/lab.git"
    out, objs = _render(tmp_path, _base(url))
    assert _policy(objs, "argocd", "allow-git") is None  # not resolved unless asked
    assert len(_p013(out)) == 1  # a one-label name lives on the LAN: blocked
    text = _base(url) + "network:\n  resolve: true\n"
    out, objs = _render(tmp_path / "resolved", text)
    pol = _policy(objs, "argocd", "allow-git")
    assert pol is not None
    cidrs = {p["ipBlock"]["cidr"] for r in pol["spec"]["egress"] for p in r["to"]}
    assert "127.0.0.1/32" in cidrs
    assert _p013(out) == []


def test_public_git_server_adds_nothing(tmp_path: Path) -> None:
    """Negative control: the internet allow already covers github.com on any port."""
    out, objs = _render(tmp_path, _base("git@github.com:me/lab.git"))
    assert _policy(objs, "argocd", "allow-git") is None
    assert _p013(out) == []


def test_ddns_ping_url_on_the_lan(tmp_path: Path) -> None:
    text = _base("https://github.com/me/lab.git") + (
        "components:\n  ddns:\n    uptime_kuma_url: http://kuma.lan:3001/api/push/x\n"
    )
    out, _ = _render(tmp_path, text)
    found = _p013(out)
    assert len(found) == 1 and '"kuma.lan" port 3001' in found[0], found
    out, objs = _render(tmp_path / "fixed", text + "network:\n  lan: [10.1.0.0/16]\n")
    assert _p013(out) == []
    pol = _policy(objs, "cloudflare-ddns", "ddns-endpoints")
    assert pol is not None
    assert {"protocol": "TCP", "port": 3001} in pol["spec"]["egress"][0]["ports"]


def test_ddns_public_ping_on_port_80(tmp_path: Path) -> None:
    """The DDNS namespace reaches the internet on 443 only: a plain-http ping needs port 80."""
    text = _base("https://github.com/me/lab.git") + (
        "components:\n  ddns:\n    uptime_kuma_url: http://status.example.net/api/push/x\n"
    )
    out, objs = _render(tmp_path, text)
    assert _p013(out) == []
    pol = _policy(objs, "cloudflare-ddns", "ddns-endpoints")
    assert pol is not None
    assert pol["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 80}]


def test_lan_nameserver_for_dns01(tmp_path: Path) -> None:
    text = _base("https://github.com/me/lab.git") + (
        "components:\n  cert_manager:\n    nameservers: ['192.168.1.1:53']\n"
    )
    _, objs = _render(tmp_path, text)
    pol = _policy(objs, "cert-manager", "allow-nameservers")
    assert pol is not None
    assert pol["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "192.168.1.1/32"}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]


def test_bad_network_is_one_clear_error() -> None:
    from homeport.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        parse_config(_base("https://github.com/me/lab.git") + "network:\n  lan: [lan]\n")
    assert "network.lan" in str(exc.value)
