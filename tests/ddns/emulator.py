"""A Cloudflare v4 DNS-records API emulator and IP-provider servers, on loopback HTTP.

The emulator speaks the documented wire format: the v4 envelope
``{success, errors, messages, result, result_info}``, page/per_page pagination, the
``name``/``name.exact``/``type``/``content`` filters, record fields including ``comment``,
and the error codes DDNS must handle (81057, 81058, 9109, 10000, 429 + Retry-After).
Switches inject delays, 5xx storms, rate limits and a create that is applied but answered
too late (a client timeout).

For DNS-01 (tests/certs) it also stores TXT records (any text up to 2048 characters), knows a
token scoped to another zone (``/zones`` lists nothing, record calls answer 403), records
every change with the token that made it (:attr:`CloudflareEmulator.changes`), calls
``on_change`` after each change (to mirror ``_acme-challenge`` TXT records into a DNS
server), and serves connections handed to it by a TLS-terminating proxy
(:meth:`CloudflareEmulator.serve_connection`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_PREFIX = "/client/v4"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    status: int = 0
    token: str = ""


@dataclass(frozen=True)
class Change:
    """A record change the API applied: create, update or delete, and by which token."""

    op: str
    name: str
    type: str
    content: str
    token: str


@dataclass
class Switches:
    delay: float = 0.0  # seconds added to every answer
    fail_next: int = 0  # answer the next N requests with fail_status
    fail_status: int = 503
    rate_limit_next: int = 0  # answer the next N requests with 429
    retry_after: int = 1
    hang_after_create: float = 0.0  # apply the next create, then answer this late
    exists_next_create: bool = False  # apply the next create, answer 81057
    max_per_page: int = 5_000_000
    # Which list filters the server honours: "both" (name.exact, else name), "none",
    # "name" (only the classic `name`), "name.exact" (only the current form). "none" also
    # ignores `type`, like a server that ignores every filter.
    filters: str = "both"
    # result_info shape: "full", "missing" (no result_info), "no-total-pages",
    # "no-totals" (page/per_page/count only), "stale-total-pages" (always says 1 page).
    result_info: str = "full"
    ignore_page: bool = False  # always answer the first page
    omit_null_comment: bool = False  # leave `comment` out of records that have none
    comment_limit: int = 0  # store comments cut to this many characters (0: no limit)
    proxied_ttl: str = "auto"  # proxied records: "auto" (stored as ttl 1) or "reject" ttl != 1
    expand_ipv6: bool = False  # answer AAAA content in the full, uncompressed form
    upper_names: bool = False  # answer names in upper case with a trailing dot
    vanish_on_update: bool = False  # someone deletes the record just before our update
    no_patch: bool = False  # answer PATCH with 405 (PUT only)
    # Canned answers for the next matching requests: (method or None, status, body, headers);
    # body is an envelope dict, raw text (sent as text/html) or "DROP" (close, no answer).
    inject: list[tuple[str | None, int, Any, dict[str, str]]] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _V6Server(_Server):
    address_family = socket.AF_INET6


class CloudflareEmulator:
    """In-memory zone data served over HTTP on 127.0.0.1."""

    def __init__(self, zone: str = "example.com") -> None:
        self.zone = zone
        self.zone_id = uuid.uuid5(uuid.NAMESPACE_DNS, zone).hex
        self.records: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {
            "good-token": "edit",
            "read-token": "read",
            "revoked": "revoked",
            # Zone.DNS edit without Zone.Zone read: /zones answers an empty list.
            "dns-only": "dns-only",
            # Zone.DNS edit and Zone.Zone read on some other zone: this one is invisible.
            "other-zone": "other-zone",
        }
        self.changes: list[Change] = []
        # Called (under the emulator's lock, before the API answers) after every change.
        self.on_change: Callable[[CloudflareEmulator, Change], None] | None = None
        self._token = threading.local()
        self.calls: list[Call] = []
        self.sw = Switches()
        self._lock = threading.Lock()
        self._seq = 0
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                emu._handle(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{API_PREFIX}"

    def start(self) -> CloudflareEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test helpers ------------------------------------------------------------
    def add(
        self,
        name: str,
        rtype: str,
        content: str,
        *,
        comment: str | None = None,
        ttl: int = 1,
        proxied: bool = False,
    ) -> str:
        with self._lock:
            return self._insert(
                {
                    "name": name,
                    "type": rtype,
                    "content": content,
                    "comment": comment,
                    "ttl": ttl,
                    "proxied": proxied,
                }
            )

    def snapshot(self) -> list[tuple[str, str, str, str | None]]:
        """Records as sorted (name, type, content, comment) tuples."""
        with self._lock:
            return sorted(
                (r["name"], r["type"], r["content"], r["comment"]) for r in self.records.values()
            )

    def count(self, method: str | None = None, kind: str | None = None) -> int:
        """Number of API calls received, optionally of one method / endpoint kind."""
        out = 0
        for c in list(self.calls):
            k = "zones" if c.path.endswith("/zones") else "records"
            if (method is None or c.method == method) and (kind is None or k == kind):
                out += 1
        return out

    def reset_calls(self) -> None:
        self.calls.clear()

    def records_named(self, name: str, rtype: str) -> list[str]:
        """Contents of the records with this name and type (call from ``on_change``)."""
        return sorted(
            r["content"] for r in self.records.values() if r["name"] == name and r["type"] == rtype
        )

    def serve_connection(self, sock: socket.socket) -> None:
        """Serve HTTP on an accepted (e.g. TLS-wrapped) connection, in a new thread."""
        self._server.process_request(sock, sock.getpeername())

    def _changed(self, op: str, rec: dict[str, Any]) -> None:
        token = getattr(self._token, "value", "")
        change = Change(op, rec["name"], rec["type"], rec["content"], token)
        self.changes.append(change)
        if self.on_change is not None:
            self.on_change(self, change)

    # -- internals ---------------------------------------------------------------
    def _insert(self, body: dict[str, Any]) -> str:
        self._seq += 1
        rid = f"{self._seq:032x}"
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        name = body["name"]
        self.records[rid] = {
            "id": rid,
            "zone_id": self.zone_id,
            "zone_name": self.zone,
            "name": name,
            "type": body["type"],
            "content": body["content"],
            "proxiable": True,
            "proxied": bool(body.get("proxied", False)),
            "ttl": 1 if body.get("proxied") else int(body.get("ttl", 1)),
            "comment": self._comment(body.get("comment")),
            "tags": [],
            "settings": {},
            "meta": {},
            "created_on": now,
            "modified_on": now,
        }
        return rid

    def _comment(self, comment: Any) -> Any:
        if isinstance(comment, str) and self.sw.comment_limit:
            return comment[: self.sw.comment_limit]
        return comment

    def _ttl_error(self, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        if self.sw.proxied_ttl == "reject" and body.get("proxied") and body.get("ttl", 1) != 1:
            return [{"code": 9104, "message": "TTL of a proxied record must be 1 (automatic)"}]
        return None

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        extra: dict[str, str] | None = None,
    ) -> None:
        if payload == "DROP":  # a network error: the connection closes without an answer
            h.close_connection = True
            return
        raw = isinstance(payload, str)
        data = payload.encode() if raw else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/html" if raw else "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            h.wfile.write(data)

    @staticmethod
    def _env(
        result: Any = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        info: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        env: dict[str, Any] = {
            "success": not errors,
            "errors": errors or [],
            "messages": [],
            "result": result,
        }
        if info is not None:
            env["result_info"] = info
        return env

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        call = Call(h.command, parts.path, query, body)
        self.calls.append(call)
        status, payload, headers, after = self._route(h, call)
        call.status = status
        if self.sw.delay:
            time.sleep(self.sw.delay)
        if after:
            time.sleep(after)
        self._send(h, status, payload, headers)

    def _route(
        self, h: BaseHTTPRequestHandler, call: Call
    ) -> tuple[int, Any, dict[str, str] | None, float]:
        sw = self.sw
        with self._lock:
            for i, (method, status, body, headers) in enumerate(sw.inject):
                if method is None or method == call.method:
                    del sw.inject[i]
                    return status, body, headers, 0.0
            if sw.rate_limit_next > 0:
                sw.rate_limit_next -= 1
                err = [
                    {
                        "code": 971,
                        "message": "Please wait and consider throttling your request speed",
                    }
                ]
                return 429, self._env(errors=err), {"Retry-After": str(sw.retry_after)}, 0.0
            if sw.fail_next > 0:
                sw.fail_next -= 1
                return (
                    sw.fail_status,
                    self._env(errors=[{"code": 10013, "message": "upstream error"}]),
                    None,
                    0.0,
                )
            auth = h.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
            perm = self.tokens.get(token)
            call.token = self._token.value = token
            if perm is None or perm == "revoked":
                return (
                    403,
                    self._env(errors=[{"code": 9109, "message": "Invalid access token"}]),
                    None,
                    0.0,
                )
            path = call.path.removeprefix(API_PREFIX)
            segs = [s for s in path.split("/") if s]
            if segs == ["zones"] and call.method == "GET":
                result = [{"id": self.zone_id, "name": self.zone, "status": "active"}]
                if call.query.get("name") not in (None, self.zone) or perm in (
                    "dns-only",
                    "other-zone",
                ):
                    result = []
                info = {
                    "page": 1,
                    "per_page": 20,
                    "count": len(result),
                    "total_count": len(result),
                    "total_pages": 1,
                }
                return 200, self._env(result, info=info), None, 0.0
            if len(segs) < 3 or segs[0] != "zones" or segs[2] != "dns_records":
                return (
                    404,
                    self._env(errors=[{"code": 7003, "message": "Could not route to " + path}]),
                    None,
                    0.0,
                )
            if segs[1] != self.zone_id:
                return (
                    404,
                    self._env(errors=[{"code": 7003, "message": "Could not route to zone"}]),
                    None,
                    0.0,
                )
            if perm == "other-zone" or (call.method != "GET" and perm not in ("edit", "dns-only")):
                return (
                    403,
                    self._env(errors=[{"code": 10000, "message": "Authentication error"}]),
                    None,
                    0.0,
                )
            if len(segs) == 3 and call.method == "GET":
                return self._list(call.query)
            if len(segs) == 3 and call.method == "POST":
                return self._create(call.body or {})
            if len(segs) == 4:
                return self._one(call.method, segs[3], call.body or {})
            return (
                405,
                self._env(errors=[{"code": 10405, "message": "Method not allowed"}]),
                None,
                0.0,
            )

    def _view(self, rec: dict[str, Any]) -> dict[str, Any]:
        """A record as the API answers it, shaped by the switches."""
        out = dict(rec)
        if self.sw.omit_null_comment and out.get("comment") is None:
            out.pop("comment", None)
        if self.sw.expand_ipv6 and out["type"] == "AAAA":
            out["content"] = ipaddress.IPv6Address(out["content"]).exploded
        if self.sw.upper_names:
            out["name"] = out["name"].upper() + "."
        return out

    def _list(self, q: dict[str, str]) -> tuple[int, dict[str, Any], None, float]:
        recs = list(self.records.values())
        mode = self.sw.filters
        name = {
            "both": q.get("name.exact", q.get("name")),
            "name": q.get("name"),
            "name.exact": q.get("name.exact"),
            "none": None,
        }[mode]
        if name is not None:
            recs = [r for r in recs if r["name"] == name.lower()]
        if "type" in q and mode != "none":
            recs = [r for r in recs if r["type"] == q["type"]]
        content = q.get("content.exact", q.get("content"))
        if content is not None and mode != "none":
            recs = [r for r in recs if r["content"] == content]
        if "comment.exact" in q and mode != "none":
            recs = [r for r in recs if (r["comment"] or "").lower() == q["comment.exact"].lower()]
        page = 1 if self.sw.ignore_page else max(1, int(q.get("page", 1)))
        per_page = min(max(5, int(q.get("per_page", 100))), self.sw.max_per_page)
        total = len(recs)
        pages = max(1, -(-total // per_page))
        chunk = [self._view(r) for r in recs[(page - 1) * per_page : page * per_page]]
        info: dict[str, int] | None = {
            "page": page,
            "per_page": per_page,
            "count": len(chunk),
            "total_count": total,
            "total_pages": pages,
        }
        shape = self.sw.result_info
        if shape == "missing":
            info = None
        elif info is not None and shape in ("no-total-pages", "no-totals"):
            del info["total_pages"]
            if shape == "no-totals":
                del info["total_count"]
        elif info is not None and shape == "stale-total-pages":
            info["total_pages"] = 1
        return 200, self._env(chunk, info=info), None, 0.0

    def _validate(
        self, rtype: str, content: str, name: str, comment: Any
    ) -> list[dict[str, Any]] | None:
        if not (name == self.zone or name.endswith("." + self.zone)):
            return [{"code": 9005, "message": "Content for A record must be inside the zone"}]
        if rtype == "TXT":
            if not content or len(content) > 2048:
                return [{"code": 9021, "message": "Content for TXT record is invalid."}]
            return None
        try:
            addr = ipaddress.ip_address(content)
        except ValueError:
            return [
                {
                    "code": 9005,
                    "message": f"Content for {rtype} record is invalid. Must be a valid IP address",
                }
            ]
        if (rtype == "A") != (addr.version == 4):
            return [{"code": 9005, "message": f"Content for {rtype} record is invalid."}]
        if comment is not None and len(str(comment)) > 100:
            return [{"code": 9102, "message": "comment is too long"}]
        return None

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], None, float]:
        name = str(body.get("name", "")).lower()
        rtype = str(body.get("type", ""))
        content = str(body.get("content", ""))
        errs = self._validate(rtype, content, name, body.get("comment")) or self._ttl_error(body)
        if errs:
            return 400, self._env(errors=errs), None, 0.0
        same = [r for r in self.records.values() if r["name"] == name and r["type"] == rtype]
        if any(r["content"] == content for r in same):
            return (
                400,
                self._env(
                    errors=[{"code": 81058, "message": "An identical record already exists."}]
                ),
                None,
                0.0,
            )
        rid = self._insert({**body, "name": name})
        self._changed("create", self.records[rid])
        if self.sw.exists_next_create:
            self.sw.exists_next_create = False
            return (
                400,
                self._env(errors=[{"code": 81057, "message": "Record already exists."}]),
                None,
                0.0,
            )
        hang = self.sw.hang_after_create
        self.sw.hang_after_create = 0.0
        return 200, self._env(self._view(self.records[rid])), None, hang

    def _one(
        self, method: str, rid: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], None, float]:
        rec = self.records.get(rid)
        if rec is None:
            return (
                404,
                self._env(errors=[{"code": 81044, "message": "Record does not exist."}]),
                None,
                0.0,
            )
        if method == "GET":
            return 200, self._env(self._view(rec)), None, 0.0
        if method == "DELETE":
            del self.records[rid]
            self._changed("delete", rec)
            return 200, self._env({"id": rid}), None, 0.0
        if method == "PATCH" and self.sw.no_patch:
            return (
                405,
                self._env(errors=[{"code": 10405, "message": "Method not allowed"}]),
                None,
                0.0,
            )
        if method in ("PATCH", "PUT"):
            if self.sw.vanish_on_update:
                self.sw.vanish_on_update = False
                del self.records[rid]
                return (
                    404,
                    self._env(errors=[{"code": 81044, "message": "Record does not exist."}]),
                    None,
                    0.0,
                )
            if method == "PATCH":
                merged = {**rec, **body}
            else:  # PUT overwrites: what the body leaves out takes its default
                merged = {
                    **rec,
                    "ttl": 1,
                    "proxied": False,
                    "comment": None,
                    "tags": [],
                    **body,
                }
            errs = self._validate(
                merged["type"], merged["content"], merged["name"], merged.get("comment")
            ) or self._ttl_error(merged)
            if errs:
                return 400, self._env(errors=errs), None, 0.0
            twin = [
                r
                for r in self.records.values()
                if r["id"] != rid
                and r["name"] == merged["name"]
                and r["type"] == merged["type"]
                and r["content"] == merged["content"]
            ]
            if twin:
                err = [{"code": 81058, "message": "An identical record already exists."}]
                return 400, self._env(errors=err), None, 0.0
            for k in ("content", "ttl", "proxied", "comment", "tags"):
                rec[k] = merged[k]
            rec["comment"] = self._comment(rec["comment"])
            if rec["proxied"]:
                rec["ttl"] = 1
            rec["modified_on"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
            self._changed("update", rec)
            return 200, self._env(self._view(rec)), None, 0.0
        return 405, self._env(errors=[{"code": 10405, "message": "Method not allowed"}]), None, 0.0


def _doh_answer(query: bytes, text: str) -> bytes:
    """Build a DNS response with one TXT answer (name compressed to the question)."""
    ident = struct.unpack("!H", query[:2])[0]
    pos = 12
    while query[pos] != 0:
        pos += 1 + query[pos]
    question = query[12 : pos + 5]
    qtype, qclass = struct.unpack("!HH", query[pos + 1 : pos + 5])
    payload = text.encode()
    rdata = bytes([len(payload)]) + payload
    header = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0)
    answer = struct.pack("!HHHIH", 0xC00C, qtype, qclass, 0, len(rdata)) + rdata
    return header + question + answer


class IPServer:
    """An IP provider on loopback: trace (``/cdn-cgi/trace``), DoH (``/dns-query``) and plain text.

    ``answer`` is what it says our address is; ``html=True`` makes it answer an HTML page.
    """

    def __init__(self, answer: str, host: str = "127.0.0.1", html: bool = False) -> None:
        self.answer = answer
        self.html = html
        self.trace_host: str | None = None  # answer h= for this host instead of the one asked
        self.hits = 0
        srv = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def _reply(self, status: int, ctype: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                srv.hits += 1
                if srv.html:
                    self._reply(
                        200, "text/html", b"<html><body><h1>Welcome to nginx!</h1></body></html>"
                    )
                elif self.path.startswith("/cdn-cgi/trace"):
                    asked = urlsplit("//" + self.headers.get("Host", "")).hostname or ""
                    host = srv.trace_host or asked
                    lines = (
                        f"fl=123f45\nh={host}\nip={srv.answer}\nts=1700000000.000\n"
                        "visit_scheme=https\nuag=homeport-ddns\ncolo=FRA\nhttp=http/1.1\n"
                        "loc=DE\ntls=TLSv1.3\nwarp=off\n"
                    )
                    self._reply(200, "text/plain", lines.encode())
                else:
                    self._reply(200, "text/plain", (srv.answer + "\n").encode())

            def do_POST(self) -> None:
                srv.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                query = self.rfile.read(length)
                if self.path.startswith("/dns-query") and not srv.html:
                    self._reply(200, "application/dns-message", _doh_answer(query, srv.answer))
                else:
                    self._reply(404, "text/plain", b"not found")

            def log_message(self, format: str, *args: object) -> None:
                return

        cls = _V6Server if ":" in host else _Server
        self._server = cls((host, 0), Handler)
        self._host = f"[{host}]" if ":" in host else host
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> IPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
