"""``homeport doctor``: check the live platform from outside, one line per check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from homeport.cli import _common
from homeport.cli._common import out_console

_STYLE = {"ok": "green", "warning": "yellow", "error": "red"}


def doctor_cmd(
    config: Annotated[Path, typer.Option("--config", "-c", help="homeport.yaml.")] = Path(
        "homeport.yaml"
    ),
    resolve: Annotated[
        list[str] | None,
        typer.Option(
            "--resolve",
            help="HOST:PORT:ADDR: connect to ADDR for HOST on PORT (like curl; repeatable).",
        ),
    ] = None,
    resolver: Annotated[
        str, typer.Option("--resolver", help="DNS server IP[:PORT] to resolve names with.")
    ] = "",
    public_address: Annotated[
        str,
        typer.Option("--public-address", help="Address every public name must resolve to."),
    ] = "",
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="PEM CA bundle to trust instead of the system's."),
    ] = None,
    min_days: Annotated[
        int, typer.Option("--min-days", min=0, help="Certificate days left below this fail.")
    ] = 14,
    output: Annotated[
        Literal["text", "json"], typer.Option("--output", "-o", help="text or json.")
    ] = "text",
) -> None:
    """Check DNS, ports, redirects, certificates, SSO and headers from outside.

    Exit code: 0 all ok, 3 warnings only, 1 a check failed, 2 bad input.
    """
    from homeport import doctor

    if ca_file is not None and not ca_file.is_file():
        raise _common.fail(f"--ca-file: {ca_file}: no such file")
    opts = doctor.Options(
        resolve=doctor.parse_resolve(resolve or []),
        resolver=doctor.parse_address("--resolver", resolver, port=True),
        public_address=doctor.parse_address("--public-address", public_address),
        ca_file=str(ca_file or ""),
        min_days=min_days,
    )
    report = doctor.run(_common.load(config), opts)
    if output == "json":
        typer.echo(report.to_json())
    else:
        for c in report.checks:
            out_console.print(
                f"[{_STYLE[c.level]}]{c.level:7}[/] {c.check:9} {c.target}: {c.detail}",
                markup=True,
            )
        out_console.print(f"overall: [{_STYLE[report.level]}]{report.level}[/]")
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    """Add the ``doctor`` command."""
    app.command("doctor")(doctor_cmd)
