"""``homeport check [DIR]``: validate a rendered GitOps tree offline.

The work is :func:`homeport.cli._checkrun.execute`, which a plain command line reaches
without Typer; the options here are the same as :data:`homeport.cli._checkrun.OPTIONS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli._checkrun import CHARTS_ENV, CheckArgs, execute


def check(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Rendered tree (default: git.path of ./homeport.yaml, else .)."),
    ] = None,
    kubernetes_version: Annotated[
        str | None,
        typer.Option("--kubernetes-version", "-k", help="Kubernetes minor version, e.g. 1.36."),
    ] = None,
    crd_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--crd-dir",
            help="Directory of CRD files (repeatable; default $HOMEPORT_CRD_DIR, the "
            "`schemas pull` cache, else the pinned CRDs homeport carries).",
        ),
    ] = None,
    chart_schema_dir: Annotated[
        Path | None,
        typer.Option("--chart-schema-dir", help="Directory of chart values.schema.json folders."),
    ] = None,
    charts: Annotated[
        Path | None,
        typer.Option(
            "--charts",
            help="Unpacked charts (<chart>-<version> folders, `homeport charts pull`): expand "
            "every Helm Application with Helm and check what it writes.",
            envvar=CHARTS_ENV,
        ),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail the check too.")] = False,
) -> None:
    """Check a rendered tree: schemas, references and policy. Exit 1 on errors."""
    args = CheckArgs(
        directory=directory,
        kubernetes_version=kubernetes_version,
        crd_dir=crd_dir or [],
        chart_schema_dir=chart_schema_dir,
        charts=charts,
        output=output,
        strict=strict,
    )
    raise typer.Exit(execute(args))


def register(app: typer.Typer) -> None:
    """Add ``homeport check`` to the CLI."""
    app.command("check")(check)
