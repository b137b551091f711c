"""A file read the way Kubernetes reads YAML (1.1, PyYAML): exact, slower, with nodes.

:mod:`homeport.check.loader` sends here the files ``yaml_rs`` must not read (plain scalars
YAML 1.1 and 1.2 read differently) or rejects; the nodes give the line of each document.
The node rules are those of :func:`homeport.yamlio.load_located`: scalar keys, duplicate
keys rejected.
"""

from __future__ import annotations

from typing import Any

import yaml

from homeport.check.resource import LoadProblem, compose_all

_STR = "tag:yaml.org,2002:str"


_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_VALUE = "tag:yaml.org,2002:value"
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
        if tag == _VALUE:
            return node.value  # PyYAML's YAML 1.1 "=" tag: a plain string to Go and to us
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
        for node in compose_all(text):
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
