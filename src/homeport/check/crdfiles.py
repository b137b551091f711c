"""CRD files: the kinds each serves (cached by content hash) and, on demand, their schemas.

A CRD directory holds megabytes of YAML (Argo CD's ApplicationSet CRD alone is 1.4 MB)
of which a check reads a few kinds. Each YAML file is parsed once per content: its
documents are cached as JSON (``<cache>/parsed/<sha256>.json``) next to a summary of what
it serves (``<sha256>.crds.json``: group, kind, scope and served versions of each CRD).
A check reads the summaries and parses a file's JSON only when an object of one of its
kinds is validated. The SHA-256 of each file is remembered with the file's device, inode,
size, modification and change times (``parsed/digests.json``); any write to a file
changes its change time, so an unchanged directory is not read again, and a changed
file is hashed anew. JSON files (the bundle's gzip'd ones too) are read whole, and
nothing is written for them.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport import bundle
from homeport.check.sources import cache_root

Obj = dict[str, Any]
_CRD = "CustomResourceDefinition"
_SCHEMALESS: Obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def served_versions(crd: Obj) -> tuple[Any, Any, Any, list[tuple[int, str]]]:
    """A CRD's group, kind, scope and served versions (position in ``spec.versions``, name)."""
    spec = crd.get("spec") or {}
    versions = [
        (i, str(v.get("name", "")))
        for i, v in enumerate(spec.get("versions") or [])
        if isinstance(v, dict) and v.get("served", True)
    ]
    kind = (spec.get("names") or {}).get("kind", "")
    return spec.get("group", ""), kind, spec.get("scope", "Namespaced"), versions


def version_schema(crd: Obj, position: int) -> Obj:
    """The ``openAPIV3Schema`` of ``spec.versions[position]`` (any object when it has none)."""
    v = (crd.get("spec") or {})["versions"][position]
    schema: Obj = ((v.get("schema") or {}).get("openAPIV3Schema")) or dict(_SCHEMALESS)
    return schema


@dataclass(frozen=True)
class CRDEntry:
    """One CRD of a file: what it serves, and its schemas when asked.

    Attributes:
        group: API group.
        kind: Kind.
        scope: ``Namespaced`` or ``Cluster``.
        versions: Served versions: (position in ``spec.versions``, name).
        crd: Returns the whole CRD (parsing its file on first use).
    """

    group: Any
    kind: Any
    scope: Any
    versions: tuple[tuple[int, str], ...]
    crd: Callable[[], Obj]


def crd_files(dirs: Iterable[Path]) -> list[Path]:
    """The CRD files of ``dirs`` (a directory's files recursively, sorted; a file itself)."""
    out: list[Path] = []
    for d in dirs:
        if d.is_file():
            out.append(d)
        else:
            out += sorted(
                p
                for p in d.rglob("*")
                if p.suffix in (".yaml", ".yml", ".json") or p.name.endswith(".json.gz")
            )
    return out


def crd_entries(files: list[Path]) -> list[tuple[Path, list[CRDEntry]]]:
    """Every CRD of each file, in file order then document order.

    Raises:
        OSError: A file cannot be read.
    """
    yaml_files = [f for f in files if not f.name.endswith((".json.gz", ".json"))]
    digests = _Digests() if yaml_files else None
    out: list[tuple[Path, list[CRDEntry]]] = []
    for f in files:
        if digests is None or f.name.endswith((".json.gz", ".json")):
            out.append((f, _entries(_whole(f))))
            continue
        docs = _Documents(f, digests.digest(f))
        out.append((f, docs.entries()))
    if digests is not None:
        digests.save()
    return out


def _entries(docs: list[Any]) -> list[CRDEntry]:
    out = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == _CRD:
            group, kind, scope, versions = served_versions(doc)
            out.append(CRDEntry(group, kind, scope, tuple(versions), _constant(doc)))
    return out


def _constant(doc: Obj) -> Callable[[], Obj]:
    return lambda: doc


def _whole(path: Path) -> list[Any]:
    """A JSON file's documents (a list, or one document)."""
    packed: Any = None
    if path.name.endswith(".json.gz"):
        try:
            packed = bundle.read_json_gz(path)
        except (OSError, ValueError, EOFError):
            return []
        return packed if isinstance(packed, list) else [packed]
    data = path.read_bytes()
    try:
        packed = json.loads(data)
    except ValueError:
        return _Documents(path, _sha256(data)).documents(data)  # YAML is a superset
    return packed if isinstance(packed, list) else [packed]


def _sha256(data: bytes) -> str:
    import hashlib  # only when a file is new or changed

    return hashlib.sha256(data).hexdigest()


def _write(path: Path, text: str) -> None:
    """Write a cache file atomically; a read-only cache only costs time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        pass


class _Digests:
    """SHA-256 of files, remembered by (device, inode, size, mtime, ctime)."""

    def __init__(self) -> None:
        self.path = cache_root() / "parsed" / "digests.json"
        try:
            known = json.loads(self.path.read_text())
        except (OSError, ValueError):
            known = {}
        self.known: dict[str, list[Any]] = known if isinstance(known, dict) else {}
        self.changed = False

    def digest(self, path: Path) -> str:
        st = path.stat()
        key = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        seen = self.known.get(str(path))
        if isinstance(seen, list) and seen[:-1] == key and isinstance(seen[-1], str):
            return seen[-1]
        digest = _sha256(path.read_bytes())
        self.known[str(path)] = [*key, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.changed:
            _write(self.path, json.dumps(self.known, sort_keys=True))


class _Documents:
    """The documents of one YAML file of the given content, parsed at most once."""

    def __init__(self, path: Path, digest: str) -> None:
        self.path = path
        self.cached = cache_root() / "parsed" / f"{digest}.json"
        self.summary = cache_root() / "parsed" / f"{digest}.crds.json"
        self._docs: list[Any] | None = None

    def documents(self, data: bytes | None = None) -> list[Any]:
        """Every non-empty document (from the JSON cache, else parsed and cached)."""
        if self._docs is None:
            try:
                self._docs = json.loads(self.cached.read_text())
            except (OSError, ValueError):
                self._docs = self._parse(self.path.read_bytes() if data is None else data)
        return self._docs if isinstance(self._docs, list) else []

    def _parse(self, data: bytes) -> list[Any]:
        import yaml  # a cache miss: the only time PyYAML reads a CRD file

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            docs = [d for d in yaml.load_all(data.decode("utf-8", "replace"), Loader=loader) if d]
        except yaml.YAMLError:
            return []
        _write(self.cached, json.dumps(docs, default=str))
        return docs

    def _crd(self, index: int) -> Obj:
        doc = self.documents()[index]
        assert isinstance(doc, dict)
        return doc

    def entries(self) -> list[CRDEntry]:
        """What the file serves: from its summary, else from its documents (then cached)."""
        try:
            return self._entries(json.loads(self.summary.read_text()))
        except (OSError, ValueError, TypeError):
            pass  # no summary yet (or a damaged one): read the documents
        rows = []
        for i, doc in enumerate(self.documents()):
            if isinstance(doc, dict) and doc.get("kind") == _CRD:
                rows.append([i, *served_versions(doc)])
        _write(self.summary, json.dumps(rows))
        return self._entries(rows)

    def _entries(self, rows: Any) -> list[CRDEntry]:
        return [
            CRDEntry(
                group,
                kind,
                scope,
                tuple((int(p), str(n)) for p, n in versions),
                functools.partial(self._crd, int(i)),
            )
            for i, group, kind, scope, versions in rows
        ]
