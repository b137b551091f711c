"""The one place homeport reads and writes YAML.

Writing: a single Dumper so every file homeport produces has the same style, the same
key order and the same bytes for the same input. Reading: a loader that remembers the
line of every value, so config errors can name ``file:line``, and that rejects duplicate
keys (PyYAML silently keeps the last one).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

# Kubernetes readers expect these first; everything else keeps the order the code built.
_TOP_ORDER = ("apiVersion", "kind", "metadata")


# libyaml's parser is an order of magnitude faster than pure Python.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER: Any = yaml.resolver.Resolver()
_PLAIN_OK = re.compile(r"^[A-Za-z0-9_/$(][A-Za-z0-9_./@$%+=(),~^: -]*$")
# What go.yaml.in/yaml/v2 (under sigs.k8s.io/yaml: Kubernetes, Argo CD, Helm) resolves as a
# number once it has dropped every "_": strconv.ParseInt/ParseUint with base 0 (0x, 0o, 0b,
# leading-0 octal), its float pattern (``1e3``, ``.5``, ``1.``, no exponent sign needed), and
# digit strings such as ``08`` that fail as octal but match the float pattern. Wider than
# Go where Go's range checks fail (``1e400``): quoting those too costs nothing.
_GO_NUMBER = re.compile(
    r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+"
    r"|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)"
)


def _go_reads_as_number(value: str) -> bool:
    """True when Go's YAML reads the plain scalar ``value`` as an int or float."""
    return value[:1] in "+-.0123456789" and bool(_GO_NUMBER.fullmatch(value.replace("_", "")))


@functools.lru_cache(maxsize=65536)
def _scalar(value: str) -> str:
    """Render a string scalar: plain when YAML reads it back as the same string."""
    if (
        _PLAIN_OK.fullmatch(value)
        and not value.endswith(" ")
        and " -" not in value
        and ": " not in value
        and not value.endswith(":")
        # Go's YAML 1.1 readers (kubectl, kubeseal) take a lone y/n as a boolean
        # and 1e3, 0o17, 08 as numbers, where PyYAML sees strings.
        and value not in ("y", "Y", "n", "N")
        and not _go_reads_as_number(value)
        and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"
    ):
        return value
    return _double_quoted(value)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _double_quoted(value: str) -> str:
    """YAML double-quoted scalar; non-printable characters as YAML escapes."""
    out = ['"']
    for ch in value:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable() and ch not in "\ufeff":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    out.append('"')
    return "".join(out)


def _block(value: str, indent: str) -> str | None:
    """Render a multi-line string as a literal block, or None when a block cannot hold it."""
    if (
        value.startswith((" ", "\n"))
        or value.endswith("\n\n")
        or not value.replace("\n", "").isprintable()
    ):
        return None
    body = value[:-1] if value.endswith("\n") else value
    if any(line != line.rstrip(" ") for line in body.split("\n")):
        return None
    head = "|" if value.endswith("\n") else "|-"
    return head + "".join(f"\n{indent}{line}" if line else "\n" for line in body.split("\n"))


def _emit(obj: Any, indent: str, out: list[str]) -> None:
    """Append the block-style YAML of a mapping or sequence to ``out`` (one line per item)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = _scalar(str(k))
            if isinstance(v, (dict, list)) and v:
                out.append(f"{indent}{key}:")
                _emit(v, indent + "  ", out)
            else:
                out.append(f"{indent}{key}: {_inline(v, indent + '  ')}")
    else:
        for v in obj:
            if isinstance(v, dict) and v:
                sub: list[str] = []
                _emit(v, indent + "  ", sub)
                sub[0] = f"{indent}- {sub[0][len(indent) + 2 :]}"
                out.extend(sub)
            elif isinstance(v, list) and v:
                sub = []
                _emit(v, indent + "  ", sub)
                sub[0] = f"{indent}- {sub[0][len(indent) + 2 :]}"
                out.extend(sub)
            else:
                out.append(f"{indent}- {_inline(v, indent + '  ')}")


def _inline(v: Any, indent: str) -> str:
    if isinstance(v, str):
        if "\n" in v:
            block = _block(v, indent)
            if block is not None:
                return block
        return _scalar(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        # YAML 1.1 reads "1e-05" as a string; it needs a dot before the exponent.
        text = repr(v).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    raise TypeError(f"cannot write {type(v).__name__} as YAML")


def _ordered(obj: dict[str, Any]) -> dict[str, Any]:
    head = {k: obj[k] for k in _TOP_ORDER if k in obj}
    head.update({k: v for k, v in obj.items() if k not in head})
    return head


def dump(obj: Any) -> str:
    """Serialise one object to YAML deterministically.

    Block style, two-space indent, lists indented under their key, keys in the order
    the code built them (``apiVersion``, ``kind``, ``metadata`` first). Strings are
    plain when both PyYAML and Go's YAML (sigs.k8s.io/yaml) read them back unchanged,
    else double-quoted; multi-line strings
    are literal blocks.

    Args:
        obj: A JSON-like value (dicts, lists, strings, numbers, booleans, None).

    Returns:
        The YAML text, ending in a newline.
    """
    if isinstance(obj, dict):
        obj = _ordered(obj)
    if isinstance(obj, (dict, list)) and obj:
        out: list[str] = []
        _emit(obj, "", out)
        return "\n".join(out) + "\n"
    return (_scalar(obj) if isinstance(obj, str) else _inline(obj, "")) + "\n"


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


# One constructor for scalars of located documents (it keeps no state between calls).
_CONSTRUCTOR = yaml.SafeLoader("")


def _construct(node: yaml.Node, path: Path_, doc: LocatedDoc) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _CONSTRUCTOR.construct_object(key_node)
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
    return _CONSTRUCTOR.construct_object(node)


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
        node = yaml.compose(text, Loader=_Loader)
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
    for d in yaml.load_all(text, Loader=_Loader):
        if d is not None:
            yield d


def load(text: str) -> Any:
    """Parse one YAML document into plain values."""
    return yaml.load(text, Loader=_Loader)
