"""The backup CronJob: accepted by the API server, and its RBAC is enough to back up."""

from __future__ import annotations

from pathlib import Path

import pyrage

from homeport.cluster import backup as bk
from homeport.cluster.apply import apply_objects
from homeport.cluster.automation import NAME, backup_objects
from homeport.cluster.kube import Kube, connect

from .apiserver import ApiServer


def test_cronjob_is_accepted_and_its_account_can_back_up(
    apiserver: ApiServer, kube: Kube, tmp_path: Path
) -> None:
    ident = pyrage.x25519.Identity.generate()
    objs = backup_objects(
        image="ghcr.io/homeport-dev/homeport:0.1.0", recipients=[str(ident.to_public())]
    )
    apply_objects(kube, objs)
    cron = kube.get("batch/v1", "CronJob", NAME, NAME)
    assert cron is not None and cron["spec"]["schedule"] == "0 3 * * *"

    # The job's ServiceAccount, authenticated by a client certificate with its user name.
    sa = apiserver.write_user_kubeconfig(
        f"system:serviceaccount:{NAME}:{NAME}", ("system:serviceaccounts",)
    )
    with connect(sa) as k:
        assert not k.can("create", "", "secrets", "kube-system")
        result = bk.backup(
            k, tmp_path / "homeport-{timestamp}.age", bk.Key(recipients=(str(ident.to_public()),))
        )
    assert result.path.name.startswith("homeport-2") and result.path.exists()
    archive = bk.open_archive(result.path, bk.Key(identities=(str(ident),)))
    assert archive.total == result.manifest["total"]
