"""Public-address detection: providers, family-pinned HTTP, and the agreement rule.

Every provider's socket is pinned to the family asked for (bound to 0.0.0.0 or ::), so an
IPv4 question can never be answered over IPv6 and the other way round. Endpoints are
constructor arguments so tests point them at loopback servers; the pinning stays real.
"""

from __future__ import annotations

import functools
import secrets
import ssl
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from homeport.ddns.addresses import AddressRejected, Family, validate
from homeport.ddns.options import ProviderSpec

TRACE_URLS = (
    "https://api.cloudflare.com/cdn-cgi/trace",
    # A second Cloudflare host; 1.1.1.1/cdn-cgi/trace answers 403 (error 1034) since 2024.
    "https://www.cloudflare.com/cdn-cgi/trace",
)
DOH_URLS: dict[Family, str] = {
    "ipv4": "https://1.1.1.1/dns-query",
    "ipv6": "https://[2606:4700:4700::1111]/dns-query",
}
IPIFY_URLS: dict[Family, str] = {
    "ipv4": "https://api4.ipify.org",
    "ipv6": "https://api6.ipify.org",
}
_MAX_BODY = 4096
_BIND: dict[Family, str] = {"ipv4": "0.0.0.0", "ipv6": "::"}


class DetectionError(Exception):
    """A provider gave no usable answer.

    Attributes:
        outcome: Metric label: ``error`` (transport/HTTP), ``invalid`` (not one address of
            the family), ``rejected`` (an address, but not a public one of ours).
    """

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class Provider(Protocol):
    """Something that can tell our public address for a family."""

    name: str

    def detect(self, family: Family) -> str:
        """Return the validated address or raise :class:`DetectionError`."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client (each copy of the CA bundle costs memory)."""
    import certifi  # httpx's own CA bundle, so behaviour matches httpx's defaults

    return ssl.create_default_context(cafile=certifi.where())


class PinnedHTTP:
    """One httpx client per family, each bound to that family's wildcard address."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._clients: dict[Family, httpx.Client] = {}

    def client(self, family: Family) -> httpx.Client:
        """Return the client whose sockets can only speak ``family``."""
        c = self._clients.get(family)
        if c is None:
            transport = httpx.HTTPTransport(
                local_address=_BIND[family], retries=0, verify=tls_context()
            )
            c = httpx.Client(
                transport=transport,
                verify=tls_context(),
                timeout=self._timeout,
                headers={"User-Agent": "homeport-ddns"},
                follow_redirects=False,
                trust_env=False,
            )
            self._clients[family] = c
        return c

    def fetch(
        self,
        family: Family,
        url: str,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """GET (or POST ``content``) a URL over the pinned family; return a short body.

        Args:
            family: The family the socket is pinned to.
            url: The endpoint.
            content: Body to POST; None means GET.
            headers: Extra request headers.

        Returns:
            The response body.

        Raises:
            DetectionError: Transport error, non-200 status or an oversized body.
        """
        try:
            client = self.client(family)
            if content is None:
                resp = client.get(url, headers=headers)
            else:
                resp = client.post(url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise DetectionError("error", f"{url}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise DetectionError("error", f"{url}: HTTP {resp.status_code}")
        if len(resp.content) > _MAX_BODY:
            raise DetectionError(
                "invalid", f"{url}: answer is {len(resp.content)} bytes, not an address"
            )
        return resp.content

    def close(self) -> None:
        """Close every client."""
        for c in self._clients.values():
            c.close()
        self._clients.clear()


def _checked(text: str, family: Family, source: str) -> str:
    try:
        return validate(text, family)
    except AddressRejected as exc:
        outcome = (
            "invalid" if "not an IP" in str(exc) or "is not an IPv" in str(exc) else "rejected"
        )
        raise DetectionError(outcome, f"{source}: {exc}") from None


class TraceProvider:
    """Cloudflare's ``/cdn-cgi/trace``: ``ip=`` is our address, ``h=`` must be the host asked."""

    name = "cloudflare.trace"

    def __init__(self, http: PinnedHTTP, urls: Sequence[str] = TRACE_URLS) -> None:
        self._http = http
        self._urls = tuple(urls)

    def detect(self, family: Family) -> str:
        """Try each trace host in turn; the first valid answer wins."""
        last: DetectionError | None = None
        for url in self._urls:
            try:
                return self._one(family, url)
            except DetectionError as exc:
                last = exc
        assert last is not None
        raise last

    def _one(self, family: Family, url: str) -> str:
        body = self._http.fetch(family, url).decode("utf-8", "replace")
        fields: dict[str, str] = {}
        for line in body.splitlines():
            k, sep, v = line.partition("=")
            if sep:
                fields.setdefault(k.strip(), v.strip())
        host = httpx.URL(url).host
        if fields.get("h") != host:
            raise DetectionError(
                "invalid", f"{url}: trace answered for host {fields.get('h')!r}, not {host!r}"
            )
        if "ip" not in fields:
            raise DetectionError("invalid", f"{url}: trace has no ip= line")
        return _checked(fields["ip"], family, url)

    def close(self) -> None:
        """Nothing of its own to close."""


class PlainTextProvider:
    """An endpoint answering the address as plain text (ipify, ``url:<URL>``)."""

    def __init__(self, http: PinnedHTTP, name: str, urls: dict[Family, str]) -> None:
        self.name = name
        self._http = http
        self._urls = urls

    def detect(self, family: Family) -> str:
        """GET the family's URL and validate the body."""
        url = self._urls[family]
        return _checked(self._http.fetch(family, url).decode("utf-8", "replace"), family, url)

    def close(self) -> None:
        """Nothing of its own to close."""


class StaticProvider:
    """A fixed address (``static:<IP>``), still subject to the same checks."""

    name = "static"

    def __init__(self, address: str) -> None:
        self._address = address

    def detect(self, family: Family) -> str:
        """Return the address if it is a valid one of ``family``."""
        return _checked(self._address, family, "static")

    def close(self) -> None:
        """Nothing to close."""


def dns_query(name: str, qtype: int, qclass: int, ident: int) -> bytes:
    """Encode a DNS query message (RFC 1035) with recursion desired.

    Args:
        name: Query name.
        qtype: Record type (16 = TXT).
        qclass: Class (1 = IN, 3 = CH).
        ident: Message ID.

    Returns:
        The wire-format message.
    """
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    qname = (
        b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split(".")) + b"\0"
    )
    return header + qname + struct.pack("!HH", qtype, qclass)


def _skip_name(msg: bytes, pos: int) -> int:
    while True:
        if pos >= len(msg):
            raise ValueError("truncated name")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


def txt_answers(msg: bytes, ident: int) -> list[str]:
    """Decode the TXT answers of a DNS response.

    Args:
        msg: The wire-format response.
        ident: The ID the query used.

    Returns:
        The first character-string of each TXT answer.

    Raises:
        ValueError: The message is malformed, answers another query or reports an error.
    """
    if len(msg) < 12:
        raise ValueError("short DNS message")
    rid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if rid != ident or not flags & 0x8000:
        raise ValueError("not the answer to our query")
    if flags & 0x000F:
        raise ValueError(f"DNS error rcode {flags & 0x000F}")
    pos = 12
    for _ in range(qd):
        pos = _skip_name(msg, pos) + 4
    out: list[str] = []
    for _ in range(an):
        pos = _skip_name(msg, pos)
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[pos : pos + 10])
        pos += 10
        rdata = msg[pos : pos + rdlen]
        if len(rdata) != rdlen:
            raise ValueError("truncated answer")
        pos += rdlen
        if rtype == 16 and rdata:
            out.append(rdata[1 : 1 + rdata[0]].decode("ascii", "replace"))
    return out


class DohProvider:
    """``whoami.cloudflare`` TXT/CH over DNS-over-HTTPS (RFC 8484, POST)."""

    name = "cloudflare.doh"

    def __init__(self, http: PinnedHTTP, urls: dict[Family, str] | None = None) -> None:
        self._http = http
        self._urls = urls or DOH_URLS

    def detect(self, family: Family) -> str:
        """Ask the resolver who we are."""
        url = self._urls[family]
        ident = secrets.randbelow(0xFFFF) + 1
        body = self._http.fetch(
            family,
            url,
            content=dns_query("whoami.cloudflare", 16, 3, ident),
            headers={
                "Content-Type": "application/dns-message",
                "Accept": "application/dns-message",
            },
        )
        try:
            answers = txt_answers(body, ident)
        except (ValueError, struct.error) as exc:
            raise DetectionError("invalid", f"{url}: {exc}") from None
        if len(answers) != 1:
            raise DetectionError("invalid", f"{url}: expected one TXT answer, got {len(answers)}")
        return _checked(answers[0], family, url)

    def close(self) -> None:
        """Nothing of its own to close."""


def build_providers(specs: Sequence[ProviderSpec], http: PinnedHTTP) -> list[Provider]:
    """Turn ``--ip-provider`` specs into providers sharing one pinned HTTP pool.

    Args:
        specs: Parsed specs, in order.
        http: The family-pinned HTTP clients.

    Returns:
        The providers, in order.
    """
    out: list[Provider] = []
    for s in specs:
        if s.kind == "cloudflare.trace":
            out.append(TraceProvider(http, (s.arg,) if s.arg else TRACE_URLS))
        elif s.kind == "cloudflare.doh":
            out.append(DohProvider(http, {"ipv4": s.arg, "ipv6": s.arg} if s.arg else None))
        elif s.kind == "ipify":
            urls: dict[Family, str] = {"ipv4": s.arg, "ipv6": s.arg} if s.arg else IPIFY_URLS
            out.append(PlainTextProvider(http, "ipify", urls))
        elif s.kind == "url":
            assert s.arg is not None
            out.append(PlainTextProvider(http, "url", {"ipv4": s.arg, "ipv6": s.arg}))
        else:
            assert s.arg is not None
            out.append(StaticProvider(s.arg))
    return out


@dataclass(frozen=True)
class Detection:
    """The outcome of detecting one family.

    Attributes:
        family: The family.
        address: The agreed address, or None when detection failed or was doubtful.
        reason: Why there is no address (empty when there is one).
    """

    family: Family
    address: str | None
    reason: str = ""


def detect(
    providers: Sequence[Provider],
    family: Family,
    record: Callable[[str, str], None] | None = None,
) -> Detection:
    """Ask providers in order until two valid answers (one if only one provider) are in.

    Args:
        providers: Providers, in the user's order.
        family: The family to detect.
        record: Called with (provider name, outcome) for every attempt (metrics).

    Returns:
        The detection; ``address`` is None unless the first two valid answers agree.
    """
    need = 1 if len(providers) == 1 else 2
    answers: list[tuple[str, str]] = []
    errors: list[str] = []
    for p in providers:
        try:
            addr = p.detect(family)
        except DetectionError as exc:
            if record:
                record(p.name, exc.outcome)
            errors.append(f"{p.name}: {exc}")
            continue
        if record:
            record(p.name, "ok")
        answers.append((p.name, addr))
        if len(answers) == need:
            break
    if len(answers) < need:
        got = "; ".join(errors) or "no answer"
        if need == 2 and answers:
            got = f"only {answers[0][0]} answered ({got})"
        return Detection(family, None, f"{family} detection failed: {got}")
    if need == 2 and answers[0][1] != answers[1][1]:
        (n1, a1), (n2, a2) = answers
        return Detection(
            family, None, f"{family} providers disagree: {n1} says {a1}, {n2} says {a2}"
        )
    return Detection(family, answers[0][1])
