"""Address families and the checks an answer must pass before it may reach DNS."""

from __future__ import annotations

import ipaddress
from typing import Literal

Family = Literal["ipv4", "ipv6"]
FAMILIES: tuple[Family, ...] = ("ipv4", "ipv6")
RECORD_TYPE: dict[Family, str] = {"ipv4": "A", "ipv6": "AAAA"}

# Cloudflare's published ranges (cloudflare.com/ips-v4, ips-v6) plus its public resolvers:
# a trace or DoH answer inside them means we saw Cloudflare, not ourselves.
CLOUDFLARE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "173.245.48.0/20",
        "103.21.244.0/22",
        "103.22.200.0/22",
        "103.31.4.0/22",
        "141.101.64.0/18",
        "108.162.192.0/18",
        "190.93.240.0/20",
        "188.114.96.0/20",
        "197.234.240.0/22",
        "198.41.128.0/17",
        "162.158.0.0/15",
        "104.16.0.0/13",
        "104.24.0.0/14",
        "172.64.0.0/13",
        "131.0.72.0/22",
        "1.1.1.0/24",
        "1.0.0.0/24",
        "2400:cb00::/32",
        "2606:4700::/32",
        "2803:f800::/32",
        "2405:b500::/32",
        "2405:8100::/32",
        "2a06:98c0::/29",
        "2c0f:f248::/32",
    )
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class AddressRejected(ValueError):
    """An answer is not a usable public address of the family asked."""


def validate(text: str, family: Family) -> str:
    """Check that a provider's answer is one public address of the right family.

    Args:
        text: The raw answer (surrounding whitespace is ignored).
        family: The family that was asked for.

    Returns:
        The address in canonical (compressed) form.

    Raises:
        AddressRejected: The answer is not one address, is of the other family, or is
            private, loopback, link-local, CGNAT, documentation, multicast or Cloudflare's.
    """
    candidate = text.strip()
    shown = (
        candidate if len(candidate) <= 45 and candidate.isprintable() else "a non-address answer"
    )
    try:
        addr = ipaddress.ip_address(candidate)
    except ValueError:
        raise AddressRejected(f"{shown!s} is not an IP address") from None
    want = 4 if family == "ipv4" else 6
    if addr.version != want:
        raise AddressRejected(f"{addr} is not an IPv{want} address")
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise AddressRejected(f"{addr} is an IPv4-mapped address")
    if addr in _CGNAT:
        raise AddressRejected(f"{addr} is a carrier-grade NAT (100.64.0.0/10) address")
    if not addr.is_global or addr.is_multicast or addr.is_reserved:
        raise AddressRejected(f"{addr} is not a global unicast address")
    for net in CLOUDFLARE_NETWORKS:
        if addr.version == net.version and addr in net:
            raise AddressRejected(f"{addr} is inside Cloudflare's own range {net}")
    return str(addr)
