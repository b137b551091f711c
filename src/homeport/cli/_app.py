"""The Typer application behind ``homeport``: built per run with only the verb it needs.

Only the module of the verb being run is imported (a verb like ``ddns run`` should not
pay for the cluster client or the validator); help for an unknown verb imports them all.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

from homeport import __version__
from homeport.cli import COMPLETE_VAR, VERBS, _common
from homeport.errors import HomeportError


def _version(value: bool) -> None:
    if value:
        typer.echo(f"homeport {__version__}")
        raise typer.Exit()


def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors.", envvar="HOMEPORT_DEBUG")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """A production-grade Kubernetes platform for self-hosters, from one homeport.yaml."""
    _common.STATE.debug = debug


def build_app(verb: str | None = None) -> typer.Typer:
    """Build the CLI with every verb, or only with ``verb`` when it is a known one.

    Args:
        verb: The verb about to run, if known.

    Returns:
        The Typer application.
    """
    cli = typer.Typer(
        name="homeport",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    cli.callback()(_root)
    if verb in VERBS:
        modules = [VERBS[verb][0]]
    else:
        modules = list(dict.fromkeys(module for module, _ in VERBS.values()))
    for name in modules:
        importlib.import_module(f"homeport.cli.{name}").register(cli)
    return cli


def _verb(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def run(args: list[str]) -> None:
    """Run the CLI on ``args`` (without the program name) and exit.

    Args:
        args: Command-line arguments.
    """
    cli = build_app(_verb(args))
    if os.environ.get(COMPLETE_VAR):
        # Typer registers its shells only with add_completion (which adds root options);
        # typer.completion calls the same function but does not re-export it.
        from typer._completion_classes import completion_init

        completion_init()
    # Typer handles usage errors itself (exit 2); homeport's own errors arrive here.
    try:
        cli(args, prog_name="homeport")
    except HomeportError as exc:
        sys.exit(_common.report(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
