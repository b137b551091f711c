"""``homeport render``: render the GitOps tree for homeport.yaml, check it, then write it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport import mirrorcreds
from homeport.cli._common import err_console, load, out_console
from homeport.config import HomeportConfig
from homeport.gitops import WriteResult, render_tree, write_tree

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
    """Run ``homeport check`` on a tree and print its report.

    Args:
        out: Tree directory (the staged tree, before render swaps it in).
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
    print_human(report, err_console, strict)
    return int(report.exit_code(strict))


def write_checked(
    cfg: HomeportConfig, target: Path, *, check: bool, strict: bool = False, force: bool = False
) -> WriteResult:
    """Render the tree, check the staged copy, and swap it in only if it passes (or ``force``).

    Args:
        cfg: The config.
        target: Tree directory.
        check: Check the tree before writing it.
        strict: Warnings fail the check too.
        force: Write a tree that fails its check.

    Returns:
        What changed, with the check's exit code.

    Raises:
        TreeCheckFailed: The check failed and ``force`` is false; nothing was written.
        UsageError: ``mirror.credentials`` asks for a login that is not sealed (or was
            sealed for another mirror URL); nothing was written.
    """
    mirrorcreds.require_sealed(target, cfg)
    tree = render_tree(cfg)

    def verify(staged: Path) -> int:
        return run_check(staged, cfg, strict)

    return write_tree(tree, target, verify=verify if check else None, force=force)


def warn_forced(result: WriteResult) -> None:
    """After a forced write of a failing tree, say so and exit with the check's code."""
    if result.check_code:
        err_console.print(
            "warning: the tree fails its check and was written anyway (--force)", markup=False
        )
        raise typer.Exit(result.check_code)


def render(
    config: ConfigOpt = Path("homeport.yaml"),
    out: OutOpt = None,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Check the tree before writing it.")
    ] = True,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on check warnings too.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write the tree even when it fails its check.")
    ] = False,
) -> None:
    """Render homeport.yaml into an Argo CD GitOps tree, check it, then write it atomically.

    A tree that fails its check is not written (exit 1) unless --force.
    """
    cfg = load(config)
    target = out if out is not None else default_out(config, cfg)
    result = write_checked(cfg, target, check=check, strict=strict, force=force)
    total = len(result.added) + len(result.changed) + len(result.unchanged)
    out_console.print(
        f"rendered {total} files into {target}: "
        f"{len(result.added)} added, {len(result.changed)} changed, "
        f"{len(result.removed)} removed, {len(result.unchanged)} unchanged",
        markup=False,
    )
    warn_forced(result)


def register(app: typer.Typer) -> None:
    """Add the ``render`` command."""
    app.command("render")(render)
