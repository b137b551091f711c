"""A small Cloudflare v4 client for DNS records, with the fault handling DDNS needs.

* 429: wait ``Retry-After`` (bounded), then retry.
* 5xx and timeouts on reads, updates and deletes: bounded retries with jittered backoff.
* 5xx or a timeout on a create: :class:`UncertainWrite` (Cloudflare may have applied it);
  the caller lists again before deciding to retry.
* 9109/10000 (and 401/403): :class:`AuthError`, which the controller reports as a token
  without Zone.DNS edit on the zone.

The token only ever travels in the Authorization header; no message contains it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from homeport.ddns.providers import tls_context

AUTH_CODES = frozenset({9109, 10000})
EXISTS_CODES = frozenset({81057, 81058})
_PER_PAGE = 100
_MAX_PAGES = 50


@dataclass(frozen=True)
class DnsRecord:
    """One DNS record as Cloudflare returns it (the fields DDNS cares about)."""

    id: str
    name: str
    type: str
    content: str
    proxied: bool
    ttl: int
    comment: str | None

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> DnsRecord:
        """Build from an API ``result`` entry."""
        return cls(
            id=str(obj["id"]),
            name=str(obj["name"]),
            type=str(obj["type"]),
            content=str(obj.get("content", "")),
            proxied=bool(obj.get("proxied", False)),
            ttl=int(obj.get("ttl", 1)),
            comment=obj.get("comment") or None,
        )


class ApiError(Exception):
    """The API refused a request or could not be reached.

    Attributes:
        status: HTTP status (0 when no answer arrived).
        codes: Cloudflare error codes from the envelope.
    """

    def __init__(self, message: str, status: int = 0, codes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes


class AuthError(ApiError):
    """The token is invalid or lacks permission (9109, 10000, 401, 403)."""


class UncertainWrite(ApiError):
    """A create got no clear answer (timeout or 5xx); it may have been applied."""


@dataclass
class RetryPolicy:
    """Bounds for retries.

    Attributes:
        attempts: Most attempts per request (including the first).
        backoff: First backoff in seconds; doubled each retry, with full jitter.
        max_retry_after: Longest ``Retry-After`` honoured, in seconds.
    """

    attempts: int = 4
    backoff: float = 1.0
    max_retry_after: float = 300.0


class CloudflareClient:
    """Cloudflare DNS-records API over one pooled httpx client."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        on_request: Callable[[str, str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base = api_url.rstrip("/")
        self._http = httpx.Client(
            timeout=timeout,
            verify=tls_context(),
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": "homeport-ddns",
                "Content-Type": "application/json",
            },
            trust_env=False,
        )
        self._retry = retry or RetryPolicy()
        self._on_request = on_request
        self._sleep = sleep

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------
    def _note(self, endpoint: str, code: str) -> None:
        if self._on_request:
            self._on_request(endpoint, code)

    def _backoff(self, attempt: int) -> None:
        self._sleep(random.uniform(0, self._retry.backoff * (2**attempt)))

    def _call(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: dict[str, str | int] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        last = "no attempt made"
        for attempt in range(self._retry.attempts):
            try:
                resp = self._http.request(method, self._base + path, params=params, json=body)
            except httpx.TimeoutException as exc:
                self._note(endpoint, "timeout")
                last = "timed out"
                # A connect or pool timeout means nothing was sent; any other may have been applied.
                sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
                if not idempotent and sent:
                    raise UncertainWrite(
                        f"{endpoint}: timed out; it may have been applied"
                    ) from None
                self._backoff(attempt)
                continue
            except httpx.HTTPError as exc:
                self._note(endpoint, "error")
                last = f"{type(exc).__name__}"
                if not idempotent and not isinstance(exc, httpx.ConnectError):
                    raise UncertainWrite(f"{endpoint}: {last}; it may have been applied") from None
                self._backoff(attempt)
                continue
            self._note(endpoint, str(resp.status_code))
            if resp.status_code == 429:
                last = "rate limited (429)"
                self._sleep(self._retry_after(resp))
                continue
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                if not idempotent:
                    raise UncertainWrite(
                        f"{endpoint}: HTTP {resp.status_code}; it may have been applied",
                        resp.status_code,
                    )
                self._backoff(attempt)
                continue
            return self._envelope(resp, endpoint)
        raise ApiError(f"{endpoint}: giving up after {self._retry.attempts} attempts ({last})")

    def _retry_after(self, resp: httpx.Response) -> float:
        raw = resp.headers.get("Retry-After", "")
        try:
            wait = float(raw)
        except ValueError:
            wait = 1.0
        return min(max(wait, 0.0), self._retry.max_retry_after)

    @staticmethod
    def _envelope(resp: httpx.Response, endpoint: str) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ApiError(
                f"{endpoint}: HTTP {resp.status_code} without a JSON envelope", resp.status_code
            )
        errors = data.get("errors") or []
        codes = tuple(int(e.get("code", 0)) for e in errors if isinstance(e, dict))
        if data.get("success") is True and resp.status_code < 400:
            return data
        text = (
            "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
            or f"HTTP {resp.status_code}"
        )
        if AUTH_CODES.intersection(codes) or resp.status_code in (401, 403):
            raise AuthError(f"{endpoint}: {text}", resp.status_code, codes)
        raise ApiError(f"{endpoint}: {text}", resp.status_code, codes)

    # -- operations -------------------------------------------------------------------
    def zone_id(self, zone: str) -> str:
        """Return the ID of a zone by name.

        Raises:
            ApiError: The zone is not visible to the token, or the API failed.
        """
        data = self._call("GET", "/zones", "zones.list", params={"name": zone, "per_page": 5})
        for z in data.get("result") or []:
            if isinstance(z, dict) and z.get("name") == zone:
                return str(z["id"])
        raise AuthError(f'zone "{zone}" is not visible to the token (needs Zone.Zone read on it)')

    def list_records(self, zone_id: str, name: str, rtype: str) -> list[DnsRecord]:
        """List the records of one name and type (every page).

        Args:
            zone_id: Zone ID.
            name: Fully-qualified record name.
            rtype: A or AAAA.

        Returns:
            The records, in the API's order.
        """
        out: list[DnsRecord] = []
        page = 1
        while page <= _MAX_PAGES:
            data = self._call(
                "GET",
                f"/zones/{zone_id}/dns_records",
                "dns_records.list",
                # `name` (classic) and `name.exact` (current docs) mean the same exact match.
                params={
                    "name": name,
                    "name.exact": name,
                    "type": rtype,
                    "page": page,
                    "per_page": _PER_PAGE,
                },
            )
            # Never trust the filter alone: a record of another name or type must not be
            # mistaken for a duplicate and deleted.
            out += [
                rec
                for rec in (DnsRecord.from_api(r) for r in data.get("result") or [])
                if rec.name.lower().rstrip(".") == name.lower().rstrip(".") and rec.type == rtype
            ]
            info = data.get("result_info") or {}
            if page >= int(info.get("total_pages", 1) or 1):
                break
            page += 1
        return out

    def create(
        self,
        zone_id: str,
        *,
        name: str,
        rtype: str,
        content: str,
        ttl: int,
        proxied: bool,
        comment: str,
    ) -> DnsRecord:
        """Create a record. Raises :class:`UncertainWrite` when the outcome is unknown."""
        body = {
            "name": name,
            "type": rtype,
            "content": content,
            "ttl": ttl,
            "proxied": proxied,
            "comment": comment,
        }
        data = self._call(
            "POST",
            f"/zones/{zone_id}/dns_records",
            "dns_records.create",
            body=body,
            idempotent=False,
        )
        return DnsRecord.from_api(data["result"])

    def update(
        self, zone_id: str, record_id: str, *, content: str, ttl: int, proxied: bool
    ) -> DnsRecord:
        """Update a record's content, TTL and proxying in place (PATCH)."""
        data = self._call(
            "PATCH",
            f"/zones/{zone_id}/dns_records/{record_id}",
            "dns_records.update",
            body={"content": content, "ttl": ttl, "proxied": proxied},
        )
        return DnsRecord.from_api(data["result"])

    def delete(self, zone_id: str, record_id: str) -> None:
        """Delete a record; a record already gone counts as deleted."""
        try:
            self._call("DELETE", f"/zones/{zone_id}/dns_records/{record_id}", "dns_records.delete")
        except ApiError as exc:
            if exc.status == 404 or 81044 in exc.codes:
                return
            raise
