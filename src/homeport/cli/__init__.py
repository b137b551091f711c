"""The ``homeport`` command line: parse, call, print. One module per verb.

Only the module of the verb being run is imported (a verb like ``ddns run`` should not
pay for the cluster client or the validator); ``homeport --help`` imports them all.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer

from homeport import __version__
from homeport.cli import _common
from homeport.errors import HomeportError

# Verb -> module under homeport.cli that registers it, in help order.
VERBS = {
    "init": "init",
    "render": "render",
    "diff": "diff",
    "check": "check",
    "app": "apps",
    "secret": "secret",
    "seal": "seal",
    "unseal": "seal",
    "schema": "schema",
    "schemas": "schemas",
    "charts": "charts",
    "bootstrap": "bootstrap",
    "status": "status",
    "backup": "backup",
    "restore": "restore",
    "ddns": "ddns",
}


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
    modules = [VERBS[verb]] if verb in VERBS else list(dict.fromkeys(VERBS.values()))
    for name in modules:
        importlib.import_module(f"homeport.cli.{name}").register(cli)
    return cli


def _verb(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def __getattr__(name: str) -> Any:
    # `from homeport.cli import app` (tests, embedding) gets the full CLI.
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main() -> None:
    """Entry point of the ``homeport`` console script."""
    cli = build_app(_verb(sys.argv[1:]))
    # Typer handles usage errors itself (exit 2); homeport's own errors arrive here.
    try:
        cli()
    except HomeportError as exc:
        sys.exit(_common.report(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
