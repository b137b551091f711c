"""The homeport.yaml model: one validated file that describes a whole platform.

Every field is documented here; the JSON Schema (``homeport schema``) is generated from
these models, so editors complete and explain the same fields the loader accepts.
Unknown keys are rejected everywhere (``extra="forbid"``).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from homeport import yamlio
from homeport.errors import ConfigError, ConfigProblem
from homeport.names import LABEL, check_image, normalize_domain, parse_duration
from homeport.schedules import cron_problem
from homeport.versions import HOMEPORT_IMAGE, SUPPORTED_KUBERNETES
from homeport.wellknown import (
    ARGOCD_NAMESPACE,
    AUTHENTIK_NAMESPACE,
    CERT_MANAGER_NAMESPACE,
    CNPG_NAMESPACE,
    DDNS_NAMESPACE,
    KUBE_SYSTEM,
    MONITORING_NAMESPACE,
    TRAEFIK_NAMESPACE,
)

SCHEMA_URL = (
    "https://raw.githubusercontent.com/homeport-dev/homeport/main/schema/homeport.schema.json"
)

_DNS1123 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_quantity(v: str, example: str = "") -> str:
    """Require a Kubernetes quantity such as 100m, 1Gi or 2."""
    if not _QUANTITY.match(str(v)):
        hint = f" such as {example}" if example else ""
        raise ValueError(f'"{v}" is not a Kubernetes quantity{hint}')
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, data: Any) -> Any:
        # `monitoring:` or `apps:` with every line below commented out is YAML null:
        # read it as "not set" (the default), not as a type error. Required keys stay null.
        if isinstance(data, dict):
            return {
                k: v
                for k, v in data.items()
                if not (
                    v is None and k in cls.model_fields and not cls.model_fields[k].is_required()
                )
            }
        return data


_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


class AcmeConfig(_Model):
    """Let's Encrypt settings, or a private ACME server instead of Let's Encrypt."""

    environment: Literal["staging", "production"] = Field(
        "staging",
        description="Which Let's Encrypt server issues the wildcard certificate. Start with "
        "staging: production has strict weekly rate limits per domain.",
    )
    server: str | None = Field(
        None,
        description="A private ACME server's directory URL (step-ca, an internal Boulder or "
        "pebble) used instead of Let's Encrypt; environment is then ignored.",
    )
    ca_bundle: str | None = Field(
        None,
        description="PEM CA certificate(s) that sign the private ACME server's TLS "
        "certificate, when a public CA does not.",
    )

    @field_validator("server")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https://[^\s/]+(/\S*)?$", v):
            raise ValueError(f'"{v}" is not an ACME directory URL (https://host/path)')
        return v

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _PEM_CERT.search(v) or _PEM_CERT.sub("", v).strip():
            raise ValueError("must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)")
        return v.strip() + "\n"

    @model_validator(mode="after")
    def _bundle_needs_server(self) -> AcmeConfig:
        if self.ca_bundle is not None and self.server is None:
            raise ValueError("ca_bundle is only used with server (a private ACME server)")
        return self


class CloudflareConfig(_Model):
    """The Cloudflare zone homeport manages DNS records in (DDNS and DNS-01)."""

    zone: str | None = Field(None, description="Cloudflare zone name. Default: the domain.")
    records: list[str] = Field(
        default_factory=lambda: ["@", "*"],
        description='Records kept pointing at your address: "@" is the apex, "*" the wildcard, '
        "other names are relative to the zone. Default: the domain and its wildcard "
        '(["@", "*"], or ["lab", "*.lab"] for lab.example.com in zone example.com).',
        min_length=1,
    )
    proxied: bool = Field(False, description="Proxy records through Cloudflare (orange cloud).")
    ttl: int = Field(
        1,
        description="Record TTL in seconds; 1 means automatic, else 30 to 86400.",
        ge=1,
        le=86400,
        strict=True,
    )
    ipv4: bool = Field(True, description="Manage A records.")
    ipv6: bool = Field(False, description="Manage AAAA records.")
    interval: str = Field("5m", description="How often the DDNS controller checks the address.")

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return None if v is None else normalize_domain(v)

    @field_validator("records")
    @classmethod
    def _records(cls, v: list[str]) -> list[str]:
        seen: set[str] = set()
        for r in v:
            if r not in ("@", "*"):
                stripped = r[2:] if r.startswith("*.") else r
                for label in stripped.lower().rstrip(".").split("."):
                    if not LABEL.match(label):
                        raise ValueError(f'record "{r}" is not a valid DNS name')
            if r in seen:
                raise ValueError(f'record "{r}" is listed twice')
            seen.add(r)
        return v

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: int) -> int:
        # Cloudflare (and `homeport ddns run`) accept 1 = automatic, or 30 s to a day.
        if v != 1 and v < 30:
            raise ValueError(f"{v} is not 1 (automatic) or between 30 and 86400")
        return v

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        if parse_duration(v) < 30:
            raise ValueError("interval must be at least 30s (Cloudflare rate-limits API calls)")
        return v

    @model_validator(mode="after")
    def _family(self) -> CloudflareConfig:
        if not (self.ipv4 or self.ipv6):
            raise ValueError("at least one of ipv4 and ipv6 must be true")
        return self


_GIT_URL = re.compile(r"^(https://|http://|ssh://|git://|git@[^:\s]+:)\S+$")


def check_git_url(v: str, login: str = "mirror.credentials (a sealed Secret)") -> str:
    """Require a Git clone URL: https, http, ssh, git (git daemon) or ``git@host:path``.

    Args:
        v: The URL.
        login: Where a login belongs instead of the URL (for the message).

    Returns:
        The URL, unchanged.

    Raises:
        ValueError: Not a Git URL, or a URL carrying a password (it would land in Git).
    """
    if not _GIT_URL.match(v):
        raise ValueError(
            f'"{v}" is not a Git URL; use https://host/owner/repo.git, '
            "git@host:owner/repo.git, ssh://, http:// or git://"
        )
    if "://" in v and _userinfo_password(v):
        # Never echo the URL: the password may be a token.
        raise ValueError(
            f"the URL carries a password, which would be committed to Git; use {login}"
        )
    return v


_URL_USER = (
    "the URL carries a user name or password, which would be committed to Git; "
    "use mirror.credentials (a sealed Secret)"
)


def _userinfo_password(url: str) -> bool:
    """Whether ``scheme://user:password@host`` carries a password."""
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


class GitConfig(_Model):
    """The Git repository Argo CD syncs the rendered tree from."""

    url: str = Field(
        description="Clone URL of the repository (https://..., git@host:owner/repo.git, "
        "ssh://..., http://... or git://... for a git daemon)."
    )
    revision: str = Field("main", description="Branch, tag or commit Argo CD follows.")
    path: str = Field("cluster", description="Directory of the rendered tree inside the repo.")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_git_url(v, "`homeport bootstrap --repo-credentials` (kept in the cluster)")

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        p = v.strip("/")
        if not p or ".." in p.split("/") or not re.match(r"^[A-Za-z0-9._/-]+$", p):
            raise ValueError(f'"{v}" is not a relative directory inside the repository')
        return p


class KubernetesConfig(_Model):
    """The target cluster."""

    version: str = Field(
        "1.36", description="Kubernetes minor version the tree is validated against, e.g. 1.36."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> str:
        s = str(v)
        if not re.match(r"^1\.\d{2}$", s):
            raise ValueError(f'"{v}" is not a Kubernetes minor version such as "1.36"')
        if s not in SUPPORTED_KUBERNETES:
            raise ValueError(
                f"Kubernetes {s} is not supported; use one of {', '.join(SUPPORTED_KUBERNETES)}"
            )
        return s


def _quantity_text(v: Any) -> Any:
    """Return a YAML number written for a quantity as text (``2`` -> ``"2"``)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return v


_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")


def _check_url(v: str | None) -> str | None:
    """Require an http(s) URL with a host."""
    if v is not None and not _HTTP_URL.match(v):
        raise ValueError(f'"{v}" is not an http(s) URL')
    return v


class Quantities(_Model):
    """CPU and memory quantities."""

    cpu: str | None = Field(None, description='CPU, e.g. "100m" or "1".')
    memory: str | None = Field(None, description='Memory, e.g. "128Mi".')

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        # Kubernetes quantities are int-or-string: `cpu: 2` and `cpu: 0.5` are valid.
        return _quantity_text(v)

    @field_validator("cpu", "memory")
    @classmethod
    def _qty(cls, v: str | None) -> str | None:
        return None if v is None else _check_quantity(v)


class Resources(_Model):
    """Container resource requests and limits."""

    requests: Quantities = Field(
        default_factory=lambda: Quantities(cpu="50m", memory="64Mi"),
        description="What the scheduler reserves.",
    )
    limits: Quantities = Field(
        default_factory=lambda: Quantities(cpu="500m", memory="256Mi"),
        description="The most the container may use.",
    )


class Storage(_Model):
    """A persistent volume for an app."""

    size: str = Field("1Gi", description="Volume size.")
    path: str = Field("/data", description="Mount path inside the container.")
    storage_class: str | None = Field(None, description="StorageClass; default: the cluster's.")

    @field_validator("size")
    @classmethod
    def _size(cls, v: str) -> str:
        return _check_quantity(v, "1Gi")

    @field_validator("path")
    @classmethod
    def _mount(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must be an absolute path")
        return v


class Autoscale(_Model):
    """A HorizontalPodAutoscaler for an app."""

    min_replicas: int = Field(2, ge=1, le=100, strict=True, description="Fewest replicas.")
    max_replicas: int = Field(5, ge=1, le=100, strict=True, description="Most replicas.")
    cpu_percent: int = Field(80, ge=1, le=100, strict=True, description="Target CPU utilisation.")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscale:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be >= min_replicas")
        return self


class App(_Model):
    """One application homeport deploys and routes."""

    name: str = Field(description="DNS-1123 name; also the namespace the app runs in.")
    image: str = Field(description="Container image with a pinned tag or digest (never latest).")
    port: int = Field(description="Port the container listens on.", ge=1, le=65535, strict=True)
    host: str | None = Field(None, description="Public host name. Default: <name>.<domain>.")
    replicas: int = Field(2, ge=0, le=100, strict=True, description="Number of pods.")
    auth: Literal["sso", "public"] | None = Field(
        None,
        description="sso: behind Authentik single sign-on; public: open to the internet. "
        "Default: sso when Authentik is enabled, else public.",
    )
    env: dict[str, str] = Field(default_factory=dict, description="Plain environment variables.")
    secret_env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables read from a sealed secret of the app: "
        "VAR: key (written with `homeport secret set <name>-env --namespace <name>`).",
    )
    resources: Resources = Field(default_factory=Resources, description="Requests and limits.")
    storage: Storage | None = Field(
        None,
        description="Persistent ReadWriteOnce volume, if the app needs one: one pod mounts it "
        "(replicas: 1, no autoscale).",
    )
    health_path: str | None = Field(
        None, description="HTTP path for probes; default: a TCP check on the port."
    )
    autoscale: Autoscale | None = Field(None, description="Scale on CPU with an HPA.")
    run_as_user: int = Field(
        65532, ge=1, strict=True, description="Non-root UID the container runs as."
    )
    internet: bool = Field(False, description="Allow outbound connections to the internet.")
    args: list[str] = Field(default_factory=list, description="Container arguments.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _DNS1123.match(v) or len(v) > 40:
            raise ValueError(
                f'"{v}" is not a valid app name: lower-case letters, digits and hyphens, '
                "starting with a letter, at most 40 characters"
            )
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image(v)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        return None if v is None else normalize_domain(v)

    @field_validator("env", "secret_env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not _ENV_NAME.match(k):
                raise ValueError(f'"{k}" is not a valid environment variable name')
        return {k: str(val) for k, val in v.items()}

    @field_validator("health_path")
    @classmethod
    def _health(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError("must start with /")
        return v


class Component(_Model):
    """A platform component that can be switched off."""

    enabled: bool = Field(True, description="Install this component.")


class ArgoCDComponent(Component):
    """Argo CD, the GitOps engine (cannot be disabled: it runs everything else)."""

    auth: Literal["sso", "public"] = Field(
        "sso", description="Put the Argo CD UI behind Authentik forward auth."
    )

    @field_validator("enabled")
    @classmethod
    def _always(cls, v: bool) -> bool:
        if not v:
            raise ValueError("Argo CD cannot be disabled: it installs everything else")
        return v


def _optional_ip(v: str | None) -> str | None:
    """``v`` unchanged when it is None or an IP address; else a ValueError naming it."""
    if v is not None:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError(f'"{v}" is not an IP address') from None
    return v


class TraefikComponent(Component):
    """Traefik, the ingress controller."""

    dashboard: bool = Field(True, description="Serve the dashboard at traefik.<domain> (SSO only).")
    replicas: int | None = Field(
        None, ge=1, le=10, strict=True, description="Default: 1, or 2 with ha."
    )
    load_balancer_ip: str | None = Field(
        None, description="Fixed LoadBalancer IP, if your LB needs one."
    )

    @field_validator("enabled")
    @classmethod
    def _always(cls, v: bool) -> bool:
        if not v:
            raise ValueError("Traefik cannot be disabled: every route goes through it")
        return v

    @field_validator("load_balancer_ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        return _optional_ip(v)


class CertManagerComponent(Component):
    """cert-manager with Let's Encrypt DNS-01 through Cloudflare."""

    nameservers: list[str] = Field(
        default_factory=lambda: ["1.1.1.1:53", "8.8.8.8:53"],
        description="Public resolvers used for DNS-01 propagation checks (never your home DNS).",
        min_length=1,
    )

    @field_validator("nameservers")
    @classmethod
    def _ns(cls, v: list[str]) -> list[str]:
        for ns in v:
            if not re.match(r"^(\[[0-9a-fA-F:]+\]|[0-9.]+|[A-Za-z0-9.-]+):\d{1,5}$", ns):
                raise ValueError(f'"{ns}" must be host:port, e.g. 1.1.1.1:53')
        return v


class DdnsComponent(Component):
    """homeport's own Cloudflare DDNS controller."""

    image: str = Field(
        HOMEPORT_IMAGE,
        description="Image running `homeport ddns run` (and the platform backup CronJob). "
        "Default: the image released with this homeport version.",
    )
    ip_providers: list[str] = Field(
        default_factory=lambda: ["cloudflare.trace", "cloudflare.doh", "ipify"],
        description="Address detectors tried in order; the first two valid answers must agree: "
        "cloudflare.trace, cloudflare.doh, ipify (each optionally :<URL>), url:<URL>, static:<IP>.",
        min_length=1,
    )
    healthchecks_url: str | None = Field(None, description="healthchecks.io ping URL.")
    uptime_kuma_url: str | None = Field(None, description="Uptime Kuma push URL.")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image(v)

    @field_validator("ip_providers")
    @classmethod
    def _providers(cls, v: list[str]) -> list[str]:
        # The same grammar `homeport ddns run --ip-provider` accepts, so the pod starts.
        for p in v:
            kind, sep, arg = p.strip().partition(":")
            if kind in ("cloudflare.trace", "cloudflare.doh", "ipify") and (
                not sep or _HTTP_URL.match(arg)
            ):
                continue
            if kind == "url" and _HTTP_URL.match(arg):
                continue
            if kind == "static":
                try:
                    ip = ipaddress.ip_address(arg)
                except ValueError:
                    ip = None
                if ip is not None:
                    # The controller refuses these answers at run time (ddns/addresses.py).
                    if not ip.is_global or ip.is_multicast or ip.is_reserved:
                        raise ValueError(
                            f'"{p}": {ip} is not a global unicast address '
                            "(the DDNS controller would refuse it)"
                        )
                    continue
            raise ValueError(
                f'unknown IP provider "{p}"; use cloudflare.trace, cloudflare.doh, ipify, '
                "url:<URL> or static:<IP>"
            )
        return v

    @field_validator("healthchecks_url", "uptime_kuma_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _check_url(v)


class AuthentikComponent(Component):
    """Authentik single sign-on in front of apps through Traefik forward auth."""

    mfa: Literal["optional", "required"] = Field(
        "optional", description="required: every login needs TOTP or WebAuthn."
    )
    argocd_oidc: bool = Field(True, description="Let Argo CD log in through Authentik (OIDC).")


class MonitoringAlerts(_Model):
    """Where alerts are delivered."""

    email: str | None = Field(None, description="Send alerts to this address.")
    smtp_host: str | None = Field(None, description="SMTP server host:port for e-mail alerts.")
    ntfy_url: str | None = Field(
        None, description="ntfy topic URL, e.g. https://ntfy.sh/my-alerts."
    )
    webhook_url: str | None = Field(
        None, description="Generic webhook receiving Alertmanager JSON."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.match(v):
            raise ValueError(f'"{v}" is not a valid e-mail address')
        return v

    @field_validator("smtp_host")
    @classmethod
    def _smtp(cls, v: str | None) -> str | None:
        # Alertmanager's smarthost must be host:port, else it rejects the whole config.
        if v is not None and not _HOST_PORT.match(v):
            raise ValueError(f'"{v}" must be host:port, e.g. smtp.example.com:587')
        return v

    @field_validator("ntfy_url", "webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _check_url(v)

    @model_validator(mode="after")
    def _smtp_needed(self) -> MonitoringAlerts:
        if self.email is not None and self.smtp_host is None:
            raise ValueError("email alerts need smtp_host (host:port of your mail server)")
        return self


class MonitoringComponent(Component):
    """kube-prometheus-stack with homeport's alerts and dashboards."""

    lite: bool = Field(False, description="For small machines: no node-exporter, short retention.")
    retention: str = Field("15d", description="How long Prometheus keeps samples.")
    storage: str = Field("10Gi", description="Prometheus volume size.")
    alerts: MonitoringAlerts = Field(default_factory=MonitoringAlerts, description="Delivery.")
    auth: Literal["sso", "public"] = Field("sso", description="Grafana behind SSO.")

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: str) -> str:
        if not re.match(r"^\d+(h|d|w|y)$", v):
            raise ValueError(f'"{v}" is not a retention such as 15d')
        return v

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        return _check_quantity(v, "10Gi")


class DemoAppsComponent(Component):
    """The seed's demo apps: whoami (public) and hello (behind SSO)."""


class Components(_Model):
    """Platform components; each can be tuned, most can be switched off."""

    argocd: ArgoCDComponent = Field(default_factory=ArgoCDComponent)
    traefik: TraefikComponent = Field(default_factory=TraefikComponent)
    cert_manager: CertManagerComponent = Field(default_factory=CertManagerComponent)
    sealed_secrets: Component = Field(
        default_factory=Component, description="Sealed Secrets controller (keep it on)."
    )
    ddns: DdnsComponent = Field(default_factory=DdnsComponent)
    authentik: AuthentikComponent = Field(default_factory=AuthentikComponent)
    cloudnative_pg: Component = Field(
        default_factory=Component, description="CloudNativePG operator (Authentik's database)."
    )
    monitoring: MonitoringComponent = Field(default_factory=MonitoringComponent)
    demo_apps: DemoAppsComponent = Field(default_factory=DemoAppsComponent)


def _check_cron(v: str, *, seconds: bool = False) -> str:
    # Five fields for a Kubernetes CronJob; CNPG's ScheduledBackup also takes six (seconds).
    six = seconds and len(v.split()) == 6
    problem = cron_problem(v, seconds=six)
    if problem:
        raise ValueError(f'"{v}" is not a cron schedule such as "0 3 * * *": {problem}')
    return v


class S3Backup(_Model):
    """An S3-compatible object store for database and platform backups."""

    endpoint: str = Field(description="Endpoint URL, e.g. https://s3.eu-central-1.amazonaws.com.")
    bucket: str = Field(description="Bucket name.")
    region: str | None = Field(None, description="Region, when the store needs one.")
    path: str = Field("homeport", description="Prefix inside the bucket.")
    schedule: str = Field(
        "0 3 * * *",
        description="Cron schedule of the database backups: five fields, or six with "
        "seconds first (CloudNativePG's form).",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        out = _check_url(v)
        assert out is not None
        return out

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return _check_cron(v, seconds=True)


class PlatformBackup(_Model):
    """A CronJob in the cluster running `homeport backup` into a volume."""

    recipients: list[str] = Field(
        min_length=1,
        description="age public keys (age1...) the archives are encrypted to; the matching "
        "identities never enter the cluster.",
    )
    schedule: str = Field(
        "0 2 * * *",
        description="Cron schedule of the backup CronJob: five fields or a descriptor "
        "such as @daily.",
    )
    storage: str = Field("2Gi", description="Size of the volume holding the archives.")
    storage_class: str | None = Field(None, description="StorageClass; default: the cluster's.")
    keep: int = Field(
        7,
        ge=1,
        le=1000,
        strict=True,
        description="How many archives the volume keeps; each run deletes older ones.",
    )

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, v: list[str]) -> list[str]:
        for r in v:
            if not re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", r):
                raise ValueError(f'"{r}" is not an age public key (age1... , 62 characters)')
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return _check_cron(v)

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        return _check_quantity(v, "2Gi")


class BackupConfig(_Model):
    """Backups (credentials are sealed: `homeport secret set backup-s3 ...`)."""

    s3: S3Backup | None = Field(None, description="Object-store target of database backups.")
    platform: PlatformBackup | None = Field(
        None,
        description="Scheduled, age-encrypted `homeport backup` of the platform (secrets, "
        "sealing key, certificates, Argo CD state) into a volume in the cluster.",
    )


LoadBalancerType = Literal["servicelb", "metallb", "cloud", "nodeport"]
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Private LAN ranges (RFC 1918, IPv6 ULA). Not ipaddress.is_private, which also counts
# documentation and benchmark ranges that no home network uses.
_LAN_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _address_range(v: str) -> str:
    parse_address_range(v)
    return v


def parse_address_range(text: str) -> tuple[_IPAddress, _IPAddress]:
    """Parse a MetalLB address range: ``A-B`` or a CIDR such as ``192.168.1.240/28``.

    Returns:
        The first and the last address.

    Raises:
        ValueError: Not a range or CIDR, mixed IP versions, or start after end.
    """
    t = text.strip()
    if "-" in t:
        a, _, b = t.partition("-")
        try:
            first, last = ipaddress.ip_address(a.strip()), ipaddress.ip_address(b.strip())
        except ValueError:
            raise ValueError(
                f'"{text}" is not an address range such as 192.168.1.240-192.168.1.250'
            ) from None
        if first.version != last.version:
            raise ValueError(f'"{text}" mixes IPv4 and IPv6')
        if first > last:  # type: ignore[operator]
            raise ValueError(f'"{text}": the first address is after the last')
        return first, last
    try:
        net = ipaddress.ip_network(t, strict=True)
    except ValueError as exc:
        if "/" in t and "host bits" in str(exc):
            raise ValueError(
                f'"{text}" has host bits set; use the network address '
                f"({ipaddress.ip_network(t, strict=False)}) or a range A-B"
            ) from None
        raise ValueError(
            f'"{text}" is not an address range such as 192.168.1.240-192.168.1.250 '
            "or a CIDR such as 192.168.1.240/28"
        ) from None
    return net[0], net[-1]


class LoadBalancerConfig(_Model):
    """What gives Traefik's Service the address your router forwards ports 80/443 to.

    servicelb: k3s's built-in ServiceLB answers (nothing rendered). metallb: homeport installs
    MetalLB (Layer 2) with a pool from `addresses` (kubeadm and other bare-metal clusters).
    cloud: your cloud's load balancer answers (nothing rendered). nodeport: no load balancer;
    Traefik listens on node ports, for a single node behind a router.
    """

    type: LoadBalancerType = Field(
        "servicelb",
        description="servicelb (k3s built in), metallb (bare metal), cloud, or nodeport "
        "(single node behind a router; forward 80/443 to the node ports).",
    )
    addresses: list[Annotated[str, AfterValidator(_address_range)]] = Field(
        default_factory=list,
        description="metallb: the addresses it may hand out, each A-B or a CIDR, inside "
        "node_network and outside your router's DHCP range, e.g. 192.168.1.240-192.168.1.250.",
    )
    node_network: str | None = Field(
        None,
        description="metallb: the private network of your nodes (CIDR), e.g. 192.168.1.0/24.",
    )
    router: str | None = Field(
        None,
        description="metallb: your router's address (never in the pool). Default: the first "
        "address of node_network.",
    )
    http_node_port: int = Field(
        30080, ge=30000, le=32767, strict=True, description="nodeport: node port of HTTP (80)."
    )
    https_node_port: int = Field(
        30443, ge=30000, le=32767, strict=True, description="nodeport: node port of HTTPS (443)."
    )

    @field_validator("node_network")
    @classmethod
    def _network(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as exc:
            if "host bits" in str(exc):
                fixed = ipaddress.ip_network(v, strict=False)
                raise ValueError(f'"{v}" has host bits set; did you mean {fixed}?') from None
            raise ValueError(f'"{v}" is not a network such as 192.168.1.0/24') from None
        if not any(
            net.version == p.version and net.subnet_of(p)  # type: ignore[arg-type]
            for p in _LAN_NETWORKS
        ):
            raise ValueError(
                f'"{v}" is not a private network (10/8, 172.16/12, 192.168/16, fc00::/7); '
                "MetalLB's Layer 2 mode answers on the nodes' LAN"
            )
        return v

    @field_validator("router")
    @classmethod
    def _router(cls, v: str | None) -> str | None:
        return _optional_ip(v)

    def router_address(self) -> _IPAddress | None:
        """The router's address: ``router``, else the first host of ``node_network``."""
        if self.router is not None:
            return ipaddress.ip_address(self.router)
        if self.node_network is None:
            return None
        net = ipaddress.ip_network(self.node_network)
        return net[1] if net.num_addresses > 2 else None


def _load_balancer_problems(cfg: HomeportConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Where the load balancer's addresses may be; each problem names its field."""
    lb = cfg.load_balancer
    out: list[tuple[tuple[str | int, ...], str]] = []
    lb_ip = cfg.components.traefik.load_balancer_ip
    if lb.type != "metallb":
        for name in ("addresses", "node_network", "router"):
            if getattr(lb, name):
                out.append(
                    (("load_balancer", name), f"only used with type: metallb (type is {lb.type})")
                )
        if lb.type == "nodeport" and lb_ip:
            out.append(
                (
                    ("components", "traefik", "load_balancer_ip"),
                    "type nodeport has no load balancer address; remove it",
                )
            )
        if lb.type == "nodeport" and lb.http_node_port == lb.https_node_port:
            out.append((("load_balancer", "https_node_port"), "must differ from http_node_port"))
        return out
    if not lb.addresses:
        out.append(
            (
                ("load_balancer", "addresses"),
                "metallb needs the addresses it may hand out, e.g. 192.168.1.240-192.168.1.250",
            )
        )
    if lb.node_network is None:
        out.append(
            (
                ("load_balancer", "node_network"),
                "metallb needs the network of your nodes, e.g. 192.168.1.0/24",
            )
        )
        return out
    net = ipaddress.ip_network(lb.node_network)
    router = lb.router_address()
    if lb.router is not None and router not in net:
        out.append((("load_balancer", "router"), f"{lb.router} is not in node_network {net}"))
    ranges: list[tuple[int, _IPAddress, _IPAddress]] = []
    for i, text in enumerate(lb.addresses):
        first, last = parse_address_range(text)
        where: tuple[str | int, ...] = ("load_balancer", "addresses", i)
        if first.version != net.version or first not in net or last not in net:
            out.append((where, f'"{text}" is not inside node_network {net}'))
            continue
        if net.num_addresses > 2 and (first == net[0] or last == net[-1]):
            out.append((where, f'"{text}" includes the network or broadcast address of {net}'))
            continue
        if router is not None and first <= router <= last:  # type: ignore[operator]
            out.append((where, f'"{text}" includes the router\'s address {router}'))
            continue
        for j, a, b in ranges:
            if not (last < a or first > b):  # type: ignore[operator]
                out.append((where, f'"{text}" overlaps load_balancer.addresses[{j}]'))
        ranges.append((i, first, last))
    if lb_ip and not out:
        ip = ipaddress.ip_address(lb_ip)
        if not any(a <= ip <= b for _, a, b in ranges if a.version == ip.version):  # type: ignore[operator]
            out.append(
                (
                    ("components", "traefik", "load_balancer_ip"),
                    f"{lb_ip} is not in load_balancer.addresses; MetalLB cannot assign it",
                )
            )
    return out


class NetworkConfig(_Model):
    """Servers on your own network the platform's pods connect to (Git, Uptime Kuma, ...).

    Every namespace denies egress by default. Endpoints in homeport.yaml (``git.url``,
    the DDNS ping and IP-provider URLs, the DNS-01 nameservers) are allowed on their
    port: an IP address directly, an in-cluster ``<svc>.<ns>.svc`` name by namespace,
    and a host name to the networks named here (or to its addresses, with ``resolve``).
    """

    lan: list[str] = Field(
        default_factory=list,
        description='Networks (CIDRs, e.g. "192.168.1.0/24") where servers named by host '
        "name in homeport.yaml may live; their ports are allowed to these networks.",
    )
    resolve: bool = Field(
        False,
        description="Resolve endpoint host names when rendering and allow their addresses "
        "(the tree then depends on what DNS answered at render time).",
    )

    @field_validator("lan")
    @classmethod
    def _lan(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f'"{cidr}" is not a network such as 192.168.1.0/24') from None
        return v


_CHART_SCHEMES = ("https", "http", "oci")
MirrorName = Literal["charts", "argocd"]
MIRROR_NAMES: tuple[MirrorName, ...] = ("charts", "argocd")


def check_chart_repo_url(v: str) -> str:
    """Require a Helm repository URL (``https://``, ``http://``) or OCI path (``oci://``).

    Args:
        v: The URL.

    Returns:
        The URL without trailing slashes (Argo CD matches repository Secrets by exact URL).

    Raises:
        ValueError: Another scheme, no host, a query or fragment, or a password in it.
    """
    bad = f'"{v}" is not a Helm repository URL (https://, http://, oci://)'
    if not isinstance(v, str) or re.search(r"\s", v):
        raise ValueError(bad)
    try:
        parts = urlsplit(v)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise ValueError(bad) from None
    if parts.scheme not in _CHART_SCHEMES or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(bad)
    if parts.username is not None or parts.password is not None:
        # Never echo it: the value may be a token.
        raise ValueError(_URL_USER)
    first = parts.netloc
    if parts.scheme == "oci" and ":" in first and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", first):
        # Argo CD takes an OCI Helm repository without its scheme and parses it with Go's
        # net/url, which refuses "10.0.0.5:5000/charts" (a colon in the first segment).
        raise ValueError(
            f'"{v}": Argo CD cannot read an OCI registry at an IPv6 address or at an IP '
            "address with a port; give it a host name, or serve it on port 443"
        )
    return v.rstrip("/")


class MirrorConfig(_Model):
    """Mirrors that replace the public sources Argo CD fetches the platform from.

    For air-gapped clusters and private registries. ``charts`` replaces the repository of
    every chart homeport installs (the chart names and pinned versions stay: a mirror holds
    the same charts under the same names); ``argocd`` replaces
    https://github.com/argoproj/argo-cd.git, which Argo CD manages itself from (it must
    carry the release tags). The AppProject's sourceRepos and the argocd namespace's
    egress follow. Logins are sealed Secrets, never plaintext in Git (see ``credentials``).
    """

    charts: str | None = Field(
        None,
        description="Helm repository (https://host/path or http://host/path, serving "
        "index.yaml) or OCI registry path (oci://host/path) holding every pinned chart "
        "under its upstream name and version.",
    )
    argocd: str | None = Field(
        None,
        description="Git mirror of https://github.com/argoproj/argo-cd.git with its release "
        "tags (https://, http://, ssh://, git://, git@host:path).",
    )
    credentials: bool | list[MirrorName] = Field(
        False,
        description="Which mirrors need a login: true (every mirror set here), false, or a "
        "list such as [charts]. Each login is a sealed Secret in namespace argocd: "
        "`homeport secret set mirror-charts --namespace argocd --from-literal username=USER "
        "--from-file password=PASSWORD_FILE` (mirror-argocd likewise; key sshPrivateKey "
        "for an SSH URL).",
    )

    @field_validator("charts")
    @classmethod
    def _charts(cls, v: str | None) -> str | None:
        return None if v is None else check_chart_repo_url(v)

    @field_validator("argocd")
    @classmethod
    def _argocd(cls, v: str | None) -> str | None:
        return None if v is None else check_git_url(v)

    @field_validator("credentials", mode="before")
    @classmethod
    def _credentials(cls, v: Any) -> Any:
        # One message instead of pydantic's one per member of the union.
        if isinstance(v, bool):
            return v
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            for x in v:
                if x not in MIRROR_NAMES:
                    raise ValueError(f'"{x}" is not a mirror; use charts or argocd')
            if len(set(v)) != len(v):
                raise ValueError("a mirror is listed twice")
            return v
        raise ValueError("must be true, false or a list of mirrors such as [charts, argocd]")

    def logins(self) -> tuple[MirrorName, ...]:
        """The mirrors that need a login, in a stable order (charts, argocd)."""
        if self.credentials is False:
            return ()
        if self.credentials is True:
            return tuple(m for m in MIRROR_NAMES if getattr(self, m))
        return tuple(m for m in MIRROR_NAMES if m in self.credentials)


def _mirror_problems(cfg: HomeportConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """A login asked for a mirror that is not set, or one a git:// URL cannot carry."""
    m = cfg.mirror
    loc: tuple[str | int, ...] = ("mirror", "credentials")
    if m.credentials is True and not (m.charts or m.argocd):
        return [(loc, "true, but neither mirror.charts nor mirror.argocd is set")]
    out: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(m.credentials, list):
        for i, name in enumerate(m.credentials):
            if not getattr(m, name):
                out.append(((*loc, i), f'"{name}" names no mirror: mirror.{name} is not set'))
    if "argocd" in m.logins() and m.argocd and m.argocd.startswith("git://"):
        out.append(
            (
                loc,
                f'mirror.argocd "{m.argocd}" is a git:// URL, which has no login; '
                "use https:// or ssh:// for a mirror that needs credentials",
            )
        )
    return out


class HomeportConfig(_Model):
    """homeport.yaml: one file that describes a whole self-hosted platform."""

    domain: str = Field(description="Your domain; apps are served at <name>.<domain>.")
    email: str = Field(description="Contact e-mail for Let's Encrypt (expiry notices).")
    acme: AcmeConfig = Field(default_factory=AcmeConfig)
    cloudflare: CloudflareConfig = Field(default_factory=CloudflareConfig)
    git: GitConfig
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    ha: bool = Field(False, description="Run every component highly available (needs 3 nodes).")
    components: Components = Field(default_factory=Components)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    load_balancer: LoadBalancerConfig = Field(
        default_factory=LoadBalancerConfig,
        description="What gives Traefik an address (the Load Balancer box of the architecture).",
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    mirror: MirrorConfig = Field(
        default_factory=MirrorConfig,
        description="Mirrors of the chart repositories and of Argo CD's own Git repository "
        "(air-gapped clusters, private registries).",
    )
    apps: list[App] = Field(default_factory=list, description="Your applications.")

    @model_validator(mode="before")
    @classmethod
    def _subdomain_records(cls, data: Any) -> Any:
        # For lab.example.com in zone example.com, "@" and "*" would take over the
        # zone's own apex and wildcard: default to the domain's names instead.
        if not isinstance(data, dict) or not isinstance(data.get("cloudflare"), dict):
            return data
        cf = data["cloudflare"]
        if cf.get("records") is not None or not cf.get("zone"):
            return data
        try:
            domain, zone = normalize_domain(data.get("domain", "")), normalize_domain(cf["zone"])
        except ValueError:
            return data  # reported by the field validators
        if not domain.endswith("." + zone):
            return data
        rel = domain[: -len(zone) - 1]
        return {**data, "cloudflare": {**cf, "records": [rel, f"*.{rel}"]}}

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return normalize_domain(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not isinstance(v, str) or not _EMAIL.match(v.strip()):
            raise ValueError(f'"{v}" is not a valid e-mail address')
        return v.strip()

    # -- derived values used everywhere ------------------------------------------------
    @property
    def zone(self) -> str:
        """The Cloudflare zone (defaults to the domain)."""
        return self.cloudflare.zone or self.domain

    @property
    def sso(self) -> bool:
        """Whether Authentik single sign-on is available."""
        return self.components.authentik.enabled

    def host_of(self, app: App) -> str:
        """Return the public host of an app."""
        return app.host or f"{app.name}.{self.domain}"

    def auth_of(self, app: App) -> Literal["sso", "public"]:
        """Return the effective auth mode of an app."""
        if app.auth is not None:
            return app.auth
        return "sso" if self.sso else "public"


# Host names the platform itself serves; user apps may not take them.
RESERVED_SUBDOMAINS = ("auth", "argocd", "traefik", "grafana")
RESERVED_NAMESPACES = (
    ARGOCD_NAMESPACE,
    TRAEFIK_NAMESPACE,
    CERT_MANAGER_NAMESPACE,
    DDNS_NAMESPACE,
    AUTHENTIK_NAMESPACE,
    "pangolin",
    "demo-apps",
    MONITORING_NAMESPACE,
    CNPG_NAMESPACE,
    "sealed-secrets",
    KUBE_SYSTEM,
    "kube-public",
    "kube-node-lease",
    "default",
)


def _semantic_problems(cfg: HomeportConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-field checks pydantic cannot express per field."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    zone = cfg.zone
    if cfg.domain != zone and not cfg.domain.endswith("." + zone):
        out.append((("cloudflare", "zone"), f'domain "{cfg.domain}" is not inside zone "{zone}"'))
    reserved = {f"{s}.{cfg.domain}": s for s in RESERVED_SUBDOMAINS}
    if cfg.components.demo_apps.enabled:
        reserved.update({f"whoami.{cfg.domain}": "whoami", f"hello.{cfg.domain}": "hello"})
    names: dict[str, int] = {}
    hosts: dict[str, int] = {}
    for i, app in enumerate(cfg.apps):
        if app.name in names:
            out.append(
                (
                    ("apps", i, "name"),
                    f'duplicate app name "{app.name}" (also apps[{names[app.name]}])',
                )
            )
        names.setdefault(app.name, i)
        if app.name in RESERVED_NAMESPACES:
            out.append(
                (("apps", i, "name"), f'"{app.name}" is a platform namespace; choose another name')
            )
        host = cfg.host_of(app)
        field = "host" if app.host else "name"
        if host != cfg.domain and not host.endswith("." + cfg.domain):
            out.append((("apps", i, "host"), f'host "{host}" is outside the domain "{cfg.domain}"'))
        if host in reserved:
            out.append(
                (("apps", i, field), f'host "{host}" is used by the platform ({reserved[host]})')
            )
        if host in hosts:
            out.append((("apps", i, field), f'duplicate host "{host}" (also apps[{hosts[host]}])'))
        hosts.setdefault(host, i)
        if app.auth == "sso" and not cfg.sso:
            out.append(
                (
                    ("apps", i, "auth"),
                    f'app "{app.name}" asks for sso but components.authentik is disabled',
                )
            )
        if app.storage is not None and app.autoscale is not None:
            # The HPA owns the replica count (min 2 by default), and every pod would
            # mount the one ReadWriteOnce volume.
            if app.autoscale.max_replicas > 1:
                out.append(
                    (
                        ("apps", i, "autoscale"),
                        f'app "{app.name}" has storage and autoscale (up to '
                        f"{app.autoscale.max_replicas} replicas); a ReadWriteOnce volume "
                        "serves one pod: remove autoscale",
                    )
                )
        elif app.storage is not None and app.replicas > 1:
            out.append(
                (
                    ("apps", i, "storage"),
                    f'app "{app.name}" has storage and {app.replicas} replicas; '
                    "a ReadWriteOnce volume "
                    "serves one pod: set replicas: 1",
                )
            )
    comps = cfg.components
    if comps.argocd.auth == "sso" and not cfg.sso:
        out.append((("components", "argocd", "auth"), "sso needs components.authentik enabled"))
    if comps.monitoring.enabled and comps.monitoring.auth == "sso" and not cfg.sso:
        out.append((("components", "monitoring", "auth"), "sso needs components.authentik enabled"))
    if comps.authentik.enabled and not comps.cloudnative_pg.enabled:
        out.append(
            (
                ("components", "cloudnative_pg", "enabled"),
                "Authentik needs CloudNativePG for its database",
            )
        )
    if not comps.sealed_secrets.enabled:
        out.append(
            (
                ("components", "sealed_secrets", "enabled"),
                "Sealed Secrets cannot be disabled: every platform secret is sealed",
            )
        )
    out += _load_balancer_problems(cfg)
    out += _mirror_problems(cfg)
    return out


def _fmt_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _clean_msg(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if msg == "Extra inputs are not permitted":
        return "unknown key"
    if msg == "Field required":
        return "is required"
    if msg.startswith("Input should be a valid dictionary"):
        return "must be a mapping (key: value lines), not a list or a single value"
    if msg == "Input should be a valid list":
        return "must be a list (lines starting with -)"
    if msg == "Input should be a valid string":
        # YAML reads 8080, true, yes and 2024-01-01 as numbers, booleans and dates.
        return 'must be a string; put the value in quotes, e.g. "8080" or "true"'
    return msg


def parse_config(text: str, file: str = "homeport.yaml") -> HomeportConfig:
    """Parse and validate homeport.yaml text.

    Args:
        text: The YAML text.
        file: The file name to use in error messages.

    Returns:
        The validated config.

    Raises:
        ConfigError: The text is empty, not YAML, or not a valid config; every problem
            names the file, the line and the field.
    """
    try:
        doc = yamlio.load_located(text)
    except yamlio.YamlSyntaxError as exc:
        raise ConfigError([ConfigProblem(file, exc.line, "", str(exc))]) from None
    if doc.data is None:
        raise ConfigError([ConfigProblem(file, 0, "", "the file is empty; run `homeport init`")])
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigProblem(file, 1, "", "must be a mapping of keys to values")])
    try:
        cfg = HomeportConfig.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
            # pydantic appends union members / validator names to some locations; drop them.
            loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
            problems.append(
                ConfigProblem(file, doc.line_of(loc), _fmt_loc(loc), _clean_msg(err["msg"]))
            )
        problems.sort(key=lambda p: p.line)
        raise ConfigError(problems) from None
    sem = _semantic_problems(cfg)
    if sem:
        raise ConfigError(
            sorted(
                (ConfigProblem(file, doc.line_of(loc), _fmt_loc(loc), msg) for loc, msg in sem),
                key=lambda p: p.line,
            )
        )
    return cfg


def load_config(path: str | Path) -> HomeportConfig:
    """Read and validate a homeport.yaml file.

    Args:
        path: Path of the file.

    Returns:
        The validated config.

    Raises:
        ConfigError: The file is missing, unreadable or invalid.
    """
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(name, 0, "", "no such file; run `homeport init` to create one")]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem(name, 0, "", "is a directory, not a config file")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([ConfigProblem(name, 0, "", f"cannot read: {reason}")]) from None
    return parse_config(text, name)


def json_schema() -> dict[str, Any]:
    """Return the draft-07 JSON Schema of homeport.yaml (for yaml-language-server).

    Returns:
        The schema as a dict with stable key order.
    """
    schema = HomeportConfig.model_json_schema(mode="validation")
    # pydantic emits 2020-12 style $defs; draft-07 tools want definitions.
    body = _retarget_refs(schema)
    head = {"$schema": "http://json-schema.org/draft-07/schema#", "$id": SCHEMA_URL}
    defs = body.pop("definitions", {})
    return {**head, **body, "definitions": defs}


def _retarget_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "$defs":
                out["definitions"] = _retarget_refs(v)
            elif k == "$ref" and isinstance(v, str):
                out[k] = v.replace("#/$defs/", "#/definitions/")
            else:
                out[k] = _retarget_refs(v)
        return out
    if isinstance(node, list):
        return [_retarget_refs(x) for x in node]
    return node


__all__ = [
    "MIRROR_NAMES",
    "App",
    "ConfigError",
    "HomeportConfig",
    "MirrorConfig",
    "check_chart_repo_url",
    "check_git_url",
    "check_image",
    "json_schema",
    "load_config",
    "normalize_domain",
    "parse_config",
    "parse_duration",
]
