"""The Authentik chart ships no values.schema.json, so its values are checked against the
keys verified in the chart's values.yaml for the pinned line (goauthentik/helm,
charts/authentik/values.yaml; 2025.10 removed the redis values and subchart)."""

from __future__ import annotations

from typing import Any

from homeport.platform import authentik

from .helpers import config

# Keys read from goauthentik/helm charts/authentik/values.yaml (2025.x/2026.x layout).
# A value homeport sets outside this tree would be silently ignored by Helm.
VERIFIED: dict[str, Any] = {
    "global": {"env": None},
    "authentik": {
        "log_level": None,
        "error_reporting": {"enabled": None},
        "postgresql": {"host": None, "name": None, "user": None, "password": None, "port": None},
    },
    "blueprints": {"configMaps": None, "secrets": None},
    "server": {
        "replicas": None,
        "resources": None,
        "securityContext": None,
        "containerSecurityContext": None,
        "pdb": {"enabled": None, "maxUnavailable": None, "minAvailable": None},
        "metrics": {"enabled": None, "serviceMonitor": {"enabled": None}},
        "ingress": {"enabled": None},
    },
    "worker": {
        "replicas": None,
        "resources": None,
        "securityContext": None,
        "containerSecurityContext": None,
        "pdb": {"enabled": None, "maxUnavailable": None, "minAvailable": None},
        "metrics": {"enabled": None, "serviceMonitor": {"enabled": None}},
    },
    "postgresql": {"enabled": None},
}


def _unknown(values: dict[str, Any], known: dict[str, Any], path: str = "") -> list[str]:
    out: list[str] = []
    for k, v in values.items():
        where = f"{path}.{k}" if path else k
        if k not in known:
            out.append(where)
        elif isinstance(known[k], dict) and isinstance(v, dict):
            out += _unknown(v, known[k], where)
    return out


def test_values_use_only_verified_keys() -> None:
    for extra in ("", "ha: true\n"):
        assert _unknown(authentik.chart_values(config(extra)), VERIFIED) == []
    assert _unknown({"redis": {"enabled": False}}, VERIFIED) == ["redis"]


def test_no_redis_no_bundled_postgres_no_chart_ingress() -> None:
    values = authentik.chart_values(config())
    assert "redis" not in values and "redis" not in values["authentik"]
    assert values["postgresql"] == {"enabled": False}
    assert values["server"]["ingress"] == {"enabled": False}


def test_no_secret_value_in_values() -> None:
    values = authentik.chart_values(config())
    assert "secret_key" not in values["authentik"]
    assert "password" not in values["authentik"]["postgresql"]
    for env in values["global"]["env"]:
        assert set(env) == {"name", "valueFrom"}, env["name"]


def test_ha_runs_two_of_each_with_disruption_budgets() -> None:
    values = authentik.chart_values(config("ha: true\n"))
    for part in ("server", "worker"):
        assert values[part]["replicas"] == 2
        assert values[part]["pdb"]["enabled"] is True
    assert "pdb" not in authentik.chart_values(config())["server"]
