"""The one place homeport reads and writes YAML.

Writing: a single Dumper so every file homeport produces has the same style, the same
key order and the same bytes for the same input. Reading: a loader that remembers the
line of every value, so config errors can name ``file:line``, and that rejects duplicate
keys (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

# Kubernetes readers expect these first; everything else keeps the order the code built.
_TOP_ORDER = ("apiVersion", "kind", "metadata")


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents lists under their key and never emits aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line strings (scripts, blueprints, PEM) read best as literal blocks.
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def _ordered(obj: dict[str, Any]) -> dict[str, Any]:
    head = {k: obj[k] for k in _TOP_ORDER if k in obj}
    head.update({k: v for k, v in obj.items() if k not in head})
    return head


def dump(obj: Any) -> str:
    """Serialise one object to YAML deterministically.

    Args:
        obj: A JSON-like value (dicts, lists, scalars).

    Returns:
        The YAML text, ending in a newline.
    """
    if isinstance(obj, dict):
        obj = _ordered(obj)
    return yaml.dump(
        obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )


def dump_all(objs: Iterable[Any]) -> str:
    """Serialise several objects as one multi-document YAML stream.

    Args:
        objs: The objects, written in the given order.

    Returns:
        The YAML text with ``---`` between documents.
    """
    return "---\n".join(dump(o) for o in objs)


class YamlSyntaxError(ValueError):
    """The text is not valid YAML; carries the 1-based line of the problem."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class LocatedDoc:
    """A parsed YAML document together with the line of every value in it.

    Attributes:
        data: The plain Python value of the document.
        lines: Map from a path (keys and list indexes) to the 1-based line of that value.
        key_lines: Map from a path to the line of its *key* (for mapping entries).
    """

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    key_lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Iterable[str | int]) -> int:
        """Return the best line for a path: the value's, else its nearest ancestor's."""
        p = tuple(path)
        while p:
            if p in self.key_lines:
                return self.key_lines[p]
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def _construct(node: yaml.Node, path: Path_, doc: LocatedDoc) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(
                ""
            ).construct_object(key_node)  # scalar keys only; merges are rare in configs
            if isinstance(key, (list, dict)):
                raise YamlSyntaxError("mapping keys must be scalars", key_node.start_mark.line + 1)
            if key in out:
                raise YamlSyntaxError(f'duplicate key "{key}"', key_node.start_mark.line + 1)
            child = (*path, str(key))
            doc.key_lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, child, doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), doc) for i, item in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node)


def load_located(text: str) -> LocatedDoc:
    """Parse one YAML document, remembering where each value came from.

    Args:
        text: The YAML text.

    Returns:
        The document with its line map; ``data`` is ``None`` for an empty document.

    Raises:
        YamlSyntaxError: The text is not one valid YAML document.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", 1) from None
    doc = LocatedDoc(data=None)
    if node is None:
        return doc
    doc.data = _construct(node, (), doc)
    return doc


def load_all(text: str) -> Iterator[Any]:
    """Parse a multi-document YAML stream into plain values (empty documents skipped).

    Args:
        text: The YAML text.

    Yields:
        Each non-empty document.
    """
    for d in yaml.safe_load_all(text):
        if d is not None:
            yield d


def load(text: str) -> Any:
    """Parse one YAML document into plain values."""
    return yaml.safe_load(text)
