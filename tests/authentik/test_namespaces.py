"""Namespaces and NetworkPolicies for authentik, cnpg-system and pangolin."""

from __future__ import annotations

from typing import Any

from homeport.platform import authentik

from .helpers import objects, render

S3 = "backup:\n  s3:\n    endpoint: http://minio.lan:9000\n    bucket: pg\n"


def _ns(extra: str = "") -> dict[str, dict[str, Any]]:
    """Namespace name -> {"psa": level, "policies": {name: spec}}."""
    out: dict[str, dict[str, Any]] = {}
    for _, o in objects(render(extra)):
        if o.get("kind") == "Namespace":
            out.setdefault(o["metadata"]["name"], {"policies": {}})["psa"] = o["metadata"][
                "labels"
            ]["pod-security.kubernetes.io/enforce"]
        elif o.get("kind") == "NetworkPolicy":
            out.setdefault(o["metadata"]["namespace"], {"policies": {}})["policies"][
                o["metadata"]["name"]
            ] = o["spec"]
    return out


def _ports(rules: list[dict[str, Any]]) -> set[int]:
    return {p["port"] for r in rules for p in r.get("ports", [])}


def test_namespaces_exist_with_default_deny_and_restricted() -> None:
    ns = _ns()
    for name in ("authentik", "cnpg-system", "pangolin"):
        assert ns[name]["psa"] == "restricted", name
        deny = ns[name]["policies"]["default-deny"]
        assert deny["ingress"] == [] and deny["egress"] == [], name
        assert "allow-dns" in ns[name]["policies"] or name == "pangolin"


def test_traefik_reaches_only_the_server() -> None:
    pol = _ns()["authentik"]["policies"]["allow-server-from-traefik"]
    assert pol["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    (rule,) = pol["ingress"]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "traefik"
    }
    assert _ports([rule]) == {authentik.SERVER_HTTP_PORT}


def test_authentik_talks_to_its_postgres_only_on_5432() -> None:
    pols = _ns()["authentik"]["policies"]
    out = pols["allow-authentik-to-postgres"]
    assert out["egress"][0]["to"] == [
        {"podSelector": {"matchLabels": {"cnpg.io/cluster": "authentik-db"}}}
    ]
    assert _ports(out["egress"]) == {5432}
    into = pols["allow-postgres-from-authentik"]
    assert into["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "authentik-db"}
    assert _ports(into["ingress"]) == {5432}
    peers = pols["allow-postgres-peers"]
    assert peers["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"cnpg.io/cluster": "authentik-db"}}}
    ]


def test_operator_reaches_instances_and_apiserver_reaches_webhook() -> None:
    ns = _ns()
    into = ns["authentik"]["policies"]["allow-postgres-from-operator"]
    peer = into["ingress"][0]["from"][0]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "cnpg-system"
    }
    assert 8000 in _ports(into["ingress"])
    cnpg = ns["cnpg-system"]["policies"]
    assert 8000 in _ports(cnpg["allow-operator-to-postgres"]["egress"])
    hook = cnpg["allow-webhook"]["ingress"]
    assert _ports(hook) == {9443} and "from" not in hook[0]  # the API server is not a pod
    assert {443, 6443} <= _ports(cnpg["allow-apiserver"]["egress"])


def test_internet_only_for_authentik_pods_and_backup_only_when_configured() -> None:
    pols = _ns()["authentik"]["policies"]
    internet = pols["allow-authentik-internet"]
    assert internet["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "authentik"
    assert "allow-postgres-backup" not in pols
    backup = _ns(S3)["authentik"]["policies"]["allow-postgres-backup"]
    assert backup["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "authentik-db"}
    assert _ports(backup["egress"]) == {9000}


def test_monitoring_may_scrape() -> None:
    ns = _ns()
    assert {9300, 9187} <= _ports(
        ns["authentik"]["policies"]["allow-metrics-from-monitoring"]["ingress"]
    )
    assert 8080 in _ports(ns["cnpg-system"]["policies"]["allow-metrics-from-monitoring"]["ingress"])
