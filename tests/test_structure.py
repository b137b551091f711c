"""The package's shape: layers point one way, no private names across modules, no circles.

Real: the source tree of ``src/homeport`` read with :mod:`ast` (nothing imported). Each
check also runs on a small made-up package that breaks it, so a checker that found
nothing could not pass.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# config.py -> platform/ -> gitops.py -> check/ -> cluster/ -> cli/: each may import only leftwards.
LAYERS = ["config", "platform", "gitops", "check", "cluster", "cli"]
MAX_CHECK_LINES = 400


def _modules(src: Path) -> dict[str, Path]:
    out = {}
    for f in sorted(src.rglob("*.py")):
        parts = f.relative_to(src).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _imports(src: Path) -> list[tuple[str, str, str, int]]:
    """(importer, module, name, line) of every ``from homeport... import name``."""
    out = []
    for me, f in _modules(src).items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("homeport"):
                assert node.module is not None
                for a in node.names:
                    out.append((me, node.module, a.name, node.lineno))
    return out


def _layer(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def upward_imports(src: Path) -> list[str]:
    """Imports from a later layer into an earlier one."""
    bad = []
    for me, mod, _name, line in _imports(src):
        a, b = _layer(me), _layer(mod)
        if a and b and LAYERS.index(b) > LAYERS.index(a):
            bad.append(f"{me}:{line} imports {mod}")
    return bad


def private_imports(src: Path) -> list[str]:
    """Private names (``_x``) imported from another module (private modules are allowed)."""
    mods = _modules(src)
    return [
        f"{me}:{line} imports {mod}.{name}"
        for me, mod, name, line in _imports(src)
        if name.startswith("_") and not name.startswith("__") and f"{mod}.{name}" not in mods
    ]


def cycles(src: Path, package: str) -> list[list[str]]:
    """Import circles among the modules of ``package`` (function-local imports count too)."""
    mods = _modules(src)
    edges: dict[str, set[str]] = {m: set() for m in mods if m.startswith(package)}
    for me, mod, name, _line in _imports(src):
        if me in edges:
            target = f"{mod}.{name}" if f"{mod}.{name}" in mods else mod
            if target in edges and target != me and target != package:
                edges[me].add(target)
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> None:
        state[v] = 1
        stack.append(v)
        for w in sorted(edges[v]):
            if state.get(w) == 1:
                found.append([*stack[stack.index(w) :], w])
            elif w not in state:
                visit(w)
        stack.pop()
        state[v] = 2

    for v in sorted(edges):
        if v not in state:
            visit(v)
    return found


def test_layers_point_one_way() -> None:
    assert upward_imports(SRC) == []


def test_no_private_name_crosses_a_module() -> None:
    assert private_imports(SRC) == []


def test_check_has_no_import_circle() -> None:
    assert cycles(SRC, "homeport.check") == []


def test_check_modules_are_short() -> None:
    check = SRC / "homeport" / "check"
    long = {
        str(f.relative_to(check)): n
        for f in check.rglob("*.py")
        if (n := len(f.read_text().splitlines())) > MAX_CHECK_LINES
    }
    assert long == {}


def test_checkers_find_what_they_look_for(tmp_path: Path) -> None:
    """Negative control: a package with an upward import, a private import and a circle."""
    pkg = tmp_path / "homeport"
    (pkg / "platform").mkdir(parents=True)
    (pkg / "cluster").mkdir()
    (pkg / "check").mkdir()
    for d in (pkg, pkg / "platform", pkg / "cluster", pkg / "check"):
        (d / "__init__.py").write_text("")
    (pkg / "platform" / "backup.py").write_text("from homeport.cluster.job import make\n")
    (pkg / "cluster" / "job.py").write_text("from homeport.platform.base import _helper\n")
    (pkg / "platform" / "base.py").write_text("def _helper() -> None: ...\n")
    (pkg / "check" / "a.py").write_text("from homeport.check.b import x\n")
    (pkg / "check" / "b.py").write_text("def f():\n    from homeport.check.a import y\n")
    assert upward_imports(tmp_path) == ["homeport.platform.backup:1 imports homeport.cluster.job"]
    assert private_imports(tmp_path) == [
        "homeport.cluster.job:1 imports homeport.platform.base._helper"
    ]
    assert cycles(tmp_path, "homeport.check") == [
        ["homeport.check.a", "homeport.check.b", "homeport.check.a"]
    ]


ROW = re.compile(
    r"^\| \[(HP-[SRP]\d{3})\]\([^)]*\) \| [^|]+ \| \[`[^`]+`\]\(\.\./src/([^)]+)\) \|$", re.M
)


def rule_table_problems(doc: str, root: Path, rule_ids: list[str]) -> list[str]:
    """Rows of docs/check.md's rule table whose module does not emit the rule, and gaps."""
    rows = ROW.findall(doc)
    problems = [f"{r}: no row" for r in rule_ids if r not in {x for x, _ in rows}]
    for rule, rel in rows:
        f = root / rel
        if not f.is_file() or f'"{rule}"' not in f.read_text():
            problems.append(f"{rule}: {rel} does not emit it")
    return problems


def test_each_rule_links_to_the_module_that_emits_it() -> None:
    from homeport.check import RULES

    ids = sorted(RULES)
    doc = (SRC.parent / "docs" / "check.md").read_text()
    assert rule_table_problems(doc, SRC, ids) == []
    # Negative control: a row pointing at the wrong module, and a rule with no row.
    wrong = doc.replace(
        "(../src/homeport/check/rules/egress.py)", "(../src/homeport/check/tree.py)"
    )
    assert rule_table_problems(wrong, SRC, [*ids, "HP-X999"]) == [
        "HP-X999: no row",
        "HP-P013: homeport/check/tree.py does not emit it",
    ]
