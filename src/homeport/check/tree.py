"""Read a tree: its files into objects (HP-S001) and its Argo CD Applications (HP-R006)."""

from __future__ import annotations

from typing import Any

from homeport.check.argoapp import ArgoApp, merge_values, resolve_path, wave_of
from homeport.check.context import Context
from homeport.check.loader import TreeReader, parse_documents, tree_files
from homeport.check.resource import LoadProblem, Resource, SourceFile
from homeport.wellknown import ARGOCD_GROUP


def load_tree(ctx: Context, reader: TreeReader | None = None) -> None:
    """Parse the tree's files into ``ctx.resources``; what is not an object is HP-S001."""
    if reader is None:
        reader = TreeReader(tree_files(ctx.root))
    ctx.report.files = len(reader.files)
    for rel, text, docs, problem, problem_line in reader.result():
        if docs is None:
            ctx.add("HP-S001", None, problem, file=rel, line=problem_line)
            continue
        src = SourceFile(rel, text)
        for index, data in enumerate(docs):
            if data is None:
                continue
            res = Resource(rel, index, data if isinstance(data, dict) else {}, src)
            if not isinstance(data, dict):
                msg = "document is not a Kubernetes object (a mapping)"
                ctx.add("HP-S001", None, msg, file=rel, line=res.line)
                continue
            missing = [k for k in ("apiVersion", "kind") if not isinstance(data.get(k), str)]
            if missing or not res.name:
                what = ", ".join([*missing, *([] if res.name else ["metadata.name"])])
                ctx.add("HP-S001", None, f"object has no {what}", file=rel, line=res.line)
                continue
            if res.kind == "List":
                ctx.add("HP-S001", res, "List objects are not supported; write each item")
                continue
            ctx.resources.append(res)
    ctx.report.objects = len(ctx.resources)


def _git_prefix(ctx: Context) -> tuple[str, str]:
    root = next(
        (r for r in ctx.resources if r.file == "root-app.yaml" and r.kind == "Application"), None
    )
    if root is None:
        return "", ""
    src = (root.obj.get("spec") or {}).get("source") or {}
    path = str(src.get("path", "")).strip("/")
    prefix = (
        path[: -len("/apps")]
        if path.endswith("/apps")
        else ("" if path == "apps" else path.rsplit("/", 1)[0])
    )
    return prefix, str(src.get("repoURL", ""))


def read_apps(ctx: Context) -> None:
    """Read the Argo CD Applications and which files each syncs; a bad source path is HP-R006."""
    prefix, repo = _git_prefix(ctx)
    for res in ctx.resources:
        if res.kind != "Application" or res.group != ARGOCD_GROUP:
            continue
        spec = res.obj.get("spec") if isinstance(res.obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        dest = spec.get("destination") or {}
        opts = ((spec.get("syncPolicy") or {}).get("syncOptions")) or []
        app = ArgoApp(
            res,
            wave_of(res),
            str(dest.get("namespace") or ""),
            create_namespace="CreateNamespace=true" in opts,
        )
        sources: list[tuple[tuple[str | int, ...], Any]] = []
        if isinstance(spec.get("source"), dict):
            sources.append((("spec", "source"), spec["source"]))
        for i, s in enumerate(spec.get("sources") or []):
            if isinstance(s, dict):
                sources.append((("spec", "sources", i), s))
        for spath, src in sources:
            if src.get("chart"):
                app.chart = str(src["chart"])
                app.chart_version = str(src.get("targetRevision", ""))
                app.chart_path = (*spath, "chart")
                helm = src.get("helm") or {}
                app.release = str(helm.get("releaseName") or res.name)
                text_values: Any = None
                if isinstance(helm.get("values"), str):
                    try:
                        text_values = next(iter(parse_documents(helm["values"], res.file)))[1]
                    except (LoadProblem, StopIteration):
                        text_values = None
                if "valuesObject" in helm:
                    # Argo CD merges valuesObject over the values string.
                    app.values = merge_values(text_values, helm["valuesObject"])
                    app.values_path = (*spath, "helm", "valuesObject")
                elif text_values is not None:
                    app.values = text_values
                    app.values_path = (*spath, "helm", "values")
            elif "path" in src and (not repo or src.get("repoURL") == repo):
                resolved = resolve_path(prefix, str(src["path"]))
                if resolved is None or not (ctx.root / resolved).is_dir():
                    ctx.add(
                        "HP-R006",
                        res,
                        f'source path "{src["path"]}" is not a directory of the tree'
                        + (f' (expected under "{prefix}/")' if prefix and resolved is None else ""),
                        (*spath, "path"),
                    )
                else:
                    app.path = resolved
                    directory = src.get("directory") or {}
                    if isinstance(directory, dict):
                        app.include = str(directory.get("include") or "")
                        app.exclude = str(directory.get("exclude") or "")
        ctx.apps.append(app)
    # Which Application syncs each file (deepest matching path wins).
    by_path = sorted((a for a in ctx.apps if a.path), key=lambda a: -len(a.path))
    # Per file, not per object: (app, whether it syncs the file), or None.
    file_app: dict[str, tuple[ArgoApp, bool] | None] = {}
    for res in ctx.resources:
        file = res.file
        if file not in file_app:
            file_app[file] = next(
                ((a, a.syncs(file)) for a in by_path if file.startswith(a.path + "/")), None
            )
        hit = file_app[file]
        if hit is not None:
            if hit[1]:
                ctx.owner[id(res)] = hit[0]
            else:
                ctx.unsynced[id(res)] = hit[0]
    skipped = sorted({r.file for r in ctx.resources if id(r) in ctx.unsynced})
    if skipped:
        ctx.report.notes.append(
            f"{len(skipped)} file(s) not synced (outside their Application's directory "
            f"include/exclude), so not checked for references: {', '.join(skipped)}"
        )
