"""``check_tree``: read a tree, then run the rule families and collect the report.

The order: load files (:mod:`~homeport.check.tree`), read the Argo CD Applications,
optionally expand their charts with Helm, add the tree's CRDs; then schemas (on a forked
process for a large tree, with the duplicates) alongside every other family; then sort
and dedupe findings.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.check.context import Context, build_world
from homeport.check.forked import Forked, can_fork
from homeport.check.loader import TreeReader, tree_files
from homeport.check.model import CheckReport, Finding
from homeport.check.rules.helm import check_helm_values, expand_apps
from homeport.check.rules.policy import run_policy
from homeport.check.rules.refs import check_references
from homeport.check.rules.schedules import check_schedules
from homeport.check.rules.schema import (
    SchemaFinding,
    add_schema_findings,
    add_tree_crds,
    check_duplicates,
    validate,
)
from homeport.check.schemas import SchemaStore
from homeport.check.sources import (
    default_chart_schema_dir,
    default_crd_dirs,
    find_openapi_dir,
    kubernetes_patch,
)
from homeport.check.tree import load_tree, read_apps
from homeport.errors import UsageError

# Trees with at least this many objects validate schemas on a second process (forking
# costs a few milliseconds; the example's 138 objects already gain from it).
PARALLEL_MIN_OBJECTS = 100

# Compiled schemas are reused across calls (render runs check once per tree; tests many).
_STORES: dict[tuple[str, str, tuple[str, ...]], SchemaStore] = {}


def _store(openapi: Path | None, crd_dirs: list[Path]) -> SchemaStore:
    key = (str(openapi), "strict", tuple(str(d) for d in crd_dirs))
    s = _STORES.get(key)
    if s is None:
        s = SchemaStore(strict=True)
        if openapi is not None:
            s.load_openapi_dir(openapi)
        s.load_crd_dirs(crd_dirs)
        _STORES[key] = s
    return s


@dataclass(frozen=True)
class ExpandedApp:
    """One Helm Application as Helm expanded it.

    Attributes:
        name: The Application's name.
        namespace: Its destination namespace.
        objects: The objects Helm wrote (test hooks left out, nulls dropped).
    """

    name: str
    namespace: str
    objects: list[dict[str, Any]]


def expand_charts(
    root: Path, charts_dir: Path, *, kubernetes_version: str = "1.36"
) -> tuple[list[ExpandedApp], list[str]]:
    """Expand a tree's Helm Applications exactly as ``check --charts`` does.

    Args:
        root: The tree directory.
        charts_dir: Unpacked charts (``<chart>-<version>`` folders).
        kubernetes_version: Kubernetes minor version (``--kube-version``).

    Returns:
        The expanded Applications, and one line per chart Helm could not expand.

    Raises:
        UsageError: No Kubernetes schemas for the version, or Helm is not installed.
    """
    openapi = find_openapi_dir(kubernetes_version)
    if openapi is None:
        raise UsageError(f"no Kubernetes {kubernetes_version} OpenAPI schemas found")
    reader = TreeReader(tree_files(Path(root)))
    try:
        store = _store(openapi, default_crd_dirs())
        ctx = Context(Path(root), store, None, CheckReport(root=str(root)))
        load_tree(ctx, reader)
    finally:
        reader.close()
    read_apps(ctx)
    expand_apps(ctx, Path(charts_dir), kubernetes_version, openapi)
    out = [
        ExpandedApp(
            app.res.name,
            app.namespace,
            [r.obj for r in ctx.expanded if ctx.chart_of[id(r)][0] is app],
        )
        for app in ctx.apps
        if app.expanded
    ]
    problems = [f.message for f in ctx.findings if f.rule_id == "HP-S008"]
    problems += [n for n in ctx.report.notes if "lack their dependencies" in n]
    return out, problems


def check_tree(
    root: Path,
    *,
    kubernetes_version: str = "1.36",
    crd_dirs: list[Path] | None = None,
    chart_schema_dir: Path | None = None,
    strict: bool = False,
    charts_dir: Path | None = None,
) -> CheckReport:
    """Check a rendered GitOps tree offline: schemas, references and policy.

    Args:
        root: The tree directory (the one holding ``root-app.yaml``).
        kubernetes_version: Kubernetes minor version to validate against, e.g. ``1.36``.
        crd_dirs: Directories of CRD files; default ``$HOMEPORT_CRD_DIR`` or the pull cache.
        chart_schema_dir: Directory of chart ``values.schema.json`` folders; default
            ``$HOMEPORT_CHART_SCHEMA_DIR`` or the pull cache.
        strict: Recorded for the caller; warnings fail the check with
            ``report.exit_code(strict=True)``.
        charts_dir: Unpacked charts (``<chart>-<version>`` folders, as ``homeport charts
            pull`` writes them): expand every Helm Application with Helm and check what
            it writes; charts not found there fall back to homeport's table.

    Returns:
        The report with every finding, sorted by file, line and rule.

    Raises:
        UsageError: The directory does not exist, no Kubernetes schemas are available, or
            ``charts_dir`` is given but missing or Helm is not installed.
    """
    del strict  # the severity of findings does not depend on it; exit_code() does
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    try:
        kubernetes_patch(kubernetes_version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    openapi = find_openapi_dir(kubernetes_version)
    if openapi is None:
        raise UsageError(
            f"no Kubernetes {kubernetes_version} OpenAPI schemas found; run `homeport schemas "
            "pull` or set HOMEPORT_K8S_SCHEMA_DIR"
        )
    dirs = list(crd_dirs) if crd_dirs is not None else default_crd_dirs()
    for d in dirs:
        if not d.exists():
            raise UsageError(f"{d}: CRD directory does not exist")
    if chart_schema_dir is None:
        chart_schema_dir = default_chart_schema_dir()
    if charts_dir is not None and not Path(charts_dir).is_dir():
        raise UsageError(f"{charts_dir}: chart directory does not exist")
    # The check allocates many objects and frees few: the cyclic GC would only rescan them.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    # Parsing starts first (on a second process for a large tree) while the schemas load.
    reader = TreeReader(tree_files(root))
    try:
        charts = (Path(charts_dir), kubernetes_version) if charts_dir is not None else None
        return _check(root, openapi, dirs, chart_schema_dir, reader, charts)
    finally:
        reader.close()
        if gc_was_enabled:
            gc.enable()


def _check(
    root: Path,
    openapi: Path,
    dirs: list[Path],
    chart_schema_dir: Path | None,
    reader: TreeReader,
    charts: tuple[Path, str] | None = None,
) -> CheckReport:
    report = CheckReport(root=str(root))
    ctx = Context(root, _store(openapi, dirs), chart_schema_dir, report)
    load_tree(ctx, reader)
    read_apps(ctx)
    if charts is not None:
        expand_apps(ctx, charts[0], charts[1], openapi)
    add_tree_crds(ctx)
    if len(ctx.resources) >= PARALLEL_MIN_OBJECTS and can_fork():
        # Schemas and duplicates on a forked process while this one checks Helm values,
        # references and policy (none of them reads schema findings); the findings are
        # then put in the order one process gives (and the report is sorted anyway).
        child = Forked(lambda: _schema_side(ctx))
        try:
            before = len(ctx.findings)
            _rest(ctx)
            rest = ctx.findings[before:]
            del ctx.findings[before:]
            _add_schema_side(ctx, child.result())
            ctx.findings += rest
        finally:
            child.close()
    else:
        _add_schema_side(ctx, _schema_side(ctx))
        _rest(ctx)
    return _finish(ctx)


# Schema findings (for add_schema_findings) and the duplicate findings.
SchemaSide = tuple[tuple[list[SchemaFinding], int], list[Finding]]


def _schema_side(ctx: Context) -> SchemaSide:
    """Schemas, CEL and duplicates (HP-S002..S004, HP-S006): the half that can run apart."""
    found = validate(ctx)
    before = len(ctx.findings)
    check_duplicates(ctx)
    duplicates = ctx.findings[before:]
    del ctx.findings[before:]  # returned, so that both ways of running add them alike
    return found, duplicates


def _add_schema_side(ctx: Context, side: SchemaSide) -> None:
    found, duplicates = side
    add_schema_findings(ctx, found)
    ctx.findings += duplicates


def _rest(ctx: Context) -> None:
    """Every check after the schemas and duplicates (none of them reads their findings)."""
    check_helm_values(ctx)
    check_schedules(ctx)
    world = build_world(ctx)
    check_references(ctx, world)
    run_policy(ctx, world)


def _finish(ctx: Context) -> CheckReport:
    report = ctx.report
    if ctx.cel_skipped:
        report.notes.append(
            f"{ctx.cel_skipped} CRD validation rule(s) outside the supported "
            "CEL subset were not evaluated"
        )
    uniq = {(f.file, f.line, f.rule_id, f.message): f for f in ctx.findings}
    report.findings = sorted(uniq.values(), key=lambda f: (f.file, f.line, f.rule_id, f.message))
    return report
