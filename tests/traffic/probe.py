"""Plain HTTP(S) probes of Traefik at the test address, with SNI and the Host header of a URL.

Independent of ``homeport doctor`` on purpose: the test checks doctor against these.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .outpost import SESSION_COOKIE, SESSION_VALUE

if TYPE_CHECKING:
    from .platform import Flow


@dataclass
class Response:
    """What one request got back."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    cert_der: bytes | None


def fetch(
    flow: Flow,
    url: str,
    *,
    session: bool = False,
    headers: dict[str, str] | None = None,
    verify: bool = True,
) -> Response:
    """GET ``url`` from Traefik at the flow's address (never following redirects)."""
    u = urllib.parse.urlsplit(url)
    host = u.hostname or ""
    https = u.scheme == "https"
    port = u.port or (443 if https else 80)
    hdrs = {"Host": host, **(headers or {})}
    if session:
        hdrs["Cookie"] = f"{SESSION_COOKIE}={SESSION_VALUE}"
    with flow.ns.inside():
        sock = socket.create_connection((flow.address, port), timeout=10)
        cert = None
        if https:
            ctx = ssl.create_default_context(cadata=flow.ca.pem.decode())
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=host)
            cert = sock.getpeercert(binary_form=True)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.sock = sock
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        conn.request("GET", path, headers=hdrs)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
    return Response(resp.status, resp.headers, body, cert)
