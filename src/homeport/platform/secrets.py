"""Sealed Secrets: the controller, the platform's own secrets, and the sealed-secrets folder.

The controller is installed from its chart; the key it decrypts with is the one homeport
generated offline (installed by ``homeport bootstrap``), so secrets sealed before the
cluster existed open on first sync. SealedSecrets written by ``homeport init`` and
``homeport secret set`` live in ``<tree>/secrets/<namespace>/<name>.yaml``; render never
writes there, and an Application syncs that folder after the controller is healthy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from homeport.config import HomeportConfig
from homeport.platform.base import WAVE_SEALED_SECRETS, WAVE_SECRETS, Component
from homeport.versions import CHARTS
from homeport.wellknown import (
    AUTHENTIK_NAMESPACE,
    CERT_MANAGER_NAMESPACE,
    DDNS_NAMESPACE,
    MONITORING_NAMESPACE,
    SEALED_SECRETS_NAMESPACE,
)

CONTROLLER_NAMESPACE = SEALED_SECRETS_NAMESPACE
CONTROLLER_NAME = "sealed-secrets-controller"
SECRETS_DIR = "secrets"


@dataclass(frozen=True)
class PlatformSecret:
    """A Secret the platform needs, sealed by ``homeport init``.

    Attributes:
        namespace: Namespace of the Secret.
        name: Secret name.
        keys: Keys it must hold.
        type: Secret type.
        needed_by: Component that reads it (for messages).
    """

    namespace: str
    name: str
    keys: tuple[str, ...]
    type: str = "Opaque"
    needed_by: str = ""


CLOUDFLARE_TOKEN_KEY = "api-token"
CERT_MANAGER_TOKEN = PlatformSecret(
    CERT_MANAGER_NAMESPACE,
    "cloudflare-api-token",
    (CLOUDFLARE_TOKEN_KEY,),
    needed_by="cert-manager",
)
DDNS_TOKEN = PlatformSecret(
    DDNS_NAMESPACE, "cloudflare-api-token", (CLOUDFLARE_TOKEN_KEY,), needed_by="ddns"
)
AUTHENTIK_SECRETS = PlatformSecret(
    AUTHENTIK_NAMESPACE,
    "authentik-secrets",
    ("secret-key", "bootstrap-password", "bootstrap-token", "bootstrap-email"),
    needed_by="authentik",
)
AUTHENTIK_DB = PlatformSecret(
    AUTHENTIK_NAMESPACE,
    "authentik-db-credentials",
    ("username", "password"),
    type="kubernetes.io/basic-auth",
    needed_by="authentik",
)


# Grafana's local admin, only when Grafana is public (behind SSO it has no local login).
GRAFANA_ADMIN = PlatformSecret(
    MONITORING_NAMESPACE, "grafana-admin", ("admin-user", "admin-password"), needed_by="monitoring"
)


# S3 credentials of the CloudNativePG backups of Authentik's database (``backup.s3``):
# CNPG reads them from the database's namespace. REGION only when the config names one.
BACKUP_S3_NAME = "backup-s3"
BACKUP_S3_ACCESS_KEY = "ACCESS_KEY_ID"
BACKUP_S3_SECRET_KEY = "ACCESS_SECRET_KEY"
BACKUP_S3_REGION_KEY = "REGION"

# The SMTP password of Alertmanager's e-mail alerts, mounted as a file by the operator.
ALERTMANAGER_SMTP = PlatformSecret(
    MONITORING_NAMESPACE, "alertmanager-smtp", ("password",), needed_by="monitoring e-mail alerts"
)


def backup_s3_secret(cfg: HomeportConfig) -> PlatformSecret | None:
    """The ``backup-s3`` Secret, when Authentik's database is backed up to S3."""
    if cfg.backup.s3 is None or not cfg.components.authentik.enabled:
        return None
    keys: tuple[str, ...] = (BACKUP_S3_ACCESS_KEY, BACKUP_S3_SECRET_KEY)
    if cfg.backup.s3.region:
        keys += (BACKUP_S3_REGION_KEY,)
    return PlatformSecret(AUTHENTIK_NAMESPACE, BACKUP_S3_NAME, keys, needed_by="backup.s3")


def app_env_secret_name(app_name: str) -> str:
    """Name of the Secret an app's ``secret_env`` reads (in the app's namespace)."""
    return f"{app_name}-env"


def platform_secrets(cfg: HomeportConfig) -> list[PlatformSecret]:
    """Return the secrets the enabled components need, in a stable order.

    Every Secret a rendered object references and nothing in the cluster generates is here,
    so ``homeport init`` can create (or ask for) all of them: the Cloudflare token, the
    generated Authentik and Grafana credentials, the S3 backup credentials, the SMTP
    password of e-mail alerts, and the ``<app>-env`` Secret of each app's ``secret_env``.
    """
    out = [CERT_MANAGER_TOKEN]
    if cfg.components.ddns.enabled:
        out.append(DDNS_TOKEN)
    if cfg.components.authentik.enabled:
        out += [AUTHENTIK_SECRETS, AUTHENTIK_DB]
    mon = cfg.components.monitoring
    if mon.enabled and mon.auth == "public":
        out.append(GRAFANA_ADMIN)
    s3 = backup_s3_secret(cfg)
    if s3 is not None:
        out.append(s3)
    if mon.enabled and mon.alerts.email:
        out.append(ALERTMANAGER_SMTP)
    for app in cfg.apps:
        if app.secret_env:
            out.append(
                PlatformSecret(
                    app.name,
                    app_env_secret_name(app.name),
                    tuple(sorted(set(app.secret_env.values()))),
                    needed_by=f"app {app.name} (secret_env)",
                )
            )
    return out


# Namespaces every cluster has; a SealedSecret may target them without the tree creating them.


def sync_include(namespaces: Iterable[str]) -> str:
    """Return the Argo CD ``directory.include`` glob of the sealed folder.

    Only ``<namespace>/*`` files of namespaces that exist are synced: a SealedSecret left
    behind by a disabled component or a removed app (``secrets/authentik/...``) would
    otherwise fail the whole ``secrets`` Application, and with it every later sync wave.
    Argo CD matches the glob (gobwas, no separators) against the path relative to
    ``secrets/``.

    Args:
        namespaces: The AppProject's destinations (``argocd.destinations``): the
            namespaces the tree creates and the built-in ones. Built from the same list,
            the glob never names a namespace the project refuses.

    Returns:
        A glob such as ``{authentik/*,default/*,kube-system/*}``.
    """
    names = sorted(set(namespaces))
    return "{" + ",".join(f"{n}/*" for n in names) + "}"


def components(cfg: HomeportConfig) -> list[Component]:
    """The Sealed Secrets controller and the Application syncing the sealed folder."""
    values = {
        "fullnameOverride": CONTROLLER_NAME,
        # The key is homeport's own (installed by bootstrap); never let the chart replace it.
        "secretName": "sealed-secrets-key",
        "keyrenewperiod": "0",
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
        "metrics": {"serviceMonitor": {"enabled": False}},
    }
    controller = Component(
        name="sealed-secrets",
        namespace=CONTROLLER_NAMESPACE,
        wave=WAVE_SEALED_SECRETS,
        chart=CHARTS["sealed-secrets"],
        values=values,
        release="sealed-secrets",
        description="Sealed Secrets controller (decrypts the secrets/ folder)",
    )
    sealed = Component(
        name="secrets",
        namespace=CONTROLLER_NAMESPACE,
        wave=WAVE_SECRETS,
        source={"path": SECRETS_DIR, "directory": {"recurse": True}},
        skip_dry_run=True,
        description="SealedSecrets written by homeport init / homeport secret set",
    )
    return [controller, sealed]
