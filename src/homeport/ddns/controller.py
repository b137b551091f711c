"""One reconcile cycle, and the loop that repeats it until SIGTERM."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from homeport.ddns import logs
from homeport.ddns.addresses import RECORD_TYPE, Family
from homeport.ddns.cloudflare import (
    ROUTE_CODES,
    ApiError,
    AuthError,
    CloudflareClient,
    RetryPolicy,
)
from homeport.ddns.metrics import DdnsMetrics
from homeport.ddns.options import STATUS_CONFIGMAP, DdnsOptions
from homeport.ddns.providers import PinnedHTTP, Provider, build_providers, detect, tls_context
from homeport.ddns.reconcile import Desired, RecordState, reconcile
from homeport.ddns.server import HealthServer
from homeport.ddns.status import Publisher, publisher_for, status_document
from homeport.errors import HomeportError

log = logging.getLogger(logs.LOGGER_NAME)


class DdnsFailed(HomeportError):
    """DNS could not be made right in this cycle (exit code 1); one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems or ["DNS could not be made right"]
        super().__init__(self.problems[0])

    def lines(self) -> list[str]:
        """Return one line per problem."""
        return list(self.problems)


@dataclass
class CycleResult:
    """What one cycle found and did.

    Attributes:
        ok: DNS is right (or was made right) for every managed name and type.
        addresses: Agreed address per managed family (None when detection failed).
        records: Per-record states.
        errors: Problems, one line each (empty when ok).
        auth_failed: The token was refused (9109/10000/401/403).
    """

    ok: bool
    addresses: dict[str, str | None] = field(default_factory=dict)
    records: list[RecordState] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    auth_failed: bool = False


class Controller:
    """Detect, reconcile, report; one instance per process (or per test)."""

    def __init__(
        self,
        opts: DdnsOptions,
        token: str,
        *,
        providers: Sequence[Provider] | None = None,
        retry: RetryPolicy | None = None,
        publisher: Publisher | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.opts = opts
        self.metrics = DdnsMetrics()
        self._pinned = PinnedHTTP(timeout=opts.timeout)
        self.providers = (
            list(providers)
            if providers is not None
            else build_providers(opts.providers, self._pinned)
        )
        self.client = CloudflareClient(
            opts.api_url,
            token,
            timeout=opts.timeout,
            retry=retry,
            on_request=self._on_request,
            sleep=sleep,
            clock=clock,
        )
        self.publisher = publisher
        self._zone_id: str | None = opts.zone_id
        self.last_success: float | None = None
        self.consecutive_failures = 0
        self.last_result: CycleResult | None = None
        self._heartbeat = time.time()
        self._looping = False

    # -- callbacks --------------------------------------------------------------------
    def _on_request(self, endpoint: str, code: str) -> None:
        self.metrics.api_requests.labels(endpoint=endpoint, code=code).inc()

    def _on_detection(self, provider: str, outcome: str) -> None:
        self.metrics.detections.labels(provider=provider, outcome=outcome).inc()

    def _on_change(self, action: str) -> None:
        self.metrics.changes.labels(action=action).inc()

    # -- probes -----------------------------------------------------------------------
    def healthy(self) -> tuple[bool, str]:
        """Liveness: the loop is still cycling (a stuck loop gets restarted)."""
        if not self._looping:
            return True, "ok"
        late = time.time() - self._heartbeat
        limit = self.opts.interval + 900
        return (late < limit, "ok" if late < limit else f"no cycle for {int(late)}s")

    def ready(self) -> tuple[bool, str]:
        """Readiness: DNS was made right at least once and the token is accepted."""
        r = self.last_result
        if r is not None and r.auth_failed:
            return False, r.errors[0] if r.errors else "token refused"
        if self.last_success is None:
            return False, "no successful cycle yet"
        return True, "ok"

    # -- one cycle --------------------------------------------------------------------
    def run_once(self, dry_run: bool = False) -> CycleResult:
        """Detect the addresses and reconcile every managed (name, type) once.

        Args:
            dry_run: Plan without writing.

        Returns:
            The cycle's result; it never raises for API or network errors.
        """
        self._heartbeat = time.time()
        opts = self.opts
        result = CycleResult(ok=False)
        addresses: dict[Family, str] = {}
        for fam in opts.families:
            d = detect(self.providers, fam, self._on_detection)
            result.addresses[fam] = d.address
            if d.address is None:
                result.errors.append(d.reason)
                log.warning(
                    "detection failed; DNS left unchanged",
                    extra={"family": fam, "reason": d.reason},
                )
            else:
                addresses[fam] = d.address
                self.metrics.set_address(fam, d.address)
        if addresses:
            self._reconcile_all(addresses, result, dry_run)
        result.ok = not result.errors
        self._finish(result, dry_run)
        return result

    def _reconcile_all(
        self, addresses: dict[Family, str], result: CycleResult, dry_run: bool
    ) -> None:
        opts = self.opts
        try:
            if self._zone_id is None:
                self._zone_id = self.client.zone_id(opts.zone)
            zone_id = self._zone_id
            for name in opts.records:
                for fam in opts.families:
                    if fam not in addresses:
                        continue
                    want = Desired(
                        name=name,
                        type=RECORD_TYPE[fam],
                        content=addresses[fam],
                        ttl=opts.ttl,
                        proxied=opts.proxied,
                        owner=opts.owner_comment,
                    )
                    try:
                        out = reconcile(
                            self.client,
                            zone_id,
                            want,
                            dry_run=dry_run,
                            on_change=self._on_change,
                        )
                    except AuthError:
                        raise
                    except ApiError as exc:
                        where = f"{want.type} {name}"
                        if ROUTE_CODES.intersection(exc.codes) or exc.status == 404:
                            # The zone ID no longer routes (zone re-added?): look it up again
                            # next cycle, unless the user pinned it with --zone-id.
                            self._zone_id = opts.zone_id
                            if opts.zone_id:
                                where += f" (zone id {opts.zone_id})"
                        result.errors.append(f"{where}: {exc}")
                        result.records.append(RecordState(name, want.type, "", "failed"))
                        continue
                    result.records += out.records
                    if out.error:
                        result.errors.append(out.error)
                    for r in out.records:
                        if r.state not in ("ok", "foreign"):
                            log.info(
                                f"record {r.state}",
                                extra={"record": r.name, "type": r.type, "content": r.content},
                            )
        except AuthError as exc:
            result.auth_failed = True
            result.errors.append(f"Cloudflare token lacks Zone.DNS edit on {opts.zone} ({exc})")
        except ApiError as exc:
            result.errors.append(str(exc))

    def _finish(self, result: CycleResult, dry_run: bool) -> None:
        now = time.time()
        self._heartbeat = now
        self.last_result = result
        m = self.metrics
        if result.ok:
            self.consecutive_failures = 0
            if not dry_run:
                self.last_success = now
                m.last_success.set(now)
            m.cycles.labels(result="success").inc()
        else:
            self.consecutive_failures += 1
            m.cycles.labels(result="failure").inc()
            for e in result.errors:
                log.error("cycle failed", extra={"error": e})
        m.consecutive_failures.set(self.consecutive_failures)
        m.last_run.set(now)
        m.foreign.set(sum(1 for r in result.records if r.state == "foreign"))
        m.ready.set(1 if self.ready()[0] else 0)
        if dry_run:
            return
        if self.publisher is not None:
            self.publisher.publish(
                status_document(
                    last_run=now,
                    last_success=self.last_success,
                    addresses=dict(result.addresses),
                    records=result.records,
                    last_error=result.errors[0] if result.errors else None,
                    consecutive_failures=self.consecutive_failures,
                )
            )
        self._ping(result)

    def _ping(self, result: CycleResult) -> None:
        targets: list[tuple[str, dict[str, str]]] = []
        hc = self.opts.healthchecks_url
        if hc:
            targets.append((hc.rstrip("/") + ("" if result.ok else "/fail"), {}))
        kuma = self.opts.uptime_kuma_url
        if kuma:
            msg = "OK" if result.ok else (result.errors[0][:200] if result.errors else "failed")
            targets.append((kuma, {"status": "up" if result.ok else "down", "msg": msg}))
        for url, params in targets:
            try:
                with httpx.Client(timeout=10.0, trust_env=False, verify=tls_context()) as c:
                    c.get(url, params=params or None)
            except httpx.HTTPError as exc:
                log.warning("ping failed", extra={"error": type(exc).__name__})

    # -- the loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Cycle every ``interval`` seconds until ``stop`` is set; never exits on errors.

        Args:
            stop: Set it (e.g. from a SIGTERM handler) to end the loop after the current cycle.
        """
        self._looping = True
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except Exception:  # a bug in one cycle must not kill the controller
                    log.exception("unexpected error in cycle")
                    self.consecutive_failures += 1
                    self.metrics.consecutive_failures.set(self.consecutive_failures)
                stop.wait(self.opts.interval)
        finally:
            self._looping = False

    def close(self) -> None:
        """Release HTTP connections."""
        self.client.close()
        self._pinned.close()
        for p in self.providers:
            p.close()


def serve(controller: Controller, stop: threading.Event) -> None:
    """Run the loop with the metrics/health server; return when ``stop`` is set.

    Args:
        controller: The controller.
        stop: The stop event (set by SIGTERM/SIGINT handlers in the CLI).
    """
    server = HealthServer(
        controller.opts.listen,
        controller.metrics.exposition,
        controller.healthy,
        controller.ready,
    )
    server.start()
    log.info(
        "ddns controller started",
        extra={
            "zone": controller.opts.zone,
            "records": list(controller.opts.records),
            "families": list(controller.opts.families),
            "interval": controller.opts.interval,
            "listen": f"{controller.opts.listen[0]}:{server.port}",
        },
    )
    try:
        controller.run(stop)
    finally:
        server.stop()
        controller.close()
        log.info("ddns controller stopped")


def make_publisher(opts: DdnsOptions) -> Publisher | None:
    """The status publisher for these options (None outside a cluster without a ConfigMap)."""
    return publisher_for(opts.status_configmap, opts.status_namespace, STATUS_CONFIGMAP)
