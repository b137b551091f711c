"""The controller against API behaviours any faithful Cloudflare implementation may show.

Each test asserts the emulator's final records and the exact API calls. Upstream facts:
list filters ``name``/``name.exact``/``type`` and ``result_info`` pagination (API reference,
"List DNS Records"); PATCH updates, PUT overwrites; proxied records keep TTL "Auto"
(developers.cloudflare.com/dns/manage-dns-records/reference/ttl); comments are
case-sensitive text (dns/manage-dns-records/reference/record-attributes); ``Retry-After``
after a 429 (fundamentals/api/reference/limits; RFC 9110 allows seconds or an HTTP date).
"""

from __future__ import annotations

import email.utils
import ipaddress
from collections.abc import Callable

import pytest

from homeport.ddns.options import record_fqdn
from homeport.errors import UsageError

from .conftest import IP6_NEW, IP6_OLD, IP_NEW, IP_OLD, OWNER, ZONE, Harness
from .emulator import CloudflareEmulator

HarnessF = Callable[..., Harness]
WILD = f"*.{ZONE}"
STATIC = [f"static:{IP_NEW}"]
STATIC6 = [f"static:{IP6_NEW}"]
NOW = 1_700_000_000.0


def methods(cf: CloudflareEmulator) -> list[str]:
    return [c.method for c in cf.calls]


def envelope(*errors: tuple[int, str]) -> dict[str, object]:
    return {
        "success": False,
        "errors": [{"code": c, "message": m} for c, m in errors],
        "messages": [],
        "result": None,
    }


# -- list filters ------------------------------------------------------------------------
@pytest.mark.parametrize("filters", ["both", "none", "name", "name.exact"])
def test_filters_honoured_or_not_never_touch_other_records(
    cf: CloudflareEmulator, harness: HarnessF, filters: str
) -> None:
    cf.sw.filters = filters
    apex = cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    wild = cf.add(WILD, "A", IP_OLD, comment=OWNER)
    # Same owner comment, but another name or type: never a "duplicate" to delete.
    cf.add(f"www.{ZONE}", "A", IP_OLD, comment=OWNER)
    cf.add(ZONE, "AAAA", IP6_OLD, comment=OWNER)
    cf.add(f"mail.{ZONE}", "A", "81.2.69.9")
    h = harness(cf, STATIC)
    res = h.controller.run_once()
    assert res.ok, res.errors
    assert cf.snapshot() == [
        (WILD, "A", IP_NEW, OWNER),
        (ZONE, "A", IP_NEW, OWNER),
        (ZONE, "AAAA", IP6_OLD, OWNER),
        (f"mail.{ZONE}", "A", "81.2.69.9", None),
        (f"www.{ZONE}", "A", IP_OLD, OWNER),
    ]
    assert {apex, wild} <= set(cf.records)
    assert methods(cf) == ["GET", "GET", "PATCH", "GET", "PATCH"]
    assert [r.state for r in res.records] == ["updated", "updated"]
    cf.reset_calls()
    assert h.controller.run_once().ok
    assert methods(cf) == ["GET", "GET"]  # steady: one list per name and type, no writes


# -- pagination --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "info", ["full", "no-total-pages", "no-totals", "stale-total-pages", "missing"]
)
def test_every_page_is_read_whatever_result_info_says(
    cf: CloudflareEmulator, harness: HarnessF, info: str
) -> None:
    cf.sw.result_info = info
    # A server that caps per_page below what was asked (5 < 100). Without any metadata a
    # short page is indistinguishable from the last one, so "missing" keeps the full size.
    cf.sw.max_per_page = 100 if info == "missing" else 5
    stale = [cf.add(ZONE, "A", f"81.2.69.{10 + i}", comment=OWNER) for i in range(11)]
    right = cf.add(ZONE, "A", IP_NEW, comment=OWNER)  # last: on page 3 of 5-record pages
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert res.ok, res.errors
    assert list(cf.records) == [right]  # the right record is kept, never updated
    pages = 1 if info == "missing" else 3
    assert methods(cf) == ["GET"] + ["GET"] * pages + ["DELETE"] * 11
    assert {c.path.rsplit("/", 1)[-1] for c in cf.calls if c.method == "DELETE"} == set(stale)


def test_a_server_ignoring_page_cannot_loop_forever(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.sw.ignore_page = True
    cf.sw.max_per_page = 5
    for i in range(7):
        cf.add(ZONE, "A", f"81.2.69.{10 + i}")  # foreign: reported, never touched
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert not res.ok and "without the owner comment" in res.errors[0]
    assert methods(cf) == ["GET", "GET", "GET", "POST"]  # page 2 repeats page 1: stop
    assert len(cf.records) == 8


# -- comments and tags -------------------------------------------------------------------
def test_missing_null_and_lookalike_comments_are_foreign(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.sw.omit_null_comment = True
    cf.add(ZONE, "A", IP_OLD)  # no comment key at all in the answer
    cf.add(ZONE, "A", "81.2.69.20", comment="Managed-By: Homeport")  # case differs
    cf.add(ZONE, "A", "81.2.69.21", comment=f"{OWNER}-lab")  # another controller's prefix
    mine = cf.add(WILD, "A", IP_OLD, comment=f"  {OWNER} ")  # surrounding blanks only
    h = harness(cf, STATIC)
    res = h.controller.run_once()
    assert not res.ok and len(res.errors) == 1 and res.errors[0].count("never touches it") == 3
    assert cf.records[mine]["content"] == IP_NEW
    assert sorted(r["content"] for r in cf.records.values() if r["name"] == ZONE) == sorted(
        [IP_OLD, "81.2.69.20", "81.2.69.21", IP_NEW]
    )
    assert methods(cf) == ["GET", "GET", "POST", "GET", "PATCH"]
    assert h.controller.metrics.foreign._value.get() == 3


@pytest.mark.parametrize("no_patch", [False, True])
def test_update_keeps_comment_and_tags_with_patch_or_put(
    cf: CloudflareEmulator, harness: HarnessF, no_patch: bool
) -> None:
    cf.sw.no_patch = no_patch
    a = cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    w = cf.add(WILD, "A", IP_OLD, comment=OWNER)
    cf.records[a]["tags"] = ["team:home"]
    h = harness(cf, STATIC)
    assert h.controller.run_once().ok
    assert cf.records[a]["tags"] == ["team:home"] and cf.records[a]["comment"] == OWNER
    assert cf.records[w]["comment"] == OWNER and cf.records[w]["content"] == IP_NEW
    if no_patch:  # PATCH refused once (405), then PUT with name, type, comment and tags
        assert methods(cf) == ["GET", "GET", "PATCH", "PUT", "GET", "PUT"]
        assert cf.calls[3].body == {
            "name": ZONE,
            "type": "A",
            "content": IP_NEW,
            "ttl": 1,
            "proxied": False,
            "comment": OWNER,
            "tags": ["team:home"],
        }
    else:
        assert methods(cf) == ["GET", "GET", "PATCH", "GET", "PATCH"]
        assert cf.calls[2].body == {"content": IP_NEW, "ttl": 1, "proxied": False}


def test_a_truncated_owner_comment_fails_loudly_and_never_multiplies(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.sw.comment_limit = 10  # the plan keeps only 10 characters of a comment
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert not res.ok and 'stored the owner comment as "managed-by"' in res.errors[0]
    cf.reset_calls()
    again = h.controller.run_once()  # the record answers our address: nothing is added
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, "managed-by")]
    assert methods(cf) == ["GET"] and [r.state for r in again.records] == ["foreign"]


# -- names -------------------------------------------------------------------------------
def test_names_answered_in_another_case_with_a_trailing_dot(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.sw.upper_names = True
    cf.add(ZONE, "A", IP_NEW, comment=OWNER)
    cf.add(WILD, "A", IP_OLD, comment=OWNER)
    h = harness(cf, STATIC)
    assert h.controller.run_once().ok
    assert cf.snapshot() == [(WILD, "A", IP_NEW, OWNER), (ZONE, "A", IP_NEW, OWNER)]
    assert methods(cf) == ["GET", "GET", "GET", "PATCH"]


@pytest.mark.parametrize(
    ("given", "fqdn"),
    [
        ("@", ZONE),
        ("*", WILD),
        ("home", f"home.{ZONE}"),
        ("*.home", f"*.home.{ZONE}"),
        (f"Home.{ZONE.upper()}.", f"home.{ZONE}"),
        (f"{ZONE}.", ZONE),
        ("bücher", f"xn--bcher-kva.{ZONE}"),
    ],
)
def test_record_names_become_the_fqdn_cloudflare_answers(given: str, fqdn: str) -> None:
    assert record_fqdn(given, ZONE) == fqdn


@pytest.mark.parametrize("bad", ["a b", "-x", "x..y", "ü..x"])
def test_invalid_record_names_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError, match="--record"):
        record_fqdn(bad, ZONE)


# -- proxied TTL and IPv6 forms ----------------------------------------------------------
@pytest.mark.parametrize("proxied_ttl", ["auto", "reject"])
def test_proxied_records_send_ttl_1_and_never_flap(
    cf: CloudflareEmulator, harness: HarnessF, proxied_ttl: str
) -> None:
    cf.sw.proxied_ttl = proxied_ttl
    h = harness(cf, STATIC, proxied=True, ttl=300)
    assert h.controller.run_once().ok
    assert all(c.body and c.body["ttl"] == 1 for c in cf.calls if c.method == "POST")
    assert all(r["ttl"] == 1 and r["proxied"] for r in cf.records.values())
    for _ in range(2):
        cf.reset_calls()
        assert h.controller.run_once().ok
        assert methods(cf) == ["GET", "GET"]


def test_expanded_ipv6_content_is_the_same_address(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.sw.expand_ipv6 = True
    cf.add(ZONE, "AAAA", IP6_NEW, comment=OWNER)
    h = harness(cf, STATIC6, records=("@",), families=("ipv6",))
    res = h.controller.run_once()
    assert res.ok and [r.state for r in res.records] == ["ok"]
    assert methods(cf) == ["GET", "GET"]
    assert cf.calls[1].query["type"] == "AAAA"
    assert ipaddress.ip_address(IP6_NEW).exploded != IP6_NEW  # the forms really differ


# -- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, "<html><body>Access denied</body></html>"),
        (401, envelope((10000, "Authentication error"))),
        (400, envelope((10001, "Unable to authenticate request"))),
        (400, envelope((1000, "Invalid API Token"))),
        (
            400,
            {
                "success": False,
                "errors": [
                    {
                        "code": 6003,
                        "message": "Invalid request headers",
                        "error_chain": [
                            {"code": 6111, "message": "Invalid format for Authorization header"}
                        ],
                    }
                ],
                "messages": [],
                "result": None,
            },
        ),
    ],
)
def test_token_refusals_are_auth_failures(
    cf: CloudflareEmulator, harness: HarnessF, status: int, body: object
) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.inject.append((None, status, body, {}))
    h = harness(cf, STATIC)
    res = h.controller.run_once()
    assert res.auth_failed and res.errors[0].startswith("Cloudflare token lacks Zone.DNS edit")
    assert methods(cf) == ["GET"]  # not retried
    assert not h.controller.ready()[0]
    assert cf.snapshot() == [(ZONE, "A", IP_OLD, OWNER)]


def test_other_4xx_fail_the_record_not_the_token(cf: CloudflareEmulator, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.add(WILD, "A", IP_OLD, comment=OWNER)
    cf.sw.inject.append(("PATCH", 400, envelope((1004, "DNS Validation Error")), {}))
    h = harness(cf, STATIC)
    res = h.controller.run_once()
    assert not res.ok and not res.auth_failed
    assert res.errors == [f"A {ZONE}: dns_records.update: 1004: DNS Validation Error"]
    assert [r.state for r in res.records] == ["failed", "updated"]
    assert methods(cf) == ["GET", "GET", "PATCH", "GET", "PATCH"]


def test_200_with_success_false_is_an_error_and_writes_nothing(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.inject.append(("GET", 200, {"success": False, "errors": [], "result": None}, {}))
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert not res.ok and "success: false" in res.errors[0]
    assert methods(cf) == ["GET"]
    assert cf.snapshot() == [(ZONE, "A", IP_OLD, OWNER)]


@pytest.mark.parametrize(
    ("header", "waited"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"Retry-After": "3600"}, 300.0),
        ({}, 5.0),
    ],
)
def test_429_waits_retry_after_seconds_or_http_date(
    cf: CloudflareEmulator, harness: HarnessF, header: dict[str, str], waited: float
) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.inject.append((None, 429, envelope((971, "Please wait")), header))
    h = harness(cf, STATIC, records=("@",), clock=lambda: NOW)
    assert h.controller.run_once().ok
    assert h.sleeps == [waited]
    assert [(c.method, c.status) for c in cf.calls] == [
        ("GET", 429),
        ("GET", 200),
        ("GET", 200),
        ("PATCH", 200),
    ]


def test_5xx_with_an_html_body_is_retried(cf: CloudflareEmulator, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.inject += [
        ("GET", 502, "<html><title>502 Bad Gateway</title></html>", {}),
        ("PATCH", 520, "error code: 520", {}),
    ]
    h = harness(cf, STATIC, records=("@",))
    assert h.controller.run_once().ok
    assert [(c.method, c.status) for c in cf.calls] == [
        ("GET", 502),
        ("GET", 200),
        ("GET", 200),
        ("PATCH", 520),
        ("PATCH", 200),
    ]
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]


def test_network_errors_retry_reads_and_relist_before_recreating(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.sw.inject += [("GET", 0, "DROP", {}), ("POST", 0, "DROP", {})]
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert res.ok and [r.state for r in res.records] == ["created"]
    # zone (dropped, retried), list, create (dropped: unknown), list again, create
    assert methods(cf) == ["GET", "GET", "GET", "POST", "GET", "POST"]
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]
    m = h.controller.metrics.api_requests
    assert m.labels(endpoint="dns_records.create", code="error")._value.get() == 1


def test_update_of_a_record_deleted_meanwhile_relists_and_creates(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    old = cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.vanish_on_update = True
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert res.ok and [r.state for r in res.records] == ["created"]
    assert [(c.method, c.status) for c in cf.calls] == [
        ("GET", 200),
        ("GET", 200),
        ("PATCH", 404),
        ("GET", 200),
        ("POST", 200),
    ]
    assert old not in cf.records and cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]


def test_owned_stale_record_next_to_a_right_foreign_one_is_deleted_not_updated(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    # Updating ours to the foreign record's address would be refused (81058).
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.add(ZONE, "A", IP_NEW, comment="hand-made")
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert res.ok
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, "hand-made")]
    assert methods(cf) == ["GET", "GET", "DELETE"]


def test_81058_on_update_relists_and_reconciles(cf: CloudflareEmulator, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.inject.append(
        ("PATCH", 400, envelope((81058, "An identical record already exists.")), {})
    )
    h = harness(cf, STATIC, records=("@",))
    assert h.controller.run_once().ok
    assert [(c.method, c.status) for c in cf.calls] == [
        ("GET", 200),
        ("GET", 200),
        ("PATCH", 400),
        ("GET", 200),
        ("PATCH", 200),
    ]
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]


def test_already_exists_forever_is_bounded(cf: CloudflareEmulator, harness: HarnessF) -> None:
    err = envelope((81057, "Record already exists."))
    cf.sw.inject += [("POST", 400, err, {})] * 5
    h = harness(cf, STATIC, records=("@",))
    res = h.controller.run_once()
    assert not res.ok and "81057" in res.errors[0]
    assert methods(cf) == ["GET"] + ["GET", "POST"] * 3  # three rounds, then give up
    assert cf.snapshot() == []


def test_api_error_text_never_echoes_the_token(cf: CloudflareEmulator, harness: HarnessF) -> None:
    cf.sw.inject.append((None, 400, envelope((9999, "bad request from good-token")), {}))
    h = harness(cf, STATIC)
    res = h.controller.run_once()
    assert res.errors and all("good-token" not in e for e in res.errors)
    assert "bad request from ***" in res.errors[0]


# -- zone lookup -------------------------------------------------------------------------
def test_token_without_zone_read_needs_zone_id(cf: CloudflareEmulator, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    h = harness(cf, STATIC, token="dns-only")
    res = h.controller.run_once()
    assert res.auth_failed and "--zone-id" in res.errors[0]
    assert methods(cf) == ["GET"]
    cf.reset_calls()
    h2 = harness(cf, STATIC, token="dns-only", zone_id=cf.zone_id)
    assert h2.controller.run_once().ok
    assert methods(cf) == ["GET", "PATCH", "GET", "POST"]  # no zone lookup at all
    assert not any(c.path.endswith("/zones") for c in cf.calls)


def test_a_wrong_zone_id_is_named_in_the_error(cf: CloudflareEmulator, harness: HarnessF) -> None:
    h = harness(cf, STATIC, records=("@",), zone_id="0" * 32)
    res = h.controller.run_once()
    assert not res.ok and f"zone id {'0' * 32}" in res.errors[0]
    assert methods(cf) == ["GET"] and cf.snapshot() == []


def test_zone_lookup_ignores_other_zones_and_case(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    other = {"id": "f" * 32, "name": f"{ZONE}.evil", "status": "active"}
    pending = {"id": "e" * 32, "name": ZONE.upper() + ".", "status": "deleted"}
    mine = {"id": cf.zone_id, "name": ZONE.upper(), "status": "active"}
    cf.sw.inject.append(
        ("GET", 200, {"success": True, "errors": [], "result": [other, pending, mine]}, {})
    )
    h = harness(cf, STATIC, records=("@",))
    assert h.controller.run_once().ok
    assert cf.calls[1].path == f"/client/v4/zones/{cf.zone_id}/dns_records"


def test_503_with_retry_after_waits_it(cf: CloudflareEmulator, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_NEW, comment=OWNER)
    cf.sw.inject.append(("GET", 503, "Service Unavailable", {"Retry-After": "12"}))
    h = harness(cf, STATIC, records=("@",))
    assert h.controller.run_once().ok
    assert h.sleeps == [12.0]
    assert [c.status for c in cf.calls] == [503, 200, 200]


def test_an_envelope_without_success_but_with_a_result_is_accepted(
    cf: CloudflareEmulator, harness: HarnessF
) -> None:
    cf.add(ZONE, "A", IP_NEW, comment=OWNER)
    zone = {"id": cf.zone_id, "name": ZONE, "status": "active"}
    cf.sw.inject.append(("GET", 200, {"result": [zone]}, {}))
    h = harness(cf, STATIC, records=("@",))
    assert h.controller.run_once().ok
    assert methods(cf) == ["GET", "GET"]
