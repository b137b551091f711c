"""The objects of a tree as the rules read them: each remembers its file and finds its lines.

Line numbers are looked up lazily: only when a finding names an object is its file
composed with PyYAML (:class:`SourceFile`) to find the line of the object or of a field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from homeport.check.model import ObjectRef

if TYPE_CHECKING:
    import yaml

_T = TypeVar("_T")


class LoadProblem(Exception):
    """A YAML problem in one file, with its line."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def compose_all(text: str) -> list[yaml.Node]:
    """Compose every document of a YAML stream with PyYAML (its C loader when built).

    PyYAML is imported here, on first use: a tree without findings never needs it.

    Raises:
        yaml.YAMLError: The text is not valid YAML.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.compose_all(text, Loader=loader))


class _cached(Generic[_T]):
    """``functools.cached_property`` without its per-access lock (Python 3.11 takes one).

    The first access computes the value and stores it in the instance ``__dict__``,
    which later accesses read directly (this is a non-data descriptor).
    """

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, cls: type | None = None) -> _cached[_T]: ...

    @overload
    def __get__(self, obj: object, cls: type | None = None) -> _T: ...

    def __get__(self, obj: object | None, cls: type | None = None) -> _T | _cached[_T]:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


class SourceFile:
    """A file's text and, composed on first use, its YAML nodes (one per document)."""

    def __init__(self, rel: str, text: str, nodes: list[yaml.Node | None] | None = None) -> None:
        self.rel = rel
        self.text = text
        self._nodes = nodes

    def node(self, index: int) -> yaml.Node | None:
        """The node of document ``index`` (None when it cannot be composed)."""
        if self._nodes is None:
            import yaml

            try:
                self._nodes = list(compose_all(self.text))
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

    @_cached
    def api_version(self) -> str:
        """The object's apiVersion (empty when missing)."""
        v = self.obj.get("apiVersion")
        return v if isinstance(v, str) else ""

    @_cached
    def kind(self) -> str:
        """The object's kind (empty when missing)."""
        v = self.obj.get("kind")
        return v if isinstance(v, str) else ""

    @_cached
    def group(self) -> str:
        """API group ('' for the core group)."""
        av = self.api_version
        return av.split("/", 1)[0] if "/" in av else ""

    @_cached
    def metadata(self) -> dict[str, Any]:
        """The metadata mapping (empty when missing)."""
        md = self.obj.get("metadata")
        return md if isinstance(md, dict) else {}

    @_cached
    def name(self) -> str:
        """metadata.name."""
        v = self.metadata.get("name")
        return str(v) if v is not None else ""

    @_cached
    def namespace(self) -> str:
        """metadata.namespace ('' when not set)."""
        v = self.metadata.get("namespace")
        return str(v) if v is not None else ""

    @_cached
    def annotations(self) -> dict[str, Any]:
        """metadata.annotations."""
        a = self.metadata.get("annotations")
        return a if isinstance(a, dict) else {}

    @_cached
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
        import yaml  # loaded already: there is a node only if the file was composed

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
