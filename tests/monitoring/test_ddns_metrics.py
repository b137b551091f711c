"""The DDNS metric list is checked against the controller's real /metrics endpoint."""

from __future__ import annotations

import re

import httpx

from homeport.ddns.metrics import DdnsMetrics
from homeport.ddns.server import HealthServer
from homeport.platform import monitoring


def test_ddns_metrics_are_exposed_by_the_controller() -> None:
    metrics = DdnsMetrics()
    # Labelled series appear once set: give the address gauge and API counter a value.
    metrics.set_address("ipv4", "203.0.113.7")
    metrics.api_requests.labels(endpoint="dns_records", code="200").inc()
    server = HealthServer(
        ("127.0.0.1", 0), metrics.exposition, lambda: (True, "ok"), lambda: (True, "ok")
    )
    server.start()
    try:
        resp = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
    finally:
        server.stop()
    assert resp.status_code == 200
    exposed = {
        m.group(1)
        for line in resp.text.splitlines()
        if line
        and not line.startswith("#")
        and (m := re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)", line))
    }
    _, listed = monitoring.METRIC_SOURCES["ddns"]
    assert set(listed) <= exposed, sorted(set(listed) - exposed)
    # The rule the ddns module renders reads an exposed metric too.
    assert "homeport_ddns_consecutive_failures" in exposed
