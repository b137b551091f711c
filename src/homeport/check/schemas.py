"""Kubernetes and CRD schemas: find them, turn them into strict JSON Schema, compile once.

Sources, in order (the first that has them wins):

* Kubernetes: the OpenAPI v3 files (``api/openapi-spec/v3/*.json``) of the
  ``k8s.io/kubernetes`` release for the target minor version, from
  ``$HOMEPORT_K8S_SCHEMA_DIR``, the ``homeport schemas pull`` cache, the bundle the
  package carries (:mod:`homeport.bundle`), or the Go module cache
  (``go mod download k8s.io/kubernetes@<version>`` puts them there).
* CRDs: every ``CustomResourceDefinition`` in the CRD directories (``--crd-dir``,
  ``$HOMEPORT_CRD_DIR``, the pull cache, else the bundle), plus CRDs found in the tree.
* Chart values schemas: ``$HOMEPORT_CHART_SCHEMA_DIR``, the pull cache, else the bundle.

The bundle is generated when the package is built, from the pinned upstream files: an
installed homeport checks offline with no environment variables.

Conversion from OpenAPI to JSON Schema (draft 2020-12): ``$ref`` targets move to
``$defs``; ``x-kubernetes-int-or-string`` becomes integer-or-string; ``nullable`` adds
``null``; descriptions, formats and defaults are dropped (annotations only). Strict mode:
every object schema that lists ``properties`` and has neither ``additionalProperties``
nor ``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false``, which
is what the API server's field validation (``fieldValidation=Strict``) enforces.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from homeport import bundle
from homeport.versions import KUBERNETES_PATCHES

Obj = dict[str, Any]
GVK = tuple[str, str, str]  # (group, version, kind)

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# k8s.io/apimachinery resource.ParseQuantity: signed number, then a binary-SI, decimal-SI
# or decimal-exponent suffix (the same pattern controller-gen writes into CRDs).
QUANTITY_RE = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_REF_PREFIX = "#/components/schemas/"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Patch release validated for each supported minor version (pinned in homeport.versions).
KUBERNETES_PATCH = KUBERNETES_PATCHES

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def cache_root() -> Path:
    """Where ``homeport schemas pull`` stores files (``$XDG_CACHE_HOME/homeport/schemas``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "homeport" / "schemas"


def kubernetes_patch(minor: str) -> str:
    """Return the pinned patch release (``v1.36.3``) for a minor version (``1.36``)."""
    if minor.startswith("v") and minor.count(".") == 2:
        return minor
    try:
        return KUBERNETES_PATCH[minor]
    except KeyError:
        known = ", ".join(sorted(KUBERNETES_PATCH))
        raise ValueError(
            f'Kubernetes version "{minor}" is not supported (known: {known})'
        ) from None


def find_openapi_dir(minor: str) -> Path | None:
    """Find the OpenAPI v3 schemas for a Kubernetes minor version, or None.

    Looks at ``$HOMEPORT_K8S_SCHEMA_DIR`` (the v3 directory itself, or a folder holding
    ``api/openapi-spec/v3``), then the pull cache, then the package's bundle (a file, not
    a directory: :meth:`SchemaStore.load_openapi_dir` reads both), then the Go module cache.
    """
    patch = kubernetes_patch(minor)
    candidates: list[Path] = []
    env = os.environ.get("HOMEPORT_K8S_SCHEMA_DIR")
    if env:
        candidates += [Path(env), Path(env) / "api" / "openapi-spec" / "v3"]
    candidates.append(cache_root() / f"kubernetes-{patch}")
    for c in candidates:
        if (c / "api__v1_openapi.json").is_file():
            return c
    bundled = bundle.kubernetes_file(patch)
    if bundled is not None:
        return bundled
    gomod = os.environ.get("GOMODCACHE") or str(
        Path(os.environ.get("GOPATH") or Path.home() / "go") / "pkg" / "mod"
    )
    v3 = Path(gomod) / "k8s.io" / f"kubernetes@{patch}" / "api" / "openapi-spec" / "v3"
    return v3 if (v3 / "api__v1_openapi.json").is_file() else None


def default_crd_dirs() -> list[Path]:
    """CRD directories: ``$HOMEPORT_CRD_DIR`` (all subfolders), the pull cache, the bundle."""
    env = os.environ.get("HOMEPORT_CRD_DIR")
    if env:
        return [Path(env)]
    cached = cache_root() / "crds"
    if cached.is_dir():
        return [cached]
    bundled = bundle.crd_dir()
    return [bundled] if bundled is not None else []


def default_chart_schema_dir() -> Path | None:
    """Chart schemas: ``$HOMEPORT_CHART_SCHEMA_DIR``, the pull cache, else the bundle."""
    env = os.environ.get("HOMEPORT_CHART_SCHEMA_DIR")
    if env:
        return Path(env)
    cached = cache_root() / "chart-schemas"
    return cached if cached.is_dir() else bundle.chart_schema_dir()


def _parse_cached(path: Path) -> list[Any]:
    """Parse a YAML/JSON file of CRDs, caching the result as JSON by content hash.

    Large CRDs (CloudNativePG, Argo CD) take seconds to parse as YAML and milliseconds as
    JSON, so each file's documents are parsed once per content and reused. JSON files
    (the bundle's gzip'd ones too) are read directly.
    """
    packed: Any = None
    if path.name.endswith(".json.gz"):
        try:
            packed = bundle.read_json_gz(path)
        except (OSError, ValueError, EOFError):
            return []
        return packed if isinstance(packed, list) else [packed]
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            packed = json.loads(data)
        except ValueError:
            pass  # YAML is a superset: let the YAML parser have a go
        else:
            return packed if isinstance(packed, list) else [packed]
    digest = hashlib.sha256(data).hexdigest()
    cached = cache_root() / "parsed" / f"{digest}.json"
    try:
        docs: list[Any] = json.loads(cached.read_text())
        return docs
    except (OSError, ValueError):
        pass
    try:
        docs = [d for d in yaml.load_all(data.decode("utf-8", "replace"), Loader=_Loader) if d]
    except yaml.YAMLError:
        return []
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(docs, default=str))
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache only costs time
    return docs


# -- OpenAPI -> JSON Schema ---------------------------------------------------------------
_DROP = {"description", "format", "default", "example", "externalDocs", "readOnly", "nullable"}


def convert(schema: Any, *, strict: bool = True, crd_root: bool = False) -> Any:
    """Convert one OpenAPI v3 (Kubernetes flavour) schema into JSON Schema 2020-12.

    Args:
        schema: The OpenAPI schema.
        strict: Reject unknown fields (see the module docstring).
        crd_root: The schema is a CRD's ``openAPIV3Schema``: its ``metadata`` is
            validated as Kubernetes ObjectMeta.

    Returns:
        The JSON Schema.
    """
    if isinstance(schema, list):
        return [convert(s, strict=strict) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Obj = {}
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for k, v in schema.items():
        if k in _DROP or k.startswith("x-"):
            continue
        if k == "$ref" and isinstance(v, str) and v.startswith(_REF_PREFIX):
            out[k] = "#/$defs/" + v[len(_REF_PREFIX) :]
        elif k in ("properties", "patternProperties", "$defs", "definitions"):
            out[k] = {name: convert(s, strict=strict) for name, s in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
            out[k] = convert(v, strict=strict)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [convert(s, strict=strict) for s in v]
        else:
            out[k] = v
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable"):
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if schema.get("x-kubernetes-embedded-resource") and "properties" in out:
        props = out["properties"]
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if strict and "properties" in out and "additionalProperties" not in schema and not preserve:
        out["additionalProperties"] = False
    if crd_root and isinstance(out.get("properties"), dict):
        props = out["properties"]
        md = props.get("metadata")
        extra = convert(md, strict=False) if isinstance(md, dict) else {}
        extra.pop("additionalProperties", None)
        props["metadata"] = {"allOf": [{"$ref": f"#/$defs/{OBJECT_META}"}, extra]}
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
    return out


def _refs(schema: Any, acc: set[str]) -> None:
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                acc.add(v[len("#/$defs/") :])
            else:
                _refs(v, acc)
    elif isinstance(schema, list):
        for v in schema:
            _refs(v, acc)


@dataclass
class CRDVersion:
    """One served version of a CRD.

    Attributes:
        group: API group.
        version: Version name.
        kind: Kind.
        scope: ``Namespaced`` or ``Cluster``.
        schema: The raw ``openAPIV3Schema`` (used for defaults and CEL rules).
        source: Where the CRD came from (a file path).
    """

    group: str
    version: str
    kind: str
    scope: str
    schema: Obj
    source: str


@dataclass
class SchemaStore:
    """Every schema a check needs, compiled lazily and once per kind.

    Attributes:
        strict: Unknown fields are errors.
    """

    strict: bool = True
    defs: dict[str, Obj] = field(default_factory=dict)
    gvks: dict[GVK, str] = field(default_factory=dict)
    crds: dict[GVK, CRDVersion] = field(default_factory=dict)
    _converted: dict[str, Any] = field(default_factory=dict)
    _validators: dict[GVK, Any] = field(default_factory=dict)
    namespaced: dict[tuple[str, str], bool] = field(default_factory=dict)
    k8s_namespaced: dict[tuple[str, str], bool] = field(default_factory=dict)
    _pending: dict[tuple[str, str], Path] = field(default_factory=dict)

    # -- loading --------------------------------------------------------------------
    def load_openapi_dir(self, directory: Path) -> None:
        """Register the ``api__v1`` / ``apis__<group>__<version>`` OpenAPI v3 files.

        The core group (which every CRD's ObjectMeta needs) loads now; every other group
        version loads the first time an object of it is checked. ``directory`` may also be
        the bundle's compact file of one release (see :func:`find_openapi_dir`), which
        loads at once: every group's definitions are merged in it.
        """
        if directory.is_file():
            self._add_openapi(bundle.read_json_gz(directory))
            return
        for p in sorted(directory.glob("*_openapi.json")):
            name = p.name[: -len("_openapi.json")]
            parts = name.split("__")
            if name == "api__v1":
                self._pending[("", "v1")] = p
            elif parts[0] == "apis" and len(parts) == 3:
                self._pending[(parts[1], parts[2])] = p
        self._ensure("", "v1")

    def _ensure(self, group: str, version: str | None = None) -> None:
        if not self._pending:
            return
        if version is not None:  # one key: no scan (this runs once per checked object)
            one = self._pending.pop((group, version), None)
            if one is not None:
                self._add_openapi(json.loads(one.read_text()))
            return
        keys = [k for k in self._pending if k[0] == group]
        for k in keys:
            p = self._pending.pop(k, None)
            if p is not None:
                self._add_openapi(json.loads(p.read_text()))

    def _add_openapi(self, doc: Obj) -> None:
        schemas = doc.get("components", {}).get("schemas", {})
        for name, s in schemas.items():
            self.defs.setdefault(name, s)
            for g in s.get("x-kubernetes-group-version-kind", []) or []:
                gvk = (g.get("group", ""), g.get("version", ""), g.get("kind", ""))
                # List kinds and option kinds share GVKs with watch events; keep the first
                # schema that has the object shape (apiVersion/kind/metadata).
                if gvk not in self.gvks and "metadata" in s.get("properties", {}):
                    self.gvks[gvk] = name
        for group, kind, ns in doc.get("x-homeport-namespaced", []):  # the bundle's form
            self.k8s_namespaced[(group, kind)] = ns
        for path, item in doc.get("paths", {}).items():
            # Namespaced resources have '/namespaces/{namespace}/' in their paths.
            for op in item.values():
                if not isinstance(op, dict):
                    continue
                g = op.get("x-kubernetes-group-version-kind")
                if isinstance(g, dict) and not path.endswith("/watch"):
                    key = (g.get("group", ""), g.get("kind", ""))
                    ns = "/namespaces/{namespace}/" in path
                    self.k8s_namespaced[key] = self.k8s_namespaced.get(key, False) or ns

    def load_crd_dirs(self, dirs: Iterable[Path]) -> None:
        """Load every CRD from YAML files under the given directories (recursively)."""
        for d in dirs:
            if d.is_file():
                files = [d]
            else:
                files = sorted(
                    p
                    for p in d.rglob("*")
                    if p.suffix in (".yaml", ".yml", ".json") or p.name.endswith(".json.gz")
                )
            for f in files:
                for doc in _parse_cached(f):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        self.add_crd(doc, str(f))

    def add_crd(self, crd: Obj, source: str) -> list[GVK]:
        """Register a CustomResourceDefinition; return the GVKs it serves."""
        spec = crd.get("spec") or {}
        group = spec.get("group", "")
        kind = (spec.get("names") or {}).get("kind", "")
        scope = spec.get("scope", "Namespaced")
        out = []
        for v in spec.get("versions") or []:
            if not isinstance(v, dict) or not v.get("served", True):
                continue
            schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
            gvk = (group, str(v.get("name", "")), kind)
            self.crds[gvk] = CRDVersion(group, gvk[1], kind, scope, schema, source)
            self._validators.pop(gvk, None)
            out.append(gvk)
        self.namespaced[(group, kind)] = scope == "Namespaced"
        return out

    def overlay(self) -> SchemaStore:
        """A copy that shares the compiled Kubernetes schemas but takes its own CRDs."""
        return SchemaStore(
            strict=self.strict,
            defs=self.defs,
            gvks=self.gvks,
            crds=dict(self.crds),
            _converted=self._converted,
            _validators=dict(self._validators),
            namespaced=dict(self.namespaced),
            k8s_namespaced=self.k8s_namespaced,
            _pending=self._pending,
        )

    # -- queries --------------------------------------------------------------------
    def knows(self, gvk: GVK) -> bool:
        """Whether a schema exists for the kind."""
        if gvk in self.crds:
            return True
        self._ensure(gvk[0], gvk[1])
        return gvk in self.gvks

    def kinds_of_group(self, group: str) -> set[str]:
        """Kinds any known schema serves in a group."""
        self._ensure(group)
        return {k for (g, _, k) in (*self.gvks, *self.crds) if g == group}

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        """Whether objects of the kind live in a namespace (None when unknown)."""
        if (group, kind) in self.namespaced:
            return self.namespaced[(group, kind)]
        self._ensure(group)
        return self.k8s_namespaced.get((group, kind))

    def _def(self, name: str) -> Any:
        c = self._converted.get(name)
        if c is None:
            c = convert(self.defs[name], strict=self.strict)
            if name == QUANTITY:
                # OpenAPI says only string-or-number; the API server parses the string and
                # rejects "5GB" or "1 Gi", so the check does too.
                c = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": QUANTITY_RE}]}
            self._converted[name] = c
        return c

    def _closure(self, root: Any) -> dict[str, Any]:
        pending: set[str] = set()
        _refs(root, pending)
        out: dict[str, Any] = {}
        while pending:
            name = pending.pop()
            if name in out or name not in self.defs:
                continue
            out[name] = self._def(name)
            more: set[str] = set()
            _refs(out[name], more)
            pending |= more - out.keys()
        return out

    def document(self, gvk: GVK) -> Obj:
        """Return the self-contained JSON Schema document for a kind."""
        if gvk in self.crds:
            root = convert(self.crds[gvk].schema, strict=self.strict, crd_root=True)
        else:
            self._ensure(gvk[0], gvk[1])
            root = {"$ref": f"#/$defs/{self.gvks[gvk]}"}
        doc: Obj = {"$schema": _DRAFT, **root}
        defs = self._closure(root)
        if defs:
            doc["$defs"] = defs
        return doc

    def validator(self, gvk: GVK) -> Any:
        """Return the compiled validator of a kind (compiled on first use, then reused)."""
        v = self._validators.get(gvk)
        if v is None:
            v = jsonschema_rs.validator_for(self.document(gvk), validate_formats=False)
            self._validators[gvk] = v
        return v

    def crd_schema(self, gvk: GVK) -> Obj | None:
        """The raw CRD schema of a custom kind (None for built-in kinds)."""
        c = self.crds.get(gvk)
        return c.schema if c else None

    def export(self, directory: Path, gvks: Iterable[GVK]) -> int:
        """Write each kind's JSON Schema as ``<dir>/<group>/<version>/<kind>.json``.

        Used to feed kubeconform the very same schemas: ``-schema-location
        '<dir>/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json'`` (the core
        group is written under ``v1/v1/``, as kubeconform names it).

        Returns:
            The number of files written.
        """
        n = 0
        for gvk in sorted(set(gvks)):
            if not self.knows(gvk):
                continue
            g, v, k = gvk
            # kubeconform's {{ .Group }} is the apiVersion's first part: "v1" for core.
            p = directory / (g or v) / v / f"{k.lower()}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            doc = copy.deepcopy(self.document(gvk))
            p.write_text(json.dumps(doc))
            n += 1
        return n


def split_api_version(api_version: str) -> tuple[str, str]:
    """Split ``apps/v1`` into (``apps``, ``v1``) and ``v1`` into (``""``, ``v1``)."""
    if "/" in api_version:
        g, v = api_version.split("/", 1)
        return g, v
    return "", api_version
