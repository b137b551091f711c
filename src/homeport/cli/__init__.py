"""The ``homeport`` command line: parse, call, print. One module per verb."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from homeport import __version__
from homeport.cli import _common
from homeport.errors import HomeportError

app = typer.Typer(
    name="homeport",
    help="A production-grade Kubernetes platform for self-hosters, from one homeport.yaml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"homeport {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors.", envvar="HOMEPORT_DEBUG")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    _common.STATE.debug = debug


def _register() -> None:
    # Imported here so each verb module stays independent of the others.
    from homeport.cli import init as init_cmd
    from homeport.cli import schema as schema_cmd
    from homeport.cli import seal as seal_cmd
    from homeport.cli import secret as secret_cmd

    for mod in (init_cmd, schema_cmd, seal_cmd, secret_cmd):
        mod.register(app)
    for optional in (
        "render",
        "diff",
        "apps",
        "check",
        "ddns",
        "bootstrap",
        "status",
        "backup",
        "restore",
        "schemas",
    ):
        try:
            mod = __import__(f"homeport.cli.{optional}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"homeport.cli.{optional}":
                raise
            continue
        mod.register(app)


_register()


def main() -> None:
    """Entry point of the ``homeport`` console script."""
    # Typer handles usage errors itself (exit 2); homeport's own errors arrive here.
    try:
        app()
    except HomeportError as exc:
        sys.exit(_common.report(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
