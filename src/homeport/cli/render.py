"""``homeport render``: write the GitOps tree for homeport.yaml, then check it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli._common import err_console, load, out_console
from homeport.config import HomeportConfig
from homeport.gitops import render_tree, write_tree

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", help="Path of homeport.yaml.", envvar="HOMEPORT_CONFIG"),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Tree directory. Default: <config dir>/<git.path>."),
]


def default_out(config: Path, cfg: HomeportConfig) -> Path:
    """The tree directory when --out is not given: git.path next to the config file."""
    return config.parent / cfg.git.path


def run_check(out: Path, cfg: HomeportConfig, strict: bool = False) -> int:
    """Run ``homeport check`` on a written tree and print its report.

    Args:
        out: Tree directory.
        cfg: The config (for the Kubernetes version).
        strict: Treat warnings as errors.

    Returns:
        The check's exit code.
    """
    from homeport.check import check_tree
    from homeport.check.expand import default_charts_dir
    from homeport.check.report import print_human

    # With a chart cache ($HOMEPORT_CHARTS_DIR or `homeport charts pull`), charts are expanded.
    report = check_tree(
        out,
        kubernetes_version=cfg.kubernetes.version,
        strict=strict,
        charts_dir=default_charts_dir(),
    )
    print_human(report, err_console)
    return int(report.exit_code(strict))


def render(
    config: ConfigOpt = Path("homeport.yaml"),
    out: OutOpt = None,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Check the tree after writing.")
    ] = True,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on check warnings too.")] = False,
) -> None:
    """Render homeport.yaml into an Argo CD GitOps tree (atomically), then check it."""
    cfg = load(config)
    target = out if out is not None else default_out(config, cfg)
    tree = render_tree(cfg)
    result = write_tree(tree, target)
    out_console.print(
        f"rendered {len(tree.files)} files into {target}: "
        f"{len(result.added)} added, {len(result.changed)} changed, "
        f"{len(result.removed)} removed, {len(result.unchanged)} unchanged",
        markup=False,
    )
    if check:
        code = run_check(target, cfg, strict)
        if code:
            raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the ``render`` command."""
    app.command("render")(render)
