"""Expand the tree's Helm Applications with real Helm, as Argo CD's repo-server does.

For every Application with a Helm source whose chart is in the chart cache
(``<dir>/<chart>-<version>``, unpacked with its dependencies), run ``helm template``
with what Argo CD v3.5.1 passes: the release name (``helm.releaseName`` or the
Application name), the destination namespace, the values (``values`` then
``valuesObject`` on top), ``--kube-version``, ``--api-versions`` for every API the
cluster serves (the Kubernetes release's GA groups plus every CRD the tree installs)
and ``--include-crds``. The objects Helm writes are then checked like the tree's own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport.check.loader import parse_file
from homeport.check.resource import LoadProblem
from homeport.check.sources import cache_root

# Argo CD ignores Helm test hooks; every other hook becomes one of its own hooks.
_TEST_HOOKS = {"test", "test-success", "test-failure"}
HELM_TIMEOUT = 120.0
_MANIFEST_SPLIT = re.compile(r"^---[ \t]*\n(?=# Source: )", re.M)


@dataclass(frozen=True)
class HelmSource:
    """What Argo CD knows about one Helm Application.

    Attributes:
        app: The Application's name.
        chart: Chart name.
        version: Chart version (``targetRevision``).
        release: Release name.
        namespace: Destination namespace.
        values: The merged values (``values`` string, then ``valuesObject`` over it).
    """

    app: str
    chart: str
    version: str
    release: str
    namespace: str
    values: Any


@dataclass
class Expansion:
    """The objects one chart expands into.

    Attributes:
        source: What was expanded.
        objects: ``(template source, object)`` pairs in Helm's output order.
        error: Helm's error (its ``Error:`` line), or '' when it succeeded.
        chart_dir: The chart folder used.
        missing_dependencies: The cached chart lacks subcharts (a cache problem, not
            the tree's).
    """

    source: HelmSource
    objects: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: str = ""
    chart_dir: Path | None = None
    missing_dependencies: bool = False


def default_charts_dir() -> Path | None:
    """The chart cache: ``$HOMEPORT_CHARTS_DIR``, else ``homeport charts pull``'s cache."""
    env = os.environ.get("HOMEPORT_CHARTS_DIR")
    if env:
        return Path(env)
    d = charts_cache()
    return d if d.is_dir() else None


def charts_cache() -> Path:
    """Where ``homeport charts pull`` unpacks charts."""
    return cache_root().parent / "charts"


def helm_binary() -> str | None:
    """The Helm to expand with: ``$HOMEPORT_HELM``, the tools cache, else ``helm`` on PATH.

    None when none is installed (or ``$HOMEPORT_HELM`` is not an executable file).
    """
    env = os.environ.get("HOMEPORT_HELM")
    if env:
        return env if Path(env).is_file() and os.access(env, os.X_OK) else None
    tools = Path(os.environ.get("HOMEPORT_TOOLS") or Path.home() / ".cache" / "homeport-tools")
    cached = tools / "bin" / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("helm")


def chart_dir(charts: Path, chart: str, version: str) -> Path | None:
    """The unpacked chart folder for a pin (``<chart>-<version>``), if present."""
    bare = version.lstrip("v")
    for name in dict.fromkeys((f"{chart}-{version}", f"{chart}-{bare}", f"{chart}-v{bare}")):
        d = charts / name
        if (d / "Chart.yaml").is_file():
            return d
    return None


_GVK = re.compile(r'"group": "([^"]*)",\s*"kind": "([^"]*)",\s*"version": "([^"]*)"')
# Kinds in the OpenAPI files that are not resources the API server lists in discovery.
_NOT_RESOURCES = {"DeleteOptions", "WatchEvent", "Status", "APIResourceList", "APIGroup"}
_BUILTIN: dict[str, list[str]] = {}


def builtin_api_versions(openapi_dir: Path) -> list[str]:
    """``group/version`` and ``group/version/Kind`` a cluster of that release serves.

    Read from the release's OpenAPI v3 files (as Argo CD reads the cluster's discovery),
    or from the package bundle's compact file of that release (resources are the kinds it
    lists in ``x-homeport-namespaced``); alpha and beta versions are off by default and
    left out.
    """
    key = str(openapi_dir)
    if key in _BUILTIN:
        return _BUILTIN[key]
    out: set[str] = set()
    if openapi_dir.is_file():
        from homeport import bundle

        doc = bundle.read_json_gz(openapi_dir)
        kinds = {(g, k) for g, k, _ns in doc.get("x-homeport-namespaced", [])}
        for s in doc.get("components", {}).get("schemas", {}).values():
            for gvk in s.get("x-kubernetes-group-version-kind", []) or []:
                g, v, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
                if (g, kind) not in kinds or "alpha" in v or "beta" in v:
                    continue
                gv = f"{g}/{v}" if g else v
                out.update((gv, f"{gv}/{kind}"))
        _BUILTIN[key] = sorted(out)
        return _BUILTIN[key]
    for p in sorted(openapi_dir.glob("*_openapi.json")):
        parts = p.name[: -len("_openapi.json")].split("__")
        if parts == ["api", "v1"]:
            group, version = "", "v1"
        elif parts[0] == "apis" and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            continue
        if "alpha" in version or "beta" in version:
            continue
        gv = f"{group}/{version}" if group else version
        out.add(gv)
        for g, kind, v in _GVK.findall(p.read_text()):
            resource = not kind.endswith("List") and kind not in _NOT_RESOURCES
            if (g, v) == (group, version) and resource:
                out.add(f"{gv}/{kind}")
    _BUILTIN[key] = sorted(out)
    return _BUILTIN[key]


def crd_api_versions(crds: Iterable[dict[str, Any]]) -> list[str]:
    """``group/version`` and ``group/version/Kind`` for every served version of the CRDs."""
    out: list[str] = []
    for crd in crds:
        spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        group = str(spec.get("group", ""))
        kind = str((spec.get("names") or {}).get("kind", ""))
        for v in spec.get("versions") or []:
            if isinstance(v, dict) and v.get("served", True) and group:
                out += [f"{group}/{v.get('name')}", f"{group}/{v.get('name')}/{kind}"]
    return out


def _strip_nulls(value: Any) -> Any:
    # The API server reads a null field as an absent one (Helm writes `annotations:` empty).
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _parse_output(text: str) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    # Helm writes every manifest as "---\n# Source: <template>\n<document>".
    for piece in _MANIFEST_SPLIT.split(text):
        source = ""
        if piece.startswith("# Source: "):
            source = piece.split("\n", 1)[0][len("# Source: ") :].strip()
        # Read as Kubernetes reads YAML (the check's own loader).
        docs, _src = parse_file(piece, source or "helm output")
        for data in docs:
            if not isinstance(data, dict):
                continue
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            hook = str(((meta or {}).get("annotations") or {}).get("helm.sh/hook", ""))
            if hook and {h.strip() for h in hook.split(",")} <= _TEST_HOOKS:
                continue
            out.append((source, _strip_nulls(data)))
    return out


def expand_one(
    helm: str,
    directory: Path,
    src: HelmSource,
    kube_version: str,
    api_versions: list[str],
) -> Expansion:
    """Run ``helm template`` for one Application, as Argo CD's repo-server would."""
    exp = Expansion(src, chart_dir=directory)
    with tempfile.TemporaryDirectory(prefix="homeport-helm-") as tmp:
        values = Path(tmp) / "values.json"
        values.write_text(json.dumps(src.values if isinstance(src.values, dict) else {}))
        args = [
            helm,
            "template",
            str(directory),
            "--name-template",
            src.release,
            "--namespace",
            src.namespace,
            "--kube-version",
            kube_version,
            "--values",
            str(values),
            "--include-crds",
        ]
        for v in api_versions:
            args += ["--api-versions", v]
        env = {
            **os.environ,
            # Helm must not read the user's repositories or plugins, nor write caches there.
            "HELM_CONFIG_HOME": str(Path(tmp) / "config"),
            "HELM_CACHE_HOME": str(Path(tmp) / "cache"),
            "HELM_DATA_HOME": str(Path(tmp) / "data"),
        }
        try:
            r = subprocess.run(
                args, capture_output=True, text=True, env=env, timeout=HELM_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            exp.error = f"helm did not run: {exc}"
            return exp
    if r.returncode != 0:
        lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
        first = next((ln for ln in lines if ln.startswith("Error:")), None)
        exp.error = first or (lines[-1] if lines else f"helm exited with {r.returncode}")
        exp.error = exp.error.removeprefix("Error: ")
        exp.missing_dependencies = "missing in charts/ directory" in exp.error
        return exp
    try:
        exp.objects = _parse_output(r.stdout)
    except LoadProblem as exc:
        exp.error = f"Helm output is not YAML: {exc}"
    return exp


def expand(
    sources: list[tuple[HelmSource, Path]],
    kube_version: str,
    api_versions: list[str],
    helm: str,
) -> list[Expansion]:
    """Expand several charts at once (Helm is a separate process: threads overlap them)."""
    if not sources:
        return []
    workers = max(1, min(len(sources), os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(expand_one, helm, d, s, kube_version, api_versions) for s, d in sources
        ]
        return [f.result() for f in futures]


def expanded_crds(expansions: Iterable[Expansion]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition the expanded charts install."""
    return [
        obj
        for e in expansions
        for _src, obj in e.objects
        if obj.get("kind") == "CustomResourceDefinition"
        and str(obj.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    ]


__all__ = [
    "Expansion",
    "HelmSource",
    "builtin_api_versions",
    "chart_dir",
    "charts_cache",
    "crd_api_versions",
    "default_charts_dir",
    "expand",
    "expand_one",
    "expanded_crds",
    "helm_binary",
]
