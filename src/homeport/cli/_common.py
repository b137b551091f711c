"""Shared CLI plumbing: error reporting, exit codes, console."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from homeport.errors import HomeportError

if TYPE_CHECKING:
    from homeport.config import HomeportConfig

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


@dataclass
class _State:
    debug: bool = False


STATE = _State()


def report(exc: HomeportError) -> int:
    """Print an error the way homeport always does and return the exit code.

    Args:
        exc: The error caught at the top of the CLI.

    Returns:
        The process exit code.
    """
    if STATE.debug:
        traceback.print_exception(exc)
    for line in exc.lines():
        err_console.print(f"error: {line}", markup=False)
    return exc.exit_code


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line and return an Exit to raise.

    Args:
        message: The error, one line.
        code: Exit code.

    Returns:
        The exception to raise.
    """
    err_console.print(f"error: {message}", markup=False)
    return typer.Exit(code)


def config_option_default() -> Path:
    """Default config path: ./homeport.yaml (or $HOMEPORT_CONFIG)."""
    return Path("homeport.yaml")


def load(path: Path) -> HomeportConfig:
    """Load the config, raising ConfigError with file:line: field messages."""
    from homeport.config import load_config

    return load_config(path)
