"""The CLI's fast paths: `--version` and `--help` answer without the CLI framework.

Real parts: the installed package run as a process; the Typer application for the drift check.
"""

from __future__ import annotations

import subprocess
import sys

import typer.main

from homeport import __version__
from homeport.cli import VERBS, help_text
from homeport.cli._app import build_app

PROBE = """
import sys
from homeport.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in ("typer", "rich", "pydantic", "yaml") if m in sys.modules)
print("LOADED", ",".join(heavy))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )


def test_version_and_help_import_no_framework() -> None:
    for args, expect in ((["--version"], f"homeport {__version__}"), (["--help"], "Commands:")):
        proc = _run(*args)
        assert proc.returncode == 0, proc.stderr
        assert expect in proc.stdout
        assert proc.stdout.strip().endswith("LOADED"), proc.stdout  # nothing heavy imported


def test_other_commands_still_go_through_typer() -> None:
    # Negative control for the probe: a real verb does load the framework.
    proc = _run("schema")
    assert proc.returncode == 0, proc.stderr
    assert "LOADED" in proc.stdout and "typer" in proc.stdout.rsplit("LOADED", 1)[1]


def test_static_summaries_match_the_verbs() -> None:
    group = typer.main.get_command(build_app())
    commands = dict(getattr(group, "commands", {}))
    assert set(commands) == set(VERBS)
    for verb, (_, summary) in VERBS.items():
        cmd = commands[verb]
        assert cmd is not None
        real = (cmd.help or "").strip().splitlines()[0].strip()
        assert real == summary, f"{verb}: help says {real!r}, VERBS says {summary!r}"
    text = help_text()
    assert all(f"  {verb}  " in text or f"  {verb} " in text for verb in VERBS)
