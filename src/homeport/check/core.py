"""``check_tree``: read a rendered tree, then run schema, reference and policy checks."""

from __future__ import annotations

import gc
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from homeport.check import cel
from homeport.check.charts import (
    BOOTSTRAP_CRD_GROUPS,
    BOOTSTRAP_NAMESPACE,
    BOOTSTRAP_SECRETS,
    BOOTSTRAP_SERVICES,
    BUILTIN_NAMESPACES,
    chart_installs,
    chart_schema_folders,
    operator_secrets,
    operator_services,
)
from homeport.check.forked import Forked, can_fork
from homeport.check.loader import (
    LoadProblem,
    Resource,
    SourceFile,
    TreeReader,
    parse_documents,
    tree_files,
)
from homeport.check.model import (
    OPT_OUT_PREFIX,
    CheckReport,
    Finding,
    ObjectRef,
    make_finding,
)
from homeport.check.schemas import (
    SchemaStore,
    default_chart_schema_dir,
    default_crd_dirs,
    find_openapi_dir,
    kubernetes_patch,
    split_api_version,
)
from homeport.errors import UsageError

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
MAX_SCHEMA_ERRORS = 20
# Trees with at least this many objects validate schemas on a second process.
PARALLEL_MIN_OBJECTS = 1000
_BOOTSTRAP_WAVE = -(10**9)
_HOST_RE = re.compile(r"Host(?:SNI)?\(([^)]*)\)")
_QUOTED = re.compile(r"[`\"']([^`\"']+)[`\"']")
_POD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
_NONSTRICT_SKIP = {"List"}

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


@dataclass
class App:
    """An Argo CD Application of the tree."""

    res: Resource
    wave: int
    namespace: str
    chart: str = ""
    chart_version: str = ""
    release: str = ""
    values: Any = None
    values_path: tuple[str | int, ...] = ()
    chart_path: tuple[str | int, ...] = ()  # path of spec.source(s).chart
    expanded: bool = False  # the chart was expanded with Helm (no table guesses)
    path: str = ""  # resolved relative dir inside the tree ('' when not a tree path)
    create_namespace: bool = False
    include: str = ""  # directory.include glob (relative to path)
    exclude: str = ""  # directory.exclude glob

    def syncs(self, file: str) -> bool:
        """Whether Argo CD syncs this file of the app's path (directory include/exclude)."""
        rel = file[len(self.path) + 1 :]
        if self.exclude and _glob_match(self.exclude, rel):
            return False
        return not self.include or _glob_match(self.include, rel)


def _merge(base: Any, over: Any) -> Any:
    """Helm's value merge: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


def _glob_regex(pattern: str) -> str:
    """Translate an Argo CD (gobwas, no separators) glob into a regular expression."""
    out, i, depth = "", 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out += ".*"
        elif c == "?":
            out += "."
        elif c == "{":
            out, depth = out + "(?:", depth + 1
        elif c == "}" and depth:
            out, depth = out + ")", depth - 1
        elif c == "," and depth:
            out += "|"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out += "[" + body.replace("\\", "\\\\") + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return out


def _glob_match(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(_glob_regex(pattern), text) is not None
    except re.error:
        return False  # Argo CD also matches nothing with a pattern it cannot compile


@dataclass
class _Ctx:
    root: Path
    store: SchemaStore
    chart_schema_dir: Path | None
    report: CheckReport
    resources: list[Resource] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    owner: dict[int, App] = field(default_factory=dict)  # id(resource) -> Application
    unsynced: dict[int, App] = field(default_factory=dict)  # excluded by include/exclude
    tree_crd_groups: dict[tuple[str, str], Resource] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    cel_skipped: int = 0
    ns_of: dict[int, str] = field(default_factory=dict)  # id(resource) -> _ns() result
    # Objects Helm expanded from the tree's charts, and (Application, template) of each.
    expanded: list[Resource] = field(default_factory=list)
    chart_of: dict[int, tuple[App, str]] = field(default_factory=dict)
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


def _opted_out(ctx: _Ctx, res: Resource, rule: str) -> bool:
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


def _wave(res: Resource) -> int:
    v = res.annotations.get(WAVE_ANNOTATION, "0")
    try:
        return int(str(v).strip())
    except ValueError:
        return 0


# -- loading ------------------------------------------------------------------------------
def _load(ctx: _Ctx, reader: TreeReader | None = None) -> None:
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


def _git_prefix(ctx: _Ctx) -> tuple[str, str]:
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


def _resolve(prefix: str, path: str) -> str | None:
    p = path.strip("/")
    if prefix:
        if p == prefix:
            return ""
        if not p.startswith(prefix + "/"):
            return None
        return p[len(prefix) + 1 :]
    return p


def _apps(ctx: _Ctx) -> None:
    prefix, repo = _git_prefix(ctx)
    for res in ctx.resources:
        if res.kind != "Application" or res.group != "argoproj.io":
            continue
        spec = res.obj.get("spec") if isinstance(res.obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        dest = spec.get("destination") or {}
        opts = ((spec.get("syncPolicy") or {}).get("syncOptions")) or []
        app = App(
            res,
            _wave(res),
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
                    app.values = _merge(text_values, helm["valuesObject"])
                    app.values_path = (*spath, "helm", "valuesObject")
                elif text_values is not None:
                    app.values = text_values
                    app.values_path = (*spath, "helm", "values")
            elif "path" in src and (not repo or src.get("repoURL") == repo):
                resolved = _resolve(prefix, str(src["path"]))
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
    file_app: dict[str, tuple[App, bool] | None] = {}
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


# -- charts -------------------------------------------------------------------------------
def _expand(ctx: _Ctx, charts: Path, kube_version: str, openapi: Path) -> None:
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
    apps: list[App] = []
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


# -- schemas ------------------------------------------------------------------------------
# (index in ctx.everything, rule, message, path) of one schema finding.
_SchemaFinding = tuple[int, str, str, tuple[str | int, ...]]


def _tree_crds(ctx: _Ctx) -> None:
    # CRDs in the tree count as known kinds (in a per-tree copy of the cached store).
    if any(r.kind == "CustomResourceDefinition" for r in ctx.everything):
        ctx.store = ctx.store.overlay()
    store = ctx.store
    for res in ctx.everything:
        if res.kind == "CustomResourceDefinition" and res.group == "apiextensions.k8s.io":
            for g, _v, k in store.add_crd(res.obj, res.file):
                ctx.tree_crd_groups[(g, k)] = res


def _validate(ctx: _Ctx) -> tuple[list[_SchemaFinding], int]:
    """Schema and CEL findings of every object, and the count of CEL rules skipped."""
    store = ctx.store
    out: list[_SchemaFinding] = []
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


def _add_schema_findings(ctx: _Ctx, found: tuple[list[_SchemaFinding], int]) -> None:
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


def _helm_values(ctx: _Ctx) -> None:
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


def _duplicates(ctx: _Ctx) -> None:
    seen: dict[tuple[str, str, str, str], Resource] = {}
    for res in ctx.everything:
        key = (res.group, res.kind, _ns(ctx, res), res.name)
        if key in seen:
            first = seen[key]
            ctx.add(
                "HP-S006",
                res,
                f"{res.kind} {res.name} is also defined in {first.file}:{first.line}",
            )
        else:
            seen[key] = res


# -- references ---------------------------------------------------------------------------
def _ns(ctx: _Ctx, res: Resource) -> str:
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
class _World:
    namespaces: set[str] = field(default_factory=set)
    services: dict[tuple[str, str], Resource | None] = field(default_factory=dict)
    service_prefixes: set[tuple[str, str]] = field(default_factory=set)
    secrets: set[tuple[str, str]] = field(default_factory=set)
    middlewares: set[tuple[str, str]] = field(default_factory=set)
    traefik_services: set[tuple[str, str]] = field(default_factory=set)
    issuers: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, ns, name)
    crd_installer: dict[str, App | None] = field(default_factory=dict)  # group -> app
    allow_cross_ns: bool = False
    default_tls_secret: tuple[str, str] | None = None
    traefik_ns: str = ""
    zones: set[str] = field(default_factory=set)
    # (namespace, secretName) -> dnsNames of the Certificate writing that Secret
    cert_names: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def _world(ctx: _Ctx) -> _World:
    w = _World()
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
        ns = _ns(ctx, res)
        k, g = res.kind, res.group
        if k == "Namespace" and g == "":
            w.namespaces.add(res.name)
        elif k == "Service" and g == "":
            w.services[(ns, res.name)] = res
        elif k == "Secret" and g == "":
            w.secrets.add((ns, res.name))
        elif k == "Middleware" and g == "traefik.io":
            w.middlewares.add((ns, res.name))
        elif k == "TraefikService" and g == "traefik.io":
            w.traefik_services.add((ns, res.name))
        elif k in ("ClusterIssuer", "Issuer") and g == "cert-manager.io":
            w.issuers.add((k, ns if k == "Issuer" else "", res.name))
            if k == "ClusterIssuer":
                for solver in ((res.obj.get("spec") or {}).get("acme") or {}).get("solvers") or []:
                    for z in ((solver or {}).get("selector") or {}).get("dnsZones") or []:
                        w.zones.add(str(z).lower().rstrip("."))
        elif k == "Certificate" and g == "cert-manager.io":
            cspec = res.obj.get("spec") or {}
            if isinstance(cspec, dict) and cspec.get("secretName"):
                names = [str(n).lower() for n in cspec.get("dnsNames") or []]
                if cspec.get("commonName") and str(cspec["commonName"]).lower() not in names:
                    names.append(str(cspec["commonName"]).lower())
                w.cert_names[(ns, str(cspec["secretName"]))] = names
        elif k == "TLSStore" and g == "traefik.io" and res.name == "default":
            secret = ((res.obj.get("spec") or {}).get("defaultCertificate") or {}).get("secretName")
            if secret:
                w.default_tls_secret = (ns, str(secret))
        for s in operator_secrets(k, g, res.obj):
            w.secrets.add((ns, s))
        for s in operator_services(k, g, res.obj):
            w.services[(ns, s)] = None
    return w


def _service_exists(w: _World, ns: str, name: str) -> bool:
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


def _references(ctx: _Ctx, w: _World) -> None:
    hosts: dict[str, tuple[Resource, tuple[str | int, ...]]] = {}
    _values_secrets(ctx, w)
    for res in ctx.everything:
        if id(res) in ctx.unsynced:
            continue  # Argo CD never applies it
        ns = _ns(ctx, res)
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
        if k == "Application" and g == "argoproj.io":
            dest = ((res.obj.get("spec") or {}).get("destination") or {}).get("namespace")
            if dest and dest not in w.namespaces:
                ctx.add(
                    "HP-R008",
                    res,
                    f'destination namespace "{dest}" is not created by the tree',
                    ("spec", "destination", "namespace"),
                )
        if g == "traefik.io" and k in ("IngressRoute", "IngressRouteTCP"):
            _route(ctx, w, res, ns, hosts)
        if g == "cert-manager.io" and k == "Certificate":
            ref = (res.obj.get("spec") or {}).get("issuerRef") or {}
            ikind = ref.get("kind") or "Issuer"
            key = (ikind, ns if ikind == "Issuer" else "", str(ref.get("name", "")))
            if (ref.get("group") in (None, "cert-manager.io")) and key not in w.issuers:
                ctx.add(
                    "HP-R004",
                    res,
                    f'{ikind} "{ref.get("name")}" does not exist in the tree',
                    ("spec", "issuerRef", "name"),
                )
            _zone_hosts(
                ctx, w, res, (res.obj.get("spec") or {}).get("dnsNames") or [], ("spec", "dnsNames")
            )
        if g == "cert-manager.io" and k in ("ClusterIssuer", "Issuer"):
            sec_ns = ns or (_chart_ns(ctx, "cert-manager") or "cert-manager")
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
        if k in _POD_KINDS and g in ("", "apps", "batch"):
            pod, base = _pod_spec(res)
            if pod is not None:
                _pod_secrets(ctx, w, res, ns, pod, base)
        if g in ("postgresql.cnpg.io", "monitoring.coreos.com"):
            _cr_secrets(ctx, w, res, ns)
        # Custom resources sync after the Application that installs their CRD.
        if g and "." in g and not g.endswith(".k8s.io") and g not in ("apps", "batch"):
            _crd_order(ctx, w, res)


def _chart_ns(ctx: _Ctx, chart: str) -> str | None:
    return next((a.namespace for a in ctx.apps if a.chart == chart), None)


def _crd_order(ctx: _Ctx, w: _World, res: Resource) -> None:
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
    ctx: _Ctx,
    w: _World,
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


def _tls_secret(w: _World, res: Resource, ns: str) -> tuple[str, str] | None:
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
    ctx: _Ctx,
    w: _World,
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
    ctx: _Ctx, w: _World, res: Resource, names: list[Any], path: tuple[str | int, ...]
) -> None:
    if not w.zones:
        return
    for h in names:
        host = str(h).lower().rstrip(".")
        bare = host[2:] if host.startswith("*.") else host
        if not any(bare == z or bare.endswith("." + z) for z in w.zones):
            zones = ", ".join(sorted(w.zones))
            ctx.add("HP-R010", res, f'host "{h}" is outside the managed zone ({zones})', path)


def _pod_spec(res: Resource) -> tuple[dict[str, Any] | None, tuple[str | int, ...]]:
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


def _containers(pod: dict[str, Any], init: bool = True) -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for key in ("containers", "initContainers") if init else ("containers",):
        for i, c in enumerate(pod.get(key) or []):
            if isinstance(c, dict):
                out.append((key, i, c))
    return out


def _missing_secret(
    ctx: _Ctx,
    w: _World,
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


def _values_secrets(ctx: _Ctx, w: _World) -> None:
    """Secrets an Application's Helm values name: env references, existingSecret, mounts."""
    for app in ctx.apps:
        if not app.chart or not isinstance(app.values, dict) or id(app.res) in ctx.unsynced:
            continue
        ns = app.namespace

        def visit(node: Any, path: tuple[str | int, ...], app: App = app, ns: str = ns) -> None:
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
    ctx: _Ctx, w: _World, app: App, ns: str, name: Any, path: tuple[str | int, ...]
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


def _cr_secrets(ctx: _Ctx, w: _World, res: Resource, ns: str) -> None:
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

    if g == "postgresql.cnpg.io" and k == "Cluster":
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
    elif g == "monitoring.coreos.com" and k in ("Alertmanager", "Prometheus"):
        # The operator mounts each under /etc/<kind>/secrets/<name>; a missing one
        # keeps the StatefulSet's pods from starting.
        for i, name in enumerate(spec.get("secrets") or []):
            _missing_secret(ctx, w, res, ns, name, ("spec", "secrets", i))


def _pod_secrets(
    ctx: _Ctx, w: _World, res: Resource, ns: str, pod: dict[str, Any], base: tuple[str | int, ...]
) -> None:
    def need(name: Any, path: tuple[str | int, ...], optional: Any = False) -> None:
        _missing_secret(ctx, w, res, ns, name, (*base, *path), optional)

    for key, i, c in _containers(pod):
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


# -- policy -------------------------------------------------------------------------------
def _policy(ctx: _Ctx, w: _World) -> None:
    from homeport.check.policy import run_policy

    run_policy(ctx, w)


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
        ctx = _Ctx(Path(root), store, None, CheckReport(root=str(root)))
        _load(ctx, reader)
    finally:
        reader.close()
    _apps(ctx)
    _expand(ctx, Path(charts_dir), kubernetes_version, openapi)
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
    ctx = _Ctx(root, _store(openapi, dirs), chart_schema_dir, report)
    _load(ctx, reader)
    _apps(ctx)
    if charts is not None:
        _expand(ctx, charts[0], charts[1], openapi)
    _tree_crds(ctx)
    if len(ctx.resources) >= PARALLEL_MIN_OBJECTS and can_fork():
        # Schemas on a forked process while this one checks references and policy; the
        # findings are added afterwards, in the same order (and the report is sorted).
        child = Forked(lambda: _validate(ctx))
        try:
            _rest(ctx)
            _add_schema_findings(ctx, child.result())
        finally:
            child.close()
    else:
        _add_schema_findings(ctx, _validate(ctx))
        _rest(ctx)
    return _finish(ctx)


def _rest(ctx: _Ctx) -> None:
    """Every check after the schemas (none of them reads schema findings)."""
    from homeport.check.schedules import check_schedules

    _helm_values(ctx)
    _duplicates(ctx)
    check_schedules(ctx)
    world = _world(ctx)
    _references(ctx, world)
    _policy(ctx, world)


def _finish(ctx: _Ctx) -> CheckReport:
    report = ctx.report
    if ctx.cel_skipped:
        report.notes.append(
            f"{ctx.cel_skipped} CRD validation rule(s) outside the supported "
            "CEL subset were not evaluated"
        )
    uniq = {(f.file, f.line, f.rule_id, f.message): f for f in ctx.findings}
    report.findings = sorted(uniq.values(), key=lambda f: (f.file, f.line, f.rule_id, f.message))
    return report
