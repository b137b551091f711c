"""``homeport charts pull``: cache the pinned Helm charts for `homeport check --charts`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from homeport.cli import _common
from homeport.errors import UsageError

if TYPE_CHECKING:
    from homeport.check.chartpull import RepoLogin

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
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="homeport.yaml: its mirror.charts (and login) replaces the upstream "
            "repositories. Read when it exists.",
            envvar="HOMEPORT_CONFIG",
        ),
    ] = Path("homeport.yaml"),
) -> None:
    """Download the pinned charts (digests checked) so `homeport check --charts` works offline."""
    from homeport.check.chartpull import pull_charts
    from homeport.versions import CHARTS

    mirror, login = _mirror(config)

    picked = None
    if chart:
        unknown = [c for c in chart if c not in CHARTS]
        if unknown:
            raise UsageError(
                f"--chart: {unknown[0]} is not a pinned chart ({', '.join(sorted(CHARTS))})"
            )
        picked = [CHARTS[c] for c in chart]
    res = pull_charts(dest, picked, mirror=mirror, login=login)
    for c in res.charts:
        _common.out_console.print(f"{c.name} {c.version}  {c.digest}  {c.path}", markup=False)
    _common.out_console.print(
        f"{len(res.charts)} chart(s) in {res.dest}; use `homeport check --charts {res.dest}`",
        markup=False,
    )


def _mirror(config: Path) -> tuple[str | None, RepoLogin | None]:
    """``mirror.charts`` of the config (when the file exists) and its opened login."""
    from homeport import mirrorcreds, sealing
    from homeport.check.chartpull import RepoLogin

    if not config.is_file():
        return None, None
    cfg = _common.load(config)
    mirror = cfg.mirror.charts
    if mirror is None or "charts" not in cfg.mirror.logins():
        return mirror, None
    tree = config.parent / cfg.git.path
    mirrorcreds.require_sealed(tree, cfg)
    key = sealing.home_dir() / sealing.KEY_FILE
    if not key.is_file():
        raise UsageError(
            "mirror.credentials: the login of mirror.charts is sealed; opening it needs the "
            f"sealing key {key} (restore it, or set $HOMEPORT_HOME)"
        )
    opened = mirrorcreds.open_logins(tree, cfg, [sealing.load_private_key(key)])
    values = next(v for m, v in opened if m.mirror == "charts")
    return mirror, RepoLogin.for_url(
        mirror, values["username"].decode(), values["password"].decode()
    )


def register(app: typer.Typer) -> None:
    """Add ``homeport charts`` to the CLI."""
    app.add_typer(charts_app, name="charts")
