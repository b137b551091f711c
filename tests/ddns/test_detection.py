"""Address checks, providers (trace, DoH, plain text, static) and real family pinning."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from homeport.ddns.addresses import AddressRejected, validate
from homeport.ddns.providers import (
    DetectionError,
    DohProvider,
    PinnedHTTP,
    PlainTextProvider,
    StaticProvider,
    TraceProvider,
    detect,
    dns_query,
    txt_answers,
)

from .conftest import IP6_NEW, IP_NEW
from .emulator import IPServer

IPF = Callable[..., IPServer]


@pytest.mark.parametrize(
    ("text", "family", "fragment"),
    [
        ("<html>error</html>", "ipv4", "not an IP address"),
        ("error code: 1034", "ipv4", "not an IP address"),
        ("81.2.69.1 81.2.69.2", "ipv4", "not an IP address"),
        ("10.0.0.1", "ipv4", "not a global"),
        ("192.168.1.1", "ipv4", "not a global"),
        ("127.0.0.1", "ipv4", "not a global"),
        ("169.254.1.1", "ipv4", "not a global"),
        ("100.64.0.1", "ipv4", "carrier-grade NAT"),
        ("192.0.2.1", "ipv4", "not a global"),
        ("198.51.100.7", "ipv4", "not a global"),
        ("203.0.113.9", "ipv4", "not a global"),
        ("224.0.0.1", "ipv4", "not a global"),
        ("104.16.0.1", "ipv4", "Cloudflare"),
        ("104.18.0.0", "ipv4", "Cloudflare"),
        ("1.1.1.1", "ipv4", "Cloudflare"),
        ("2606:4700::6810:84e5", "ipv6", "Cloudflare"),
        ("2001:db8::1", "ipv6", "not a global"),
        ("fd00::1", "ipv6", "not a global"),
        ("fe80::1", "ipv6", "not a global"),
        ("::1", "ipv6", "not a global"),
        ("::ffff:81.2.69.1", "ipv6", "IPv4-mapped"),
        ("81.2.69.1", "ipv6", "not an IPv6"),
        ("2a01:4f8::1", "ipv4", "not an IPv4"),
    ],
)
def test_rejected_answers(text: str, family: str, fragment: str) -> None:
    with pytest.raises(AddressRejected, match=fragment):
        validate(text, family)  # type: ignore[arg-type]


def test_accepted_answers_are_canonical() -> None:
    assert validate(" 81.2.69.160\n", "ipv4") == "81.2.69.160"
    assert validate("2A01:04F8:0000::0001", "ipv6") == "2a01:4f8::1"


def test_trace_reads_ip_and_checks_host(ip_server: IPF) -> None:
    s = ip_server(IP_NEW)
    http = PinnedHTTP(2.0)
    try:
        assert TraceProvider(http, [f"{s.base}/cdn-cgi/trace"]).detect("ipv4") == IP_NEW
        # A trace about another host (as 1.1.1.1 once answered for api.cloudflare.com): rejected.
        s.trace_host = "one.one.one.one"
        with pytest.raises(DetectionError, match=r"trace answered for host 'one\.one\.one\.one'"):
            TraceProvider(http, [f"{s.base}/cdn-cgi/trace"]).detect("ipv4")
    finally:
        http.close()


def test_trace_falls_back_to_second_host(ip_server: IPF) -> None:
    broken = ip_server("", html=True)
    good = ip_server(IP_NEW)
    http = PinnedHTTP(2.0)
    try:
        p = TraceProvider(http, [f"{broken.base}/cdn-cgi/trace", f"{good.base}/cdn-cgi/trace"])
        assert p.detect("ipv4") == IP_NEW
        assert broken.hits == 1 and good.hits == 1
    finally:
        http.close()


def test_doh_round_trip(ip_server: IPF) -> None:
    s = ip_server(IP_NEW)
    http = PinnedHTTP(2.0)
    try:
        assert (
            DohProvider(http, {"ipv4": f"{s.base}/dns-query", "ipv6": ""}).detect("ipv4") == IP_NEW
        )
    finally:
        http.close()


def test_dns_codec_rejects_foreign_ids() -> None:
    q = dns_query("whoami.cloudflare", 16, 3, 4242)
    assert q[:2] == (4242).to_bytes(2, "big") and q.endswith(b"\x00\x10\x00\x03")
    from .emulator import _doh_answer

    answer = _doh_answer(q, "81.2.69.1")
    assert txt_answers(answer, 4242) == ["81.2.69.1"]
    with pytest.raises(ValueError, match="not the answer"):
        txt_answers(answer, 4243)


def test_family_pinning_is_real(ip_server: IPF) -> None:
    v4 = ip_server(IP_NEW, "127.0.0.1")
    v6 = ip_server(IP6_NEW, "::1")
    http = PinnedHTTP(2.0)
    try:
        # Each family reaches its own loopback...
        assert (
            PlainTextProvider(http, "url", {"ipv4": v4.base, "ipv6": v4.base}).detect("ipv4")
            == IP_NEW
        )
        assert (
            PlainTextProvider(http, "url", {"ipv4": v6.base, "ipv6": v6.base}).detect("ipv6")
            == IP6_NEW
        )
        # ...and cannot reach the other family's address at all.
        with pytest.raises(DetectionError) as e4:
            PlainTextProvider(http, "url", {"ipv4": v6.base, "ipv6": v6.base}).detect("ipv4")
        assert e4.value.outcome == "error"
        with pytest.raises(DetectionError) as e6:
            PlainTextProvider(http, "url", {"ipv4": v4.base, "ipv6": v4.base}).detect("ipv6")
        assert e6.value.outcome == "error"
        assert v4.hits == 1 and v6.hits == 1
    finally:
        http.close()


def test_agreement_rules() -> None:
    seen: list[tuple[str, str]] = []

    def rec(name: str, outcome: str) -> None:
        seen.append((name, outcome))

    one = detect([StaticProvider(IP_NEW)], "ipv4", rec)
    assert one.address == IP_NEW  # a single provider needs no second opinion
    agree = detect(
        [StaticProvider(IP_NEW), StaticProvider(IP_NEW), StaticProvider("81.2.69.9")], "ipv4", rec
    )
    assert agree.address == IP_NEW
    assert len(seen) == 3  # the third provider was never asked
    lonely = detect([StaticProvider("10.0.0.1"), StaticProvider(IP_NEW)], "ipv4", rec)
    assert lonely.address is None and "only static answered" in lonely.reason
    wrong_family = detect([StaticProvider(IP_NEW)], "ipv6")
    assert wrong_family.address is None and "not an IPv6" in wrong_family.reason
