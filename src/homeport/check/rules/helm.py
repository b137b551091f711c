"""Helm rules: HP-S005 (values against the chart's schema), HP-S008 (Helm cannot expand).

:func:`expand_apps` expands every Helm Application whose chart is in the cache with the
real Helm (:mod:`homeport.check.expand`) and adds the objects it writes to the context.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs

from homeport.check.argoapp import ArgoApp
from homeport.check.charts import BOOTSTRAP_CRD_GROUPS, chart_schema_folders
from homeport.check.context import Context
from homeport.check.resource import Resource, SourceFile
from homeport.check.rules.schema import MAX_SCHEMA_ERRORS
from homeport.check.sources import kubernetes_patch
from homeport.errors import UsageError


def expand_apps(ctx: Context, charts: Path, kube_version: str, openapi: Path) -> None:
    """Expand every Helm Application whose chart is in the cache; add its objects."""
    from homeport.check import expand as ex

    wanted = [a for a in ctx.apps if a.chart and id(a.res) not in ctx.unsynced]
    if not wanted:
        return
    helm = ex.helm_binary()
    if helm is None:
        raise UsageError(
            "--charts needs Helm: build it with scripts/build-tools.sh, put `helm` on PATH "
            "or set HOMEPORT_HELM to its path (an executable file)"
        )
    sources: list[tuple[ex.HelmSource, Path]] = []
    apps: list[ArgoApp] = []
    missing = []
    for app in wanted:
        d = ex.chart_dir(charts, app.chart, app.chart_version)
        if d is None:
            missing.append(f"{app.chart}-{app.chart_version}")
            continue
        src = ex.HelmSource(
            app.res.name, app.chart, app.chart_version, app.release, app.namespace, app.values
        )
        sources.append((src, d))
        apps.append(app)
    if missing:
        ctx.report.notes.append(
            f"chart(s) not in {charts} ({', '.join(sorted(set(missing)))}): what they create "
            "is taken from homeport's table; run `homeport charts pull`"
        )
    # Argo CD passes the API versions the cluster serves: the release's built-in groups
    # and every CRD installed, by the tree's files or by its charts.
    tree_crds = [
        r.obj
        for r in ctx.resources
        if r.kind == "CustomResourceDefinition" and r.group == "apiextensions.k8s.io"
    ]
    base = ex.builtin_api_versions(openapi) + ex.crd_api_versions(tree_crds)
    # Bootstrap installs Argo CD's CRDs before any chart syncs.
    for g, v, k in ctx.store.crds:
        if g in BOOTSTRAP_CRD_GROUPS:
            base += [f"{g}/{v}", f"{g}/{v}/{k}"]
    patch = kubernetes_patch(kube_version)
    results = ex.expand(sources, patch, sorted(set(base)), helm)
    full = sorted(set(base) | set(ex.crd_api_versions(ex.expanded_crds(results))))
    if len(full) > len(set(base)):
        # Only charts that ask Helm about API versions can render differently.
        again = [i for i, (_s, d) in enumerate(sources) if _asks_api_versions(d)]
        redo = ex.expand([sources[i] for i in again], patch, full, helm)
        for i, r in zip(again, redo, strict=True):
            results[i] = r
    incomplete = []
    for app, result in zip(apps, results, strict=True):
        if result.missing_dependencies:
            # The cache's fault, not the tree's: fall back to the table for this chart.
            incomplete.append(f"{app.chart}-{app.chart_version} ({result.error})")
            continue
        if result.error:
            ctx.add(
                "HP-S008",
                app.res,
                f"Helm cannot expand chart {app.chart} {app.chart_version}: {result.error}",
                app.values_path or app.chart_path,
            )
            continue
        app.expanded = True
        text = "".join(f"---\n{json.dumps(o)}\n" for _t, o in result.objects)
        src_file = SourceFile(f"{app.res.file}#{app.chart}", text)
        for i, (template, obj) in enumerate(result.objects):
            res = Resource(app.res.file, i, obj, src_file)
            if not res.kind or not res.name:
                continue
            ctx.expanded.append(res)
            ctx.chart_of[id(res)] = (app, template)
            ctx.owner[id(res)] = app
    if incomplete:
        ctx.report.notes.append(
            f"chart(s) in {charts} lack their dependencies, so what they create is taken "
            f"from homeport's table: {'; '.join(incomplete)}; run `homeport charts pull`"
        )
    ctx.report.notes.append(
        f"expanded {sum(a.expanded for a in apps)} chart(s) with Helm: "
        f"{len(ctx.expanded)} object(s) checked with the tree"
    )


_ASKS: dict[str, bool] = {}


def _asks_api_versions(chart: Path) -> bool:
    key = str(chart)
    if key not in _ASKS:
        _ASKS[key] = any(
            "APIVersions" in p.read_text(errors="replace")
            for p in chart.rglob("*")
            if p.suffix in (".yaml", ".tpl", ".txt") and "crds" not in p.parts and p.is_file()
        )
    return _ASKS[key]


_VALUE_VALIDATORS: dict[str, Any] = {}


def _without_required(schema: Any) -> Any:
    """Return a values schema without ``required``.

    Helm validates the values merged with the chart's defaults, which supply every required
    key (MetalLB's schema requires whole ``controller``/``speaker`` objects); the Application
    carries only the overrides.
    """
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


def check_helm_values(ctx: Context) -> None:
    """HP-S005: each Application's Helm values against its chart's values schema."""
    if ctx.chart_schema_dir is None:
        return
    for app in ctx.apps:
        if not app.chart or app.values is None:
            continue
        schema_file = None
        for folder in chart_schema_folders(app.chart, app.chart_version):
            f = ctx.chart_schema_dir / folder / "values.schema.json"
            if f.is_file():
                schema_file = f
                break
        if schema_file is None:
            continue
        key = str(schema_file)
        v = _VALUE_VALIDATORS.get(key)
        if v is None:
            v = jsonschema_rs.validator_for(
                _without_required(json.loads(schema_file.read_text())), validate_formats=False
            )
            _VALUE_VALIDATORS[key] = v
        for i, err in enumerate(v.iter_errors(app.values)):
            if i >= MAX_SCHEMA_ERRORS:
                break
            path = tuple(err.instance_path)
            unexpected = getattr(err.kind, "unexpected", None)
            if unexpected and len(unexpected) == 1:
                path = (*path, unexpected[0])
            where = ".".join(str(p) for p in path) or "(values)"
            ctx.add(
                "HP-S005",
                app.res,
                f"Helm values for chart {app.chart} {app.chart_version}: {where}: {err.message}",
                (*app.values_path, *path),
            )
