"""HP-P013: an endpoint the tree's own NetworkPolicies would block.

Argo CD's repo-server clones every Application's ``repoURL`` from the ``argocd``
namespace; when that namespace denies egress and no policy allows the Git server, Argo CD
is locked out and the fix cannot arrive through Git. The DDNS controller's ping and
IP-provider URLs are checked the same way against the policies of its namespace.

Offline, a host name is not resolved: an IP address is matched against ``ipBlock``s, an
in-cluster ``<svc>.<ns>.svc`` name against namespace selectors, a name that only a home
network resolves (``gitea.lan``, ``nas``) needs a rule reaching private addresses on its
port, and any other name a rule reaching some address on its port.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from homeport.check.context import Context, containers, namespace_of, pod_spec
from homeport.check.resource import Resource
from homeport.platform.egress import (
    PRIVATE_NETWORKS,
    Endpoint,
    cluster_namespace,
    ip_of,
    looks_local,
    parse_url,
)
from homeport.wellknown import ARGOCD_GROUP, ARGOCD_NAMESPACE

ARGOCD_NS = ARGOCD_NAMESPACE
REPO_SERVER_LABELS = {"app.kubernetes.io/name": "argocd-repo-server"}
# `homeport ddns run` flags whose value is a URL the controller dials.
_DDNS_URL_FLAGS = ("--healthchecks-url", "--uptime-kuma-url")


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    if not isinstance(selector, dict):
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        has = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and has and labels.get(key) in values)
            or (op == "Exists" and not has)
            or (op == "DoesNotExist" and has)
        ):
            return False
    return True


def _egress_policies(ctx: Context, namespace: str) -> list[dict[str, Any]]:
    out = []
    for res in ctx.resources:
        if res.group != "networking.k8s.io" or res.kind != "NetworkPolicy":
            continue
        if namespace_of(ctx, res) != namespace:
            continue
        spec = res.obj.get("spec") or {}
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else [])
        if "Egress" in types:
            out.append(spec)
    return out


def _port_ok(rule: dict[str, Any], ep: Endpoint) -> bool:
    ports = rule.get("ports") or []
    if not ports:
        return True
    for p in ports:
        if str(p.get("protocol", "TCP")) not in ep.protocols:
            continue
        port, end = p.get("port"), p.get("endPort")
        if port is None:
            return True
        if isinstance(port, int) and (
            port == ep.port or (isinstance(end, int) and port <= ep.port <= end)
        ):
            return True
    return False


def _blocks(rule: dict[str, Any]) -> list[tuple[Any, list[Any]]]:
    out = []
    for peer in rule.get("to") or []:
        block = peer.get("ipBlock") if isinstance(peer, dict) else None
        if isinstance(block, dict):
            try:
                net = ipaddress.ip_network(str(block.get("cidr")), strict=False)
                excepts = [
                    ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or []
                ]
            except ValueError:
                continue
            out.append((net, excepts))
    return out


def _reaches_private(net: Any, excepts: list[Any]) -> bool:
    for priv in PRIVATE_NETWORKS:
        if priv.version != net.version or not net.overlaps(priv):
            continue
        overlap = net if net.subnet_of(priv) else priv
        if not any(e.version == overlap.version and overlap.subnet_of(e) for e in excepts):
            return True
    return False


def _peer_ok(rule: dict[str, Any], ep: Endpoint) -> bool:
    peers = rule.get("to") or []
    if not peers:
        return True
    ip, ns = ip_of(ep.host), cluster_namespace(ep.host)
    if ns is not None:
        for peer in peers:
            sel = peer.get("namespaceSelector") if isinstance(peer, dict) else None
            if sel is not None and _selects(sel, {"kubernetes.io/metadata.name": ns}):
                return True
        # Pod addresses fall inside a block only when it excepts nothing and is all-wide.
        return any(net.prefixlen == 0 and not exc for net, exc in _blocks(rule))
    blocks = _blocks(rule)
    if ip is not None:
        return any(
            net.version == ip.version and ip in net and not any(ip in e for e in exc)
            for net, exc in blocks
        )
    if looks_local(ep.host):
        # A private range, or a specific network (what network.lan or resolve rendered).
        return any(_reaches_private(net, exc) or net.prefixlen > 0 for net, exc in blocks)
    return bool(blocks)


def allowed(policies: list[dict[str, Any]], pod_labels: dict[str, str], ep: Endpoint) -> bool:
    """Whether a pod with these labels may dial the endpoint under these egress policies."""
    selecting = [p for p in policies if _selects(p.get("podSelector") or {}, pod_labels)]
    if not selecting:
        return True  # the pod is not isolated for egress
    return any(
        _port_ok(rule, ep) and _peer_ok(rule, ep)
        for p in selecting
        for rule in p.get("egress") or []
    )


def _describe(ep: Endpoint) -> str:
    return f'"{ep.host}" port {ep.port}'


def _repo_urls(res: Resource) -> list[tuple[tuple[str | int, ...], str]]:
    spec = res.obj.get("spec") or {}
    out: list[tuple[tuple[str | int, ...], str]] = []
    src = spec.get("source")
    if isinstance(src, dict) and isinstance(src.get("repoURL"), str):
        out.append((("spec", "source", "repoURL"), src["repoURL"]))
    for i, s in enumerate(spec.get("sources") or []):
        if isinstance(s, dict) and isinstance(s.get("repoURL"), str):
            out.append((("spec", "sources", i, "repoURL"), s["repoURL"]))
    return out


def _ddns_urls(container: dict[str, Any]) -> list[tuple[int, str]]:
    args = [str(a) for a in container.get("args") or []]
    if args[:2] != ["ddns", "run"]:
        return []
    out = []
    for i, a in enumerate(args[:-1]):
        value = args[i + 1]
        if a in _DDNS_URL_FLAGS:
            out.append((i + 1, value))
        elif a == "--ip-provider":
            kind, sep, arg = value.partition(":")
            if sep and kind != "static":
                out.append((i + 1, arg))
    return out


def run_egress(ctx: Context) -> None:
    """Flag Git repositories and DDNS URLs the tree's NetworkPolicies would block."""
    argocd_pols = _egress_policies(ctx, ARGOCD_NS)
    cache: dict[str, list[dict[str, Any]]] = {ARGOCD_NS: argocd_pols}
    # One finding per blocked repository, on its first Application, with the count.
    blocked: dict[Endpoint, list[tuple[Resource, tuple[str | int, ...]]]] = {}
    for res in ctx.resources:
        if res.group == ARGOCD_GROUP and res.kind == "Application" and argocd_pols:
            for path, url in _repo_urls(res):
                ep = parse_url("repoURL", url)
                if ep is not None and not allowed(argocd_pols, REPO_SERVER_LABELS, ep):
                    blocked.setdefault(ep, []).append((res, path))
        if res.group == "apps" and res.kind == "Deployment":
            pod, base = pod_spec(res)
            if pod is None:
                continue
            ns = namespace_of(ctx, res)
            labels = (
                ((res.obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
            ).get("labels") or {}
            for key, i, c in containers(pod):
                for j, url in _ddns_urls(c):
                    ep = parse_url("url", url)
                    if ep is None:
                        continue
                    pols = cache.setdefault(ns, _egress_policies(ctx, ns))
                    if not allowed(pols, labels, ep):
                        ctx.add(
                            "HP-P013",
                            res,
                            f"the DDNS controller cannot reach {_describe(ep)}: the "
                            f"NetworkPolicies of namespace {ns} block it (homeport.yaml: "
                            "list the server's network in network.lan, or set network.resolve)",
                            (*base, key, i, "args", j),
                        )
    for ep, uses in blocked.items():
        res, path = min(uses, key=lambda u: (u[0].file, u[0].index))
        more = f" ({len(uses)} Applications use it)" if len(uses) > 1 else ""
        ctx.add(
            "HP-P013",
            res,
            f"Argo CD's repo-server cannot reach {_describe(ep)}{more}: the NetworkPolicies "
            f"of namespace {ARGOCD_NS} block it (homeport.yaml: list the server's network "
            "in network.lan, or set network.resolve)",
            path,
        )
