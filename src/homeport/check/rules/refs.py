"""Reference rules: what one object names exists (HP-R001..R004, R007..R010).

Routes reach Services, Middlewares and TLS Secrets; certificates name issuers and cover
their hosts; custom resources sync after their CRD; namespaces exist. Secrets that pods,
charts and operators read are :mod:`homeport.check.rules.secrets` (HP-R005).
"""

from __future__ import annotations

import re
from typing import Any

from homeport.check.context import POD_KINDS, Context, World, namespace_of, pod_spec
from homeport.check.resource import Resource
from homeport.check.rules.secrets import cr_secrets, pod_secrets, values_secrets
from homeport.check.schemas import split_api_version
from homeport.wellknown import (
    ARGOCD_GROUP,
    CERT_MANAGER_GROUP,
    CERT_MANAGER_NAMESPACE,
    CNPG_GROUP,
    PROMETHEUS_GROUP,
    TRAEFIK_GROUP,
)

# Host names of a Traefik rule: Host(`a`, `b`) and HostSNI(`a`) (any quote style).
_HOST_RE = re.compile(r"Host(?:SNI)?\(([^)]*)\)")
_QUOTED = re.compile(r"[`\"']([^`\"']+)[`\"']")


def _service_exists(w: World, ns: str, name: str) -> bool:
    if (ns, name) in w.services:
        return True
    return any(n == ns and name.startswith(p) for n, p in w.service_prefixes)


def _port_ok(svc: Resource, port: Any) -> bool:
    for p in ((svc.obj.get("spec") or {}).get("ports")) or []:
        if not isinstance(p, dict):
            continue
        if port == p.get("port") or (isinstance(port, str) and port == p.get("name")):
            return True
        if isinstance(port, str) and port.isdigit() and int(port) == p.get("port"):
            return True
    return False


def check_references(ctx: Context, w: World) -> None:
    """Apply every reference rule (HP-R001..R005, R007..R010) to the synced objects."""
    hosts: dict[str, tuple[Resource, tuple[str | int, ...]]] = {}
    values_secrets(ctx, w)
    for res in ctx.everything:
        if id(res) in ctx.unsynced:
            continue  # Argo CD never applies it
        ns = namespace_of(ctx, res)
        k, g = res.kind, res.group
        # Namespaces exist.
        if ns and ns not in w.namespaces:
            path: tuple[str | int, ...] = ("metadata", "namespace") if res.namespace else ()
            ctx.add(
                "HP-R008",
                res,
                f'namespace "{ns}" is not created by the tree '
                "(no Namespace object and no Application with CreateNamespace=true)",
                path,
            )
        if k == "Application" and g == ARGOCD_GROUP:
            dest = ((res.obj.get("spec") or {}).get("destination") or {}).get("namespace")
            if dest and dest not in w.namespaces:
                ctx.add(
                    "HP-R008",
                    res,
                    f'destination namespace "{dest}" is not created by the tree',
                    ("spec", "destination", "namespace"),
                )
        if g == TRAEFIK_GROUP and k in ("IngressRoute", "IngressRouteTCP"):
            _route(ctx, w, res, ns, hosts)
        if g == CERT_MANAGER_GROUP and k == "Certificate":
            ref = (res.obj.get("spec") or {}).get("issuerRef") or {}
            ikind = ref.get("kind") or "Issuer"
            key = (ikind, ns if ikind == "Issuer" else "", str(ref.get("name", "")))
            if (ref.get("group") in (None, CERT_MANAGER_GROUP)) and key not in w.issuers:
                ctx.add(
                    "HP-R004",
                    res,
                    f'{ikind} "{ref.get("name")}" does not exist in the tree',
                    ("spec", "issuerRef", "name"),
                )
            _zone_hosts(
                ctx, w, res, (res.obj.get("spec") or {}).get("dnsNames") or [], ("spec", "dnsNames")
            )
        if g == CERT_MANAGER_GROUP and k in ("ClusterIssuer", "Issuer"):
            sec_ns = ns or (_chart_ns(ctx, "cert-manager") or CERT_MANAGER_NAMESPACE)
            for i, solver in enumerate(
                ((res.obj.get("spec") or {}).get("acme") or {}).get("solvers") or []
            ):
                cf = (((solver or {}).get("dns01") or {}).get("cloudflare")) or {}
                name = (cf.get("apiTokenSecretRef") or {}).get("name")
                if name and (sec_ns, name) not in w.secrets:
                    ctx.add(
                        "HP-R005",
                        res,
                        f'Secret "{name}" (namespace {sec_ns}) is not sealed in '
                        "the tree nor created by a chart or operator; run `homeport init` "
                        "to seal the Cloudflare token",
                        (
                            "spec",
                            "acme",
                            "solvers",
                            i,
                            "dns01",
                            "cloudflare",
                            "apiTokenSecretRef",
                            "name",
                        ),
                    )
        if k in POD_KINDS and g in ("", "apps", "batch"):
            pod, base = pod_spec(res)
            if pod is not None:
                pod_secrets(ctx, w, res, ns, pod, base)
        if g in (CNPG_GROUP, PROMETHEUS_GROUP):
            cr_secrets(ctx, w, res, ns)
        # Custom resources sync after the Application that installs their CRD.
        if g and "." in g and not g.endswith(".k8s.io") and g not in ("apps", "batch"):
            _crd_order(ctx, w, res)


def _chart_ns(ctx: Context, chart: str) -> str | None:
    return next((a.namespace for a in ctx.apps if a.chart == chart), None)


def _crd_order(ctx: Context, w: World, res: Resource) -> None:
    g = res.group
    if g not in w.crd_installer:
        if (g, res.kind) in ctx.tree_crd_groups or not ctx.store.knows(
            (g, split_api_version(res.api_version)[1], res.kind)
        ):
            return
        ctx.add(
            "HP-R007",
            res,
            f"no Application in the tree installs the CRD of {g} "
            f"({res.kind}); install its chart or add the CRD",
            ("apiVersion",),
        )
        return
    installer = w.crd_installer[g]
    if installer is None:
        return
    own = ctx.owner.get(id(res))
    if own is None:
        return
    if own is installer:
        return
    if own.wave <= installer.wave:
        ctx.add(
            "HP-R007",
            res,
            f"{res.kind} syncs with Application {own.res.name} in wave "
            f"{own.wave}, not after {installer.res.name} (wave {installer.wave}) which "
            f"installs the {g} CRDs",
        )


def _route(
    ctx: Context,
    w: World,
    res: Resource,
    ns: str,
    hosts: dict[str, tuple[Resource, tuple[str | int, ...]]],
) -> None:
    spec = res.obj.get("spec") or {}
    for i, route in enumerate(spec.get("routes") or []):
        if not isinstance(route, dict):
            continue
        match = str(route.get("match", ""))
        key = re.sub(r"\s+", "", match)
        if key in hosts and hosts[key][0] is not res:
            other = hosts[key][0]
            ctx.add(
                "HP-R009",
                res,
                f"route {match!r} is also served by {other.ref} "
                f"({other.file}:{other.line_of(hosts[key][1])})",
                ("spec", "routes", i, "match"),
            )
        else:
            hosts.setdefault(key, (res, ("spec", "routes", i, "match")))
        names = [h for grp in _HOST_RE.findall(match) for h in _QUOTED.findall(grp)]
        _zone_hosts(ctx, w, res, names, ("spec", "routes", i, "match"))
        _covered(ctx, w, res, ns, names, ("spec", "routes", i, "match"))
        for j, mw in enumerate(route.get("middlewares") or []):
            name = str((mw or {}).get("name", ""))
            if "@" in name:
                continue
            mns = str((mw or {}).get("namespace") or ns)
            p = ("spec", "routes", i, "middlewares", j, "name")
            if (mns, name) not in w.middlewares:
                ctx.add("HP-R002", res, f'Middleware "{mns}/{name}" does not exist in the tree', p)
            elif mns != ns and not w.allow_cross_ns:
                ctx.add(
                    "HP-R002",
                    res,
                    f'Middleware "{mns}/{name}" is in another namespace and '
                    "Traefik's providers.kubernetesCRD.allowCrossNamespace is not true",
                    p,
                )
        for j, svc in enumerate(route.get("services") or []):
            if not isinstance(svc, dict):
                continue
            name = str(svc.get("name", ""))
            sns = str(svc.get("namespace") or ns)
            sp: tuple[str | int, ...] = ("spec", "routes", i, "services", j)
            if sns != ns and not w.allow_cross_ns:
                ctx.add(
                    "HP-R001",
                    res,
                    f'service "{sns}/{name}" is in another namespace and '
                    "allowCrossNamespace is not true",
                    (*sp, "namespace"),
                )
            if svc.get("kind") == "TraefikService":
                if "@" not in name and (sns, name) not in w.traefik_services:
                    ctx.add(
                        "HP-R001",
                        res,
                        f'TraefikService "{sns}/{name}" does not exist',
                        (*sp, "name"),
                    )
                continue
            if not _service_exists(w, sns, name):
                ctx.add(
                    "HP-R001",
                    res,
                    f'Service "{sns}/{name}" does not exist in the tree nor '
                    "is created by a chart or operator",
                    (*sp, "name"),
                )
                continue
            target = w.services.get((sns, name))
            if target is not None and "port" in svc and not _port_ok(target, svc["port"]):
                ctx.add(
                    "HP-R001",
                    res,
                    f'Service "{sns}/{name}" has no port {svc["port"]!r}',
                    (*sp, "port"),
                )
    tls = spec.get("tls")
    if isinstance(tls, dict):
        secret = tls.get("secretName")
        if secret:
            if (ns, str(secret)) not in w.secrets:
                ctx.add(
                    "HP-R003",
                    res,
                    f'TLS Secret "{ns}/{secret}" will not exist (Traefik '
                    "reads TLS Secrets only from the route's namespace)",
                    ("spec", "tls", "secretName"),
                )
        elif not tls.get("certResolver"):
            d = w.default_tls_secret
            if d is None:
                ctx.add(
                    "HP-R003",
                    res,
                    "tls uses the default certificate but no TLSStore "
                    '"default" with a defaultCertificate exists',
                    ("spec", "tls"),
                )
            elif d not in w.secrets:
                ctx.add(
                    "HP-R003",
                    res,
                    f'the default TLSStore certificate Secret "{d[0]}/{d[1]}" '
                    "will not exist (no Certificate or SealedSecret creates it)",
                    ("spec", "tls"),
                )


def _tls_secret(w: World, res: Resource, ns: str) -> tuple[str, str] | None:
    """The Secret whose certificate Traefik serves for this route, when known."""
    tls = (res.obj.get("spec") or {}).get("tls")
    if not isinstance(tls, dict) or tls.get("certResolver") or tls.get("domains"):
        return None
    if tls.get("secretName"):
        return (ns, str(tls["secretName"]))
    return w.default_tls_secret


def _cert_covers(names: list[str], host: str) -> bool:
    for n in names:
        if n == host:
            return True
        # A wildcard matches exactly one label (RFC 6125 6.4.3).
        if n.startswith("*.") and "." in host and host.split(".", 1)[1] == n[2:]:
            return True
    return False


def _covered(
    ctx: Context,
    w: World,
    res: Resource,
    ns: str,
    hosts: list[str],
    path: tuple[str | int, ...],
) -> None:
    secret = _tls_secret(w, res, ns)
    names = w.cert_names.get(secret) if secret else None
    if secret is None or names is None:
        return
    for h in hosts:
        host = str(h).lower().rstrip(".")
        if not _cert_covers(names, host):
            ctx.add(
                "HP-R003",
                res,
                f'host "{h}" is not covered by the certificate in Secret '
                f'"{secret[0]}/{secret[1]}" (dnsNames: {", ".join(names)}); a wildcard '
                "covers one label only",
                path,
            )


def _zone_hosts(
    ctx: Context, w: World, res: Resource, names: list[Any], path: tuple[str | int, ...]
) -> None:
    if not w.zones:
        return
    for h in names:
        host = str(h).lower().rstrip(".")
        bare = host[2:] if host.startswith("*.") else host
        if not any(bare == z or bare.endswith("." + z) for z in w.zones):
            zones = ", ".join(sorted(w.zones))
            ctx.add("HP-R010", res, f'host "{h}" is outside the managed zone ({zones})', path)
