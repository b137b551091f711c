"""``homeport doctor``: check the live platform from outside, the way a user's browser sees it.

Every check is one line: each public name resolves (through the system resolver, a given
DNS server, or a ``--resolve`` override) to the expected public address; ports 80 and 443
answer; plain HTTP redirects permanently to the same URL on HTTPS; the served certificate
is trusted, covers the host and has more than N days left; ``auth: sso`` hosts send an
anonymous request to the auth host and public hosts do not; the security headers are set;
the Argo CD and Traefik dashboards are not reachable anonymously.

Hosts and their ``auth`` come from the IngressRoutes homeport renders for the config, so
doctor checks exactly what the GitOps tree publishes. Exit code like ``status``: 0 all ok,
3 warnings only, 1 something failed.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import re
import secrets
import socket
import ssl
import struct
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from cryptography import x509

from homeport.config import HomeportConfig
from homeport.errors import UsageError

EXIT_OK, EXIT_ERROR, EXIT_WARNING = 0, 1, 3
TIMEOUT = 5.0
PROBE_PATH = "/.well-known/homeport-doctor?probe=1"
PERMANENT = (301, 308)
AUTH_REDIRECTS = (302, 303, 307)
SSO_LABEL = "homeport.dev/auth"


@dataclass(frozen=True)
class Route:
    """A published host and whether it must be behind SSO."""

    host: str
    sso: bool


@dataclass(frozen=True)
class Check:
    """One doctor result line.

    Attributes:
        check: The check's name (``dns``, ``port``, ``redirect``, ``tls``, ``auth``,
            ``headers``, ``dashboard``).
        target: Host or address it looked at.
        level: ``ok``, ``warning`` or ``error``.
        detail: What was seen.
    """

    check: str
    target: str
    level: str
    detail: str


@dataclass
class Report:
    """Every check, with the overall level and exit code."""

    checks: list[Check] = field(default_factory=list)

    @property
    def level(self) -> str:
        """Worst level among the checks."""
        levels = {c.level for c in self.checks}
        return "error" if "error" in levels else "warning" if "warning" in levels else "ok"

    @property
    def exit_code(self) -> int:
        """0 ok, 3 warnings only, 1 errors."""
        return {"ok": EXIT_OK, "warning": EXIT_WARNING, "error": EXIT_ERROR}[self.level]

    def to_json(self) -> str:
        """The report as JSON (stable key order)."""
        return json.dumps(
            {"level": self.level, "checks": [asdict(c) for c in self.checks]}, indent=2
        )


@dataclass(frozen=True)
class Options:
    """How to reach the platform.

    Attributes:
        resolve: ``(host, port) -> address`` overrides, like curl's ``--resolve``.
        resolver: A DNS server (``ip`` or ``ip:port``) to ask instead of the system's.
        public_address: The address every public name must resolve to (unchecked if empty).
        ca_file: PEM bundle to trust instead of the system's.
        min_days: Fewer days of certificate validity left than this is an error.
    """

    resolve: dict[tuple[str, int], str] = field(default_factory=dict)
    resolver: str = ""
    public_address: str = ""
    ca_file: str = ""
    min_days: int = 14


def parse_resolve(items: list[str]) -> dict[tuple[str, int], str]:
    """Parse ``HOST:PORT:ADDR`` overrides.

    Raises:
        UsageError: An item is not ``HOST:PORT:ADDR`` with a valid port and IP address.
    """
    out: dict[tuple[str, int], str] = {}
    for item in items:
        host, _, rest = item.partition(":")
        port, _, addr = rest.partition(":")
        try:
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError
            ipaddress.ip_address(addr.strip("[]"))
        except ValueError:
            raise UsageError(f"--resolve: {item!r} is not HOST:PORT:ADDR") from None
        out[(host.lower(), int(port))] = addr.strip("[]")
    return out


def parse_address(flag: str, value: str, *, port: bool = False) -> str:
    """Check an IPv4/IPv6 address (``ip:port`` allowed with ``port``); return it unchanged.

    Raises:
        UsageError: The value is not an address.
    """
    if not value:
        return value
    host = value
    if port and value.count(":") == 1:
        host, _, p = value.partition(":")
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise UsageError(f"{flag}: {value!r} has no valid port")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"{flag}: {value!r} is not an IP address") from None
    return value


def routes(cfg: HomeportConfig) -> list[Route]:
    """The hosts the rendered tree publishes, from its IngressRoutes."""
    from homeport import yamlio
    from homeport.gitops import render_tree

    found: dict[str, bool] = {}
    for path, text in sorted(render_tree(cfg).files.items()):
        if not path.endswith(".yaml"):
            continue
        for doc in yamlio.load_all(text):
            if not isinstance(doc, dict) or doc.get("kind") != "IngressRoute":
                continue
            labels = (doc.get("metadata") or {}).get("labels") or {}
            for rule in doc["spec"].get("routes", []):
                for host in re.findall(r"Host\(`([^`]+)`\)", rule.get("match", "")):
                    found[host] = found.get(host, False) or labels.get(SSO_LABEL) == "sso"
    return [Route(h, s) for h, s in sorted(found.items())]


# --- network primitives ---------------------------------------------------------------------


def _dns_query(server: str, host: str) -> list[str]:
    """A-record lookup over UDP (RFC 1035), enough to ask one given resolver."""
    addr, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "53")
    qid = secrets.randbits(16)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in host.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(packet, (addr, int(port or 53)))
        data, _ = s.recvfrom(4096)
    try:
        rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
        if rid != qid:
            raise OSError(f"{server} answered another query")
        if flags & 0xF:
            raise OSError(f"{server} answered rcode {flags & 0xF} for {host}")
        pos = 12
        for _ in range(qd):
            pos = _skip_name(data, pos) + 4
        out = []
        for _ in range(an):
            pos = _skip_name(data, pos)
            rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos : pos + 10])
            pos += 10
            if rtype == 1 and rdlen == 4:
                out.append(socket.inet_ntoa(data[pos : pos + 4]))
            pos += rdlen
    except (struct.error, IndexError):
        raise OSError(f"{server} sent a malformed DNS answer") from None
    return out


def _skip_name(data: bytes, pos: int) -> int:
    while data[pos]:
        if data[pos] & 0xC0 == 0xC0:
            return pos + 2
        pos += data[pos] + 1
    return pos + 1


class Client:
    """Connections that honour the ``--resolve`` overrides and the CA file."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self._ctx = ssl.create_default_context(cafile=opts.ca_file or None)

    def resolve(self, host: str, port: int) -> tuple[list[str], str]:
        """Addresses of ``host`` for ``port`` and how they were found."""
        over = self.opts.resolve.get((host.lower(), port))
        if over:
            return [over], "--resolve"
        if self.opts.resolver:
            return _dns_query(self.opts.resolver, host), self.opts.resolver
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return sorted({str(i[4][0]) for i in infos}), "system resolver"

    def connect(self, host: str, port: int) -> socket.socket:
        """A TCP connection to ``host:port`` (first address that answers)."""
        addrs, _ = self.resolve(host, port)
        last: OSError = OSError(f"{host} has no address")
        for a in addrs:
            try:
                return socket.create_connection((a, port), timeout=TIMEOUT)
            except OSError as exc:
                last = exc
        raise last

    def tls(self, host: str, *, verify: bool = True) -> ssl.SSLSocket:
        """A TLS connection to ``host:443`` with SNI ``host``."""
        ctx = self._ctx
        if not verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx.wrap_socket(self.connect(host, 443), server_hostname=host)

    def get(self, url: str) -> tuple[int, http.client.HTTPMessage]:
        """GET without following redirects; returns status and headers."""
        u = urllib.parse.urlsplit(url)
        host = u.hostname or ""
        sock: socket.socket = (
            self.tls(host) if u.scheme == "https" else self.connect(host, u.port or 80)
        )
        conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
        conn.sock = sock
        try:
            conn.request("GET", u.path + (f"?{u.query}" if u.query else ""))
            resp = conn.getresponse()
            resp.read(65536)
            return resp.status, resp.headers
        finally:
            conn.close()


# --- checks ---------------------------------------------------------------------------------


def _guard(job: tuple[str, str, Callable[..., Check], tuple[object, ...]]) -> Check:
    check, target, fn, args = job
    try:
        return fn(*args)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Check(check, target, "error", _oneline(exc))


def _oneline(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def check_dns(client: Client, host: str) -> Check:
    """The name resolves, to the public address when one is given."""
    addrs, via = client.resolve(host, 443)
    want = client.opts.public_address
    if not addrs:
        return Check("dns", host, "error", f"no address ({via})")
    if want and want not in addrs:
        return Check("dns", host, "error", f"{', '.join(addrs)} ({via}), expected {want}")
    return Check("dns", host, "ok", f"{', '.join(addrs)} ({via})")


def check_port(client: Client, host: str, port: int) -> Check:
    """A TCP connection to the port opens."""
    with client.connect(host, port) as s:
        peer = s.getpeername()[0]
    return Check("port", f"{host}:{port}", "ok", f"open on {peer}")


def check_redirect(client: Client, host: str) -> Check:
    """Plain HTTP answers a permanent redirect to the same path and query on HTTPS."""
    status, headers = client.get(f"http://{host}{PROBE_PATH}")
    want = f"https://{host}{PROBE_PATH}"
    where = headers.get("Location", "")
    if status not in PERMANENT:
        return Check("redirect", host, "error", f"HTTP answered {status}, not 301/308 to HTTPS")
    if where != want:
        return Check("redirect", host, "error", f"{status} to {where!r}, expected {want!r}")
    return Check("redirect", host, "ok", f"{status} to https")


def check_tls(client: Client, host: str) -> Check:
    """The certificate is trusted, covers ``host`` and is valid for more than N days."""
    try:
        with client.tls(host) as s:
            der = s.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        with client.tls(host, verify=False) as s:
            der = s.getpeercert(binary_form=True)
        cert = x509.load_der_x509_certificate(der) if der else None
        detail = exc.verify_message or _oneline(exc)
        if cert is not None:
            ends = f"{cert.not_valid_after_utc:%Y-%m-%d}"
            detail += f" (subject {cert.subject.rfc4514_string()}, ends {ends})"
        return Check("tls", host, "error", f"not trusted: {detail}")
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    left = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
    if left < client.opts.min_days:
        return Check("tls", host, "error", f"{left} days left (< {client.opts.min_days})")
    return Check("tls", host, "ok", f"trusted, covers {host}, {left} days left")


def check_auth(client: Client, route: Route, auth_host: str) -> Check:
    """``sso`` hosts redirect anonymous requests to the auth host; public ones do not."""
    status, headers = client.get(f"https://{route.host}/")
    where = urllib.parse.urlsplit(headers.get("Location", ""))
    to_auth = status in AUTH_REDIRECTS and where.hostname == auth_host
    if route.sso and not to_auth:
        return Check(
            "auth",
            route.host,
            "error",
            f"sso host answered {status} anonymously, not a redirect to {auth_host}",
        )
    if not route.sso and to_auth:
        return Check("auth", route.host, "error", f"public host redirects to {auth_host}")
    return Check(
        "auth", route.host, "ok", f"redirects to {auth_host}" if route.sso else f"public ({status})"
    )


def check_headers(client: Client, host: str) -> Check:
    """HSTS, nosniff and frame-deny headers are present."""
    _, headers = client.get(f"https://{host}/")
    wanted = {
        "Strict-Transport-Security": "max-age=" in headers.get("Strict-Transport-Security", ""),
        "X-Content-Type-Options": headers.get("X-Content-Type-Options", "").lower() == "nosniff",
        "X-Frame-Options": headers.get("X-Frame-Options", "").upper() == "DENY",
    }
    missing = [name for name, ok in wanted.items() if not ok]
    if missing:
        return Check("headers", host, "error", f"missing {', '.join(missing)}")
    return Check("headers", host, "ok", "HSTS, nosniff, frame-deny")


def check_dashboard(client: Client, url: str) -> Check:
    """A dashboard URL must not answer 200 to an anonymous request."""
    target = url.removeprefix("https://")
    status, _ = client.get(url)
    if status == 200:
        return Check("dashboard", target, "error", "answers 200 anonymously")
    return Check("dashboard", target, "ok", f"anonymous request answered {status}")


def run(cfg: HomeportConfig, opts: Options) -> Report:
    """Run every check against the platform ``cfg`` describes.

    Args:
        cfg: The config (hosts come from the tree it renders).
        opts: How to reach the platform.

    Returns:
        The report.
    """
    client = Client(opts)
    rts = routes(cfg)
    auth_host = f"auth.{cfg.domain}"
    jobs: list[tuple[str, str, Callable[..., Check], tuple[object, ...]]] = []
    for r in rts:
        jobs.append(("dns", r.host, check_dns, (client, r.host)))
    seen: set[tuple[str, ...]] = set()
    for r in rts:  # one port check per distinct address set
        for port in (80, 443):
            try:
                key = (str(port), *client.resolve(r.host, port)[0])
            except OSError:
                continue  # the dns check reports it
            if key not in seen:
                seen.add(key)
                jobs.append(("port", f"{r.host}:{port}", check_port, (client, r.host, port)))
    for r in rts:
        jobs.append(("redirect", r.host, check_redirect, (client, r.host)))
        jobs.append(("tls", r.host, check_tls, (client, r.host)))
        jobs.append(("auth", r.host, check_auth, (client, r, auth_host)))
        jobs.append(("headers", r.host, check_headers, (client, r.host)))
    published = {r.host for r in rts}
    dashboards = (
        f"https://traefik.{cfg.domain}/dashboard/",
        f"https://traefik.{cfg.domain}/api/overview",
        f"https://argocd.{cfg.domain}/",
    )
    for url in dashboards:
        host = urllib.parse.urlsplit(url).hostname or ""
        if host in published:
            jobs.append(("dashboard", url.removeprefix("https://"), check_dashboard, (client, url)))
    # Network waits dominate: run the checks side by side, report them in order.
    with ThreadPoolExecutor(max_workers=8) as pool:
        return Report(list(pool.map(_guard, jobs)))
