"""A stand-in for the Authentik server (the one part of the flow that cannot run here).

It speaks the embedded outpost's Traefik forward-auth contract, as documented by authentik
(``/outpost.goauthentik.io/auth/traefik``): Traefik sends the original request's headers
(``Cookie`` included) plus ``X-Forwarded-Host/-Uri/-Proto/-Method``;

* without a session cookie the outpost answers ``302`` to the auth host's start URL
  (``https://auth.<domain>/outpost.goauthentik.io/start?rd=<original URL>``);
* with one it answers ``200`` with the ``X-authentik-*`` identity headers, which Traefik
  copies onto the request to the backend.

Every other path answers like the Authentik UI (the public ``auth.<domain>`` route's
backend). Each forward-auth call is recorded, so a test can tell which hosts asked.
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUTH_PATH = "/outpost.goauthentik.io/auth/traefik"
SESSION_COOKIE = "authentik_proxy_homeport"
SESSION_VALUE = "valid-test-session"
IDENTITY = {
    "X-authentik-username": "akadmin",
    "X-authentik-groups": "homeport-admins",
    "X-authentik-email": "admin@example.com",
    "X-authentik-name": "Admin",
    "X-authentik-uid": "0123456789abcdef",
}


@dataclass
class AuthCall:
    """One forward-auth request as the outpost saw it."""

    host: str
    uri: str
    proto: str
    authenticated: bool


@dataclass
class Outpost:
    """The stand-in server; ``calls`` lists forward-auth requests in arrival order."""

    auth_host: str
    address: str
    port: int = 80
    calls: list[AuthCall] = field(default_factory=list)

    def start(self) -> Outpost:
        """Listen on ``address:port`` (in the current network namespace) in a thread."""
        outpost = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if path == AUTH_PATH:
                    outpost._auth(self)
                else:
                    body = b"<html><title>authentik</title>login</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self._server = ThreadingHTTPServer((self.address, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _auth(self, req: BaseHTTPRequestHandler) -> None:
        host = req.headers.get("X-Forwarded-Host", "")
        uri = req.headers.get("X-Forwarded-Uri", "/")
        proto = req.headers.get("X-Forwarded-Proto", "https")
        cookies = req.headers.get("Cookie", "")
        ok = f"{SESSION_COOKIE}={SESSION_VALUE}" in [c.strip() for c in cookies.split(";")]
        self.calls.append(AuthCall(host, uri, proto, ok))
        if ok:
            req.send_response(200)
            for name, value in IDENTITY.items():
                req.send_header(name, value)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        rd = urllib.parse.quote(f"{proto}://{host}{uri}", safe="")
        req.send_response(302)
        req.send_header(
            "Location", f"https://{self.auth_host}/outpost.goauthentik.io/start?rd={rd}"
        )
        req.send_header("Content-Length", "0")
        req.end_headers()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
