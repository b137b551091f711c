"""Build hook: generate the schema bundle before the package's files are collected.

Everything else about the package is in pyproject.toml. ``build_py`` runs for wheels,
sdist-to-wheel builds and editable installs alike; it writes ``src/homeport/data/schemas``
with ``scripts/build_schema_bundle.py`` unless a bundle for the current pins is there
already (an sdist carries one, so building from it needs no upstream sources).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _generator() -> Any:
    path = ROOT / "scripts" / "build_schema_bundle.py"
    spec = importlib.util.spec_from_file_location("_homeport_build_schema_bundle", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{path}: cannot load")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class BuildPyWithSchemas(build_py):
    """``build_py`` that first makes sure the schema bundle exists and is current."""

    def run(self) -> None:
        """Generate (or keep) the bundle, then collect the package as usual."""
        gen = _generator()
        try:
            if gen.ensure():
                print("homeport: generated the schema bundle", file=sys.stderr)
        except gen.BundleError as exc:
            raise SystemExit(f"homeport: cannot generate the schema bundle: {exc}") from None
        # The package data list may have been computed before the bundle existed.
        self.__dict__.pop("data_files", None)
        super().run()


setup(cmdclass={"build_py": BuildPyWithSchemas})
