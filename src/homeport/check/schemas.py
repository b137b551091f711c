"""Every schema a check needs, by kind: loaded lazily, converted and compiled once.

:class:`SchemaStore` holds the Kubernetes definitions of one release (from the sources
of :mod:`homeport.check.sources`) and the CRDs, converts a kind's schema to strict JSON
Schema (:mod:`homeport.check.openapi`) the first time an object of that kind is checked,
and compiles it with jsonschema-rs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from homeport import bundle
from homeport.check.crdfiles import (
    CRDEntry,
    crd_entries,
    crd_files,
    served_versions,
    version_schema,
)
from homeport.check.openapi import QUANTITY, QUANTITY_RE, Obj, collect_refs, convert

GVK = tuple[str, str, str]  # (group, version, kind)

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


class CRDVersion:
    """One served version of a CRD; its schema is read from its file on first use.

    Attributes:
        group: API group.
        version: Version name.
        kind: Kind.
        scope: ``Namespaced`` or ``Cluster``.
        source: Where the CRD came from (a file path).
    """

    def __init__(self, entry: CRDEntry, position: int, version: str, source: str) -> None:
        self.group, self.version, self.kind = entry.group, version, entry.kind
        self.scope, self.source = entry.scope, source
        self._crd, self._position = entry.crd, position
        self._schema: Obj | None = None

    @property
    def schema(self) -> Obj:
        """The raw ``openAPIV3Schema`` (used for defaults and CEL rules)."""
        if self._schema is None:
            self._schema = version_schema(self._crd(), self._position)
        return self._schema


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
        """Register every CRD of the files under the given directories (recursively).

        Their schemas are read when first needed (see :mod:`homeport.check.crdfiles`).
        """
        for f, entries in crd_entries(crd_files(dirs)):
            for entry in entries:
                self._add(entry, str(f))

    def add_crd(self, crd: Obj, source: str) -> list[GVK]:
        """Register a CustomResourceDefinition; return the GVKs it serves."""
        group, kind, scope, versions = served_versions(crd)
        return self._add(CRDEntry(group, kind, scope, tuple(versions), lambda: crd), source)

    def _add(self, entry: CRDEntry, source: str) -> list[GVK]:
        out = []
        for position, version in entry.versions:
            gvk = (entry.group, version, entry.kind)
            self.crds[gvk] = CRDVersion(entry, position, version, source)
            self._validators.pop(gvk, None)
            out.append(gvk)
        self.namespaced[(entry.group, entry.kind)] = entry.scope == "Namespaced"
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
        collect_refs(root, pending)
        out: dict[str, Any] = {}
        while pending:
            name = pending.pop()
            if name in out or name not in self.defs:
                continue
            out[name] = self._def(name)
            more: set[str] = set()
            collect_refs(out[name], more)
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
