"""Every protected route carries the forward-auth middleware, no public route does, and
the middleware it names exists in the tree, pointing at Authentik's in-cluster Service."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from homeport.platform import authentik, traefik
from homeport.versions import CRD_FOLDERS

from .helpers import NO_SSO, crd_schema, objects, render

SSO_REF = {"name": traefik.SSO_MIDDLEWARE, "namespace": traefik.SSO_MIDDLEWARE_NS}

APPS = """\
apps:
  - name: private
    image: ghcr.io/example/private:1.0.0
    port: 8080
    auth: sso
  - name: defaulted
    image: ghcr.io/example/defaulted:1.0.0
    port: 8080
  - name: open
    image: ghcr.io/example/open:1.0.0
    port: 8080
    auth: public
"""


def _routes(tree_objects: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {
        o["spec"]["routes"][0]["match"]: o
        for _, o in tree_objects
        if o.get("kind") == "IngressRoute"
    }


def _middlewares(route: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for r in route["spec"]["routes"] for m in r.get("middlewares", [])]


def test_protected_routes_carry_the_middleware_and_public_ones_do_not() -> None:
    routes = _routes(objects(render(APPS)))
    expected = {
        "auth.example.com": "public",  # the login itself
        "argocd.example.com": "sso",
        "traefik.example.com": "sso",
        "hello.example.com": "sso",
        "whoami.example.com": "public",
        "private.example.com": "sso",
        "defaulted.example.com": "sso",  # default with SSO on
        "open.example.com": "public",
    }
    for host, auth in expected.items():
        route = routes[f"Host(`{host}`)"]
        assert route["metadata"]["labels"]["homeport.dev/auth"] == auth, host
        has = SSO_REF in _middlewares(route)
        assert has == (auth == "sso"), f"{host}: auth {auth} but middleware present={has}"
    # No route escapes the rule, whatever its host.
    for match, route in routes.items():
        assert (SSO_REF in _middlewares(route)) == (
            route["metadata"]["labels"]["homeport.dev/auth"] == "sso"
        ), match


def test_every_middleware_reference_resolves() -> None:
    objs = objects(render(APPS))
    defined = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for _, o in objs
        if o.get("kind") == "Middleware"
    }
    refs = 0
    for _, o in objs:
        if o.get("kind") != "IngressRoute":
            continue
        for m in _middlewares(o):
            refs += 1
            key = (m.get("namespace", o["metadata"]["namespace"]), m["name"])
            assert key in defined, f"{o['metadata']['name']}: middleware {key} is not in the tree"
    assert refs > 0
    assert (traefik.SSO_MIDDLEWARE_NS, traefik.SSO_MIDDLEWARE) in defined


def test_middleware_targets_the_in_cluster_outpost() -> None:
    objs = objects(render())
    mw = next(
        o
        for _, o in objs
        if o.get("kind") == "Middleware" and o["metadata"]["name"] == traefik.SSO_MIDDLEWARE
    )
    fa = mw["spec"]["forwardAuth"]
    # In-cluster Service (never the public host: authentik #1997) and the Traefik endpoint.
    assert fa["address"] == (
        "http://authentik-server.authentik.svc.cluster.local/outpost.goauthentik.io/auth/traefik"
    )
    assert fa["trustForwardHeader"] is True
    assert {
        "X-authentik-username",
        "X-authentik-groups",
        "X-authentik-email",
        "X-authentik-jwt",
    } <= set(fa["authResponseHeaders"])
    # The Service and port are the ones Authentik's own route uses, so both break together.
    auth_route = _routes(objs)["Host(`auth.example.com`)"]
    svc = auth_route["spec"]["routes"][0]["services"][0]
    assert fa["address"].startswith(
        f"http://{svc['name']}.{auth_route['metadata']['namespace']}.svc"
    )
    assert svc["port"] == 80


def test_middleware_validates_against_traefik_crd() -> None:
    schema = crd_schema(CRD_FOLDERS["traefik"], "traefik.io_middlewares.yaml", "v1alpha1")
    jsonschema.validate(authentik.middleware(), schema)
    bad = authentik.middleware()
    bad["spec"]["forwardAuth"]["trustForwardHeaders"] = True  # misspelt key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_traefik_allows_the_cross_namespace_reference() -> None:
    objs = objects(render())
    app = next(
        o for _, o in objs if o.get("kind") == "Application" and o["metadata"]["name"] == "traefik"
    )
    values = app["spec"]["source"]["helm"]["valuesObject"]
    assert values["providers"]["kubernetesCRD"]["allowCrossNamespace"] is True


def test_without_sso_no_middleware_and_no_authentik() -> None:
    objs = objects(render(NO_SSO))
    assert not [
        o
        for _, o in objs
        if o.get("kind") == "Middleware" and o["metadata"]["name"] == traefik.SSO_MIDDLEWARE
    ]
    for route in _routes(objs).values():
        assert SSO_REF not in _middlewares(route)
    names = {o["metadata"]["name"] for _, o in objs if o.get("kind") == "Application"}
    assert not names & {"authentik", "authentik-database", "forward-auth", "authentik-route"}
