"""Fixtures for the monitoring tests: the real promtool, and rendered rule files.

promtool is built from the Prometheus Go module of the pinned release by
``scripts/build-tools.sh`` into ``$HOMEPORT_TOOLS/bin`` (default
``~/.cache/homeport-tools/bin``). When it is missing or stale the tests fail (never skip)
and say to run that script: toolchain work belongs there, not in a fixture.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from configs import BASE, config
from homeport import yamlio
from homeport.gitops import RenderedTree, render_tree
from homeport.platform.base import Obj
from homeport.versions import PROMETHEUS_VERSION

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL_TESTS = Path(__file__).parent / "promtool"

BASE_CONFIG = BASE


# Scheduled platform backups, so their alerts are in the tree too.
BACKUP_CONFIG = """backup:
  platform:
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    schedule: "30 2 * * *"
"""


def go_module_version(version: str) -> str:
    """Prometheus 3.X.Y is Go module version v0.3XX.Y."""
    major, minor, patch = version.lstrip("v").split(".")
    return f"v0.{int(major) * 100 + int(minor)}.{patch}"


def _tools_bin() -> Path:
    base = os.environ.get("HOMEPORT_TOOLS") or str(Path.home() / ".cache" / "homeport-tools")
    return Path(base).expanduser() / "bin"


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Path of the promtool binary built from the pinned Prometheus release."""
    exe = _tools_bin() / "promtool"
    stamp = _tools_bin() / ".promtool.version"
    want = go_module_version(PROMETHEUS_VERSION)

    def current() -> bool:
        # build-tools.sh stamps "<version> tags=remove_all_sd": the version is what matters.
        built = stamp.read_text().split() if stamp.is_file() else []
        return exe.is_file() and built[:1] == [want]

    if not current():
        pytest.fail(
            f"promtool {want} is missing or stale in {exe.parent}: run scripts/build-tools.sh"
        )
    return exe


__all__ = ["BACKUP_CONFIG", "BASE_CONFIG", "config"]


def rule_objects(tree: RenderedTree) -> list[tuple[str, Obj]]:
    """Every PrometheusRule in a rendered tree, with its file."""
    return [(p, o) for p, o in tree.objects() if o.get("kind") == "PrometheusRule"]


def write_rules_file(tree: RenderedTree, path: Path) -> Path:
    """Write the groups of every PrometheusRule of a tree as one plain Prometheus rules file."""
    groups = [g for _, obj in rule_objects(tree) for g in obj["spec"]["groups"]]
    path.write_text(yamlio.dump({"groups": groups}), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def full_tree() -> RenderedTree:
    """The tree of a config with every component on (DDNS and scheduled backups included)."""
    return render_tree(config(BACKUP_CONFIG))


def run_promtool(
    promtool: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run promtool and return the finished process (never raises on failure)."""
    return subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )
