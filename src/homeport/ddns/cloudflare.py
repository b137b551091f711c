"""A small Cloudflare v4 client for DNS records, with the fault handling DDNS needs.

* 429: wait ``Retry-After`` (seconds or an HTTP date; bounded), then retry.
* 5xx (JSON or not), timeouts and connection errors on reads, updates and deletes:
  bounded retries with jittered backoff.
* 5xx or a timeout on a create: :class:`UncertainWrite` (Cloudflare may have applied it);
  the caller lists again before deciding to retry.
* 401/403, and the codes 9109/10000/10001/9103/6003/1000 (also inside ``error_chain``):
  :class:`AuthError`, which the controller reports as a token without Zone.DNS edit.
* A 2xx answer only counts with a JSON envelope whose ``success`` is not false.

Listing never trusts the server's filters or pagination metadata: it sends ``name``,
``name.exact`` and ``type``, keeps only records of exactly that name and type, and walks
pages until the metadata (``total_pages``, ``total_count`` or a short page) says it is done,
stopping on an empty or repeated page.

The token only ever travels in the Authorization header; no message contains it.
"""

from __future__ import annotations

import email.utils
import ipaddress
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from homeport.ddns.providers import tls_context

# 9109 invalid/unauthorised token, 10000 authentication error, 10001 unable to authenticate,
# 9103 unknown auth key, 6003 invalid request headers (a malformed token), 1000 invalid token.
AUTH_CODES = frozenset({9109, 10000, 10001, 9103, 6003, 6103, 6111, 1000})
EXISTS_CODES = frozenset({81057, 81058})
NOT_FOUND_CODES = frozenset({81044})
ROUTE_CODES = frozenset({7000, 7003})
_PER_PAGE = 100
_MAX_PAGES = 100
_ZONE_PER_PAGE = 50


def same_name(a: str, b: str) -> bool:
    """Whether two DNS names are equal (case and a trailing dot do not matter)."""
    return a.strip().rstrip(".").lower() == b.strip().rstrip(".").lower()


def same_address(a: str, b: str) -> bool:
    """Whether two record contents name the same address (``2001:db8::1`` = expanded form)."""
    if a == b:
        return True
    try:
        return ipaddress.ip_address(a.strip()) == ipaddress.ip_address(b.strip())
    except ValueError:
        return a.strip().lower() == b.strip().lower()


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
    tags: tuple[str, ...] = field(default=())

    @classmethod
    def from_api(cls, obj: Any) -> DnsRecord:
        """Build from an API ``result`` entry.

        Raises:
            ApiError: The entry lacks an id, name or type (never guess about a record).
        """
        if not isinstance(obj, dict) or not all(obj.get(k) for k in ("id", "name", "type")):
            raise ApiError("dns_records: the API answered a record without id, name or type")
        comment = obj.get("comment")
        tags = obj.get("tags")
        try:
            ttl = int(obj.get("ttl") or 1)
        except (TypeError, ValueError):
            ttl = 1
        return cls(
            id=str(obj["id"]),
            name=str(obj["name"]),
            type=str(obj["type"]).upper(),
            content=str(obj.get("content") or ""),
            proxied=obj.get("proxied") is True,
            ttl=ttl,
            comment=comment.strip() or None if isinstance(comment, str) else None,
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        )


class ApiError(Exception):
    """The API refused a request or could not be reached.

    Attributes:
        status: HTTP status (0 when no answer arrived).
        codes: Cloudflare error codes from the envelope (including ``error_chain``).
    """

    def __init__(self, message: str, status: int = 0, codes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes


class AuthError(ApiError):
    """The token is invalid or lacks permission (401, 403, 9109, 10000, ...)."""


class UncertainWrite(ApiError):
    """A create got no clear answer (timeout or 5xx); it may have been applied."""


@dataclass
class RetryPolicy:
    """Bounds for retries.

    Attributes:
        attempts: Most attempts per request (including the first).
        backoff: First backoff in seconds; doubled each retry, with full jitter.
        max_retry_after: Longest ``Retry-After`` honoured, in seconds (Cloudflare blocks
            for up to five minutes after the global limit).
        default_retry_after: Wait after a 429 without a usable ``Retry-After``.
    """

    attempts: int = 4
    backoff: float = 1.0
    max_retry_after: float = 300.0
    default_retry_after: float = 5.0


def _codes(errors: Any) -> tuple[int, ...]:
    """Every error code of an envelope's ``errors``, including nested ``error_chain``s."""
    out: list[int] = []
    stack = list(errors) if isinstance(errors, list) else []
    while stack:
        e = stack.pop(0)
        if not isinstance(e, dict):
            continue
        code = _int(e.get("code"))
        if code is not None:
            out.append(code)
        chain = e.get("error_chain")
        if isinstance(chain, list):
            stack += chain
    return tuple(out)


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base = api_url.rstrip("/")
        self._token = token
        self._http = httpx.Client(
            timeout=timeout,
            verify=tls_context(),
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": "homeport-ddns",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            trust_env=False,
        )
        self._retry = retry or RetryPolicy()
        self._on_request = on_request
        self._sleep = sleep
        self._clock = clock
        self._use_put = False  # set when the server answers PATCH with 405

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------
    def _note(self, endpoint: str, code: str) -> None:
        if self._on_request:
            self._on_request(endpoint, code)

    def _backoff(self, attempt: int) -> None:
        # No pause after the last attempt: nothing follows it.
        if attempt + 1 < self._retry.attempts:
            self._sleep(random.uniform(0, self._retry.backoff * (2**attempt)))

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

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
                if attempt + 1 < self._retry.attempts:
                    self._sleep(self._retry_after(resp))
                continue
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                if not idempotent:
                    raise UncertainWrite(
                        f"{endpoint}: HTTP {resp.status_code}; it may have been applied",
                        resp.status_code,
                    )
                if "Retry-After" in resp.headers and attempt + 1 < self._retry.attempts:
                    self._sleep(self._retry_after(resp))  # e.g. 503 during maintenance
                else:
                    self._backoff(attempt)
                continue
            return self._envelope(resp, endpoint)
        raise ApiError(f"{endpoint}: giving up after {self._retry.attempts} attempts ({last})")

    def _retry_after(self, resp: httpx.Response) -> float:
        """Seconds to wait: ``Retry-After`` as delta-seconds or as an HTTP date (RFC 9110)."""
        raw = resp.headers.get("Retry-After", "").strip()
        wait: float | None = None
        if raw:
            try:
                wait = float(raw)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(raw)
                except (TypeError, ValueError, IndexError):
                    when = None
                if when is not None:
                    wait = when.timestamp() - self._clock()
        if wait is None or wait != wait:  # missing, unparsable or NaN
            wait = self._retry.default_retry_after
        return min(max(wait, 0.0), self._retry.max_retry_after)

    def _envelope(self, resp: httpx.Response, endpoint: str) -> dict[str, Any]:
        status = resp.status_code
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            cls = AuthError if status in (401, 403) else ApiError
            raise cls(f"{endpoint}: HTTP {status} without a JSON envelope", status)
        errors = data.get("errors") or []
        codes = _codes(errors)
        if data.get("success") is not False and status < 300 and not codes:
            return data
        text = "; ".join(
            f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)
        ) or (f"HTTP {status}" if status >= 300 else f"HTTP {status} with success: false")
        text = self._redact(text)[:500]
        if AUTH_CODES.intersection(codes) or status in (401, 403):
            raise AuthError(f"{endpoint}: {text}", status, codes)
        raise ApiError(f"{endpoint}: {text}", status, codes)

    def _pages(
        self, path: str, endpoint: str, params: dict[str, str | int], per_page: int
    ) -> Iterator[dict[str, Any]]:
        """Every result object of a paginated list, walking pages defensively.

        More pages are fetched while ``total_pages`` or ``total_count`` says so, or, when
        the server gives neither, while pages come back full. An empty page, or one with
        nothing new (a server that ignores ``page``), ends the walk.

        Raises:
            ApiError: The listing did not end within the page limit.
        """
        seen: set[str] = set()
        for page in range(1, _MAX_PAGES + 1):
            data = self._call(
                "GET", path, endpoint, params={**params, "page": page, "per_page": per_page}
            )
            result = data.get("result")
            items = result if isinstance(result, list) else []
            fresh = [o for o in items if not (isinstance(o, dict) and str(o.get("id")) in seen)]
            yield from fresh
            seen.update(str(o.get("id")) for o in fresh if isinstance(o, dict))
            if not fresh:
                return
            info = data.get("result_info")
            info = info if isinstance(info, dict) else {}
            total_pages = _int(info.get("total_pages"))
            total_count = _int(info.get("total_count"))
            size = _int(info.get("per_page")) or per_page
            more = (total_pages is not None and page < total_pages) or (
                total_count is not None and len(seen) < total_count
            )
            if total_pages is None and total_count is None:
                more = len(items) >= size
            if not more:
                return
        raise ApiError(f"{endpoint}: the listing did not end after {_MAX_PAGES} pages")

    # -- operations -------------------------------------------------------------------
    def zone_id(self, zone: str) -> str:
        """Return the ID of a zone by name.

        Raises:
            AuthError: The zone is not visible to the token.
            ApiError: The API failed.
        """
        found: list[tuple[str, str]] = []
        for z in self._pages("/zones", "zones.list", {"name": zone}, _ZONE_PER_PAGE):
            if isinstance(z, dict) and z.get("id") and same_name(str(z.get("name", "")), zone):
                found.append((str(z["id"]), str(z.get("status") or "active")))
        usable = [zid for zid, status in found if status == "active"] or [
            zid for zid, status in found if status != "deleted"
        ]
        if len(set(usable)) > 1:
            raise ApiError(
                f'zone "{zone}": the token sees {len(usable)} zones of that name; '
                "pick one with --zone-id"
            )
        if usable:
            return usable[0]
        raise AuthError(
            f'zone "{zone}" is not visible to the token (it needs Zone.Zone read on the zone, '
            "or give --zone-id)"
        )

    def list_records(self, zone_id: str, name: str, rtype: str) -> list[DnsRecord]:
        """List the records of one name and type (every page).

        Args:
            zone_id: Zone ID.
            name: Fully-qualified record name.
            rtype: A or AAAA.

        Returns:
            The records, in the API's order, of exactly this name and type.
        """
        # `name` (classic) and `name.exact` (current docs) mean the same exact match; a
        # server honouring either, both or neither gives the same answer after the check
        # below, which keeps a record of another name or type from being taken for ours.
        params: dict[str, str | int] = {
            "name": name,
            "name.exact": name,
            "type": rtype,
            "match": "all",
        }
        out: list[DnsRecord] = []
        for obj in self._pages(
            f"/zones/{zone_id}/dns_records", "dns_records.list", params, _PER_PAGE
        ):
            rec = DnsRecord.from_api(obj)
            if same_name(rec.name, name) and rec.type == rtype.upper():
                out.append(rec)
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
    ) -> DnsRecord | None:
        """Create a record. Raises :class:`UncertainWrite` when the outcome is unknown.

        Returns:
            The record as created (None when the server answered no record object).
        """
        body = {
            "name": name,
            "type": rtype,
            "content": content,
            "ttl": 1 if proxied else ttl,
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
        result = data.get("result")
        return DnsRecord.from_api(result) if isinstance(result, dict) and result.get("id") else None

    def update(
        self, zone_id: str, record: DnsRecord, *, content: str, ttl: int, proxied: bool
    ) -> None:
        """Update a record's content, TTL and proxying in place.

        PATCH changes only these fields (comment and tags stay). A server that answers PATCH
        with 405 gets a PUT (overwrite) carrying the record's name, type, comment and tags.
        Proxied records always get TTL 1: Cloudflare keeps them automatic.
        """
        path = f"/zones/{zone_id}/dns_records/{record.id}"
        fields = {"content": content, "ttl": 1 if proxied else ttl, "proxied": proxied}
        if not self._use_put:
            try:
                self._call("PATCH", path, "dns_records.update", body=fields)
                return
            except ApiError as exc:
                if exc.status != 405:
                    raise
                self._use_put = True
        full: dict[str, Any] = {"name": record.name, "type": record.type, **fields}
        if record.comment is not None:
            full["comment"] = record.comment
        if record.tags:
            full["tags"] = list(record.tags)
        self._call("PUT", path, "dns_records.update", body=full)

    def delete(self, zone_id: str, record_id: str) -> None:
        """Delete a record; a record already gone counts as deleted."""
        try:
            self._call("DELETE", f"/zones/{zone_id}/dns_records/{record_id}", "dns_records.delete")
        except AuthError:
            raise
        except ApiError as exc:
            gone = NOT_FOUND_CODES.intersection(exc.codes) or (
                exc.status == 404 and not ROUTE_CODES.intersection(exc.codes)
            )
            if gone:
                return
            raise


def _int(value: Any) -> int | None:
    """An integer from pagination metadata, or None when absent or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
