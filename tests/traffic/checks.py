"""The traffic-flow probes, each returning the problems it found (empty: all good).

Returning problems instead of asserting lets the negative controls prove that each probe
fails when the platform is broken in the way it guards against.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from cryptography import x509

from homeport.platform import traefik

from .platform import Flow
from .probe import fetch

PATH = "/some/path?q=1&x=y"
SPOOFED = {
    "X-authentik-username": "mallory",
    "X-authentik-groups": "admins",
    "X-authentik-jwt": "forged",
    "X-authentik-not-listed": "forged",
}

# Traefik log lines that are expected, each with the reason. Anything else at ERR/WRN
# level is a finding about homeport's objects (or the test setup) and fails the suite.
EXPECTED_LOG = {
    # Printed at every start whatever the configuration (cmd/traefik/traefik.go, runCmd).
    r"WRN Traefik can reject some encoded characters in the request path": "unconditional",
    # homeport's routes use the forward-auth Middleware in `pangolin` by design, which
    # needs providers.kubernetesCRD.allowCrossNamespace (docs/sso.md); Traefik says so.
    r"WRN Cross-namespace reference between IngressRoutes and resources is enabled": "by design",
    # The module zip carries no built web UI (webui/static is a placeholder): the
    # dashboard API answers, its HTML page does not (../shared/upstream/README.md).
    r"ERR Error appending dashboard to API router .*`index\.html`": "no web UI in the module",
}


def served_cert(flow: Flow, host: str) -> x509.Certificate:
    """The certificate Traefik serves for ``host`` (unverified: may be expired or foreign)."""
    r = fetch(flow, f"https://{host}/", verify=False)
    assert r.cert_der is not None
    return x509.load_der_x509_certificate(r.cert_der)


def hosts(flow: Flow) -> list[str]:
    """Every route host."""
    return sorted([*flow.sso_hosts, *flow.public_hosts])


def redirect_problems(flow: Flow) -> list[str]:
    """HTTP must answer 301/308 to the same path and query on HTTPS, for every host."""
    out = []
    for h in hosts(flow):
        r = fetch(flow, f"http://{h}{PATH}")
        want = f"https://{h}{PATH}"
        if r.status not in (301, 308) or r.headers.get("Location") != want:
            out.append(f"{h}: HTTP answered {r.status} {r.headers.get('Location')!r}")
    return out


def tls_problems(flow: Flow) -> list[str]:
    """HTTPS serves the wildcard certificate of the default TLSStore, covering the host."""
    secret = flow.kube.get("v1", "Secret", traefik.WILDCARD_SECRET, traefik.NAMESPACE)
    assert secret is not None
    import base64

    want = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    out = []
    for h in hosts(flow):
        try:
            r = fetch(flow, f"https://{h}/", session=True)
        except OSError as exc:  # ssl.SSLError included: untrusted or wrong name
            out.append(f"{h}: TLS failed: {exc}")
            continue
        assert r.cert_der is not None
        cert = x509.load_der_x509_certificate(r.cert_der)
        if cert.fingerprint(cert.signature_hash_algorithm) != want.fingerprint(  # type: ignore[arg-type]
            want.signature_hash_algorithm  # type: ignore[arg-type]
        ):
            out.append(f"{h}: served {cert.subject.rfc4514_string()}, not the wildcard Secret")
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = sans.get_values_for_type(x509.DNSName)
        if h not in names and f"*.{h.split('.', 1)[1]}" not in names:
            out.append(f"{h}: not in SAN {names}")
    return out


def header_problems(flow: Flow) -> list[str]:
    """HSTS, nosniff and frame-deny on every host's answer (anonymous and with a session)."""
    out = []
    for h in hosts(flow):
        for session in (False, True):
            r = fetch(flow, f"https://{h}/", session=session)
            hsts = r.headers.get("Strict-Transport-Security", "")
            if "max-age=31536000" not in hsts:
                out.append(f"{h} (session={session}): HSTS {hsts!r}")
            if r.headers.get("X-Content-Type-Options") != "nosniff":
                out.append(f"{h} (session={session}): no nosniff")
            if r.headers.get("X-Frame-Options") != "DENY":
                out.append(f"{h} (session={session}): no frame-deny")
    return out


def public_problems(flow: Flow) -> list[str]:
    """Public hosts reach their backend and make no forward-auth call."""
    out = []
    for h in flow.public_hosts:
        before = len(flow.outpost.calls)
        r = fetch(flow, f"https://{h}/api")
        if r.status != 200:
            out.append(f"{h}: answered {r.status}")
        asked = [c for c in flow.outpost.calls[before:] if c.host == h]
        if asked:
            out.append(f"{h}: public host made {len(asked)} forward-auth call(s)")
    return out


def sso_problems(flow: Flow) -> list[str]:
    """SSO hosts: anonymous -> the auth host's start URL; with a session -> the backend,
    with the outpost's identity headers and none of the client's spoofed ones."""
    out = []
    auth = f"auth.{flow.cfg.domain}"
    for h in flow.sso_hosts:
        r = fetch(flow, f"https://{h}{PATH}", headers=SPOOFED)
        loc = urllib.parse.urlsplit(r.headers.get("Location", ""))
        rd = urllib.parse.parse_qs(loc.query).get("rd", [""])[0]
        if r.status != 302 or loc.hostname != auth or rd != f"https://{h}{PATH}":
            out.append(f"{h}: anonymous got {r.status} {r.headers.get('Location')!r}")
        if not any(c.host == h and not c.authenticated for c in flow.outpost.calls):
            out.append(f"{h}: no forward-auth call seen")
        if h == f"traefik.{flow.cfg.domain}":
            # api@internal: the dashboard's API answers with a session.
            r = fetch(flow, f"https://{h}/api/overview", session=True, headers=SPOOFED)
            if r.status != 200 or "http" not in json.loads(r.body):
                out.append(f"{h}: with a session got {r.status}")
            continue
        r = fetch(flow, f"https://{h}/api", session=True, headers=SPOOFED)
        if r.status != 200:
            out.append(f"{h}: with a session got {r.status}")
            continue
        seen = {k.lower(): v for k, v in json.loads(r.body)["headers"].items()}
        if seen.get("x-authentik-username") != ["akadmin"]:
            out.append(f"{h}: backend saw username {seen.get('x-authentik-username')}")
        for k in ("x-authentik-jwt", "x-authentik-not-listed"):
            if k in seen:
                out.append(f"{h}: spoofed {k} reached the backend: {seen[k]}")
        if "mallory" in json.dumps(seen) or "forged" in json.dumps(seen):
            out.append(f"{h}: a spoofed X-authentik-* value reached the backend")
    return out


def unknown_host_problems(flow: Flow) -> list[str]:
    """A host no route names answers 404."""
    r = fetch(flow, f"https://nothing-here.{flow.cfg.domain}/", verify=True)
    return [] if r.status == 404 else [f"unknown host answered {r.status}"]


def api_problems(flow: Flow) -> list[str]:
    """Traefik's API lists a router per rendered route, enabled, and every server up."""
    out = []
    try:
        routers = flow.api_routers()
    except RuntimeError as exc:  # the dashboard route itself is broken
        return [str(exc)]
    by_rule = {r.get("rule"): r for r in routers if r.get("provider") == "kubernetescrd"}
    for route in flow.routes:
        for rule in route["spec"]["routes"]:
            r = by_rule.get(rule["match"])
            if r is None:
                out.append(f"no router for {rule['match']}")
            elif r.get("status") != "enabled" or r.get("error"):
                out.append(f"router {r['name']}: {r.get('status')} {r.get('error')}")
    extra = set(by_rule) - {rule["match"] for ro in flow.routes for rule in ro["spec"]["routes"]}
    if extra:
        out.append(f"routers not from the rendered tree: {sorted(map(str, extra))}")
    resp = fetch(flow, f"https://traefik.{flow.cfg.domain}/api/http/services", session=True)
    for svc in json.loads(resp.body):
        if svc.get("provider") != "kubernetescrd":
            continue
        if svc.get("status") != "enabled" or svc.get("error"):
            out.append(f"service {svc['name']}: {svc.get('status')} {svc.get('error')}")
        down = [u for u, s in (svc.get("serverStatus") or {}).items() if s != "UP"]
        if down:
            out.append(f"service {svc['name']}: servers down {down}")
    return out


def log_problems(flow: Flow) -> list[str]:
    """Every Traefik ERR/WRN line not named in EXPECTED_LOG."""
    return [ln for ln in flow.log_lines() if not any(re.search(p, ln) for p in EXPECTED_LOG)]


ALL = (
    redirect_problems,
    tls_problems,
    header_problems,
    public_problems,
    sso_problems,
    unknown_host_problems,
    api_problems,
    log_problems,
)
