"""The controller's settings, resolved from flags, environment and homeport.yaml."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import idna

from homeport.ddns.addresses import FAMILIES, Family
from homeport.errors import UsageError
from homeport.names import normalize_domain, parse_duration
from homeport.wellknown import DDNS_STATUS_CONFIGMAP

if TYPE_CHECKING:  # the config (pydantic) is loaded only when -c is given
    from homeport.config import HomeportConfig

DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_OWNER_COMMENT = "managed-by: homeport"
DEFAULT_LISTEN = "0.0.0.0:9090"
DEFAULT_PROVIDERS = ("cloudflare.trace", "cloudflare.doh", "ipify")
DEFAULT_RECORDS = ("@", "*")
STATUS_CONFIGMAP = DDNS_STATUS_CONFIGMAP
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_KNOWN_PROVIDERS = ("cloudflare.trace", "cloudflare.doh", "ipify")
_ZONE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class ProviderSpec:
    """One ``--ip-provider`` entry.

    Attributes:
        kind: cloudflare.trace, cloudflare.doh, ipify, url or static.
        arg: The URL (url, or an override for the built-in ones) or the address (static).
    """

    kind: str
    arg: str | None = None

    def __str__(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}:{self.arg}"


@dataclass(frozen=True)
class DdnsOptions:
    """Everything one controller run needs except the token.

    Attributes:
        zone: Cloudflare zone name.
        records: Fully-qualified record names, in the order given.
        families: Address families managed (ipv4 -> A, ipv6 -> AAAA).
        proxied: Whether records are proxied.
        ttl: Record TTL (1 = automatic).
        interval: Seconds between cycles of ``run``.
        providers: Address detectors, tried in order.
        api_url: Cloudflare API base URL.
        owner_comment: Comment that marks records this controller owns.
        listen: (host, port) of the metrics and health server; port 0 picks a free one.
        healthchecks_url: healthchecks.io ping URL.
        uptime_kuma_url: Uptime Kuma push URL.
        status_configmap: ConfigMap the status is published to (None: not published).
        status_namespace: Its namespace (None: the pod's own).
        timeout: Per-request timeout in seconds.
        zone_id: The zone's ID; when set, the zone lookup (which needs Zone.Zone read) is
            skipped.
    """

    zone: str
    records: tuple[str, ...] = ()
    families: tuple[Family, ...] = ("ipv4",)
    proxied: bool = False
    ttl: int = 1
    interval: int = 300
    providers: tuple[ProviderSpec, ...] = field(
        default_factory=lambda: tuple(ProviderSpec(p) for p in DEFAULT_PROVIDERS)
    )
    api_url: str = DEFAULT_API_URL
    owner_comment: str = DEFAULT_OWNER_COMMENT
    listen: tuple[str, int] = ("0.0.0.0", 9090)
    healthchecks_url: str | None = None
    uptime_kuma_url: str | None = None
    status_configmap: str | None = None
    status_namespace: str | None = None
    timeout: float = 10.0
    zone_id: str | None = None


def record_fqdn(name: str, zone: str) -> str:
    """Turn ``@``, ``*``, a relative or a fully-qualified name into the record's FQDN.

    Args:
        name: The name as given (``@`` = apex, ``*`` = wildcard, else relative to the zone
            unless it already ends with the zone).
        zone: The zone.

    Returns:
        The fully-qualified, lower-case name without a trailing dot.

    Raises:
        UsageError: The name is not a valid DNS name.
    """
    n = name.strip().lower().rstrip(".")
    if n == "@":
        return zone
    if n == "*":
        return f"*.{zone}"
    if not n.isascii():
        # Cloudflare names are punycode; write an IDN the way the API returns it.
        try:
            n = ".".join(
                lab if lab.isascii() else idna.encode(lab, uts46=True).decode()
                for lab in n.split(".")
            )
        except idna.IDNAError:
            raise UsageError(f'--record: "{name}" is not a valid DNS name') from None
    fqdn = n if n == zone or n.endswith("." + zone) else f"{n}.{zone}"
    labels = fqdn.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    for label in labels:
        if not _LABEL.match(label):
            raise UsageError(f'--record: "{name}" is not a valid DNS name')
    return fqdn


def parse_provider(spec: str) -> ProviderSpec:
    """Parse one ``--ip-provider`` value.

    Args:
        spec: ``cloudflare.trace``, ``cloudflare.doh``, ``ipify`` (each optionally followed by
            ``:<URL>`` to use another endpoint), ``url:<URL>`` or ``static:<IP>``.

    Returns:
        The parsed spec.

    Raises:
        UsageError: The spec is unknown or incomplete.
    """
    s = spec.strip()
    kind, sep, arg = s.partition(":")
    if kind in _KNOWN_PROVIDERS:
        if sep and not arg.startswith(("http://", "https://")):
            raise UsageError(f'--ip-provider: "{spec}": {kind}: must be followed by an http(s) URL')
        return ProviderSpec(kind, arg or None)
    if kind == "url":
        if not arg.startswith(("http://", "https://")):
            raise UsageError(f'--ip-provider: "{spec}": url: must be followed by an http(s) URL')
        return ProviderSpec("url", arg)
    if kind == "static":
        try:
            ipaddress.ip_address(arg)
        except ValueError:
            raise UsageError(
                f'--ip-provider: "{spec}": static: must be followed by an IP address'
            ) from None
        return ProviderSpec("static", arg)
    raise UsageError(
        f'--ip-provider: unknown provider "{spec}"; use cloudflare.trace, cloudflare.doh, ipify, '
        "url:<URL> or static:<IP>"
    )


def parse_listen(value: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (IPv6 hosts in brackets).

    Args:
        value: The listen address.

    Returns:
        (host, port).

    Raises:
        UsageError: The value is not HOST:PORT.
    """
    m = re.match(r"^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$", value.strip())
    if not m or int(m.group(3)) > 65535:
        raise UsageError(f'--listen: "{value}" is not HOST:PORT (e.g. 0.0.0.0:9090)')
    return (m.group(1) or m.group(2) or "0.0.0.0", int(m.group(3)))


@dataclass
class RawOptions:
    """Options as given on the command line or in the environment; None = not given."""

    zone: str | None = None
    records: list[str] | None = None
    ipv4: bool | None = None
    ipv6: bool | None = None
    proxied: bool | None = None
    ttl: int | None = None
    interval: str | None = None
    ip_providers: list[str] | None = None
    api_url: str | None = None
    owner_comment: str | None = None
    listen: str | None = None
    healthchecks_url: str | None = None
    uptime_kuma_url: str | None = None
    status_configmap: str | None = None
    status_namespace: str | None = None
    timeout: float | None = None
    zone_id: str | None = None


def resolve(raw: RawOptions, cfg: HomeportConfig | None = None) -> DdnsOptions:
    """Merge flags/environment over homeport.yaml defaults and validate the result.

    Args:
        raw: What the user gave (flags and their HOMEPORT_DDNS_* twins).
        cfg: homeport.yaml, when ``-c`` was given.

    Returns:
        The validated options.

    Raises:
        UsageError: A value is missing or invalid; the message names the option.
    """
    cf = cfg.cloudflare if cfg is not None else None
    comp = cfg.components.ddns if cfg is not None else None

    zone_text = raw.zone if raw.zone is not None else (cfg.zone if cfg is not None else None)
    if not zone_text:
        raise UsageError("--zone is required (or HOMEPORT_DDNS_ZONE, or -c homeport.yaml)")
    try:
        zone = normalize_domain(zone_text)
    except ValueError as exc:
        raise UsageError(f"--zone: {exc}") from None

    names = raw.records if raw.records else (list(cf.records) if cf else list(DEFAULT_RECORDS))
    records: list[str] = []
    for n in names:
        fq = record_fqdn(n, zone)
        if fq in records:
            raise UsageError(f'--record: "{n}" is given twice')
        records.append(fq)

    ipv4 = raw.ipv4 if raw.ipv4 is not None else (cf.ipv4 if cf else True)
    ipv6 = raw.ipv6 if raw.ipv6 is not None else (cf.ipv6 if cf else False)
    families = tuple(f for f, on in zip(FAMILIES, (ipv4, ipv6), strict=True) if on)
    if not families:
        raise UsageError("--no-ipv4 and --no-ipv6 leave nothing to manage; enable one")

    proxied = raw.proxied if raw.proxied is not None else (cf.proxied if cf else False)
    ttl = raw.ttl if raw.ttl is not None else (cf.ttl if cf else 1)
    if not (ttl == 1 or 30 <= ttl <= 86400):
        raise UsageError(f"--ttl: {ttl} is not 1 (automatic) or between 30 and 86400")

    interval_text = raw.interval or (cf.interval if cf else "5m")
    try:
        interval = parse_duration(interval_text)
    except ValueError as exc:
        raise UsageError(f"--interval: {exc}") from None

    provider_texts = raw.ip_providers or (
        list(comp.ip_providers) if comp else list(DEFAULT_PROVIDERS)
    )
    providers = tuple(parse_provider(p) for p in provider_texts)

    api_url = (raw.api_url or DEFAULT_API_URL).rstrip("/")
    if not api_url.startswith(("http://", "https://")):
        raise UsageError(f'--api-url: "{api_url}" is not an http(s) URL')
    owner = raw.owner_comment if raw.owner_comment is not None else DEFAULT_OWNER_COMMENT
    if not owner.strip() or len(owner) > 100:
        raise UsageError("--owner-comment must be 1-100 characters (Cloudflare's free-plan limit)")
    if "\n" in owner or "\r" in owner:
        # Cloudflare comments cannot hold line breaks (DNS record attributes reference).
        raise UsageError("--owner-comment must be one line")

    hc = raw.healthchecks_url or (comp.healthchecks_url if comp else None)
    kuma = raw.uptime_kuma_url or (comp.uptime_kuma_url if comp else None)
    for flag, url in (("--healthchecks-url", hc), ("--uptime-kuma-url", kuma)):
        if url is not None and not url.startswith(("http://", "https://")):
            raise UsageError(f"{flag}: not an http(s) URL")
    timeout = raw.timeout if raw.timeout is not None else 10.0
    if not 0 < timeout <= 120:
        raise UsageError("--timeout must be between 0 and 120 seconds")

    zone_id = raw.zone_id.strip() if raw.zone_id else None
    if zone_id is not None and not _ZONE_ID.match(zone_id):
        raise UsageError(
            f'--zone-id: "{zone_id}" is not a zone ID (32 hex digits, on the zone\'s Overview page)'
        )

    return DdnsOptions(
        zone=zone,
        records=tuple(records),
        families=families,
        proxied=proxied,
        ttl=ttl,
        interval=interval,
        providers=providers,
        api_url=api_url,
        owner_comment=owner,
        listen=parse_listen(raw.listen or DEFAULT_LISTEN),
        healthchecks_url=hc,
        uptime_kuma_url=kuma,
        status_configmap=raw.status_configmap,
        status_namespace=raw.status_namespace,
        timeout=timeout,
        zone_id=zone_id,
    )


def read_token(env_value: str | None, token_file: Path | None) -> str:
    """Return the API token from CLOUDFLARE_API_TOKEN or --token-file (never from a flag).

    Args:
        env_value: The CLOUDFLARE_API_TOKEN environment value.
        token_file: Path given with --token-file.

    Returns:
        The token, stripped.

    Raises:
        UsageError: Neither is set, the file cannot be read, or the token is empty.
    """
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"--token-file: {token_file}: cannot read ({exc.strerror})") from None
        if not token:
            raise UsageError(f"--token-file: {token_file} is empty")
        return token
    if env_value and env_value.strip():
        return env_value.strip()
    raise UsageError("no API token: set CLOUDFLARE_API_TOKEN or pass --token-file")
