"""``homeport schemas pull``: cache the pinned Kubernetes, CRD and chart schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.check.pull import GITHUB_RAW, pull
from homeport.cli import _common

schemas_app = typer.Typer(help="Schemas used by `homeport check`.", no_args_is_help=True)


@schemas_app.command("pull")
def pull_cmd(
    kubernetes_version: Annotated[
        str, typer.Option("--kubernetes-version", "-k", help="Kubernetes minor version.")
    ] = "1.36",
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Target directory (default: the cache).")
    ] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Mirror of raw.githubusercontent.com.")
    ] = GITHUB_RAW,
) -> None:
    """Download the pinned schemas afresh; they override the ones homeport carries."""
    res = pull(kubernetes_version, dest, base_url)
    _common.out_console.print(f"{len(res.written)} files written to {res.dest}", markup=False)
    for s in res.skipped:
        _common.out_console.print(f"not in this release (skipped): {s}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``homeport schemas`` to the CLI."""
    app.add_typer(schemas_app, name="schemas")
