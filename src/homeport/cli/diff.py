"""``homeport diff``: show what ``homeport render`` would change, without writing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli._common import load, out_console
from homeport.cli.render import ConfigOpt, OutOpt, default_out
from homeport.gitops import diff as tree_diff
from homeport.gitops import plan, render_tree


def diff(
    config: ConfigOpt = Path("homeport.yaml"),
    out: OutOpt = None,
    stat: Annotated[bool, typer.Option("--stat", help="Only list the files.")] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the tree would change (for CI).")
    ] = False,
) -> None:
    """Show, as a unified diff, what `homeport render` would change in the tree."""
    cfg = load(config)
    target = out if out is not None else default_out(config, cfg)
    tree = render_tree(cfg)
    if stat:
        res = plan(tree, target)
        for mark, files in (("A", res.added), ("M", res.changed), ("D", res.removed)):
            for rel in files:
                out_console.print(f"{mark} {rel}", markup=False)
        changed = res.total_changes > 0
    else:
        text = tree_diff(tree, target)
        if text:
            typer.echo(text, nl=False)
        changed = bool(text)
    if exit_code and changed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``diff`` command."""
    app.command("diff")(diff)
