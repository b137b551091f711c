"""Schema rules: HP-S002 (schema), HP-S003 (unknown kind), HP-S004 (CEL), HP-S006 (duplicate)."""

from __future__ import annotations

from typing import Any

from homeport.check import cel
from homeport.check.context import Context, namespace_of
from homeport.check.resource import Resource
from homeport.check.schemas import split_api_version

MAX_SCHEMA_ERRORS = 20

# (index in ctx.everything, rule, message, path) of one schema finding.
SchemaFinding = tuple[int, str, str, tuple[str | int, ...]]


def add_tree_crds(ctx: Context) -> None:
    """Make the CRDs of the tree (and of its expanded charts) known kinds."""
    # CRDs in the tree count as known kinds (in a per-tree copy of the cached store).
    if any(r.kind == "CustomResourceDefinition" for r in ctx.everything):
        ctx.store = ctx.store.overlay()
    store = ctx.store
    for res in ctx.everything:
        if res.kind == "CustomResourceDefinition" and res.group == "apiextensions.k8s.io":
            for g, _v, k in store.add_crd(res.obj, res.file):
                ctx.tree_crd_groups[(g, k)] = res


def validate(ctx: Context) -> tuple[list[SchemaFinding], int]:
    """Schema and CEL findings of every object, and the count of CEL rules skipped."""
    store = ctx.store
    out: list[SchemaFinding] = []
    cel_skipped = 0
    for i, res in enumerate(ctx.everything):
        group, version = split_api_version(res.api_version)
        gvk = (group, version, res.kind)
        if not store.knows(gvk):
            out.append(
                (
                    i,
                    "HP-S003",
                    f"no schema for {res.api_version} {res.kind}: not a Kubernetes kind and no "
                    "CRD defines it (add the CRD, or --crd-dir)",
                    ("kind",),
                )
            )
            continue
        obj = res.obj
        crd_schema = store.crd_schema(gvk)
        if crd_schema is not None:
            obj = cel.apply_defaults(crd_schema, obj)
        errs = 0
        for err in store.validator(gvk).iter_errors(obj):
            errs += 1
            if errs > MAX_SCHEMA_ERRORS:
                break
            path = tuple(err.instance_path)
            unexpected = getattr(err.kind, "unexpected", None)
            if unexpected and len(unexpected) == 1:
                path = (*path, unexpected[0])
            out.append((i, "HP-S002", _schema_message(err, path), path))
        if crd_schema is not None and errs == 0:
            failures, skipped = cel.validate(crd_schema, obj)
            cel_skipped += skipped
            for f in failures:
                out.append((i, "HP-S004", f.message, f.path))
    return out, cel_skipped


def add_schema_findings(ctx: Context, found: tuple[list[SchemaFinding], int]) -> None:
    """Add what :func:`validate` found (possibly on another process) to the context."""
    findings, skipped = found
    everything = ctx.everything
    for i, rule, message, path in findings:
        ctx.add(rule, everything[i], message, path)
    ctx.cel_skipped += skipped


def _schema_message(err: Any, path: tuple[str | int, ...]) -> str:
    where = ".".join(str(p) for p in path) or "(object)"
    msg = str(err.message)
    instance = getattr(err, "instance", None)
    if isinstance(instance, str) and msg.endswith("listed in the 'anyOf' keyword"):
        # Only the Quantity schema has a string branch that a string can fail.
        return f'{where}: "{instance}" is not a Kubernetes quantity (like 500m, 128Mi or 10Gi)'
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return f"{where}: {msg}"


def check_duplicates(ctx: Context) -> None:
    """HP-S006: two objects with the same group, kind, namespace and name."""
    seen: dict[tuple[str, str, str, str], Resource] = {}
    for res in ctx.everything:
        key = (res.group, res.kind, namespace_of(ctx, res), res.name)
        if key in seen:
            first = seen[key]
            ctx.add(
                "HP-S006",
                res,
                f"{res.kind} {res.name} is also defined in {first.file}:{first.line}",
            )
        else:
            seen[key] = res
