"""The CLI's fast paths: `--version`, `--help` and verb completion answer without the framework.

Real parts: the installed package run as a process; the Typer application for the drift check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from check.trees import base_tree, container, write_tree
from clirun import run_cli
from homeport import __version__
from homeport.cli import VERBS, _checkrun, help_text
from homeport.cli import check as cli_check
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


def _completion_env(shell: str, line: str) -> dict[str, str]:
    """The variables Typer's shell scripts set for a completion request."""
    env = {"_HOMEPORT_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        words = line.split()
        env["COMP_WORDS"] = line
        env["COMP_CWORD"] = str(len(words) if line.endswith(" ") else len(words) - 1)
    else:
        env["_TYPER_COMPLETE_ARGS"] = line
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return env


def _complete(code: str, shell: str, line: str) -> subprocess.CompletedProcess[str]:
    """Run a completion request the way Typer's shell scripts send it."""
    env = {**os.environ, **_completion_env(shell, line)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )


def _values(shell: str, out: str) -> list[str]:
    if shell == "zsh":
        return [x.split('":"')[0].strip('"') for x in out.split("((", 1)[-1].split("\n") if x]
    return [x.split("\t")[0] for x in out.splitlines() if x]


COMPLETIONS = [
    (shell, line)
    for shell in ("bash", "zsh", "fish")
    for line in ("homeport ", "homeport s", "homeport --debug ch", "homeport zz")
]
# Every request of COMPLETIONS through the fast path, in one process: (exit code, output)
# each, then the heavy modules that process imported.
FAST_MANY = """
import io, json, os, sys
from homeport.cli import main
results = []
for env in json.loads(sys.argv[1]):
    os.environ.update(env)
    real, sys.stdout = sys.stdout, io.StringIO()
    try:
        main([])
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        out, sys.stdout = sys.stdout.getvalue(), real
    for k in env:
        del os.environ[k]
    results.append([code, out])
heavy = sorted(m for m in ("typer", "rich", "pydantic", "yaml") if m in sys.modules)
print(json.dumps({"results": results, "heavy": heavy}))
"""


def _typer_completion(
    shell: str, line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Typer's own completion of the full CLI (the oracle), in this process."""
    from typer._completion_classes import completion_init
    from typer.completion import shell_complete

    completion_init()
    with monkeypatch.context() as m:
        for k, v in _completion_env(shell, line).items():
            m.setenv(k, v)
        capsys.readouterr()
        code = shell_complete(
            typer.main.get_command(build_app()),
            {},
            "homeport",
            "_HOMEPORT_COMPLETE",
            os.environ["_HOMEPORT_COMPLETE"],
        )
        return code, capsys.readouterr().out


def test_verb_completion_is_fast_and_matches_typer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same verbs as Typer's own completion (the oracle), without importing Typer."""
    envs = [_completion_env(shell, line) for shell, line in COMPLETIONS]
    proc = subprocess.run(
        [sys.executable, "-c", FAST_MANY, json.dumps(envs)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    fast = json.loads(proc.stdout)
    assert fast["heavy"] == []  # no Typer, Rich, pydantic or PyYAML
    for (shell, line), (code, out) in zip(COMPLETIONS, fast["results"], strict=True):
        slow_code, slow_out = _typer_completion(shell, line, monkeypatch, capsys)
        assert code == slow_code == 0, (shell, line)
        assert _values(shell, out) == _values(shell, slow_out), (shell, line)
    # Negative control: the prefix filters (and "zz" matches nothing).
    by_line = dict(zip(COMPLETIONS, fast["results"], strict=True))
    assert _values("bash", by_line[("bash", "homeport s")][1]) == [
        "seal",
        "schema",
        "status",
        "secret",
        "schemas",
    ]
    assert _values("bash", by_line[("bash", "homeport zz")][1]) == []


def test_option_completion_still_goes_through_typer() -> None:
    """Past the verb, Typer completes the verb's options (and imports itself to do it)."""
    probe = "import sys; sys.argv[1:] = []\n" + PROBE
    proc = _complete(probe, "bash", "homeport check --st")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("--strict\n")


# -- `homeport check` without Typer -------------------------------------------------------

# Command lines the fast parser takes, and (with HOMEPORT_CHARTS_DIR set) the variable's part.
PLAIN_CHECK_LINES = [
    [],
    ["tree"],
    ["tree", "-o", "json"],
    ["--output=json", "tree"],
    ["-k", "1.35", "tree", "--strict"],
    ["--kubernetes-version=1.34"],
    ["tree", "--crd-dir", "a", "--crd-dir=b", "--chart-schema-dir", "c"],
    ["--charts", "d", "tree"],
]
# Lines it leaves to Typer (help, attached or missing values, repeats, unknown options).
TYPER_CHECK_LINES = [
    ["--help"],
    ["-k1.35"],
    ["-o"],
    ["a", "b"],
    ["--strict=true"],
    ["--", "tree"],
    ["-o", "json", "-o", "human"],
    ["--bogus"],
    ["--output", "-x"],
    ["--output="],
]


def _typer_check_args(argv: list[str]) -> _checkrun.CheckArgs:
    """What Typer's own parse of ``homeport check <argv>`` hands to the verb."""
    got: list[_checkrun.CheckArgs] = []

    def record(args: _checkrun.CheckArgs) -> int:
        got.append(args)
        return 0

    group = typer.main.get_command(build_app("check"))
    saved = cli_check.execute
    cli_check.execute = record
    try:
        group.main(["check", *argv], prog_name="homeport", standalone_mode=False)
    finally:
        cli_check.execute = saved
    assert len(got) == 1
    return got[0]


def test_check_options_match_typers_declaration() -> None:
    group = typer.main.get_command(build_app("check"))
    cmd = getattr(group, "commands", {})["check"]
    table: dict[str, tuple[str, bool]] = {}
    repeatable, envvars = set(), {}
    for p in cmd.params:
        if p.param_type_name != "option":
            assert p.name == "directory"
            continue
        for flag in p.opts + p.secondary_opts:
            table[flag] = (p.name, not p.is_flag)
        if p.multiple:
            repeatable.add(p.name)
        if p.envvar:
            envvars[p.name] = p.envvar
    table.pop("--help", None)
    assert table == _checkrun.OPTIONS
    assert repeatable == _checkrun.REPEATABLE
    assert envvars == {"charts": _checkrun.CHARTS_ENV}


def test_check_fast_parse_equals_typers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_checkrun.CHARTS_ENV, raising=False)
    for argv in PLAIN_CHECK_LINES:
        assert _checkrun.parse(argv) == _typer_check_args(argv), argv
    monkeypatch.setenv(_checkrun.CHARTS_ENV, "from-env")
    for argv in (["tree"], ["--charts", "d"]):
        assert _checkrun.parse(argv) == _typer_check_args(argv), argv
    # Negative control: the lines it cannot be sure of go to Typer.
    assert [_checkrun.parse(argv) for argv in TYPER_CHECK_LINES] == [None] * len(TYPER_CHECK_LINES)


def test_check_fast_path_prints_what_typer_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same lines through the fast path and through Typer: same output, same exit code."""
    tree = base_tree()
    container(tree)["image"] = "nginx:latest"
    bad = str(write_tree(tmp_path / "bad", tree))

    def run(*args: str) -> tuple[int, str, str]:
        r = run_cli(list(args), env={"COLUMNS": "200"})
        return r.returncode, r.stdout, r.stderr

    for line in (
        ["check", bad, "-o", "json", "-k", "1.35"],
        ["check", bad],
        ["check", bad, "--strict"],
        ["check", str(tmp_path / "missing")],
        ["check", bad, "-o", "xml"],
    ):
        fast = run(*line)
        with monkeypatch.context() as m:
            m.setattr(_checkrun, "run_fast", lambda argv: None)  # Typer only
            slow = run(*line)
        assert fast == slow, line
        assert fast[0] in (1, 2), fast  # findings or bad input: never a silent 0
    assert "HP-P001" in run("check", bad)[1]


def test_check_fast_path_imports_no_framework(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = _run("check", str(tmp_path / "empty"), "-k", "1.36", "-o", "json")
    out, loaded = proc.stdout.rsplit("LOADED", 1)
    assert '"objects": 0' in out, proc.stdout + proc.stderr
    assert loaded.strip() == "", loaded  # no Typer, Rich, pydantic or PyYAML
    # Negative control: a line the fast path leaves alone goes through Typer.
    proc = _run("check", "--help")
    assert "typer" in proc.stdout.rsplit("LOADED", 1)[1]
