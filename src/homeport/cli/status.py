"""``homeport status``: Applications, certificates, DDNS, readiness; an exit code for cron."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.table import Table

from homeport.cli._common import out_console
from homeport.cli.bootstrap import ContextOpt, KubeconfigOpt
from homeport.cluster.kube import connect
from homeport.cluster.status import collect

_STYLE = {"ok": "green", "warning": "yellow", "error": "red"}


def status_cmd(
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    output: Annotated[
        Literal["text", "json"], typer.Option("--output", "-o", help="text or json.")
    ] = "text",
) -> None:
    """Show the platform's health. Exit code: 0 healthy, 3 warnings only, 1 something unhealthy."""
    with connect(kubeconfig, context) as kube:
        report = collect(kube)
    if output == "json":
        typer.echo(report.to_json())
    else:
        table = Table("", "section", "name", "state", title=f"homeport status: {report.server}")
        for c in report.checks:
            table.add_row(f"[{_STYLE[c.level]}]{c.level}[/]", c.section, c.name, c.detail)
        if report.checks:
            out_console.print(table)
        else:
            out_console.print(
                "nothing installed yet (no Applications, certificates or DDNS status)"
            )
        out_console.print(f"overall: [{_STYLE[report.level]}]{report.level}[/]")
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    """Add the ``status`` command."""
    app.command("status")(status_cmd)
