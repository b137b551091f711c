"""HP-R005: a Secret that a pod, a chart's values or an operator's resource reads is missing."""

from __future__ import annotations

from typing import Any

from homeport.check.argoapp import ArgoApp
from homeport.check.context import Context, World, containers
from homeport.check.resource import Resource
from homeport.wellknown import CNPG_GROUP, PROMETHEUS_GROUP


def _missing_secret(
    ctx: Context,
    w: World,
    res: Resource,
    ns: str,
    name: Any,
    path: tuple[str | int, ...],
    optional: Any = False,
) -> None:
    """Report a Secret reference that neither the tree nor a chart or operator satisfies."""
    if optional is True or not name or not isinstance(name, str | int):
        return
    name = str(name)
    if (ns, name) in w.secrets:
        return
    msg = (
        f'Secret "{ns}/{name}" is not sealed in the tree nor created '
        f"by a chart or operator; seal it with `homeport secret set {name} "
        f"--namespace {ns} ...` (platform secrets: `homeport init`)"
    )
    chart = ctx.chart_of.get(id(res))
    if chart is not None:
        app, template = chart
        if (id(app), ns, name) in ctx.values_secrets:
            return  # already reported at the Application's value that names it
        where = _value_path(app.values, name)
        if where is not None:
            # The chart copied the name from the values: point at that value.
            dotted = ".".join(str(p) for p in path)
            ctx.add(
                "HP-R005",
                app.res,
                f"chart {app.chart} {app.chart_version} ({template}): {res.kind} "
                f"{res.name} {dotted}: {msg}",
                (*app.values_path, *where),
            )
            return
    ctx.add("HP-R005", res, msg, path)


def _value_path(values: Any, text: str) -> tuple[str | int, ...] | None:
    """Path of the first scalar in Helm values equal to ``text`` (depth first)."""
    if isinstance(values, dict):
        items: list[tuple[str | int, Any]] = list(values.items())
    elif isinstance(values, list):
        items = list(enumerate(values))
    else:
        return () if values == text else None
    for k, v in items:
        sub = _value_path(v, text)
        if sub is not None:
            return (k, *sub)
    return None


# Keys of Helm values that name an existing Secret (chart conventions).
_VALUE_SECRET_KEYS = {"existingSecret", "existingSecretName"}
# Lists of Secret names that the Prometheus operator mounts into its pods.
_OPERATOR_SECRET_LISTS = {"alertmanagerSpec", "prometheusSpec"}


def values_secrets(ctx: Context, w: World) -> None:
    """Secrets an Application's Helm values name: env references, existingSecret, mounts."""
    for app in ctx.apps:
        if not app.chart or not isinstance(app.values, dict) or id(app.res) in ctx.unsynced:
            continue
        ns = app.namespace

        def visit(node: Any, path: tuple[str | int, ...], app: ArgoApp = app, ns: str = ns) -> None:
            if isinstance(node, list):
                for i, v in enumerate(node):
                    visit(v, (*path, i))
                return
            if not isinstance(node, dict):
                return
            for k, v in node.items():
                p = (*path, k)
                name: Any = None
                optional: Any = False
                if k in ("secretKeyRef", "secretRef") and isinstance(v, dict):
                    name, optional, p = v.get("name"), v.get("optional"), (*p, "name")
                elif k in _VALUE_SECRET_KEYS and isinstance(v, str):
                    name = v
                elif k == "secret" and isinstance(v, dict) and "secretName" in v:
                    name, optional, p = v.get("secretName"), v.get("optional"), (*p, "secretName")
                elif k == "secrets" and path and path[-1] in _OPERATOR_SECRET_LISTS:
                    for i, item in enumerate(v if isinstance(v, list) else []):
                        _values_need(ctx, w, app, ns, item, (*p, i))
                    continue
                if name:
                    if optional is not True:
                        _values_need(ctx, w, app, ns, name, p)
                    continue
                visit(v, p)

        visit(app.values, ())


def _values_need(
    ctx: Context, w: World, app: ArgoApp, ns: str, name: Any, path: tuple[str | int, ...]
) -> None:
    if not isinstance(name, str) or not name or "{{" in name or (ns, name) in w.secrets:
        return
    ctx.values_secrets.add((id(app), ns, name))
    ctx.add(
        "HP-R005",
        app.res,
        f'Secret "{ns}/{name}" named in the Helm values of chart {app.chart} is not sealed '
        f"in the tree nor created by a chart or operator; seal it with `homeport secret set "
        f"{name} --namespace {ns} ...` (platform secrets: `homeport init`)",
        (*app.values_path, *path),
    )


def cr_secrets(ctx: Context, w: World, res: Resource, ns: str) -> None:
    """Secrets custom resources name: CloudNativePG credentials, Prometheus operator mounts."""
    spec = res.obj.get("spec")
    if not isinstance(spec, dict):
        return
    g, k = res.group, res.kind

    def ref(path: tuple[str | int, ...]) -> None:
        node: Any = spec
        for step in path:
            if isinstance(node, dict):
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                node = node[step]
            else:
                return
        if isinstance(node, dict):
            _missing_secret(ctx, w, res, ns, node.get("name"), ("spec", *path, "name"))

    if g == CNPG_GROUP and k == "Cluster":
        stores: list[tuple[str | int, ...]] = [("backup", "barmanObjectStore")]
        for i, ext in enumerate(spec.get("externalClusters") or []):
            if isinstance(ext, dict):
                stores.append(("externalClusters", i, "barmanObjectStore"))
                ref(("externalClusters", i, "password"))
        for store in stores:
            for cred in ("accessKeyId", "secretAccessKey", "region", "sessionToken"):
                ref((*store, "s3Credentials", cred))
        ref(("bootstrap", "initdb", "secret"))
        ref(("bootstrap", "recovery", "secret"))
        ref(("superuserSecret",))
        for i, role in enumerate(((spec.get("managed") or {}).get("roles")) or []):
            if isinstance(role, dict):
                ref(("managed", "roles", i, "passwordSecret"))
    elif g == PROMETHEUS_GROUP and k in ("Alertmanager", "Prometheus"):
        # The operator mounts each under /etc/<kind>/secrets/<name>; a missing one
        # keeps the StatefulSet's pods from starting.
        for i, name in enumerate(spec.get("secrets") or []):
            _missing_secret(ctx, w, res, ns, name, ("spec", "secrets", i))


def pod_secrets(
    ctx: Context, w: World, res: Resource, ns: str, pod: dict[str, Any], base: tuple[str | int, ...]
) -> None:
    """Secrets a pod reads: env, envFrom, volumes, projected volumes, image pull Secrets."""

    def need(name: Any, path: tuple[str | int, ...], optional: Any = False) -> None:
        _missing_secret(ctx, w, res, ns, name, (*base, *path), optional)

    for key, i, c in containers(pod):
        for j, env in enumerate(c.get("env") or []):
            ref = ((env or {}).get("valueFrom") or {}).get("secretKeyRef")
            if isinstance(ref, dict):
                need(
                    ref.get("name"),
                    (key, i, "env", j, "valueFrom", "secretKeyRef", "name"),
                    ref.get("optional"),
                )
        for j, ef in enumerate(c.get("envFrom") or []):
            ref = (ef or {}).get("secretRef")
            if isinstance(ref, dict):
                need(
                    ref.get("name"),
                    (key, i, "envFrom", j, "secretRef", "name"),
                    ref.get("optional"),
                )
    for j, vol in enumerate(pod.get("volumes") or []):
        sec = (vol or {}).get("secret")
        if isinstance(sec, dict):
            need(sec.get("secretName"), ("volumes", j, "secret", "secretName"), sec.get("optional"))
        for k, src in enumerate(((vol or {}).get("projected") or {}).get("sources") or []):
            sec = (src or {}).get("secret")
            if isinstance(sec, dict):
                need(
                    sec.get("name"),
                    ("volumes", j, "projected", "sources", k, "secret", "name"),
                    sec.get("optional"),
                )
    for j, ps in enumerate(pod.get("imagePullSecrets") or []):
        need((ps or {}).get("name"), ("imagePullSecrets", j, "name"))
