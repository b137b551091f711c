"""Egress to the endpoints named in homeport.yaml: Git servers, mirrors, ping URLs, resolvers.

Every namespace denies egress by default and allows the public internet only where a
component needs it. An endpoint on the LAN or in the cluster (a Gitea on port 3000, an
Uptime Kuma at ``http://192.168.1.5:3001``, a chart mirror) would then be unreachable,
and for Argo CD the fix could not even arrive through Git. Each endpoint is allowed on
its own port:

- an IP address: that address;
- ``<service>.<namespace>.svc[.cluster.local]``: the pods of that namespace (any port:
  a policy sees the pod's port, not the Service's);
- any other host name: the public internet, plus the networks of ``network.lan``, plus,
  with ``network.resolve``, the addresses DNS gives at render time.

``homeport check`` (rule HP-P013) evaluates the rendered policies the same way and
flags an endpoint they would block, e.g. a ``.lan`` host with no ``network.lan``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from homeport.errors import RenderError
from homeport.platform.base import Obj
from homeport.platform.policies import INTERNET_EGRESS, from_namespace, netpol

if TYPE_CHECKING:  # annotations only: `homeport check` reads this module without pydantic
    from homeport.config import HomeportConfig

# The ranges INTERNET_EGRESS (platform/base.py) excludes from "the internet".
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(c)
    for c in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
        "fe80::/10",
    )
)
# Host names that only resolve on a home network.
LOCAL_SUFFIXES = (".local", ".lan", ".home", ".internal", ".home.arpa", ".localdomain", ".intranet")
_SVC = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?\.?$"
)
_SCP = re.compile(r"^[^@/\s]+@(\[[^\]]+\]|[^:/\s]+):")
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418, "oci": 443}

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Endpoint:
    """A server a component dials.

    Attributes:
        field: Where it is configured (``git.url``), for messages.
        host: Host name or IP address (no brackets).
        port: Port.
        protocols: ``TCP`` and/or ``UDP``.
    """

    field: str
    host: str
    port: int
    protocols: tuple[str, ...] = ("TCP",)


def parse_url(field: str, url: str) -> Endpoint | None:
    """The endpoint of a Git, Helm, OCI or http(s) URL (None when it names no host).

    ``git@host:owner/repo`` is SSH on port 22; a URL without a scheme (an OCI chart
    repository such as ``ghcr.io/org/charts``) is HTTPS.

    Args:
        field: Where the URL is configured.
        url: The URL.

    Returns:
        The endpoint, or None.
    """
    scp = _SCP.match(url)
    if scp and "://" not in url:
        return Endpoint(field, scp.group(1).strip("[]").lower(), 22)
    parts = urlsplit(url if "://" in url else f"oci://{url}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return Endpoint(field, host.lower(), port or DEFAULT_PORTS.get(parts.scheme, 443))


def parse_host_port(field: str, value: str, protocols: tuple[str, ...]) -> Endpoint | None:
    """The endpoint of a ``host:port`` value (an SMTP relay, a DNS resolver)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return Endpoint(field, host.strip("[]").lower(), int(port), protocols)


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The host as an IP address, if it is one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the internet allow (INTERNET_EGRESS) excludes the address."""
    return any(ip.version == n.version and ip in n for n in PRIVATE_NETWORKS)


def cluster_namespace(host: str) -> str | None:
    """The namespace of an in-cluster Service name (``svc.ns.svc[.cluster.local]``)."""
    m = _SVC.match(host)
    return m.group(2) if m else None


def looks_local(host: str) -> bool:
    """A host name that only a home network resolves (``nas.lan``, ``gitea``)."""
    h = host.rstrip(".")
    return "." not in h or h.endswith(LOCAL_SUFFIXES)


def resolve(host: str, port: int) -> list[str]:
    """The addresses DNS gives for a host (render time, only when ``network.resolve``).

    Raises:
        RenderError: The name does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise RenderError(f'network.resolve: cannot resolve "{host}": {exc}') from None
    return sorted({str(info[4][0]) for info in infos})


def _block(addr: str) -> Obj:
    ip = ipaddress.ip_address(addr)
    return {"ipBlock": {"cidr": f"{ip}/{ip.max_prefixlen}"}}


def egress_rules(
    endpoints: list[Endpoint],
    *,
    lan: list[str],
    do_resolve: bool,
    public_ports: set[int] | None,
    resolver: Resolver = resolve,
) -> list[Obj]:
    """NetworkPolicy egress rules that let a namespace reach its endpoints.

    Args:
        endpoints: The endpoints.
        lan: ``network.lan``: networks where named hosts may live.
        do_resolve: ``network.resolve``: allow the addresses a name resolves to now.
        public_ports: Ports the namespace already reaches on the internet (None: all),
            so endpoints already allowed add nothing.
        resolver: Name resolution (tests pass their own).

    Returns:
        Egress rules, deduplicated and sorted (empty when nothing is missing).
    """
    rules: dict[str, Obj] = {}

    def add(peers: list[Obj], ep: Endpoint, any_port: bool = False) -> None:
        rule: Obj = {"to": peers}
        if not any_port:
            rule["ports"] = [{"protocol": p, "port": ep.port} for p in ep.protocols]
        rules.setdefault(repr(rule), rule)

    for ep in endpoints:
        covered = public_ports is None or ep.port in public_ports
        ip = ip_of(ep.host)
        ns = cluster_namespace(ep.host)
        if ip is not None:
            if is_private(ip) or not covered:
                add([_block(str(ip))], ep)
        elif ns is not None:
            add([from_namespace(ns)], ep, any_port=True)
        else:
            peers = [{"ipBlock": {"cidr": str(ipaddress.ip_network(c))}} for c in lan]
            if do_resolve:
                peers += [_block(a) for a in resolver(ep.host, ep.port)]
            if not covered and not looks_local(ep.host):
                peers += list(INTERNET_EGRESS["to"])
            if peers:
                add(peers, ep)
    return [rules[k] for k in sorted(rules)]


def endpoint_policy(
    name: str,
    namespace: str,
    endpoints: list[Endpoint],
    *,
    lan: list[str],
    do_resolve: bool,
    public_ports: set[int] | None,
    pod_selector: Obj | None = None,
    resolver: Resolver = resolve,
) -> Obj | None:
    """A NetworkPolicy allowing the endpoints a namespace does not reach yet (or None)."""
    rules = egress_rules(
        endpoints, lan=lan, do_resolve=do_resolve, public_ports=public_ports, resolver=resolver
    )
    if not rules:
        return None
    return netpol(name, namespace, pod_selector=pod_selector, egress=rules)


def git_endpoints(cfg: HomeportConfig) -> list[Endpoint]:
    """What Argo CD's repo-server dials: the Git repository of the tree."""
    ep = parse_url("git.url", cfg.git.url)
    return [ep] if ep else []


def mirror_endpoints(cfg: HomeportConfig) -> list[Endpoint]:
    """What Argo CD's repo-server dials instead of upstream: the mirrors of ``mirror:``."""
    urls = [("mirror.charts", cfg.mirror.charts), ("mirror.argocd", cfg.mirror.argocd)]
    return [ep for f, u in urls if u for ep in [parse_url(f, u)] if ep]


def ddns_endpoints(cfg: HomeportConfig) -> list[Endpoint]:
    """What the DDNS controller dials besides Cloudflare: ping URLs, custom IP providers."""
    comp = cfg.components.ddns
    urls = [
        ("components.ddns.healthchecks_url", comp.healthchecks_url),
        ("components.ddns.uptime_kuma_url", comp.uptime_kuma_url),
    ]
    for i, p in enumerate(comp.ip_providers):
        kind, sep, arg = p.strip().partition(":")
        if sep and kind != "static":
            urls.append((f"components.ddns.ip_providers[{i}]", arg))
    return [ep for f, u in urls if u for ep in [parse_url(f, u)] if ep]


def acme_endpoints(cfg: HomeportConfig) -> list[Endpoint]:
    """A private ACME server cert-manager dials (Let's Encrypt is on the internet rule)."""
    ep = parse_url("acme.server", cfg.acme.server) if cfg.acme.server else None
    return [ep] if ep else []


def nameserver_endpoints(cfg: HomeportConfig) -> list[Endpoint]:
    """The resolvers cert-manager's DNS-01 self-check asks."""
    out = []
    for i, ns in enumerate(cfg.components.cert_manager.nameservers):
        ep = parse_host_port(f"components.cert_manager.nameservers[{i}]", ns, ("UDP", "TCP"))
        if ep:
            out.append(ep)
    return out


def policy_for(
    cfg: HomeportConfig,
    name: str,
    namespace: str,
    endpoints: list[Endpoint],
    public_ports: set[int] | None,
    pod_selector: Obj | None = None,
) -> tuple[Obj, ...]:
    """The endpoint policy of a namespace as a tuple (empty when nothing is missing)."""
    pol = endpoint_policy(
        name,
        namespace,
        endpoints,
        lan=list(cfg.network.lan),
        do_resolve=cfg.network.resolve,
        public_ports=public_ports,
        pod_selector=pod_selector,
    )
    return (pol,) if pol else ()
