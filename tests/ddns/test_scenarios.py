"""The issue's scenarios against the emulator: final records AND exact API call counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import IP6_NEW, IP6_OLD, IP_NEW, IP_OLD, OWNER, ZONE, Harness, doh, plain, trace
from .emulator import CloudflareEmulator, IPServer

HarnessF = Callable[..., Harness]
IPF = Callable[..., IPServer]
WILD = f"*.{ZONE}"


def two_agreeing(ip_server: IPF, answer: str = IP_NEW, host: str = "127.0.0.1") -> list[str]:
    a, b = ip_server(answer, host), ip_server(answer, host)
    return [trace(a), doh(b)]


def test_steady_state_one_list_per_name_and_type_zero_writes(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    cf.add(ZONE, "A", IP_NEW, comment=OWNER)
    cf.add(WILD, "A", IP_NEW, comment=OWNER)
    before = cf.snapshot()
    h = harness(cf, two_agreeing(ip_server))
    first = h.controller.run_once()
    assert first.ok
    assert cf.count() == 3  # zone lookup + one list per name
    cf.reset_calls()
    second = h.controller.run_once()
    assert second.ok
    assert cf.count() == 2 and cf.count("GET", "records") == 2  # steady state: lists only
    assert [c.query["name.exact"] for c in cf.calls] == [ZONE, WILD]
    assert all(c.query["type"] == "A" for c in cf.calls)
    assert cf.snapshot() == before
    assert [r.state for r in second.records] == ["ok", "ok"]


def test_address_change_updates_in_place(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    id_apex = cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    id_wild = cf.add(WILD, "A", IP_OLD, comment=OWNER)
    h = harness(cf, two_agreeing(ip_server))
    res = h.controller.run_once()
    assert res.ok
    assert cf.snapshot() == [(WILD, "A", IP_NEW, OWNER), (ZONE, "A", IP_NEW, OWNER)]
    assert set(cf.records) == {id_apex, id_wild}  # same records, updated in place
    assert cf.count() == 5 and cf.count("PATCH") == 2
    assert h.controller.metrics.changes.labels(action="update")._value.get() == 2


def test_zero_records_creates_with_owner_comment(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    h = harness(cf, two_agreeing(ip_server))
    res = h.controller.run_once()
    assert res.ok
    assert cf.snapshot() == [(WILD, "A", IP_NEW, OWNER), (ZONE, "A", IP_NEW, OWNER)]
    assert all(r["ttl"] == 1 and r["proxied"] is False for r in cf.records.values())
    assert cf.count() == 5 and cf.count("POST") == 2


def test_duplicates_updated_then_deleted_across_pages(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    cf.sw.max_per_page = 2  # force pagination: 3 records on 2 pages
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.add(ZONE, "A", "81.2.69.7", comment=OWNER)
    cf.add(ZONE, "A", "81.2.69.8", comment=OWNER)
    h = harness(cf, two_agreeing(ip_server), records=("@",))
    res = h.controller.run_once()
    assert res.ok
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]
    methods = [c.method for c in cf.calls]
    # zone, list page 1, list page 2, update, then the two deletes after the update.
    assert methods == ["GET", "GET", "GET", "PATCH", "DELETE", "DELETE"]
    assert [c.query.get("page") for c in cf.calls[1:3]] == ["1", "2"]


def test_foreign_record_is_never_touched_and_reported(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    foreign = cf.add(ZONE, "A", IP_OLD)  # no owner comment
    cf.add(WILD, "A", IP_NEW, comment="hand-made")  # foreign but already right
    h = harness(cf, two_agreeing(ip_server))
    res = h.controller.run_once()
    assert not res.ok  # DNS still answers the foreign, wrong address for the apex
    assert any("without the owner comment" in e and foreign in e for e in res.errors)
    assert cf.snapshot() == [
        (WILD, "A", IP_NEW, "hand-made"),
        (ZONE, "A", IP_OLD, None),
        (ZONE, "A", IP_NEW, OWNER),
    ]
    # zone + list @ + create @ + list * (the foreign wildcard is right: nothing to add)
    assert [c.method for c in cf.calls] == ["GET", "GET", "POST", "GET"]
    assert h.controller.metrics.foreign._value.get() == 2


def test_429_waits_retry_after(cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.rate_limit_next = 1
    cf.sw.retry_after = 1
    h = harness(cf, two_agreeing(ip_server), records=("@",))
    res = h.controller.run_once()
    assert res.ok
    assert h.sleeps == [1.0]
    assert [(c.method, c.status) for c in cf.calls] == [
        ("GET", 429),
        ("GET", 200),
        ("GET", 200),
        ("PATCH", 200),
    ]
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]


def test_5xx_storm_bounded_retries_then_recovery(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    cf.sw.fail_next = 6
    h = harness(cf, two_agreeing(ip_server), records=("@",), attempts=4)
    first = h.controller.run_once()
    assert not first.ok and "giving up after 4 attempts" in first.errors[0]
    assert cf.count() == 4  # bounded: 4 attempts at the zone lookup, nothing else
    assert cf.snapshot() == [(ZONE, "A", IP_OLD, OWNER)]
    # Backoff between attempts only: none after the last one.
    assert len(h.sleeps) == 3 and all(0 <= s <= 0.01 * 2**i for i, s in enumerate(h.sleeps))
    assert h.controller.consecutive_failures == 1
    cf.reset_calls()
    second = h.controller.run_once()  # 2 more failures, then the storm is over
    assert second.ok
    assert [c.status for c in cf.calls] == [503, 503, 200, 200, 200]
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]
    assert h.controller.consecutive_failures == 0


def test_create_applied_but_timed_out_lists_before_retrying(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    cf.sw.hang_after_create = 1.5
    h = harness(cf, two_agreeing(ip_server), records=("@",), timeout=0.5)
    res = h.controller.run_once()
    assert res.ok
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]  # exactly one record, no duplicate
    assert [c.method for c in cf.calls] == ["GET", "GET", "POST", "GET"]
    assert (
        h.controller.metrics.api_requests.labels(
            endpoint="dns_records.create", code="timeout"
        )._value.get()
        == 1
    )


def test_81057_lists_and_reconciles(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    cf.sw.exists_next_create = True
    h = harness(cf, two_agreeing(ip_server), records=("@",))
    res = h.controller.run_once()
    assert res.ok
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]
    assert [(c.method, c.status) for c in cf.calls] == [
        ("GET", 200),
        ("GET", 200),
        ("POST", 400),
        ("GET", 200),
    ]


def test_providers_disagreeing_change_nothing(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF
) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    a, b = ip_server(IP_NEW), ip_server("81.2.69.99")
    h = harness(cf, [trace(a), doh(b)])
    res = h.controller.run_once()
    assert not res.ok and "disagree" in res.errors[0]
    assert cf.count() == 0
    assert cf.snapshot() == [(ZONE, "A", IP_OLD, OWNER)]


@pytest.mark.parametrize(
    ("answer", "html", "outcome"),
    [
        ("", True, "invalid"),
        ("10.0.0.1", False, "rejected"),
        ("100.64.0.1", False, "rejected"),
        ("104.16.0.1", False, "rejected"),
    ],
)
def test_bad_provider_answers_are_rejected(
    cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF, answer: str, html: bool, outcome: str
) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    bad = ip_server(answer, html=html)
    good = ip_server(IP_NEW)
    # Alone with one good provider: no second valid answer, so nothing changes.
    h = harness(cf, [plain(bad), trace(good)], records=("@",))
    res = h.controller.run_once()
    assert not res.ok and res.addresses == {"ipv4": None}
    assert cf.count() == 0
    assert cf.snapshot() == [(ZONE, "A", IP_OLD, OWNER)]
    assert h.controller.metrics.detections.labels(provider="url", outcome=outcome)._value.get() == 1
    # With two good providers after it, the bad answer is skipped and the good ones agree.
    h2 = harness(cf, [plain(bad), trace(good), doh(ip_server(IP_NEW))], records=("@",))
    res2 = h2.controller.run_once()
    assert res2.ok
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]
    assert cf.count() == 3  # zone, list, update


def test_revoked_token(cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    h = harness(cf, two_agreeing(ip_server), token="revoked")
    res = h.controller.run_once()
    assert not res.ok and res.auth_failed
    assert res.errors == [
        f"Cloudflare token lacks Zone.DNS edit on {ZONE} (zones.list: 9109: Invalid access token)"
    ]
    assert cf.count() == 1
    assert cf.snapshot() == [(ZONE, "A", IP_OLD, OWNER)]
    assert h.controller.ready() == (False, res.errors[0])
    # It keeps running: the next cycle tries again (one call) and stays not ready.
    h.controller.run_once()
    assert cf.count() == 2 and h.controller.consecutive_failures == 2


def test_read_only_token_10000(cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF) -> None:
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)
    h = harness(cf, two_agreeing(ip_server), token="read-token")
    res = h.controller.run_once()
    assert res.auth_failed and "lacks Zone.DNS edit on example.com" in res.errors[0]
    assert "10000" in res.errors[0]
    assert [(c.method, c.status) for c in cf.calls] == [("GET", 200), ("GET", 200), ("PATCH", 403)]
    assert cf.snapshot() == [(ZONE, "A", IP_OLD, OWNER)]
    assert not h.controller.ready()[0]


def test_ipv6_only(cf: CloudflareEmulator, ip_server: IPF, harness: HarnessF) -> None:
    cf.add(ZONE, "AAAA", IP6_OLD, comment=OWNER)
    cf.add(ZONE, "A", IP_OLD, comment=OWNER)  # A records are not managed: untouched
    h = harness(cf, two_agreeing(ip_server, IP6_NEW, "::1"), families=("ipv6",))
    res = h.controller.run_once()
    assert res.ok and res.addresses == {"ipv6": IP6_NEW}
    assert cf.snapshot() == [
        (WILD, "AAAA", IP6_NEW, OWNER),
        (ZONE, "A", IP_OLD, OWNER),
        (ZONE, "AAAA", IP6_NEW, OWNER),
    ]
    assert all(c.query.get("type", "AAAA") == "AAAA" for c in cf.calls)
    assert [c.method for c in cf.calls] == ["GET", "GET", "PATCH", "GET", "POST"]
