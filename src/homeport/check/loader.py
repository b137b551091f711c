"""Read every YAML file of a tree into objects that remember where they came from.

Speed matters (a tree can hold thousands of objects), so values are parsed with the
Rust parser ``yaml_rs`` and line numbers are looked up lazily: only when a finding
names an object is its file composed with PyYAML to find the line. Files whose text has
plain scalars that YAML 1.1 (what Kubernetes reads) and YAML 1.2 (``yaml_rs``) read
differently (``yes``/``no``/``on``/``off``, leading-zero octals), and files ``yaml_rs``
rejects, take the PyYAML path, the same node rules as
:func:`homeport.yamlio.load_located` (scalar keys, duplicate keys rejected).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml_rs

from homeport.check.model import ObjectRef

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"


class SourceFile:
    """A file's text and, composed on first use, its YAML nodes (one per document)."""

    def __init__(self, rel: str, text: str, nodes: list[yaml.Node | None] | None = None) -> None:
        self.rel = rel
        self.text = text
        self._nodes = nodes

    def node(self, index: int) -> yaml.Node | None:
        """The node of document ``index`` (None when it cannot be composed)."""
        if self._nodes is None:
            try:
                self._nodes = list(yaml.compose_all(self.text, Loader=_Loader))
            except yaml.YAMLError:
                self._nodes = []
        return self._nodes[index] if 0 <= index < len(self._nodes) else None


@dataclass
class Resource:
    """One Kubernetes object read from the tree.

    Attributes:
        file: Path relative to the tree root, ``/``-separated.
        index: Position of the document in its file (empty documents count).
        obj: The object's plain value.
        source: The file, for line look-ups.
    """

    file: str
    index: int
    obj: dict[str, Any]
    source: SourceFile | None = field(default=None, repr=False)

    @property
    def node(self) -> yaml.Node | None:
        """The document's YAML node."""
        return self.source.node(self.index) if self.source else None

    @property
    def line(self) -> int:
        """1-based line where the document's content starts."""
        n = self.node
        return n.start_mark.line + 1 if n is not None else 1

    @property
    def api_version(self) -> str:
        """The object's apiVersion (empty when missing)."""
        v = self.obj.get("apiVersion")
        return v if isinstance(v, str) else ""

    @property
    def kind(self) -> str:
        """The object's kind (empty when missing)."""
        v = self.obj.get("kind")
        return v if isinstance(v, str) else ""

    @property
    def group(self) -> str:
        """API group ('' for the core group)."""
        av = self.api_version
        return av.split("/", 1)[0] if "/" in av else ""

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata mapping (empty when missing)."""
        md = self.obj.get("metadata")
        return md if isinstance(md, dict) else {}

    @property
    def name(self) -> str:
        """metadata.name."""
        v = self.metadata.get("name")
        return str(v) if v is not None else ""

    @property
    def namespace(self) -> str:
        """metadata.namespace ('' when not set)."""
        v = self.metadata.get("namespace")
        return str(v) if v is not None else ""

    @property
    def annotations(self) -> dict[str, Any]:
        """metadata.annotations."""
        a = self.metadata.get("annotations")
        return a if isinstance(a, dict) else {}

    @property
    def labels(self) -> dict[str, Any]:
        """metadata.labels."""
        a = self.metadata.get("labels")
        return a if isinstance(a, dict) else {}

    @property
    def ref(self) -> ObjectRef:
        """The object reference used in findings."""
        return ObjectRef(self.kind, self.namespace, self.name)

    def line_of(self, path: Iterable[str | int]) -> int:
        """Return the line of the deepest node on ``path`` (a mapping key's own line)."""
        node = self.node
        line = self.line
        for step in path:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(step):
                        line = k.start_mark.line + 1
                        node = v
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if 0 <= step < len(node.value):
                    node = node.value[step]
                    line = node.start_mark.line + 1
                else:
                    return line
            else:
                return line
        return line


class LoadProblem(Exception):
    """A YAML problem in one file, with its line."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class _Builder:
    """Turn composed nodes into plain values (fast paths for the common scalar tags)."""

    def __init__(self) -> None:
        self._c = yaml.constructor.SafeConstructor()

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _INT and node.value.isdigit():
            return int(node.value)
        if tag == _BOOL:
            return _BOOLS[node.value.lower()]
        if tag == _NULL:
            return None
        return self._c.construct_object(node, deep=True)

    def build(self, node: yaml.Node) -> Any:
        cls = node.__class__
        if cls is yaml.ScalarNode:
            return self.scalar(node)  # type: ignore[arg-type]
        if cls is yaml.MappingNode:
            out: dict[Any, Any] = {}
            for k, v in node.value:
                if k.__class__ is yaml.ScalarNode:
                    key = k.value if k.tag == _STR else self.scalar(k)
                else:
                    raise LoadProblem("mapping keys must be scalars", k.start_mark.line + 1)
                if key in out:
                    raise LoadProblem(f'duplicate key "{key}"', k.start_mark.line + 1)
                vc = v.__class__
                out[key] = v.value if vc is yaml.ScalarNode and v.tag == _STR else self.build(v)
            return out
        if cls is yaml.SequenceNode:
            return [self.build(i) for i in node.value]
        raise LoadProblem(f"unsupported YAML node {node.tag}", node.start_mark.line + 1)


def parse_documents_slow(text: str, rel: str) -> list[tuple[int, Any, yaml.Node | None]]:
    """Parse a YAML stream with PyYAML into (start line, value, node) per document.

    Args:
        text: The file's text.
        rel: Its relative path (for messages only).

    Returns:
        The documents in order.

    Raises:
        LoadProblem: The text is not valid YAML.
    """
    builder = _Builder()
    out: list[tuple[int, Any, yaml.Node | None]] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            out.append((node.start_mark.line + 1, builder.build(node), node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise LoadProblem(
            f"invalid YAML: {exc.problem or exc}", mark.line + 1 if mark else 1
        ) from None
    except yaml.YAMLError as exc:
        raise LoadProblem(f"invalid YAML: {exc}", 1) from None
    except yaml.constructor.ConstructorError as exc:  # pragma: no cover - subclass above
        raise LoadProblem(str(exc), 1) from None
    return out


# Plain scalars YAML 1.1 reads as booleans or octal numbers but YAML 1.2 as strings or
# decimals: a file that has one is read the Kubernetes (1.1) way.
_AMBIGUOUS = re.compile(
    r"(?:^|[:\-\[,{]\s*)(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|[-+]?0[0-7_]+)\s*(?:$|[,\]}#])",
    re.M,
)


def parse_file(text: str, rel: str) -> tuple[list[Any], SourceFile]:
    """Parse a YAML file into its documents (None for empty ones) and a line source.

    Args:
        text: The file's text.
        rel: Its relative path.

    Returns:
        The documents in order, and the file handle that finds lines on demand.

    Raises:
        LoadProblem: The text is not valid YAML (with the line of the problem).
    """
    if not _AMBIGUOUS.search(text):
        try:
            data: Any = yaml_rs.loads(text, parse_datetime=False)
        except Exception:  # any rejection: the PyYAML path below names the line
            pass
        else:
            multi = isinstance(data, list) and re.search(r"^---", text, re.M) is not None
            docs = data if multi else ([] if data is None else [data])
            return list(docs), SourceFile(rel, text)
    parsed = parse_documents_slow(text, rel)
    return [d for _l, d, _n in parsed], SourceFile(rel, text, [n for _l, _d, n in parsed])


def parse_documents(text: str, rel: str) -> list[tuple[int, Any, yaml.Node | None]]:
    """Parse a YAML stream into (start line, value, node) per non-empty document."""
    return [(ln, d, n) for ln, d, n in parse_documents_slow(text, rel) if d is not None]


def yaml_files(root: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` file under ``root``, sorted, hidden folders skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if f.endswith((".yaml", ".yml")) and not f.startswith("."):
                out.append(Path(dirpath, f))
    return sorted(out)
