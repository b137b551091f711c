"""Every import of the package resolves from a dependency pyproject.toml declares.

Real parts: the package's own source (every ``import`` / ``from`` statement, including the
ones inside functions), pyproject.toml, and the distributions installed in this venv
(``importlib.metadata``). A module that only arrives as someone else's dependency (as
``httpx2`` did through lightkube 1.x and ``certifi`` through httpx) is reported, and so is
a declared range the installed (tested) version falls outside.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "homeport"


def imported_top_levels(src: Path) -> dict[str, list[str]]:
    """Top-level module name -> files importing it (absolute imports only)."""
    out: dict[str, list[str]] = {}
    for f in sorted(src.rglob("*.py")):
        tree = ast.parse(f.read_text(), str(f))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                out.setdefault(n.split(".")[0], []).append(str(f.relative_to(src.parent)))
    return out


def declared(pyproject: Path) -> dict[str, Requirement]:
    reqs = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def undeclared_imports(src: Path, pyproject: Path, own: str = "homeport") -> list[str]:
    """One line per third-party import that no declared dependency provides."""
    deps = declared(pyproject)
    providers = md.packages_distributions()
    problems = []
    for mod, files in sorted(imported_top_levels(src).items()):
        if mod == own or mod in sys.stdlib_module_names or mod == "__future__":
            continue
        dists = {canonicalize_name(d) for d in providers.get(mod, [])}
        if not dists:
            problems.append(f"{mod}: no installed distribution provides it ({files[0]})")
        elif not dists & deps.keys():
            problems.append(f"{mod}: provided by {sorted(dists)}, not declared ({files[0]})")
    return problems


def test_every_import_is_a_declared_dependency() -> None:
    assert undeclared_imports(SRC, ROOT / "pyproject.toml") == []


def test_installed_versions_fall_in_the_declared_ranges() -> None:
    # The venv holds what the suite runs against; a declared range that excludes it
    # claims support for versions nobody tested (lightkube>=0.17 did, for httpx2's API).
    bad = []
    for name, req in declared(ROOT / "pyproject.toml").items():
        version = md.version(name)
        if not req.specifier.contains(version, prereleases=True):
            bad.append(f"{name} {version} not in {req.specifier}")
    assert bad == []
    assert "lightkube" in declared(ROOT / "pyproject.toml")
    assert not declared(ROOT / "pyproject.toml")["lightkube"].specifier.contains("0.17.0")


def test_an_undeclared_import_is_reported(tmp_path: Path) -> None:
    """Negative control: the same walk over a package that imports what it never declares."""
    pkg = tmp_path / "src" / "demo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import os\nimport httpx\n")
    (pkg / "late.py").write_text("def f():\n    import certifi\n    from httpx2 import Client\n")
    (pkg / "local.py").write_text("from . import late\nfrom demo import late as again\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\ndependencies = ["httpx>=0.27"]\n'
    )
    problems = undeclared_imports(pkg, tmp_path / "pyproject.toml", own="demo")
    assert [p.split(":")[0] for p in problems] == ["certifi", "httpx2"]
    assert "not declared (demo/late.py)" in problems[0]
    (pkg / "more.py").write_text("import no_such_module_anywhere\n")
    assert (
        "no installed distribution"
        in undeclared_imports(pkg, tmp_path / "pyproject.toml", own="demo")[-1]
    )
