"""Authentik's PostgreSQL: a CloudNativePG Cluster valid against the pinned CRD, sized by
``ha``, wired to the sealed credentials, and backed up when an object store is set."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from homeport.platform import authentik, secrets
from homeport.platform.base import WAVE_CONFIG, WAVE_CONTROLLERS, WAVE_SERVICES, WAVE_SSO
from homeport.versions import CHARTS, CRD_FOLDERS

from .helpers import NO_SSO, config, crd_schema, objects, render

S3 = """\
backup:
  s3:
    endpoint: https://s3.eu-central-1.amazonaws.com
    bucket: my-backups
    region: eu-central-1
    path: homelab
    schedule: "30 2 * * *"
"""
MINIO = """\
backup:
  s3:
    endpoint: http://minio.lan:9000
    bucket: pg
"""


def _cluster_schema() -> dict[str, Any]:
    return crd_schema(CRD_FOLDERS["cloudnative-pg"], "postgresql.cnpg.io_clusters.yaml", "v1")


def _kind(extra: str, kind: str) -> list[dict[str, Any]]:
    return [o for _, o in objects(render(extra)) if o.get("kind") == kind]


@pytest.mark.parametrize("extra", ["", "ha: true\n", S3, "ha: true\n" + MINIO])
def test_cluster_validates_against_the_cnpg_crd(extra: str) -> None:
    (cluster,) = _kind(extra, "Cluster")
    jsonschema.validate(cluster, _cluster_schema())


def test_schema_check_would_catch_a_wrong_field() -> None:
    bad = authentik.db_cluster(config())
    bad["spec"]["bootstrap"]["initdb"]["ownr"] = "authentik"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _cluster_schema())


def test_instances_follow_ha() -> None:
    assert authentik.db_cluster(config())["spec"]["instances"] == 1
    assert authentik.db_cluster(config("ha: true\n"))["spec"]["instances"] == 3


def test_credentials_come_from_the_sealed_secret_for_both_sides() -> None:
    cfg = config()
    spec = authentik.db_cluster(cfg)["spec"]
    initdb = spec["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"]) == ("authentik", "authentik")
    assert initdb["secret"]["name"] == secrets.AUTHENTIK_DB.name
    # CNPG keeps the role's password equal to the Secret after bootstrap too.
    (role,) = spec["managed"]["roles"]
    assert role["name"] == initdb["owner"]
    assert role["passwordSecret"]["name"] == secrets.AUTHENTIK_DB.name
    assert spec["storage"]["size"]
    env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in authentik.chart_values(cfg)["global"]["env"]
    }
    assert env["AUTHENTIK_POSTGRESQL__PASSWORD"] == {
        "name": secrets.AUTHENTIK_DB.name,
        "key": "password",
    }
    assert env["AUTHENTIK_POSTGRESQL__USER"] == {
        "name": secrets.AUTHENTIK_DB.name,
        "key": "username",
    }
    assert set(secrets.AUTHENTIK_DB.keys) >= {"username", "password"}
    for key in ("secret-key", "bootstrap-password", "bootstrap-token", "bootstrap-email"):
        assert key in secrets.AUTHENTIK_SECRETS.keys
        assert {"name": secrets.AUTHENTIK_SECRETS.name, "key": key} in env.values()
    # Authentik connects to CNPG's read-write Service of this very cluster.
    assert (
        authentik.chart_values(cfg)["authentik"]["postgresql"]["host"]
        == f"{authentik.DB_CLUSTER}-rw"
    )


def test_no_backup_without_object_store() -> None:
    assert "backup" not in authentik.db_cluster(config())["spec"]
    assert _kind("", "ScheduledBackup") == []


def test_backup_to_s3_with_sealed_credentials() -> None:
    (cluster,) = _kind(S3, "Cluster")
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://my-backups/homelab/authentik-db"
    assert store["endpointURL"] == "https://s3.eu-central-1.amazonaws.com"
    creds = store["s3Credentials"]
    assert creds["accessKeyId"] == {"name": "backup-s3", "key": "ACCESS_KEY_ID"}
    assert creds["secretAccessKey"] == {"name": "backup-s3", "key": "ACCESS_SECRET_KEY"}
    assert creds["region"] == {"name": "backup-s3", "key": "REGION"}
    (sb,) = _kind(S3, "ScheduledBackup")
    jsonschema.validate(
        sb,
        crd_schema(CRD_FOLDERS["cloudnative-pg"], "postgresql.cnpg.io_scheduledbackups.yaml", "v1"),
    )
    assert sb["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert sb["spec"]["method"] == "barmanObjectStore"
    # CNPG's cron has a leading seconds field.
    assert sb["spec"]["schedule"] == "0 30 2 * * *"


def test_backup_without_region_or_prefix() -> None:
    (cluster,) = _kind(MINIO, "Cluster")
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert "region" not in store["s3Credentials"]
    assert store["destinationPath"] == "s3://pg/homeport/authentik-db"


def test_cnpg_schedule_conversion() -> None:
    assert authentik.cnpg_schedule("0 3 * * *") == "0 0 3 * * *"
    assert authentik.cnpg_schedule("15 0 3 * * *") == "15 0 3 * * *"


def test_components_waves_and_operator_chart() -> None:
    comps = {c.name: c for c in authentik.components(config())}
    op = comps["cloudnative-pg"]
    assert op.chart == CHARTS["cloudnative-pg"]
    assert (op.namespace, op.wave, op.server_side) == ("cnpg-system", WAVE_CONTROLLERS, True)
    assert comps["authentik-database"].wave == WAVE_CONFIG
    assert comps["authentik-blueprints"].wave == WAVE_CONFIG
    assert comps["authentik"].wave == WAVE_SERVICES
    assert comps["authentik"].chart == CHARTS["authentik"]
    assert comps["forward-auth"].wave == WAVE_SSO
    assert comps["forward-auth"].namespace == "pangolin"
    # Custom resources whose CRDs an earlier wave installs.
    assert comps["authentik-database"].skip_dry_run and comps["forward-auth"].skip_dry_run


def test_operator_can_be_switched_off_with_authentik() -> None:
    off = NO_SSO + "  cloudnative_pg:\n    enabled: false\n"
    assert authentik.components(config(off)) == []


def test_pod_monitor_validates_and_only_with_monitoring() -> None:
    (pm,) = _kind("", "PodMonitor")
    schema = crd_schema(
        CRD_FOLDERS["prometheus-operator"], "monitoring.coreos.com_podmonitors.yaml", "v1"
    )
    jsonschema.validate(pm, schema)
    assert pm["spec"]["selector"]["matchLabels"]["cnpg.io/cluster"] == authentik.DB_CLUSTER
    off = "components:\n  monitoring:\n    enabled: false\n"
    assert _kind(off, "PodMonitor") == []
