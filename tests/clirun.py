"""Run the ``homeport`` command's real entry point in this process, as a process would.

``homeport.cli.main`` is what the console script calls; running it here with the
command's arguments, working directory, environment and stdin costs none of a process
start and its imports. Tests that are about the process itself (start-up, imports,
exit on signals) start one instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from homeport.cli import main


def run_cli(
    args: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str | None] | None = None,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``homeport <args>``; ``env`` sets variables (None unsets one) for the run only.

    Returns:
        The exit code and what the command wrote to stdout and stderr.
    """
    saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
    out, err = io.StringIO(), io.StringIO()
    for k, v in (env or {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if cwd is not None:
        os.chdir(cwd)
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["homeport", *args], code, out.getvalue(), err.getvalue())
