"""Scheduled platform backups: a CronJob running ``homeport backup`` inside the cluster.

The objects come from :mod:`homeport.cluster.automation` (the same code the cluster tests
run against a real API server); this module places them in the tree with their namespace
and network policy. Archives are age-encrypted to public keys from homeport.yaml, so the
cluster can write backups it can never read.
"""

from __future__ import annotations

from homeport.cluster.automation import NAME, backup_objects
from homeport.config import HomeportConfig
from homeport.platform.base import (
    APISERVER_EGRESS,
    DNS_EGRESS,
    WAVE_SERVICES,
    Component,
    NamespaceSpec,
    netpol,
)

NAMESPACE = NAME


def components(cfg: HomeportConfig) -> list[Component]:
    """The backup CronJob, when ``backup.platform`` is configured."""
    plan = cfg.backup.platform
    if plan is None:
        return []
    objs = backup_objects(
        image=cfg.components.ddns.image,
        recipients=list(plan.recipients),
        namespace=NAMESPACE,
        schedule=plan.schedule,
        storage=plan.storage,
        storage_class=plan.storage_class,
    )
    return [
        Component(
            name="backup",
            namespace=NAMESPACE,
            wave=WAVE_SERVICES,
            objects=objs,
            namespaces=[
                NamespaceSpec(
                    NAMESPACE,
                    "restricted",
                    (
                        # It only reads the API server and writes its own volume.
                        netpol("allow-apiserver", NAMESPACE, egress=[APISERVER_EGRESS]),
                        netpol("allow-dns", NAMESPACE, egress=[DNS_EGRESS]),
                    ),
                    keep=True,  # the archive volume
                )
            ],
            description=f"homeport backup on schedule {plan.schedule}, encrypted with age",
        )
    ]
