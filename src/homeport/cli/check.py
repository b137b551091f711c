"""``homeport check [DIR]``: validate a rendered GitOps tree offline."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated

import typer

from homeport.check import check_tree
from homeport.check.report import print_human
from homeport.cli import _common
from homeport.errors import UsageError


def _defaults(directory: Path | None, version: str | None) -> tuple[Path, str]:
    """Fill DIR and the Kubernetes version from ./homeport.yaml when not given."""
    cfg_path = _common.config_option_default()
    if (directory is None or version is None) and cfg_path.is_file():
        cfg = _common.load(cfg_path)
        directory = directory or Path(cfg.git.path)
        version = version or cfg.kubernetes.version
    return directory or Path("."), version or "1.36"


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
            envvar="HOMEPORT_CHARTS_DIR",
        ),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail the check too.")] = False,
) -> None:
    """Check a rendered tree: schemas, references and policy. Exit 1 on errors."""
    if output not in ("human", "json"):
        raise UsageError(f'--output must be "human" or "json", not "{output}"')
    directory, version = _defaults(directory, kubernetes_version)
    report = check_tree(
        directory,
        kubernetes_version=version,
        crd_dirs=crd_dir or None,
        chart_schema_dir=chart_schema_dir,
        strict=strict,
        charts_dir=charts,
    )
    # The process ends soon: keep the interpreter's final collection from walking every
    # cached schema object (a fifth of a second on a large tree). Frozen objects are
    # still freed by reference counting; only cycles among them would outlive a collection.
    gc.freeze()
    if output == "json":
        typer.echo(report.dumps(), nl=False)
    else:
        print_human(report, _common.out_console, strict)
    raise typer.Exit(report.exit_code(strict))


def register(app: typer.Typer) -> None:
    """Add ``homeport check`` to the CLI."""
    app.command("check")(check)
