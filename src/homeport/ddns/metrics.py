"""Prometheus metrics of the DDNS controller (prefix ``homeport_ddns_``).

Each controller has its own registry, so several can live in one process (tests, bench).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

METRIC_NAMES = (
    "homeport_ddns_detections_total",
    "homeport_ddns_address_info",
    "homeport_ddns_api_requests_total",
    "homeport_ddns_record_changes_total",
    "homeport_ddns_foreign_records",
    "homeport_ddns_cycles_total",
    "homeport_ddns_last_run_timestamp_seconds",
    "homeport_ddns_last_success_timestamp_seconds",
    "homeport_ddns_consecutive_failures",
    "homeport_ddns_ready",
)


class DdnsMetrics:
    """The controller's metrics in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.detections = Counter(
            "homeport_ddns_detections",
            "Address detections by provider and outcome (ok, error, invalid, rejected).",
            ["provider", "outcome"],
            registry=r,
        )
        self.address = Gauge(
            "homeport_ddns_address_info",
            "The current agreed public address per family (value is always 1).",
            ["family", "address"],
            registry=r,
        )
        self.api_requests = Counter(
            "homeport_ddns_api_requests",
            "Cloudflare API requests by endpoint and result code (HTTP status, timeout, error).",
            ["endpoint", "code"],
            registry=r,
        )
        self.changes = Counter(
            "homeport_ddns_record_changes",
            "Records created, updated and deleted.",
            ["action"],
            registry=r,
        )
        self.foreign = Gauge(
            "homeport_ddns_foreign_records",
            "Records on managed names without the owner comment (never touched).",
            registry=r,
        )
        self.cycles = Counter(
            "homeport_ddns_cycles",
            "Reconcile cycles by result (success, failure).",
            ["result"],
            registry=r,
        )
        self.last_run = Gauge(
            "homeport_ddns_last_run_timestamp_seconds",
            "Unix time the last cycle ended.",
            registry=r,
        )
        self.last_success = Gauge(
            "homeport_ddns_last_success_timestamp_seconds",
            "Unix time of the last cycle that left DNS right (0 before the first).",
            registry=r,
        )
        self.consecutive_failures = Gauge(
            "homeport_ddns_consecutive_failures",
            "Failed cycles since the last success.",
            registry=r,
        )
        self.ready = Gauge("homeport_ddns_ready", "1 when the controller is ready.", registry=r)
        for action in ("create", "update", "delete"):
            self.changes.labels(action=action)
        self.cycles.labels(result="success")
        self.cycles.labels(result="failure")
        self._addresses: dict[str, str] = {}

    def set_address(self, family: str, address: str | None) -> None:
        """Expose ``address`` as the family's current address (None keeps the last one)."""
        if address is None:
            return
        old = self._addresses.get(family)
        if old == address:
            return
        if old is not None:
            self.address.remove(family, old)
        self.address.labels(family=family, address=address).set(1)
        self._addresses[family] = address

    def exposition(self) -> bytes:
        """Return the text exposition format."""
        return generate_latest(self.registry)
