"""The sync waves on screen: a live table on a terminal, plain lines in logs, a summary."""

from __future__ import annotations

import datetime as dt

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from homeport.cli._common import err_console, out_console
from homeport.cluster.kube import Kube
from homeport.cluster.waves import AppState, WaveReport, fmt_duration
from homeport.cluster.wavewait import WaveError, wait_for_waves, wave_changes


def _color(a: AppState) -> str:
    if a.ready:
        return "green"
    return "red" if a.failure else "yellow"


def live_table(report: WaveReport, now: dt.datetime | None = None) -> Table:
    """One row per wave: ready/total, the Applications not ready, the wave's time."""
    now = now or dt.datetime.now(dt.UTC)
    table = Table("", "wave", "ready", "waiting on", "time", title="Argo CD sync waves")
    current = report.current
    for w in report.waves:
        waiting = Text()
        if not w.started:
            waiting.append("not started", style="dim")
        elif w.ready:
            waiting.append("done", style="green")
        for a in w.waiting if w.started else []:
            if waiting:
                waiting.append(", ")
            waiting.append(f"{a.name} ")
            waiting.append("not created" if not a.exists else a.state, style=_color(a))
        if w.ready:
            took = fmt_duration(w.took)
        elif w.entered is not None:
            took = fmt_duration((now - w.entered).total_seconds())
        else:
            took = "-"
        table.add_row(
            "▶" if w is current else "",
            w.label,
            f"{w.ready_count}/{len(w.apps)}",
            waiting,
            took,
        )
    return table


def summary_table(report: WaveReport) -> Table:
    """Per wave: its Applications and the time it took."""
    table = Table("wave", "applications", "took", title="sync waves")
    for w in report.waves:
        took = fmt_duration(w.took) if w.ready else ("not started" if not w.started else "not done")
        table.add_row(w.label, ", ".join(a.name for a in w.apps), took)
    return table


def print_summary(report: WaveReport) -> None:
    """The per-wave timing table and the total, on stdout."""
    if not report.waves:
        return
    out_console.print(summary_table(report))
    if report.total is not None:
        out_console.print(f"total: {fmt_duration(report.total)}", markup=False)


def follow(kube: Kube, *, timeout: float, interval: float, grace: float) -> WaveReport:
    """Wait for the waves with a live view on stderr, then print the summary.

    A terminal gets a table redrawn in place; anything else (CI logs) one line per change.

    Raises:
        WaveError: As :func:`homeport.cluster.wavewait.wait_for_waves` (after printing
            the timings so far).
    """
    try:
        if err_console.is_terminal:
            with Live(Group(), console=err_console, transient=False) as live:
                report = wait_for_waves(
                    kube,
                    timeout=timeout,
                    interval=interval,
                    grace=grace,
                    on_update=lambda r: live.update(live_table(r)),
                )
        else:
            last: list[WaveReport] = []

            def lines(r: WaveReport) -> None:
                for line in wave_changes(last[-1] if last else None, r):
                    err_console.print(line, markup=False)
                last[:] = [r]

            report = wait_for_waves(
                kube, timeout=timeout, interval=interval, grace=grace, on_update=lines
            )
    except WaveError as exc:
        print_summary(exc.report)
        raise
    print_summary(report)
    return report
