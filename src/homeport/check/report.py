"""Human output of a check report: findings grouped by file, with lines, via Rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from homeport.check.model import CheckReport


def print_human(report: CheckReport, console: Console, strict: bool = False) -> None:
    """Print findings grouped by file (sorted by line), notes, then a summary line.

    Args:
        report: The report.
        console: Where to print.
        strict: Whether warnings fail the check (changes only the verdict word).
    """
    current = None
    for f in report.findings:
        if f.file != current:
            current = f.file
            console.print(f"\n[bold]{escape(f.file or '(tree)')}[/bold]")
        colour = "red" if f.severity == "error" else "yellow"
        obj = f" {escape(str(f.object))}" if f.object.kind else ""
        console.print(
            f"  {f.line:>5}  [{colour}]{f.severity:<7}[/{colour}] [bold]{f.rule_id}[/bold]"
            f"{obj}: {escape(f.message)}  [dim]{f.doc_url}[/dim]"
        )
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    e, w = len(report.errors), len(report.warnings)
    verdict = "[green]ok[/green]" if report.exit_code(strict) == 0 else "[red]failed[/red]"
    console.print(
        f"{verdict}: {report.objects} objects in {report.files} files, "
        f"{e} error{'s' if e != 1 else ''}, {w} warning{'s' if w != 1 else ''}"
    )
