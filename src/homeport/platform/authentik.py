"""Authentik single sign-on, its PostgreSQL (CloudNativePG) and the forward-auth middleware.

Everything is configured with no click in the Authentik UI:

* the CloudNativePG operator (chart) and a ``Cluster`` for Authentik's database, whose
  owner credentials come from the sealed ``authentik-db-credentials`` Secret: CNPG uses it
  at bootstrap *and* keeps the role's password equal to it (``managed.roles``), so a
  database volume that survives a reinstall takes the Secret's password instead of
  keeping an old one. That is not a licence to rotate on a running platform: after
  ``homeport init --force --rotate`` CNPG changes the role at once but Authentik's pods
  read the password when they start (restart them), its bootstrap password and token are
  read on first start only, and a new secret key signs everyone out;
* the Authentik chart (server + worker; no Redis: Authentik >= 2025.10 keeps its cache,
  tasks and sessions in PostgreSQL), with every secret passed as ``secretKeyRef``
  environment variables, never as chart values;
* blueprints (mounted from a ConfigMap through the chart's ``blueprints.configMaps``) that
  create the domain-level Proxy Provider, its Application, bind it to the embedded outpost,
  enforce MFA when asked, and register Argo CD as a public OIDC client with PKCE;
* Authentik's own route at ``auth.<domain>`` (public: it *is* the login page) and the
  ``forwardAuth`` Middleware in namespace ``pangolin`` that every ``auth: sso`` route uses.
"""

from __future__ import annotations

from importlib import resources
from string import Template
from urllib.parse import urlsplit

from homeport import yamlio
from homeport.config import HomeportConfig
from homeport.platform import secrets, traefik
from homeport.platform.base import (
    WAVE_CONFIG,
    WAVE_CONTROLLERS,
    WAVE_SERVICES,
    WAVE_SSO,
    Component,
    NamespaceSpec,
    Obj,
    keep,
    meta,
)
from homeport.platform.policies import (
    APISERVER_EGRESS,
    DNS_EGRESS,
    INTERNET_EGRESS,
    from_namespace,
    metrics_policy,
    netpol,
    webhook_policy,
)
from homeport.versions import CHARTS, POSTGRES_IMAGE
from homeport.wellknown import AUTHENTIK_NAMESPACE, CNPG_NAMESPACE, TRAEFIK_NAMESPACE

NAMESPACE = AUTHENTIK_NAMESPACE
RELEASE = "authentik"
# The chart names the server Service "<fullname>-<server.name>"; with release "authentik"
# the fullname is just "authentik" (goauthentik/helm templates/_helpers.tpl).
SERVER_SERVICE = "authentik-server"
SERVER_SERVICE_PORT = 80  # server.service.servicePortHttp (chart default)
SERVER_HTTP_PORT = 9000  # server.containerPorts.http (chart default)
METRICS_PORT = 9300  # server/worker.containerPorts.metrics (chart default)
AUTHENTIK_LABELS = {"app.kubernetes.io/name": "authentik", "app.kubernetes.io/instance": RELEASE}

CNPG_RELEASE = "cloudnative-pg"
CNPG_OPERATOR_LABELS = {"app.kubernetes.io/name": "cloudnative-pg"}
CNPG_WEBHOOK_PORT = 9443
CNPG_METRICS_PORT = 8080
CNPG_STATUS_PORT = 8000  # instance manager status endpoint the operator polls
POSTGRES_PORT = 5432
POSTGRES_METRICS_PORT = 9187

DB_CLUSTER = "authentik-db"
DB_SERVICE = f"{DB_CLUSTER}-rw"  # CNPG's read-write Service, always the primary
DB_NAME = "authentik"
DB_OWNER = "authentik"
DB_STORAGE = "5Gi"
DB_POD_LABELS = {"cnpg.io/cluster": DB_CLUSTER}

BACKUP_SECRET = secrets.BACKUP_S3_NAME
BACKUP_ACCESS_KEY = secrets.BACKUP_S3_ACCESS_KEY
BACKUP_SECRET_KEY = secrets.BACKUP_S3_SECRET_KEY
BACKUP_REGION_KEY = secrets.BACKUP_S3_REGION_KEY
BACKUP_RETENTION = "30d"

BLUEPRINTS_CONFIGMAP = "authentik-blueprints-homeport"
ARGOCD_CLIENT_ID = "argocd"
ARGOCD_APP_SLUG = "argocd"

# Headers the embedded outpost sets on an authenticated request (Authentik's Traefik guide).
AUTH_RESPONSE_HEADERS = (
    "X-authentik-username",
    "X-authentik-groups",
    "X-authentik-entitlements",
    "X-authentik-email",
    "X-authentik-name",
    "X-authentik-uid",
    "X-authentik-jwt",
    "X-authentik-meta-jwks",
    "X-authentik-meta-outpost",
    "X-authentik-meta-provider",
    "X-authentik-meta-app",
    "X-authentik-meta-version",
)


AUTH_RESPONSE_HEADERS_REGEX = "(?i)^X-authentik-"
# The outpost answers with a redirect (a one-link HTML body) or an empty 200. Traefik
# allocates the whole limit for every forward-auth call (pkg/middlewares/auth/forward.go),
# so keep it small: 64 KiB holds any redirect body with room to spare.
FORWARD_AUTH_MAX_RESPONSE_BYTES = 64 * 1024


def auth_host(cfg: HomeportConfig) -> str:
    """The public host of the Authentik login (``auth.<domain>``)."""
    return f"auth.{cfg.domain}"


def auth_url(cfg: HomeportConfig) -> str:
    """The public URL of Authentik; the outpost must redirect browsers here, never in-cluster."""
    return f"https://{auth_host(cfg)}"


def forward_auth_address() -> str:
    """The in-cluster forwardAuth endpoint of the embedded outpost.

    It must be the server Service, not the public host: the public host answers
    "no app for hostname" for forward-auth calls (authentik #1997).
    """
    # The Service listens on port 80 (SERVER_SERVICE_PORT), so the URL needs no port.
    return (
        f"http://{SERVER_SERVICE}.{NAMESPACE}.svc.cluster.local/outpost.goauthentik.io/auth/traefik"
    )


def _replicas(cfg: HomeportConfig) -> int:
    return 2 if cfg.ha else 1


def _db_instances(cfg: HomeportConfig) -> int:
    return 3 if cfg.ha else 1


# ---------------------------------------------------------------- blueprints


def _template(name: str) -> Template:
    text = (
        resources.files("homeport").joinpath("data", "blueprints", name).read_text(encoding="utf-8")
    )
    return Template(text)


def blueprints(cfg: HomeportConfig) -> dict[str, str]:
    """The blueprint files homeport mounts into Authentik, by file name.

    Args:
        cfg: The config (Authentik enabled).

    Returns:
        File name (ending in ``.yaml``, which the chart's mount requires) -> blueprint text.
    """
    required = cfg.components.authentik.mfa == "required"
    # Only DNS names and fixed words are substituted; the config validates the domain,
    # so nothing here can break out of the YAML scalar it lands in.
    out = {
        "homeport-forward-auth.yaml": _template("forward-auth.yaml").substitute(
            domain=cfg.domain, auth_url=auth_url(cfg)
        ),
        "homeport-mfa.yaml": _template("mfa.yaml").substitute(
            mfa=cfg.components.authentik.mfa,
            not_configured_action="configure" if required else "skip",
            # Required: only TOTP or WebAuthn count as a second factor. Optional: any
            # device a user enrolled is asked for (recovery codes included).
            device_classes="[totp, webauthn]" if required else "[static, totp, webauthn]",
        ),
    }
    if cfg.components.authentik.argocd_oidc:
        out["homeport-argocd.yaml"] = _template("argocd-oidc.yaml").substitute(
            domain=cfg.domain, auth_url=auth_url(cfg), client_id=ARGOCD_CLIENT_ID
        )
    return dict(sorted(out.items()))


def argocd_oidc_config(cfg: HomeportConfig) -> str | None:
    """The ``oidc.config`` of ``argocd-cm`` when Argo CD logs in through Authentik.

    Argo CD is a *public* client using PKCE (``enablePKCEAuthentication``): the browser
    and the CLI prove possession of a per-login verifier instead of a client secret, so
    there is no secret to seal or to leak.

    Args:
        cfg: The config.

    Returns:
        The YAML text, or None when SSO or Argo CD OIDC is disabled.
    """
    if not (cfg.sso and cfg.components.authentik.argocd_oidc):
        return None
    return yamlio.dump(
        {
            "name": "Authentik",
            "issuer": f"{auth_url(cfg)}/application/o/{ARGOCD_APP_SLUG}/",
            "clientID": ARGOCD_CLIENT_ID,
            "cliClientID": ARGOCD_CLIENT_ID,
            "enablePKCEAuthentication": True,
            "requestedScopes": ["openid", "profile", "email"],
        }
    )


# ---------------------------------------------------------------- objects


def blueprint_configmap(cfg: HomeportConfig) -> Obj:
    """The ConfigMap the chart mounts under ``/blueprints`` (every ``*.yaml`` key is applied)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(BLUEPRINTS_CONFIGMAP, NAMESPACE),
        "data": blueprints(cfg),
    }


def _secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def chart_values(cfg: HomeportConfig) -> Obj:
    """Helm values for the Authentik chart.

    The chart has no ``values.schema.json``; every key below exists in the chart's
    ``values.yaml`` (goauthentik/helm, charts/authentik/values.yaml, 2025.x-2026.x
    layout: ``global.env``, ``authentik.*``, ``blueprints.configMaps``, ``server.*``,
    ``worker.*``, ``postgresql.enabled``). Redis values are gone since chart 2025.10.

    Args:
        cfg: The config.

    Returns:
        The values object.
    """
    app_secret = secrets.AUTHENTIK_SECRETS.name
    db_secret = secrets.AUTHENTIK_DB.name
    n = _replicas(cfg)
    monitoring = cfg.components.monitoring.enabled
    pod_sc: Obj = {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    ctr_sc: Obj = {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    resources_: Obj = {
        "requests": {"cpu": "100m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }

    def workload(extra: Obj) -> Obj:
        out: Obj = {
            "replicas": n,
            "resources": resources_,
            "securityContext": pod_sc,
            "containerSecurityContext": ctr_sc,
            "metrics": {"enabled": monitoring, "serviceMonitor": {"enabled": monitoring}},
        }
        if n > 1:
            out["pdb"] = {"enabled": True, "maxUnavailable": 1}
        out.update(extra)
        return out

    return {
        "global": {
            # Secrets reach the pods only as references; explicit env wins over the
            # chart's own envFrom Secret, which therefore never holds a secret.
            "env": [
                _secret_env("AUTHENTIK_SECRET_KEY", app_secret, "secret-key"),
                _secret_env("AUTHENTIK_BOOTSTRAP_PASSWORD", app_secret, "bootstrap-password"),
                _secret_env("AUTHENTIK_BOOTSTRAP_TOKEN", app_secret, "bootstrap-token"),
                _secret_env("AUTHENTIK_BOOTSTRAP_EMAIL", app_secret, "bootstrap-email"),
                _secret_env("AUTHENTIK_POSTGRESQL__USER", db_secret, "username"),
                _secret_env("AUTHENTIK_POSTGRESQL__PASSWORD", db_secret, "password"),
            ],
        },
        "authentik": {
            "log_level": "info",
            "error_reporting": {"enabled": False},
            "postgresql": {"host": DB_SERVICE, "name": DB_NAME, "port": POSTGRES_PORT},
        },
        "blueprints": {"configMaps": [BLUEPRINTS_CONFIGMAP]},
        # homeport writes its own IngressRoute at auth.<domain>.
        "server": workload({"ingress": {"enabled": False}}),
        "worker": workload({}),
        # The database is CloudNativePG's; never the bundled Bitnami subchart.
        "postgresql": {"enabled": False},
    }


def db_cluster(cfg: HomeportConfig) -> Obj:
    """The CloudNativePG ``Cluster`` holding Authentik's database."""
    db_secret = secrets.AUTHENTIK_DB.name
    spec: Obj = {
        "instances": _db_instances(cfg),
        "imageName": POSTGRES_IMAGE,
        "primaryUpdateStrategy": "unsupervised",
        # A PDB on a single instance would block every node drain.
        "enablePDB": cfg.ha,
        "storage": {"size": DB_STORAGE},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "bootstrap": {
            "initdb": {"database": DB_NAME, "owner": DB_OWNER, "secret": {"name": db_secret}},
        },
        # CNPG keeps the owner's password equal to the sealed Secret from now on, so a
        # surviving volume and a re-sealed Secret can never disagree (goauthentik/helm #61).
        "managed": {
            "roles": [
                {
                    "name": DB_OWNER,
                    "ensure": "present",
                    "login": True,
                    "passwordSecret": {"name": db_secret},
                }
            ]
        },
    }
    s3 = cfg.backup.s3
    if s3 is not None:
        creds: Obj = {
            "accessKeyId": {"name": BACKUP_SECRET, "key": BACKUP_ACCESS_KEY},
            "secretAccessKey": {"name": BACKUP_SECRET, "key": BACKUP_SECRET_KEY},
        }
        if s3.region:
            creds["region"] = {"name": BACKUP_SECRET, "key": BACKUP_REGION_KEY}
        # In-tree Barman Cloud: deprecated since CNPG 1.26 and still supported by 1.30
        # (removal announced for 1.31); docs/sso.md describes the plugin migration.
        spec["backup"] = {
            "retentionPolicy": BACKUP_RETENTION,
            "barmanObjectStore": {
                "destinationPath": "/".join(
                    p for p in (f"s3://{s3.bucket}", s3.path.strip("/"), DB_CLUSTER) if p
                ),
                "endpointURL": s3.endpoint,
                "s3Credentials": creds,
                "wal": {"compression": "gzip"},
                "data": {"compression": "gzip"},
            },
        }
    # The database: deleting the Cluster deletes its volumes (they are owned by it).
    return keep(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": meta(DB_CLUSTER, NAMESPACE),
            "spec": spec,
        }
    )


def cnpg_schedule(cron: str) -> str:
    """Convert a five-field cron line to CNPG's six-field form (seconds first).

    Args:
        cron: ``min hour dom month dow`` (or already six fields).

    Returns:
        The schedule for ``ScheduledBackup.spec.schedule``.
    """
    fields = cron.split()
    return " ".join(["0", *fields]) if len(fields) == 5 else " ".join(fields)


def scheduled_backup(cfg: HomeportConfig) -> Obj | None:
    """A ``ScheduledBackup`` of the database when ``backup.s3`` is configured."""
    s3 = cfg.backup.s3
    if s3 is None:
        return None
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": meta(f"{DB_CLUSTER}-daily", NAMESPACE),
        "spec": {
            "schedule": cnpg_schedule(s3.schedule),
            "cluster": {"name": DB_CLUSTER},
            "method": "barmanObjectStore",
            "backupOwnerReference": "self",
            "immediate": True,
        },
    }


def db_pod_monitor() -> Obj:
    """A PodMonitor for the database pods (CNPG's own ``enablePodMonitor`` is deprecated)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": meta(DB_CLUSTER, NAMESPACE),
        "spec": {
            "selector": {"matchLabels": {**DB_POD_LABELS, "cnpg.io/podRole": "instance"}},
            "podMetricsEndpoints": [{"port": "metrics"}],
        },
    }


def middleware() -> Obj:
    """The forwardAuth Middleware every ``auth: sso`` route references."""
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": meta(traefik.SSO_MIDDLEWARE, traefik.SSO_MIDDLEWARE_NS),
        "spec": {
            "forwardAuth": {
                "address": forward_auth_address(),
                "trustForwardHeader": True,
                "authResponseHeaders": list(AUTH_RESPONSE_HEADERS),
                # Every X-authentik-* header a client sends is dropped before the outpost's
                # copies are set, listed or not (Go canonicalises names: match case-blind).
                "authResponseHeadersRegex": AUTH_RESPONSE_HEADERS_REGEX,
                # Traefik v3.7 reads the outpost's whole answer; bound it (it warns otherwise).
                "maxResponseBodySize": FORWARD_AUTH_MAX_RESPONSE_BYTES,
            }
        },
    }


def auth_route(cfg: HomeportConfig) -> Obj:
    """Authentik's own route: public, because it is the login every other route sends to."""
    return traefik.ingress_route(
        cfg,
        name="authentik",
        namespace=NAMESPACE,
        host=auth_host(cfg),
        service=SERVER_SERVICE,
        port=SERVER_SERVICE_PORT,
        auth="public",
    )


# ---------------------------------------------------------------- namespaces


def _s3_port(endpoint: str) -> int:
    parts = urlsplit(endpoint)
    if parts.port:
        return parts.port
    return 80 if parts.scheme == "http" else 443


def authentik_namespace(cfg: HomeportConfig) -> NamespaceSpec:
    """The ``authentik`` namespace: server, worker and the database pods."""
    ns = NAMESPACE
    server = {"matchLabels": {**AUTHENTIK_LABELS, "app.kubernetes.io/component": "server"}}
    authentik_pods = {"matchLabels": AUTHENTIK_LABELS}
    db_pods = {"matchLabels": DB_POD_LABELS}
    pg = {"protocol": "TCP", "port": POSTGRES_PORT}
    policies: list[Obj] = [
        # Browsers (through Traefik) and Traefik's forwardAuth calls reach the server.
        netpol(
            "allow-server-from-traefik",
            ns,
            pod_selector=server,
            ingress=[
                {
                    "from": [from_namespace(TRAEFIK_NAMESPACE)],
                    "ports": [{"protocol": "TCP", "port": SERVER_HTTP_PORT}],
                }
            ],
        ),
        netpol(
            "allow-authentik-to-postgres",
            ns,
            pod_selector=authentik_pods,
            egress=[{"to": [{"podSelector": db_pods}], "ports": [pg]}],
        ),
        netpol(
            "allow-postgres-from-authentik",
            ns,
            pod_selector=db_pods,
            ingress=[{"from": [{"podSelector": authentik_pods}], "ports": [pg]}],
        ),
        # Replication and pg_rewind between instances, and the instance managers' status calls.
        netpol(
            "allow-postgres-peers",
            ns,
            pod_selector=db_pods,
            ingress=[{"from": [{"podSelector": db_pods}]}],
            egress=[{"to": [{"podSelector": db_pods}]}],
        ),
        netpol(
            "allow-postgres-from-operator",
            ns,
            pod_selector=db_pods,
            ingress=[
                {
                    "from": [from_namespace(CNPG_NAMESPACE, CNPG_OPERATOR_LABELS)],
                    "ports": [{"protocol": "TCP", "port": CNPG_STATUS_PORT}, pg],
                }
            ],
        ),
        # The instance manager watches its Cluster; Authentik's worker reads the API for
        # its (unused by homeport) Kubernetes outpost integration.
        netpol(
            "allow-apiserver",
            ns,
            pod_selector={
                "matchExpressions": [
                    {"key": "app.kubernetes.io/name", "operator": "In", "values": ["authentik"]},
                ]
            },
            egress=[APISERVER_EGRESS],
        ),
        netpol("allow-postgres-apiserver", ns, pod_selector=db_pods, egress=[APISERVER_EGRESS]),
        # E-mail, OAuth/OIDC sources and GeoIP updates go to the internet; the database never does.
        netpol(
            "allow-authentik-internet", ns, pod_selector=authentik_pods, egress=[INTERNET_EGRESS]
        ),
        metrics_policy(ns, METRICS_PORT, POSTGRES_METRICS_PORT),
        netpol("allow-dns", ns, egress=[DNS_EGRESS]),
    ]
    if cfg.backup.s3 is not None:
        # The object store may live on the LAN (MinIO) or the internet: allow its port anywhere.
        policies.append(
            netpol(
                "allow-postgres-backup",
                ns,
                pod_selector=db_pods,
                egress=[{"ports": [{"protocol": "TCP", "port": _s3_port(cfg.backup.s3.endpoint)}]}],
            )
        )
    # The database volumes live here: disabling Authentik must not delete them.
    return NamespaceSpec(ns, "restricted", tuple(policies), keep=True)


def cnpg_namespace() -> NamespaceSpec:
    """The ``cnpg-system`` namespace of the CloudNativePG operator."""
    ns = CNPG_NAMESPACE
    operator = {"matchLabels": CNPG_OPERATOR_LABELS}
    return NamespaceSpec(
        ns,
        "restricted",
        (
            webhook_policy(ns, operator, CNPG_WEBHOOK_PORT),
            netpol(
                "allow-operator-to-postgres",
                ns,
                pod_selector=operator,
                egress=[
                    {
                        "to": [
                            {
                                "namespaceSelector": {},
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "cnpg.io/cluster", "operator": "Exists"}
                                    ]
                                },
                            }
                        ],
                        "ports": [
                            {"protocol": "TCP", "port": CNPG_STATUS_PORT},
                            {"protocol": "TCP", "port": POSTGRES_PORT},
                        ],
                    }
                ],
            ),
            metrics_policy(ns, CNPG_METRICS_PORT),
            netpol("allow-apiserver", ns, egress=[APISERVER_EGRESS]),
            netpol("allow-dns", ns, egress=[DNS_EGRESS]),
        ),
    )


def pangolin_namespace() -> NamespaceSpec:
    """The ``pangolin`` namespace: only the forward-auth Middleware lives there, no pods."""
    return NamespaceSpec(traefik.SSO_MIDDLEWARE_NS, "restricted", ())


# ---------------------------------------------------------------- components


def cnpg_operator(cfg: HomeportConfig) -> Component:
    """The CloudNativePG operator chart (server-side apply: its CRDs are too large otherwise)."""
    monitoring = cfg.components.monitoring.enabled
    return Component(
        name="cloudnative-pg",
        namespace=CNPG_NAMESPACE,
        wave=WAVE_CONTROLLERS,
        chart=CHARTS["cloudnative-pg"],
        release=CNPG_RELEASE,
        values={
            "replicaCount": 2 if cfg.ha else 1,
            "crds": {"create": True},
            "monitoring": {"podMonitorEnabled": monitoring},
            "resources": {
                "requests": {"cpu": "50m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"},
            },
        },
        server_side=True,
        namespaces=[cnpg_namespace()],
        description="CloudNativePG operator (PostgreSQL for Authentik)",
    )


def components(cfg: HomeportConfig) -> list[Component]:
    """The CloudNativePG operator and, with SSO, Authentik, its database and the middleware.

    Args:
        cfg: The config.

    Returns:
        The components (none of Authentik's when it is disabled).
    """
    out: list[Component] = []
    if cfg.components.cloudnative_pg.enabled:
        out.append(cnpg_operator(cfg))
    if not cfg.sso:
        return out
    db_objects = [db_cluster(cfg)]
    backup = scheduled_backup(cfg)
    if backup is not None:
        db_objects.append(backup)
    if cfg.components.monitoring.enabled:
        db_objects.append(db_pod_monitor())
    out += [
        Component(
            name="authentik-database",
            namespace=NAMESPACE,
            wave=WAVE_CONFIG,
            objects=db_objects,
            skip_dry_run=True,
            namespaces=[authentik_namespace(cfg)],
            description=f"Authentik PostgreSQL (CloudNativePG, {_db_instances(cfg)} instance(s))",
        ),
        Component(
            name="authentik-blueprints",
            namespace=NAMESPACE,
            wave=WAVE_CONFIG,
            objects=[blueprint_configmap(cfg)],
            description="Authentik blueprints: forward auth, MFA, Argo CD OIDC",
        ),
        Component(
            name="authentik",
            namespace=NAMESPACE,
            wave=WAVE_SERVICES,
            chart=CHARTS["authentik"],
            release=RELEASE,
            values=chart_values(cfg),
            description="Authentik single sign-on (server and worker)",
        ),
        Component(
            name="authentik-route",
            namespace=NAMESPACE,
            wave=WAVE_SSO,
            objects=[auth_route(cfg)],
            skip_dry_run=True,
            description="Authentik login at auth.<domain>",
        ),
        Component(
            name="forward-auth",
            namespace=traefik.SSO_MIDDLEWARE_NS,
            wave=WAVE_SSO,
            objects=[middleware()],
            skip_dry_run=True,
            namespaces=[pangolin_namespace()],
            description="Traefik forwardAuth middleware (pangolin) that sso routes use",
        ),
    ]
    return out
