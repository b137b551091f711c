"""``homeport charts pull``: cache the pinned Helm charts for `homeport check --charts`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli import _common
from homeport.errors import UsageError

charts_app = typer.Typer(
    help="Helm charts used by `homeport check --charts`.", no_args_is_help=True
)


@charts_app.command("pull")
def pull_cmd(
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Target directory (default: the chart cache)."),
    ] = None,
    chart: Annotated[
        list[str] | None,
        typer.Option("--chart", help="Only this pinned chart (repeatable)."),
    ] = None,
) -> None:
    """Download the pinned charts (digests checked) so `homeport check --charts` works offline."""
    from homeport.check.chartpull import pull_charts
    from homeport.versions import CHARTS

    picked = None
    if chart:
        unknown = [c for c in chart if c not in CHARTS]
        if unknown:
            raise UsageError(
                f"--chart: {unknown[0]} is not a pinned chart ({', '.join(sorted(CHARTS))})"
            )
        picked = [CHARTS[c] for c in chart]
    res = pull_charts(dest, picked)
    for c in res.charts:
        _common.out_console.print(f"{c.name} {c.version}  {c.digest}  {c.path}", markup=False)
    _common.out_console.print(
        f"{len(res.charts)} chart(s) in {res.dest}; use `homeport check --charts {res.dest}`",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``homeport charts`` to the CLI."""
    app.add_typer(charts_app, name="charts")
