"""``homeport doctor`` pieces that need no platform (the whole verb: tests/traffic).

Real: the rendered example tree, a UDP DNS exchange on loopback (the server is a stand-in
that answers A queries in RFC 1035 wire format).
"""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from homeport import doctor
from homeport.config import load_config
from homeport.errors import UsageError

EXAMPLE = Path(__file__).parents[1] / "examples" / "homeport.yaml"


def test_parse_resolve() -> None:
    """HOST:PORT:ADDR, IPv6 in brackets; case-insensitive host."""
    got = doctor.parse_resolve(["Blog.example.com:443:198.51.100.7", "a.example.com:80:[::1]"])
    assert got == {("blog.example.com", 443): "198.51.100.7", ("a.example.com", 80): "::1"}


@pytest.mark.parametrize(
    "bad", ["nonsense", "h:0:1.2.3.4", "h:443:", "h:443:not-an-ip", ":443:1.2.3.4", "h:x:1.2.3.4"]
)
def test_parse_resolve_rejects(bad: str) -> None:
    """Malformed overrides are a usage error naming the flag."""
    with pytest.raises(UsageError, match="--resolve"):
        doctor.parse_resolve([bad])


def test_routes_of_the_example() -> None:
    """Hosts and their auth come from the rendered IngressRoutes."""
    routes = {r.host: r.sso for r in doctor.routes(load_config(EXAMPLE))}
    assert routes["notes.example.com"] is True
    assert routes["traefik.example.com"] is True
    assert routes["argocd.example.com"] is True
    assert routes["blog.example.com"] is False
    assert routes["auth.example.com"] is False


def _dns_stub(answer: str) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        data, peer = sock.recvfrom(512)
        qid = data[:2]
        question = data[12:]
        reply = (
            qid
            + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
            + question
            + b"\xc0\x0c"
            + struct.pack(">HHIH", 1, 1, 60, 4)
            + socket.inet_aton(answer)
        )
        sock.sendto(reply, peer)

    threading.Thread(target=serve, daemon=True).start()
    return sock, int(sock.getsockname()[1])


def test_resolver_and_public_address() -> None:
    """--resolver asks the given server; the dns check compares with --public-address."""
    sock, port = _dns_stub("198.51.100.7")
    with sock:
        client = doctor.Client(
            doctor.Options(resolver=f"127.0.0.1:{port}", public_address="198.51.100.8")
        )
        got = doctor.check_dns(client, "blog.example.com")
    assert got.level == "error"
    assert "198.51.100.7" in got.detail and "expected 198.51.100.8" in got.detail


def test_report_levels() -> None:
    """Exit codes like status: 0 ok, 3 warnings only, 1 errors."""
    ok = doctor.Check("dns", "a", "ok", "")
    warn = doctor.Check("tls", "a", "warning", "")
    err = doctor.Check("auth", "a", "error", "")
    assert doctor.Report([ok]).exit_code == 0
    assert doctor.Report([ok, warn]).exit_code == 3
    assert doctor.Report([ok, warn, err]).exit_code == 1


@pytest.mark.parametrize(
    ("flag", "value", "port"),
    [
        ("--resolver", "dns.example", True),
        ("--resolver", "1.1.1.1:99999", True),
        ("--public-address", "1.1.1.1:53", False),
    ],
)
def test_parse_address_rejects(flag: str, value: str, port: bool) -> None:
    """Resolver and public address must be IP addresses (resolver with an optional port)."""
    with pytest.raises(UsageError, match=flag):
        doctor.parse_address(flag, value, port=port)
    assert doctor.parse_address(flag, "198.51.100.7") == "198.51.100.7"


def test_malformed_dns_answer_is_an_error() -> None:
    """A truncated answer is reported as an OSError (one doctor line), not a crash."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        data, peer = sock.recvfrom(512)
        sock.sendto(data[:2] + struct.pack(">HHH", 0x8180, 1, 5), peer)

    threading.Thread(target=serve, daemon=True).start()
    with sock:
        client = doctor.Client(doctor.Options(resolver=f"127.0.0.1:{sock.getsockname()[1]}"))
        with pytest.raises(OSError, match="malformed"):
            client.resolve("blog.example.com", 443)
