"""The public context every rule reads and writes, and the world of names the tree creates.

A rule module gets a :class:`Context` (the tree's objects, its Argo CD Applications, the
schema store and the findings so far) and, for references and policy, a :class:`World`
(namespaces, Services, Secrets, CRD installers... that will exist once the tree syncs).
Rules add findings with :meth:`Context.add`, which applies the opt-out annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport.check.argoapp import ArgoApp
from homeport.check.charts import (
    BOOTSTRAP_CRD_GROUPS,
    BOOTSTRAP_NAMESPACE,
    BOOTSTRAP_SECRETS,
    BOOTSTRAP_SERVICES,
    chart_installs,
    operator_secrets,
    operator_services,
)
from homeport.check.model import OPT_OUT_PREFIX, CheckReport, Finding, ObjectRef, make_finding
from homeport.check.resource import Resource
from homeport.check.schemas import SchemaStore
from homeport.wellknown import BUILTIN_NAMESPACES, CERT_MANAGER_GROUP, TRAEFIK_GROUP

# Kinds that carry a pod template (or are a pod).
POD_KINDS = frozenset(
    {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
)


@dataclass
class Context:
    """What the rules read (the tree, its Applications, the schema store) and write (findings)."""

    root: Path
    store: SchemaStore
    chart_schema_dir: Path | None
    report: CheckReport
    resources: list[Resource] = field(default_factory=list)
    apps: list[ArgoApp] = field(default_factory=list)
    owner: dict[int, ArgoApp] = field(default_factory=dict)  # id(resource) -> Application
    unsynced: dict[int, ArgoApp] = field(default_factory=dict)  # excluded by include/exclude
    tree_crd_groups: dict[tuple[str, str], Resource] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    cel_skipped: int = 0
    ns_of: dict[int, str] = field(default_factory=dict)  # id(resource) -> namespace_of() result
    # Objects Helm expanded from the tree's charts, and (Application, template) of each.
    expanded: list[Resource] = field(default_factory=list)
    chart_of: dict[int, tuple[ArgoApp, str]] = field(default_factory=dict)
    # (id(app), namespace, secret) already reported from an Application's values.
    values_secrets: set[tuple[int, str, str]] = field(default_factory=set)

    @property
    def everything(self) -> list[Resource]:
        """The tree's objects, then the objects its charts expand into."""
        return self.resources + self.expanded if self.expanded else self.resources

    def add(
        self,
        rule: str,
        res: Resource | None,
        message: str,
        path: tuple[str | int, ...] = (),
        file: str = "",
        line: int = 0,
    ) -> None:
        """Record a finding, unless the object opts out of the rule with a reason.

        Args:
            rule: The rule ID (``HP-...``).
            res: The object, or None for a file-level finding (then give file and line).
            message: One line saying what is wrong.
            path: Path inside the object; its line is reported.
            file: The file, when ``res`` is None.
            line: The line, when ``res`` is None.
        """
        if res is not None:
            if _opted_out(self, res, rule):
                return
            file = res.file
            line = res.line_of(path) if path else res.line
            ref = res.ref
            chart = self.chart_of.get(id(res))
            if chart is not None:
                # Only the Application's values can change what a chart writes: point there.
                app, template = chart
                file = app.res.file
                line = app.res.line_of(app.values_path or app.chart_path)
                message = f"chart {app.chart} {app.chart_version} ({template}): {message}"
        else:
            ref = ObjectRef()
        dotted = ".".join(str(p) for p in path)
        self.findings.append(make_finding(rule, file, line, ref, message, dotted))


def _opted_out(ctx: Context, res: Resource, rule: str) -> bool:
    if rule.startswith("HP-S") or rule == "HP-P000":
        return False
    key = OPT_OUT_PREFIX + rule
    anns = dict(res.annotations)
    tmpl = _pod_template_meta(res)
    anns.update(tmpl.get("annotations") or {} if isinstance(tmpl.get("annotations"), dict) else {})
    if key not in anns:
        return False
    reason = anns[key]
    if not isinstance(reason, str) or not reason.strip():
        ctx.findings.append(
            make_finding(
                "HP-P000",
                res.file,
                res.line_of(("metadata", "annotations", key)),
                res.ref,
                f'annotation "{key}" opts out of {rule} without a reason; write why as its value',
                f"metadata.annotations.{key}",
            )
        )
        return False
    return True


def _pod_template_meta(res: Resource) -> dict[str, Any]:
    spec = res.obj.get("spec")
    if res.kind == "CronJob" and isinstance(spec, dict):
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    if isinstance(spec, dict) and isinstance(spec.get("template"), dict):
        md = spec["template"].get("metadata")
        return md if isinstance(md, dict) else {}
    return {}


def namespace_of(ctx: Context, res: Resource) -> str:
    """The namespace an object lands in (its own, else its Application's destination)."""
    # Memoized: first asked after _apps and _tree_crds, which settle owners and CRD scopes.
    key = id(res)
    ns = ctx.ns_of.get(key)
    if ns is None:
        if res.namespace:
            ns = res.namespace
        elif ctx.store.is_namespaced(res.group, res.kind) is False:
            ns = ""
        else:
            app = ctx.owner.get(key)
            ns = app.namespace if app else ""
        ctx.ns_of[key] = ns
    return ns


@dataclass
class World:
    """Names that will exist once the tree syncs: from its objects, its charts and bootstrap."""

    namespaces: set[str] = field(default_factory=set)
    services: dict[tuple[str, str], Resource | None] = field(default_factory=dict)
    service_prefixes: set[tuple[str, str]] = field(default_factory=set)
    secrets: set[tuple[str, str]] = field(default_factory=set)
    middlewares: set[tuple[str, str]] = field(default_factory=set)
    traefik_services: set[tuple[str, str]] = field(default_factory=set)
    issuers: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, ns, name)
    crd_installer: dict[str, ArgoApp | None] = field(default_factory=dict)  # group -> app
    allow_cross_ns: bool = False
    default_tls_secret: tuple[str, str] | None = None
    traefik_ns: str = ""
    zones: set[str] = field(default_factory=set)
    # (namespace, secretName) -> dnsNames of the Certificate writing that Secret
    cert_names: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def build_world(ctx: Context) -> World:
    """Collect what the tree, its charts (expanded or from the table) and bootstrap create."""
    w = World()
    w.namespaces |= BUILTIN_NAMESPACES | {BOOTSTRAP_NAMESPACE}
    for s in BOOTSTRAP_SERVICES:
        w.services[(BOOTSTRAP_NAMESPACE, s)] = None
    for s in BOOTSTRAP_SECRETS:
        w.secrets.add((BOOTSTRAP_NAMESPACE, s))
    for g in BOOTSTRAP_CRD_GROUPS:
        w.crd_installer[g] = None
    # Real CRDs (files of the tree, or written by an expanded chart) before table guesses.
    for (g, _k), crd_res in ctx.tree_crd_groups.items():
        w.crd_installer.setdefault(g, ctx.owner.get(id(crd_res)))
    for app in ctx.apps:
        if app.create_namespace and app.namespace:
            w.namespaces.add(app.namespace)
        if not app.chart:
            continue
        if app.chart == "traefik":
            w.traefik_ns = app.namespace
            vals = app.values if isinstance(app.values, dict) else {}
            crd = ((vals.get("providers") or {}).get("kubernetesCRD")) or {}
            w.allow_cross_ns = bool(crd.get("allowCrossNamespace", False))
            store = (vals.get("tlsStore") or {}).get("default") or {}
            secret = (store.get("defaultCertificate") or {}).get("secretName")
            if secret:
                w.default_tls_secret = (app.namespace, str(secret))
        info = chart_installs(app.chart)
        if info is None:
            continue
        vals = app.values if isinstance(app.values, dict) else {}
        own = vals.get("fullnameOverride")
        fmt = {
            "release": app.release,
            "fullname": own if isinstance(own, str) and own else app.release,
        }
        for s in info.runtime_secrets:
            w.secrets.add((app.namespace, s.format(**fmt)))
        for s in info.runtime_services:
            w.services.setdefault((app.namespace, s.format(**fmt)), None)
        if app.expanded:
            continue  # the chart's own objects are in ctx.expanded
        if info.installs_crds(vals):
            for g in info.crd_groups:
                w.crd_installer.setdefault(g, app)
        for s in info.services:
            w.services[(app.namespace, s.format(**fmt))] = None
        w.service_prefixes.add((app.namespace, app.release))
        # fullnameOverride (of the chart or a subchart) renames what the chart creates.
        for scope in (vals, *(v for v in vals.values() if isinstance(v, dict))):
            override = scope.get("fullnameOverride")
            if isinstance(override, str) and override:
                w.service_prefixes.add((app.namespace, override))
        for s in info.secrets:
            w.secrets.add((app.namespace, s.format(**fmt)))
    for res in ctx.everything:
        if id(res) in ctx.unsynced:
            continue  # Argo CD never applies it
        ns = namespace_of(ctx, res)
        k, g = res.kind, res.group
        if k == "Namespace" and g == "":
            w.namespaces.add(res.name)
        elif k == "Service" and g == "":
            w.services[(ns, res.name)] = res
        elif k == "Secret" and g == "":
            w.secrets.add((ns, res.name))
        elif k == "Middleware" and g == TRAEFIK_GROUP:
            w.middlewares.add((ns, res.name))
        elif k == "TraefikService" and g == TRAEFIK_GROUP:
            w.traefik_services.add((ns, res.name))
        elif k in ("ClusterIssuer", "Issuer") and g == CERT_MANAGER_GROUP:
            w.issuers.add((k, ns if k == "Issuer" else "", res.name))
            if k == "ClusterIssuer":
                for solver in ((res.obj.get("spec") or {}).get("acme") or {}).get("solvers") or []:
                    for z in ((solver or {}).get("selector") or {}).get("dnsZones") or []:
                        w.zones.add(str(z).lower().rstrip("."))
        elif k == "Certificate" and g == CERT_MANAGER_GROUP:
            cspec = res.obj.get("spec") or {}
            if isinstance(cspec, dict) and cspec.get("secretName"):
                names = [str(n).lower() for n in cspec.get("dnsNames") or []]
                if cspec.get("commonName") and str(cspec["commonName"]).lower() not in names:
                    names.append(str(cspec["commonName"]).lower())
                w.cert_names[(ns, str(cspec["secretName"]))] = names
        elif k == "TLSStore" and g == TRAEFIK_GROUP and res.name == "default":
            secret = ((res.obj.get("spec") or {}).get("defaultCertificate") or {}).get("secretName")
            if secret:
                w.default_tls_secret = (ns, str(secret))
        for s in operator_secrets(k, g, res.obj):
            w.secrets.add((ns, s))
        for s in operator_services(k, g, res.obj):
            w.services[(ns, s)] = None
    return w


def pod_spec(res: Resource) -> tuple[dict[str, Any] | None, tuple[str | int, ...]]:
    """The pod spec of a workload (or pod) and its path, or (None, ()) when it has none."""
    spec = res.obj.get("spec")
    if not isinstance(spec, dict):
        return None, ()
    if res.kind == "Pod":
        return spec, ("spec",)
    if res.kind == "CronJob":
        pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
            "spec"
        )
        return (
            pod if isinstance(pod, dict) else None,
            ("spec", "jobTemplate", "spec", "template", "spec"),
        )
    pod = (spec.get("template") or {}).get("spec")
    return (pod if isinstance(pod, dict) else None), ("spec", "template", "spec")


def containers(pod: dict[str, Any], init: bool = True) -> list[tuple[str, int, dict[str, Any]]]:
    """(key, index, container) of each container, init containers too unless ``init`` is False."""
    out = []
    for key in ("containers", "initContainers") if init else ("containers",):
        for i, c in enumerate(pod.get(key) or []):
            if isinstance(c, dict):
                out.append((key, i, c))
    return out
