"""``homeport check``'s work, and its plain command lines parsed without the CLI framework.

``homeport check`` runs from pre-commit hooks and scripts, where start-up is most of the
time on a small tree, and Typer builds a pydantic adapter per option on every run. A
command line made only of the verb's own options in their plain forms (``--opt value``,
``--opt=value``, ``-k value``, ``--strict``, at most one DIR) is parsed here from
:data:`OPTIONS`; anything else (``--help``, ``--debug``, a repeated or unknown option, an
attached short value, a value that starts with ``-``...) goes to Typer, which parses it
the same way or reports its own usage error. :mod:`homeport.cli.check` declares the same
options for Typer and runs :func:`execute` too; ``tests/test_cli_startup.py`` holds the
table to Typer's declaration and this parser to Typer's results.
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from homeport.errors import HomeportError, UsageError

# Flag -> (CheckArgs field, takes a value). Typer's declaration in cli/check.py matches it.
OPTIONS: dict[str, tuple[str, bool]] = {
    "--kubernetes-version": ("kubernetes_version", True),
    "-k": ("kubernetes_version", True),
    "--crd-dir": ("crd_dir", True),
    "--chart-schema-dir": ("chart_schema_dir", True),
    "--charts": ("charts", True),
    "--output": ("output", True),
    "-o": ("output", True),
    "--strict": ("strict", False),
}
REPEATABLE = frozenset({"crd_dir"})
PATHS = frozenset({"crd_dir", "chart_schema_dir", "charts"})
# --charts falls back to this variable.
CHARTS_ENV = "HOMEPORT_CHARTS_DIR"
# The root option the fast path leaves to Typer (tracebacks need its error handling).
DEBUG_ENV = "HOMEPORT_DEBUG"


@dataclass
class CheckArgs:
    """The arguments of ``homeport check`` (as Typer passes them to the command)."""

    directory: Path | None = None
    kubernetes_version: str | None = None
    crd_dir: list[Path] = field(default_factory=list)
    chart_schema_dir: Path | None = None
    charts: Path | None = None
    output: str = "human"
    strict: bool = False


def parse(argv: list[str]) -> CheckArgs | None:
    """Parse the arguments after ``check``, or None for a line this parser leaves to Typer.

    Args:
        argv: The arguments after the verb.

    Returns:
        The arguments, or None (Typer parses that line).
    """
    out = CheckArgs()
    seen: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        flag, eq, attached = arg.partition("=")
        spec = OPTIONS.get(flag)
        if spec is None or (eq and not spec[1]) or (eq and not flag.startswith("--")):
            return None  # unknown, --help, `--`, -kVALUE, --strict=...: Typer decides
        name, takes_value = spec
        if name in seen and name not in REPEATABLE:
            return None
        seen.add(name)
        if not takes_value:
            setattr(out, name, True)
            continue
        if eq:
            value = attached
        elif i < len(argv):
            value = argv[i]
            i += 1
        else:
            return None  # missing value: Typer's usage error
        if not value or value.startswith("-"):
            return None
        if name == "crd_dir":
            out.crd_dir.append(Path(value))
        else:
            setattr(out, name, Path(value) if name in PATHS else value)
    if len(positional) > 1:
        return None
    if positional:
        out.directory = Path(positional[0])
    if "charts" not in seen:
        env = os.environ.get(CHARTS_ENV)
        if env:
            out.charts = Path(env)
    return out


def _defaults(directory: Path | None, version: str | None) -> tuple[Path, str]:
    """Fill DIR and the Kubernetes version from ./homeport.yaml when not given."""
    cfg_path = Path("homeport.yaml")
    if (directory is None or version is None) and cfg_path.is_file():
        from homeport.config import load_config  # pydantic: only when the config is read

        cfg = load_config(cfg_path)
        directory = directory or Path(cfg.git.path)
        version = version or cfg.kubernetes.version
    return directory or Path("."), version or "1.36"


def execute(args: CheckArgs) -> int:
    """Check the tree, print the report and return the exit code.

    Args:
        args: The parsed arguments.

    Returns:
        0 clean, 1 errors (or warnings with ``--strict``).

    Raises:
        HomeportError: Bad input (exit code 2): output format, directory, schemas.
    """
    from homeport.check import check_tree

    if args.output not in ("human", "json"):
        raise UsageError(f'--output must be "human" or "json", not "{args.output}"')
    directory, version = _defaults(args.directory, args.kubernetes_version)
    report = check_tree(
        directory,
        kubernetes_version=version,
        crd_dirs=args.crd_dir or None,
        chart_schema_dir=args.chart_schema_dir,
        strict=args.strict,
        charts_dir=args.charts,
    )
    # The process ends soon: keep the interpreter's final collection from walking every
    # cached schema object (a fifth of a second on a large tree). Frozen objects are
    # still freed by reference counting; only cycles among them would outlive a collection.
    gc.freeze()
    if args.output == "json":
        sys.stdout.write(report.dumps())
        sys.stdout.flush()
    else:
        from rich.console import Console

        from homeport.check.report import print_human

        # The same console as the CLI's (cli/_common.out_console), made only when needed.
        print_human(report, Console(highlight=False, soft_wrap=True), args.strict)
    return report.exit_code(args.strict)


def run_fast(argv: list[str]) -> int | None:
    """Run ``homeport check`` for a plain command line, or return None to leave it to Typer.

    Args:
        argv: The arguments after ``check``.

    Returns:
        The exit code, or None.
    """
    if os.environ.get(DEBUG_ENV) is not None:
        return None
    args = parse(argv)
    if args is None:
        return None
    try:
        return execute(args)
    except HomeportError as exc:
        from homeport.cli import _common  # Rich and Typer: only to report the error

        return _common.report(exc)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
