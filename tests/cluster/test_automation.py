"""The backup CronJob: accepted by the API server, and its RBAC is enough to back up."""

from __future__ import annotations

from pathlib import Path

import pyrage

from homeport.cluster import backup as bk
from homeport.cluster.apply import apply_objects
from homeport.cluster.kube import Kube, connect
from homeport.platform.backupjob import NAME, backup_objects

from .apiserver import ApiServer


def test_cronjob_is_accepted_and_its_account_can_back_up(
    apiserver: ApiServer, kube: Kube, tmp_path: Path
) -> None:
    ident = pyrage.x25519.Identity.generate()
    objs = backup_objects(
        image="ghcr.io/homeport-dev/homeport:0.1.0", recipients=[str(ident.to_public())]
    )
    # Argo CD's namespace exists before any Application syncs (bootstrap creates it).
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
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


def test_backup_account_reads_configmaps_of_argocd_only(apiserver: ApiServer, kube: Kube) -> None:
    """The RBAC docs/operations.md describes, checked by the real API server (item 12).

    Real: kube-apiserver's RBAC authorizer answering SelfSubjectAccessReviews for the
    backup ServiceAccount (client certificate with its user name).
    """
    ident = pyrage.x25519.Identity.generate()
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    apply_objects(
        kube,
        backup_objects(
            image="ghcr.io/homeport-dev/homeport:0.1.0", recipients=[str(ident.to_public())]
        ),
    )
    sa = apiserver.write_user_kubeconfig(
        f"system:serviceaccount:{NAME}:{NAME}", ("system:serviceaccounts",)
    )
    with connect(sa) as k:
        assert k.can("list", "", "configmaps", "argocd")
        for ns in ("kube-system", "default", NAME):
            assert not k.can("list", "", "configmaps", ns), ns
            assert not k.can("get", "", "configmaps", ns), ns
        # What the docs say it can read: Secrets everywhere (decided at run time), read only.
        assert k.can("list", "", "secrets", "kube-system")
        assert k.can("list", "", "secrets", "some-app")
        for verb in ("create", "update", "delete"):
            assert not k.can(verb, "", "secrets", "kube-system"), verb
        assert not k.can("list", "apps", "deployments", "argocd")
