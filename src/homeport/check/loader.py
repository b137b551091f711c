"""Read every YAML file of a tree into plain values, fast, with the line of any problem.

Speed matters (a tree can hold thousands of objects), so values are parsed with the
Rust parser ``yaml_rs``; lines are found later, only for objects with findings
(:class:`~homeport.check.resource.SourceFile`). Files whose text has plain scalars that
YAML 1.1 (what Kubernetes reads) and YAML 1.2 (``yaml_rs``) read differently
(``yes``/``no``/``on``/``off``, leading-zero octals), and files ``yaml_rs`` rejects, take
the PyYAML path, the same node rules as :func:`homeport.yamlio.load_located` (scalar
keys, duplicate keys rejected). Large trees are parsed on two processes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml_rs

from homeport.check.forked import Forked, can_fork
from homeport.check.resource import LoadProblem, SourceFile

if TYPE_CHECKING:
    import yaml

# Plain scalars YAML 1.1 reads as booleans or octal numbers but YAML 1.2 as strings or
# decimals: a file that has one is read the Kubernetes (1.1) way.
_AMBIGUOUS_TOKEN = (
    r"(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|[-+]?0[0-7_]+)\s*(?:$|[,\]}#])"
)
# The token after an indicator, at a line start, or at the very start: three patterns
# that begin with a literal search much faster than one starting with ``(?:^|...)``.
_AMBIGUOUS_AFTER = re.compile(r"[:\-\[,{]\s*" + _AMBIGUOUS_TOKEN, re.M)
_AMBIGUOUS_LINE = re.compile(r"\n" + _AMBIGUOUS_TOKEN, re.M)
_AMBIGUOUS_START = re.compile(_AMBIGUOUS_TOKEN, re.M)
_DOC_START = re.compile(r"^---", re.M)


def _ambiguous(text: str) -> bool:
    """Whether ``text`` has a plain scalar YAML 1.1 and 1.2 read differently."""
    return (
        _AMBIGUOUS_AFTER.search(text) is not None
        or _AMBIGUOUS_LINE.search(text) is not None
        or _AMBIGUOUS_START.match(text) is not None
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
    if not _ambiguous(text):
        try:
            data: Any = yaml_rs.loads(text, parse_datetime=False)
        except Exception:  # any rejection: the PyYAML path below names the line
            pass
        else:
            multi = isinstance(data, list) and _DOC_START.search(text) is not None
            docs = data if multi else ([] if data is None else [data])
            return list(docs), SourceFile(rel, text)
    from homeport.check.yaml11 import parse_documents_slow  # PyYAML: only when needed

    parsed = parse_documents_slow(text, rel)
    return [d for _l, d, _n in parsed], SourceFile(rel, text, [n for _l, _d, n in parsed])


def parse_documents(text: str, rel: str) -> list[tuple[int, Any, yaml.Node | None]]:
    """Parse a YAML stream into (start line, value, node) per non-empty document."""
    from homeport.check.yaml11 import parse_documents_slow

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


def _walk(directory: str, rel: str, out: list[tuple[str, str]]) -> None:
    """os.walk's rules (symlinked folders not entered, unreadable ones skipped), as strings."""
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError:
        return
    subdirs = []
    for e in entries:
        name = e.name
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not name.startswith("."):
                subdirs.append(e)
        elif name.endswith((".yaml", ".yml")) and not name.startswith("."):
            out.append((f"{rel}/{name}" if rel else name, e.path))
    for e in subdirs:
        try:
            link = e.is_symlink()
        except OSError:
            link = False
        if not link:
            _walk(e.path, f"{rel}/{e.name}" if rel else e.name, out)


def tree_files(root: Path) -> list[tuple[str, str]]:
    """``(relative posix path, path)`` of each :func:`yaml_files` file, in the same order."""
    out: list[tuple[str, str]] = []
    _walk(str(root), "", out)
    # Path ordering compares path components, not whole strings ('a/b' < 'a-c/x').
    out.sort(key=lambda f: f[0].split("/"))
    return out


# (rel, text, documents or None, problem message, problem line) per file.
ParsedFile = tuple[str, str, list[Any] | None, str, int]

# Trees with at least this many files are parsed on two processes.
PARALLEL_MIN_FILES = 200


def _read_parse(files: list[tuple[str, str]]) -> list[ParsedFile]:
    out: list[ParsedFile] = []
    for rel, path in files:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            docs, _src = parse_file(text, rel)
        except LoadProblem as exc:
            out.append((rel, "", None, str(exc), exc.line))
            continue
        except UnicodeDecodeError as exc:
            out.append((rel, "", None, str(exc), 1))
            continue
        out.append((rel, text, docs, "", 0))
    return out


class TreeReader:
    """Read and parse files (from :func:`tree_files`); large trees on two processes.

    A large tree is split in two at once: a forked process parses every other file while
    this one goes on (first with other work, then with the rest of the files in
    :meth:`result`). Call :meth:`result` or :meth:`close` (``try``/``finally``).
    """

    def __init__(self, files: list[tuple[str, str]]) -> None:
        self.files = files
        self._child: Forked[list[ParsedFile]] | None = None
        if len(files) >= PARALLEL_MIN_FILES and can_fork():
            # Every other file, so both halves get a like share of big and small files.
            self._child = Forked(lambda: _read_parse(files[1::2]))

    def result(self) -> list[ParsedFile]:
        """The parsed files, in order.

        Raises:
            OSError: A file cannot be read.
        """
        if self._child is None:
            return _read_parse(self.files)
        try:
            even = _read_parse(self.files[0::2])
            odd = self._child.result()
        finally:
            self.close()
        out = even + odd  # the right length; now put each file back in its place
        out[0::2], out[1::2] = even, odd
        return out

    def close(self) -> None:
        """Stop the forked parser, if any."""
        if self._child is not None:
            self._child.close()
            self._child = None


def read_tree(files: list[tuple[str, str]]) -> list[ParsedFile]:
    """Read and parse files (from :func:`tree_files`), in order (see :class:`TreeReader`).

    Raises:
        OSError: A file cannot be read.
    """
    return TreeReader(files).result()
