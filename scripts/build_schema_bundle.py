#!/usr/bin/env python3
"""Generate the schema bundle homeport's package carries: ``src/homeport/data/schemas``.

An installed homeport checks its own output and bootstraps a cluster with no network and
no environment variables, from this bundle. It is generated (never committed: see
``.gitignore``) from the pinned upstream sources, by ``scripts/setup.sh`` and by the
package build (``setup.py``'s ``build_py`` step, editable installs included):

* Kubernetes OpenAPI v3 (``api/openapi-spec/v3`` of ``k8s.io/kubernetes`` at each patch
  in ``versions.KUBERNETES_PATCHES``), read from the Go module cache; ``go mod download``
  fetches a missing release from the Go module proxy. Stored compact: the definitions of
  every group version merged once, with only the keywords ``homeport check`` reads
  (descriptions, formats, defaults and patch directives dropped), plus which kinds are
  namespaced; one gzip'd minified JSON file per minor version.
* Every pinned CRD (``versions.CRD_FOLDERS``) from ``<shared>/crds``: the full upstream
  documents (``bootstrap`` applies them as they are), one gzip'd JSON list per folder.
* Every pinned chart values schema (``versions.CHART_SCHEMA_FOLDERS``) from
  ``<shared>/chart-schemas``, minified.
* The pinned Argo CD ``install.yaml`` from ``<shared>/upstream/argo-cd-<version>``,
  gzip'd JSON.

``<shared>`` is ``--shared``, ``$HOMEPORT_SHARED`` or the repository's ``../shared``. Where
it lacks a file, ``--download`` fetches it from upstream at the pinned tag (raw GitHub files,
or ``--base-url``, the same paths ``homeport schemas pull`` uses): a release build on a
machine without ``../shared``.
``MANIFEST.json`` records the pins and a digest of every output; a bundle whose manifest
matches the current pins is left alone (``--force`` regenerates). Output is deterministic.

Needs only the standard library and PyYAML (a build requirement), so it runs inside an
isolated build environment where homeport itself is not installed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Fetch = Callable[[str], bytes]
DEFAULT_OUT = ROOT / "src" / "homeport" / "data" / "schemas"
GITHUB_RAW = "https://raw.githubusercontent.com"
FORMAT = 1

# Schema keywords that hold sub-schemas (walked); everything else is copied or dropped.
_SUB_MAP = ("properties", "patternProperties", "$defs", "definitions")
_SUB_ONE = ("items", "additionalProperties", "not")
_SUB_LIST = ("allOf", "anyOf", "oneOf")
# Extensions `homeport check` reads from Kubernetes' own schemas (openapi.convert and the
# kind index); every other x- key, and these annotations, are dropped.
_K8S_KEEP_X = {
    "x-kubernetes-group-version-kind",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
}
_K8S_DROP = {"description", "format", "default", "example", "externalDocs", "readOnly"}


class BundleError(Exception):
    """A source is missing or unreadable."""


def _load(name: str) -> ModuleType:
    """Import ``homeport.<name>`` from this source tree (its dependencies need not exist).

    ``versions`` and ``upstream`` use only the standard library, and the package's
    ``__init__`` imports nothing, so this works inside an isolated build environment.
    """
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    return importlib.import_module(f"homeport.{name}")


def load_versions() -> ModuleType:
    """The pins: ``src/homeport/versions.py``."""
    return _load("versions")


def fetcher(base_url: str, timeout: float = 60.0) -> Fetch:
    """A function that downloads one upstream path below ``base_url``."""

    def fetch(path: str) -> bytes:
        url = f"{base_url.rstrip('/')}/{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                data: bytes = resp.read()
                return data
        except (urllib.error.URLError, OSError) as exc:
            raise BundleError(f"downloading {url}: {exc}") from None

    return fetch


def strip_k8s(schema: Any) -> Any:
    """Keep only what ``homeport.check.openapi.convert`` reads of a Kubernetes schema."""
    if isinstance(schema, list):
        return [strip_k8s(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k in _K8S_DROP or (k.startswith("x-") and k not in _K8S_KEEP_X):
            continue
        if k in _SUB_MAP and isinstance(v, dict):
            out[k] = {name: strip_k8s(s) for name, s in v.items()}
        elif (k in _SUB_ONE and isinstance(v, dict)) or (k in _SUB_LIST and isinstance(v, list)):
            out[k] = strip_k8s(v)
        else:
            out[k] = v
    return out


def _openapi_files(v3: Path) -> list[Path]:
    """``api__v1`` first, then every ``apis__<group>__<version>`` file (the loader's order)."""
    files = []
    for p in sorted(v3.glob("*_openapi.json")):
        parts = p.name[: -len("_openapi.json")].split("__")
        if parts == ["api", "v1"] or (parts[0] == "apis" and len(parts) == 3):
            files.append(p)
    files.sort(key=lambda p: p.name != "api__v1_openapi.json")
    return files


def compact_kubernetes(v3: Path) -> dict[str, Any]:
    """Merge one release's OpenAPI v3 files into the compact document the wheel carries.

    Returns:
        ``{"components": {"schemas": ...}, "x-homeport-namespaced": [[group, kind, bool]]}``:
        the shape ``SchemaStore`` reads, without the ``paths`` (only the namespaced flag
        of each kind is derived from them).
    """
    files = _openapi_files(v3)
    if not files or files[0].name != "api__v1_openapi.json":
        raise BundleError(f"{v3}: no api__v1_openapi.json")
    schemas: dict[str, Any] = {}
    namespaced: dict[tuple[str, str], bool] = {}
    for f in files:
        doc = json.loads(f.read_text())
        for name, s in (doc.get("components") or {}).get("schemas", {}).items():
            if name not in schemas:
                schemas[name] = strip_k8s(s)
        for path, item in (doc.get("paths") or {}).items():
            for op in item.values():
                if not isinstance(op, dict):
                    continue
                g = op.get("x-kubernetes-group-version-kind")
                if isinstance(g, dict) and not path.endswith("/watch"):
                    key = (g.get("group", ""), g.get("kind", ""))
                    ns = "/namespaces/{namespace}/" in path
                    namespaced[key] = namespaced.get(key, False) or ns
    return {
        "components": {"schemas": schemas},
        "x-homeport-namespaced": [[g, k, ns] for (g, k), ns in sorted(namespaced.items())],
    }


def go_binary() -> str:
    """The ``go`` command (PATH, else the usual /usr/local/go)."""
    found = shutil.which("go")
    if found:
        return found
    if os.access("/usr/local/go/bin/go", os.X_OK):
        return "/usr/local/go/bin/go"
    raise BundleError("go is not installed: it fetches the Kubernetes OpenAPI schemas")


def kubernetes_openapi_dir(patch: str) -> Path:
    """The OpenAPI v3 folder of ``k8s.io/kubernetes@patch`` in the Go module cache.

    ``go mod download`` returns at once when the module is cached, and fetches it from the
    Go module proxy otherwise (about 20 MB per release).
    """
    with tempfile.TemporaryDirectory() as tmp:  # outside any module: plain download mode
        res = subprocess.run(
            [go_binary(), "mod", "download", "-json", f"k8s.io/kubernetes@{patch}"],
            capture_output=True,
            text=True,
            cwd=tmp,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            check=False,
        )
    try:
        info = json.loads(res.stdout)
    except ValueError:
        info = {}
    if res.returncode != 0 or "Dir" not in info:
        msg = info.get("Error") or res.stderr.strip() or f"exit {res.returncode}"
        raise BundleError(f"go mod download k8s.io/kubernetes@{patch}: {msg}")
    v3 = Path(info["Dir"]) / "api" / "openapi-spec" / "v3"
    if not (v3 / "api__v1_openapi.json").is_file():
        raise BundleError(f"{v3}: no api__v1_openapi.json")
    return v3


def _yaml_docs(path: Path | str, text: str | None = None) -> list[Any]:
    import yaml  # the build requirement; imported late so --help works without it

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        if text is None:
            text = Path(path).read_text()
        return [d for d in yaml.load_all(text, Loader=loader) if d]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BundleError(f"{path}: {exc}") from None


def _dump(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=False).encode()


def _gzip(data: bytes) -> bytes:
    # mtime=0 and no file name: the same input gives the same bytes.
    return gzip.compress(data, compresslevel=9, mtime=0)


def expected_manifest(v: ModuleType) -> dict[str, Any]:
    """What the bundle holds for the current pins (without the output digests)."""
    return {
        "format": FORMAT,
        "kubernetes": {m: v.KUBERNETES_PATCHES[m] for m in v.SUPPORTED_KUBERNETES},
        "crds": dict(sorted(v.CRD_FOLDERS.items())),
        "chart_schemas": dict(sorted(v.CHART_SCHEMA_FOLDERS.items())),
        "argocd": v.ARGOCD_VERSION,
    }


def is_current(out: Path, v: ModuleType) -> bool:
    """Whether ``out`` holds a complete bundle for the current pins."""
    try:
        manifest = json.loads((out / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return False
    files = manifest.pop("files", {})
    if manifest != expected_manifest(v):
        return False
    for rel, digest in files.items():
        try:
            if hashlib.sha256((out / rel).read_bytes()).hexdigest() != digest:
                return False
        except OSError:
            return False
    return bool(files)


def shared_dir(arg: str | None) -> Path:
    """The upstream reference folder: ``--shared``, ``$HOMEPORT_SHARED`` or ``../shared``."""
    return Path(arg or os.environ.get("HOMEPORT_SHARED") or ROOT.parent / "shared")


def build(out: Path, shared: Path, v: ModuleType, fetch: Fetch | None = None) -> dict[str, int]:
    """Write the bundle into ``out`` (replaced as a whole, atomically).

    Args:
        out: The bundle directory.
        shared: The upstream reference folder.
        v: The pins (:func:`load_versions`).
        fetch: Downloads an upstream path; used for what ``shared`` lacks (None: nothing
            is downloaded and a missing file is an error).

    Returns:
        Size in bytes of each file written, by path relative to ``out``.
    """
    up = _load("upstream") if fetch is not None else None
    outputs: dict[str, bytes] = {}
    for minor in v.SUPPORTED_KUBERNETES:
        patch = v.KUBERNETES_PATCHES[minor]
        doc = compact_kubernetes(kubernetes_openapi_dir(patch))
        outputs[f"kubernetes/{patch}.json.gz"] = _gzip(_dump(doc))
    for key, folder in sorted(v.CRD_FOLDERS.items()):
        src = shared / "crds" / folder
        files = sorted(p for p in src.glob("*") if p.suffix in (".yaml", ".yml"))
        docs: list[Any] = [d for f in files for d in _yaml_docs(f)]
        if not files and fetch is not None and up is not None:
            paths = sorted(up.crd_sources().get(folder, []), key=lambda p: p.rsplit("/", 1)[1])
            docs = [d for p in paths for d in _yaml_docs(p, fetch(p).decode())]
        if not docs:
            raise BundleError(f"{src}: no CRD files for {key}")
        crds = [
            d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
        ]
        if not crds:
            raise BundleError(f"{src}: no CustomResourceDefinition")
        outputs[f"crds/{folder}.json.gz"] = _gzip(_dump(crds))
    for key, folder in sorted(v.CHART_SCHEMA_FOLDERS.items()):
        src = shared / "chart-schemas" / folder / "values.schema.json"
        remote = up.chart_schema_sources().get(folder) if up is not None else None
        try:
            if not src.is_file() and fetch is not None and remote:
                schema = json.loads(fetch(remote))
            else:
                schema = json.loads(src.read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"{src}: values schema of {key}: {exc}") from None
        outputs[f"chart-schemas/{folder}/values.schema.json"] = _dump(schema)
    src = shared / "upstream" / f"argo-cd-{v.ARGOCD_VERSION}" / "install.yaml"
    if not src.is_file() and fetch is not None and up is not None:
        remote = up.argocd_install_source()
        argo = _yaml_docs(remote, fetch(remote).decode())
    else:
        argo = _yaml_docs(src)
    outputs[f"argocd/install-{v.ARGOCD_VERSION}.json.gz"] = _gzip(_dump(argo))

    manifest = expected_manifest(v)
    manifest["files"] = {k: hashlib.sha256(b).hexdigest() for k, b in sorted(outputs.items())}
    outputs["MANIFEST.json"] = json.dumps(manifest, indent=1).encode() + b"\n"

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, data in outputs.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        old = out.with_name(f".{out.name}.old.{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: len(b) for k, b in outputs.items()}


def ensure(out: Path = DEFAULT_OUT, shared: str | None = None, force: bool = False) -> bool:
    """Generate the bundle unless a current one exists; return whether it was written.

    ``$HOMEPORT_BUNDLE_DOWNLOAD=1`` lets the build download what ``shared`` lacks (a
    release build without ``../shared``).
    """
    v = load_versions()
    if not force and is_current(out, v):
        return False
    fetch = fetcher(GITHUB_RAW) if os.environ.get("HOMEPORT_BUNDLE_DOWNLOAD") == "1" else None
    build(out, shared_dir(shared), v, fetch)
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: ``build_schema_bundle.py [--out DIR] [--shared DIR] [--force]``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--shared", help="upstream reference folder (default ../shared)")
    ap.add_argument("--force", action="store_true", help="regenerate even if current")
    ap.add_argument("--check", action="store_true", help="exit 1 if the bundle is stale")
    ap.add_argument(
        "--download", action="store_true", help="fetch what the shared folder lacks from upstream"
    )
    ap.add_argument("--base-url", default=GITHUB_RAW, help="mirror of raw.githubusercontent.com")
    args = ap.parse_args(argv)
    v = load_versions()
    if args.check:
        ok = is_current(args.out, v)
        print(f"{args.out}: {'current' if ok else 'missing or stale'}")
        return 0 if ok else 1
    if not args.force and is_current(args.out, v):
        print(f"{args.out}: current")
        return 0
    try:
        fetch = fetcher(args.base_url) if args.download else None
        sizes = build(args.out, shared_dir(args.shared), v, fetch)
    except BundleError as exc:
        print(f"schema bundle: {exc}", file=sys.stderr)
        return 2
    total = sum(sizes.values())
    print(f"{args.out}: {len(sizes)} files, {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
