"""The CLI's fast paths: `--version`, `--help` and verb completion answer without the framework.

Real parts: the installed package run as a process; the Typer application for the drift check.
"""

from __future__ import annotations

import os
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


ORACLE = """
import os, sys
import typer.main
from typer._completion_classes import completion_init
from typer.completion import shell_complete
from homeport.cli._app import build_app
completion_init()
sys.exit(shell_complete(typer.main.get_command(build_app()), {}, "homeport",
                        "_HOMEPORT_COMPLETE", os.environ["_HOMEPORT_COMPLETE"]))
"""


def _complete(code: str, shell: str, line: str) -> subprocess.CompletedProcess[str]:
    """Run a completion request the way Typer's shell scripts send it."""
    env = {**os.environ, "_HOMEPORT_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        words = line.split()
        env["COMP_WORDS"] = line
        env["COMP_CWORD"] = str(len(words) if line.endswith(" ") else len(words) - 1)
    else:
        env["_TYPER_COMPLETE_ARGS"] = line
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )


def _values(shell: str, out: str) -> list[str]:
    if shell == "zsh":
        return [x.split('":"')[0].strip('"') for x in out.split("((", 1)[-1].split("\n") if x]
    return [x.split("\t")[0] for x in out.splitlines() if x]


def test_verb_completion_is_fast_and_matches_typer() -> None:
    """Same verbs as Typer's own completion (the oracle), without importing Typer."""
    probe = "import sys; sys.argv[1:] = []\n" + PROBE
    for shell in ("bash", "zsh", "fish"):
        for line in ("homeport ", "homeport s", "homeport --debug ch", "homeport zz"):
            fast = _complete(probe, shell, line)
            slow = _complete(ORACLE, shell, line)
            assert fast.returncode == slow.returncode == 0, (fast.stderr, slow.stderr)
            out, loaded = fast.stdout.rsplit("LOADED", 1)
            assert loaded.strip() == "", loaded  # no Typer, Rich, pydantic or PyYAML
            assert _values(shell, out) == _values(shell, slow.stdout), (shell, line)
    # Negative control: the prefix filters (and "zz" matches nothing).
    bash = _complete(probe, "bash", "homeport s").stdout
    assert _values("bash", bash.rsplit("LOADED", 1)[0]) == [
        "seal",
        "schema",
        "status",
        "secret",
        "schemas",
    ]


def test_option_completion_still_goes_through_typer() -> None:
    """Past the verb, Typer completes the verb's options (and imports itself to do it)."""
    probe = "import sys; sys.argv[1:] = []\n" + PROBE
    proc = _complete(probe, "bash", "homeport check --st")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("--strict\n")
