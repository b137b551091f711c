"""The seed's request path through the real Traefik, and ``homeport doctor`` against it.

Real: kube-apiserver + etcd, Helm (expands the pinned Traefik chart with homeport's values:
RBAC, the ``default`` TLSStore/TLSOption, the Deployment whose args Traefik runs with),
Traefik v3.7.11 (built from its module), traefik/whoami backends, homeport's rendered
namespaces, IngressRoutes, Middlewares and Services, and ``homeport doctor``.
Stand-ins: the Authentik server/outpost (speaks its forward-auth contract, outpost.py), a
throwaway CA for the wildcard certificate, EndpointSlices written by the test, an
``/etc/hosts`` entry as cluster DNS. Everything runs in a network namespace the test
creates (netns.py); see platform.py for the details.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography import x509

from homeport.cluster.kube import Obj
from homeport.platform import authentik, traefik

from . import checks
from .platform import EXAMPLE, Flow, tls_secret
from .probe import fetch

WAIT = 30.0

CliRun = Callable[..., tuple[int, str]]


def _eventually(
    fn: Callable[[], list[str]], want_problems: bool, timeout: float = WAIT
) -> list[str]:
    """Poll a probe until it reports problems (or none); return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if bool(got) == want_problems or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def _apply(flow: Flow, obj: Obj) -> None:
    with flow.ns.inside():
        flow.kube.apply(obj)


def _delete(flow: Flow, api_version: str, kind: str, name: str, namespace: str) -> None:
    with flow.ns.inside():
        rt = flow.kube.require_type(api_version, kind)
        flow.kube._client.delete(flow.kube._cls(rt), name, namespace=namespace)


def _get(flow: Flow, api_version: str, kind: str, name: str, namespace: str) -> Obj:
    with flow.ns.inside():
        obj = flow.kube.get(api_version, kind, name, namespace)
    assert obj is not None
    return obj


@contextmanager
def _restarted(flow: Flow, drop: Callable[[str], bool]) -> Iterator[None]:
    """Run Traefik with some chart args dropped; the normal Traefik again afterwards."""
    normal = flow.traefik_args
    try:
        flow.traefik_args = [a for a in normal if not drop(a)]
        assert flow.traefik_args != normal, "nothing dropped"
        flow.start_traefik()
        flow.wait_traefik(routers=0)
        yield
    finally:
        flow.traefik_args = normal
        flow.start_traefik()
        flow.wait_traefik(routers=len(flow.routes))


# --- the flow -------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", checks.ALL, ids=lambda p: p.__name__)
def test_probe_finds_nothing(flow: Flow, probe: Callable[[Flow], list[str]]) -> None:
    """Each probe (redirects, TLS, headers, public, SSO, 404, API, logs) passes."""
    assert probe(flow) == []


def test_flow_covers_the_seed_hosts(flow: Flow) -> None:
    """The example's routes: SSO for dashboards, Argo CD, Grafana and notes; the rest public."""
    d = flow.cfg.domain
    assert {f"traefik.{d}", f"argocd.{d}", f"grafana.{d}", f"notes.{d}"} <= set(flow.sso_hosts)
    assert {f"auth.{d}", f"blog.{d}"} <= set(flow.public_hosts)
    assert not set(flow.sso_hosts) & set(flow.public_hosts)


def test_traefik_runs_with_the_charts_args(flow: Flow) -> None:
    """Static config comes from the chart (values homeport renders), not from the test."""
    args = flow.traefik_args
    assert "--providers.kubernetescrd.allowCrossNamespace=true" in args
    assert "--global.checkNewVersion=false" in args
    assert not any(a.startswith("--global.sendAnonymousUsage") for a in args)
    assert any(a.startswith("--entryPoints.web.http.redirections.entryPoint.to=") for a in args)


def test_forward_auth_middleware_bounds_the_response(flow: Flow) -> None:
    """The rendered Middleware the API server stores carries maxResponseBodySize."""
    mw = _get(
        flow, "traefik.io/v1alpha1", "Middleware", traefik.SSO_MIDDLEWARE, traefik.SSO_MIDDLEWARE_NS
    )
    fa = mw["spec"]["forwardAuth"]
    assert fa["maxResponseBodySize"] == authentik.FORWARD_AUTH_MAX_RESPONSE_BYTES
    assert fa["address"] == authentik.forward_auth_address()


# --- negative controls: each breaks one thing; the probes must notice ------------------------


def test_cross_namespace_refs_disabled_fails(flow: Flow) -> None:
    """Without allowCrossNamespace the SSO middleware (namespace pangolin) cannot be used."""
    with _restarted(flow, lambda a: a.startswith("--providers.kubernetescrd.allowCrossNamespace")):
        logs = checks.log_problems(flow)
        sso = checks.sso_problems(flow)
    assert any("allowCrossNamespace is disabled" in ln for ln in logs), logs
    assert sso, "SSO routes still worked without cross-namespace references"


def test_tlsstore_with_missing_secret_fails(flow: Flow) -> None:
    """A default TLSStore naming a Secret that does not exist: wrong certificate, errors."""
    store = _get(flow, "traefik.io/v1alpha1", "TLSStore", "default", traefik.NAMESPACE)
    broken = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TLSStore",
        "metadata": {"name": "default", "namespace": traefik.NAMESPACE},
        "spec": {"defaultCertificate": {"secretName": "missing-tls"}},
    }
    try:
        _apply(flow, broken)
        found = _eventually(lambda: checks.tls_problems(flow), want_problems=True)
        logs = checks.log_problems(flow)
    finally:
        _apply(
            flow,
            {
                "apiVersion": store["apiVersion"],
                "kind": "TLSStore",
                "metadata": {"name": "default", "namespace": traefik.NAMESPACE},
                "spec": store["spec"],
            },
        )
        assert _eventually(lambda: checks.tls_problems(flow), want_problems=False) == []
    assert found, "a missing TLSStore Secret went unnoticed by the TLS probe"
    assert any("missing-tls" in ln for ln in logs), logs


def test_route_with_missing_service_port_fails(flow: Flow) -> None:
    """A route naming a Service port that does not exist shows up in Traefik's errors."""
    route = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "broken-port", "namespace": "demo-apps"},
        "spec": {
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": f"Host(`broken.{flow.cfg.domain}`)",
                    "services": [{"name": "whoami", "port": 81}],
                }
            ],
            "tls": {},
        },
    }
    try:
        _apply(flow, route)
        # Wait for this route's own error: an earlier test's lines may already be there.
        logs = _eventually(
            lambda: [ln for ln in checks.log_problems(flow) if "81" in ln], want_problems=True
        )
    finally:
        _delete(flow, "traefik.io/v1alpha1", "IngressRoute", "broken-port", "demo-apps")
    assert any("81" in ln for ln in logs), logs
    # The log check stays red for the rest of this Traefik's life: start a clean one.
    flow.start_traefik()
    flow.wait_traefik(routers=len(flow.routes))
    assert checks.log_problems(flow) == []


# --- homeport doctor ----------------------------------------------------------------------


def _doctor(flow: Flow, cli: CliRun, *extra: str) -> tuple[int, dict[str, Any]]:
    resolve = []
    for h in checks.hosts(flow):
        resolve += ["--resolve", f"{h}:80:{flow.address}", "--resolve", f"{h}:443:{flow.address}"]
    with flow.ns.inside():
        code, out = cli(
            "doctor",
            "-c",
            str(EXAMPLE),
            *resolve,
            "--public-address",
            flow.address,
            "--ca-file",
            str(flow.ca_file),
            "--output",
            "json",
            *extra,
        )
    return code, json.loads(out)


def _failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    checks_ = report["checks"]
    assert isinstance(checks_, list)
    return {(c["check"], c["target"]) for c in checks_ if c["level"] != "ok"}


def test_doctor_passes(flow: Flow, cli: CliRun) -> None:
    """Every doctor check is ok against the real Traefik; one line per check."""
    t0 = time.monotonic()
    code, report = _doctor(flow, cli)
    print(f"homeport doctor: {time.monotonic() - t0:.2f}s")
    assert code == 0, report
    kinds = {c["check"] for c in report["checks"]}
    assert kinds == {"dns", "port", "redirect", "tls", "auth", "headers", "dashboard"}
    targets = {c["target"] for c in report["checks"] if c["check"] == "auth"}
    assert targets == set(checks.hosts(flow))


def test_doctor_min_days(flow: Flow, cli: CliRun) -> None:
    """A certificate with fewer days left than --min-days fails the tls check."""
    code, report = _doctor(flow, cli, "--min-days", "1000")
    assert code == 1
    assert {c for c, _ in _failed(report)} == {"tls"}


def test_doctor_expired_certificate_fails(flow: Flow, cli: CliRun) -> None:
    """An expired wildcard certificate: doctor fails and names the tls check."""
    good = _get(flow, "v1", "Secret", traefik.WILDCARD_SECRET, traefik.NAMESPACE)
    crt, key = flow.ca.issue([flow.cfg.domain, f"*.{flow.cfg.domain}"], expired=True)
    expired = tls_secret(traefik.WILDCARD_SECRET, traefik.NAMESPACE, crt, key)
    serial = x509.load_pem_x509_certificate(crt).serial_number
    try:
        _apply(flow, expired)
        host = checks.hosts(flow)[0]
        _eventually(
            lambda: [] if checks.served_cert(flow, host).serial_number != serial else ["served"],
            want_problems=True,
        )
        code, report = _doctor(flow, cli)
    finally:
        restore = tls_secret(
            traefik.WILDCARD_SECRET,
            traefik.NAMESPACE,
            base64.b64decode(good["data"]["tls.crt"]),
            base64.b64decode(good["data"]["tls.key"]),
        )
        _apply(flow, restore)
        assert _eventually(lambda: checks.tls_problems(flow), want_problems=False) == []
    assert code == 1
    tls = [c for c in report["checks"] if c["check"] == "tls"]
    assert tls and all(c["level"] == "error" and "expired" in c["detail"] for c in tls), tls


def test_doctor_public_protected_host_fails(flow: Flow, cli: CliRun) -> None:
    """The notes route without its forward-auth middleware: doctor's auth check fails."""
    route = _get(flow, "traefik.io/v1alpha1", "IngressRoute", "notes", "notes")
    spec = json.loads(json.dumps(route["spec"]))
    for rule in spec["routes"]:
        rule["middlewares"] = [
            m for m in rule["middlewares"] if m["name"] != traefik.SSO_MIDDLEWARE
        ]
    host = f"notes.{flow.cfg.domain}"
    opened = {
        "apiVersion": route["apiVersion"],
        "kind": "IngressRoute",
        "metadata": {"name": "notes", "namespace": "notes"},
        "spec": spec,
    }
    try:
        _apply(flow, opened)
        _eventually(
            lambda: [] if fetch(flow, f"https://{host}/").status != 200 else ["open"],
            want_problems=True,
        )
        code, report = _doctor(flow, cli)
    finally:
        _apply(flow, {**opened, "spec": route["spec"]})
        assert _eventually(lambda: checks.sso_problems(flow), want_problems=False) == []
    assert code == 1
    assert _failed(report) == {("auth", host)}


def test_doctor_no_http_redirect_fails(flow: Flow, cli: CliRun) -> None:
    """Traefik without the chart's 80->443 redirect: doctor's redirect checks fail."""
    with _restarted(flow, lambda a: ".http.redirections." in a):
        code, report = _doctor(flow, cli)
    assert code == 1
    assert {c for c, _ in _failed(report)} == {"redirect"}
    assert {t for c, t in _failed(report)} == set(checks.hosts(flow))


def test_doctor_bad_resolve_is_usage_error(cli: CliRun) -> None:
    """A malformed --resolve is one line naming the flag, exit 2."""
    code, out = cli("doctor", "-c", str(EXAMPLE), "--resolve", "nonsense")
    assert code == 2
    assert "--resolve" in out and len(out.strip().splitlines()) == 1


def test_forward_auth_without_response_limit_warns(flow: Flow) -> None:
    """Control for the fix: the Middleware without maxResponseBodySize makes Traefik warn."""
    mw = _get(
        flow, "traefik.io/v1alpha1", "Middleware", traefik.SSO_MIDDLEWARE, traefik.SSO_MIDDLEWARE_NS
    )
    spec = json.loads(json.dumps(mw["spec"]))
    del spec["forwardAuth"]["maxResponseBodySize"]
    head = {"apiVersion": mw["apiVersion"], "kind": "Middleware"}
    md = {"name": traefik.SSO_MIDDLEWARE, "namespace": traefik.SSO_MIDDLEWARE_NS}
    try:
        _apply(flow, {**head, "metadata": md, "spec": spec})
        logs = _eventually(lambda: checks.log_problems(flow), want_problems=True)
    finally:
        _apply(flow, {**head, "metadata": md, "spec": mw["spec"]})
    assert any("maxResponseBodySize" in ln for ln in logs), logs
    flow.start_traefik()
    flow.wait_traefik(routers=len(flow.routes))
    assert checks.log_problems(flow) == []


def test_forward_auth_without_header_regex_passes_spoofed_headers(flow: Flow) -> None:
    """Control for authResponseHeadersRegex: without it, an unlisted X-authentik-* header
    a client sends reaches the backend (Traefik strips only the listed ones)."""
    mw = _get(
        flow, "traefik.io/v1alpha1", "Middleware", traefik.SSO_MIDDLEWARE, traefik.SSO_MIDDLEWARE_NS
    )
    spec = json.loads(json.dumps(mw["spec"]))
    del spec["forwardAuth"]["authResponseHeadersRegex"]
    head = {"apiVersion": mw["apiVersion"], "kind": "Middleware"}
    md = {"name": traefik.SSO_MIDDLEWARE, "namespace": traefik.SSO_MIDDLEWARE_NS}
    try:
        _apply(flow, {**head, "metadata": md, "spec": spec})
        found = _eventually(lambda: checks.sso_problems(flow), want_problems=True)
    finally:
        _apply(flow, {**head, "metadata": md, "spec": mw["spec"]})
        assert _eventually(lambda: checks.sso_problems(flow), want_problems=False) == []
    assert any("x-authentik-not-listed" in p for p in found), found
    # The listed headers are still replaced by the outpost's values.
    assert not any("username" in p for p in found), found
