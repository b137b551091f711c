"""The Argo CD Application model of a tree: sync waves, sources, directory globs.

Named ``ArgoApp`` so it does not clash with :class:`homeport.config.App` (an app of the
config). Pure data and string matching; loading lives in :mod:`homeport.check.tree`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from homeport.check.resource import Resource
from homeport.wellknown import WAVE_ANNOTATION


@dataclass
class ArgoApp:
    """An Argo CD Application of the tree."""

    res: Resource
    wave: int
    namespace: str
    chart: str = ""
    chart_version: str = ""
    release: str = ""
    values: Any = None
    values_path: tuple[str | int, ...] = ()
    chart_path: tuple[str | int, ...] = ()  # path of spec.source(s).chart
    expanded: bool = False  # the chart was expanded with Helm (no table guesses)
    path: str = ""  # resolved relative dir inside the tree ('' when not a tree path)
    create_namespace: bool = False
    include: str = ""  # directory.include glob (relative to path)
    exclude: str = ""  # directory.exclude glob

    def syncs(self, file: str) -> bool:
        """Whether Argo CD syncs this file of the app's path (directory include/exclude)."""
        rel = file[len(self.path) + 1 :]
        if self.exclude and glob_match(self.exclude, rel):
            return False
        return not self.include or glob_match(self.include, rel)


def merge_values(base: Any, over: Any) -> Any:
    """Helm's value merge: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge_values(base.get(k), v) if k in base else v
        return out
    return over


def glob_regex(pattern: str) -> str:
    """Translate an Argo CD (gobwas, no separators) glob into a regular expression."""
    out, i, depth = "", 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out += ".*"
        elif c == "?":
            out += "."
        elif c == "{":
            out, depth = out + "(?:", depth + 1
        elif c == "}" and depth:
            out, depth = out + ")", depth - 1
        elif c == "," and depth:
            out += "|"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out += "[" + body.replace("\\", "\\\\") + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return out


def glob_match(pattern: str, text: str) -> bool:
    """Whether Argo CD's glob ``pattern`` matches ``text`` (a path relative to the app)."""
    try:
        return re.fullmatch(glob_regex(pattern), text) is not None
    except re.error:
        return False  # Argo CD also matches nothing with a pattern it cannot compile


def wave_of(res: Resource) -> int:
    """The object's sync wave (0 when unset or not an integer)."""
    v = res.annotations.get(WAVE_ANNOTATION, "0")
    try:
        return int(str(v).strip())
    except ValueError:
        return 0


def resolve_path(prefix: str, path: str) -> str | None:
    """A Git source path relative to the tree, or None when it lies outside the tree."""
    p = path.strip("/")
    if prefix:
        if p == prefix:
            return ""
        if not p.startswith(prefix + "/"):
            return None
        return p[len(prefix) + 1 :]
    return p
