"""Follow Argo CD's sync waves until every one is done; fail fast, and say where.

``homeport bootstrap --wait`` polls the Applications (:func:`homeport.cluster.waves.read_waves`)
and stops with a :class:`WaveError` naming the wave and the Application when

- an Application stays Degraded for a grace period (Argo CD briefly reports Degraded while
  a rollout starts), or its sync failed for good (operation phase Failed or Error, which
  Argo CD sets only once its retries are used up; it is held to the same grace, as a new
  commit starts a new sync); or
- the time is up: the message names the wave waited on, each of its Applications that is
  not ready with sync/health/message, and the later waves not started.

:func:`entered_in_order` tells whether the waves were entered in their order (the sync
test holds the real Argo CD to it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
from collections.abc import Callable, Sequence

from homeport.cluster.kube import Kube
from homeport.cluster.waves import (
    AppState,
    Wave,
    WaveReport,
    fmt_duration,
    read_waves,
)
from homeport.errors import ClusterError
from homeport.platform.base import ARGOCD_NS

DEFAULT_GRACE = 60.0


class WaveError(ClusterError):
    """Following the waves failed; ``report`` is the last look at them.

    Attributes:
        report: The waves when it failed (the CLI prints the timings so far).
    """

    def __init__(self, message: str, report: WaveReport) -> None:
        super().__init__(message)
        self.report = report


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _app_line(w: Wave, a: AppState) -> str:
    head = f"{w.title}: " + ("" if w.root else f"{a.name} ")
    return head + a.state + (f": {a.why}" if a.why else "")


def _key(a: AppState) -> tuple[object, ...]:
    return (a.exists, a.sync, a.health, a.phase, a.message, a.operation_message)


def wave_changes(before: WaveReport | None, after: WaveReport) -> list[str]:
    """What changed between two looks, one plain line each (for logs that do not redraw).

    A wave entered (its first Application created), an Application that changed state,
    a wave done (with the time it took).
    """
    prev = {w.label: w for w in before.waves} if before else {}
    out = []
    for w in after.waves:
        p = prev.get(w.label)
        old = {a.name: a for a in p.apps} if p else {}
        if w.started and not (p and p.started):
            if w.root:
                out += [_app_line(w, a) for a in w.apps]
            else:
                names = ", ".join(f"{a.name} {a.state}" for a in w.apps if a.exists)
                out.append(f"{w.title} entered: {names}")
        else:
            for a in w.apps:
                o = old.get(a.name)
                if a.exists and (o is None or _key(o) != _key(a)):
                    out.append(_app_line(w, a))
        if w.ready and not (p and p.ready):
            n = len(w.apps)
            took = f" in {fmt_duration(w.took)}" if w.took is not None else ""
            out.append(f"{w.title} done{took} ({n} application{'s' if n != 1 else ''})")
    return out


def timeout_message(report: WaveReport, timeout: float, namespace: str = ARGOCD_NS) -> str:
    """``timed out after 900s at wave -6 (traefik: Synced/Progressing: ...); not started: ...``."""
    cur = report.current
    if cur is None:
        return f"timed out after {timeout:.0f}s: no Application in namespace {namespace} yet"
    msg = f"timed out after {timeout:.0f}s at {cur.title} ("
    msg += "; ".join(a.describe() for a in cur.waiting) + ")"
    later = [w.title for w in report.not_started if w is not cur]
    return msg + ("; not started: " + ", ".join(later) if later else "")


def wait_for_waves(
    kube: Kube,
    *,
    timeout: float,
    interval: float = 2.0,
    grace: float = DEFAULT_GRACE,
    on_update: Callable[[WaveReport], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], dt.datetime] = _utcnow,
    namespace: str = ARGOCD_NS,
) -> WaveReport:
    """Follow the sync waves until every Application is Synced and Healthy.

    Args:
        kube: The connection.
        timeout: Seconds to wait in total.
        interval: Seconds between polls.
        grace: Seconds an Application may stay Degraded (or its sync Failed) before it
            counts as broken.
        on_update: Called with the waves after each poll (the live view).
        clock: Monotonic clock for the timeout and the grace period.
        now: Wall clock for when a wave was seen done (when Argo CD recorded no time).
        namespace: Where the Applications live.

    Returns:
        The final waves, with the time each took.

    Raises:
        WaveError: An Application broken for longer than ``grace`` (the message names its
            wave, the Application and its message), or the time ran out (the wave
            waited on, its Applications not ready, the waves not started).
    """
    deadline = clock() + timeout
    seen_done: dict[str, dt.datetime] = {}
    seen_waiting: set[str] = set()
    failing_since: dict[str, float] = {}
    while True:
        report = read_waves(kube, namespace)
        t = clock()
        for w in report.waves:
            if not w.ready:
                seen_waiting.add(w.label)
                seen_done.pop(w.label, None)
            elif w.label in seen_waiting and w.label not in seen_done:
                seen_done[w.label] = now()
        report = WaveReport(
            tuple(dataclasses.replace(w, seen_done=seen_done.get(w.label)) for w in report.waves)
        )
        broken: list[str] = []
        # The root turns Degraded because a child did: name the child.
        for w in sorted(report.waves, key=lambda w: w.root):
            for a in w.apps:
                why = a.failure
                if why is None:
                    failing_since.pop(a.name, None)
                elif t - failing_since.setdefault(a.name, t) >= grace and not (w.root and broken):
                    broken.append(f"{w.title}: {why}")
        if on_update:
            on_update(report)
        if report.ready:
            return report
        if broken:
            raise WaveError("; ".join(broken), report)
        if t >= deadline:
            raise WaveError(timeout_message(report, timeout, namespace), report)
        time.sleep(max(0.0, min(interval, deadline - clock())))


def wait_for_apps(
    kube: Kube,
    *,
    timeout: float,
    interval: float = 2.0,
    on_update: Callable[[list[AppState]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[AppState]:
    """Follow Applications until every one is Synced and Healthy (see :func:`wait_for_waves`).

    Kept for callers of the flat view; it fails on a broken Application as
    :func:`wait_for_waves` does, after :data:`DEFAULT_GRACE`.

    Returns:
        The final states, sorted by name.
    """

    def update(report: WaveReport) -> None:
        if on_update:
            on_update(_existing(report))

    return _existing(
        wait_for_waves(kube, timeout=timeout, interval=interval, on_update=update, clock=clock)
    )


def _existing(report: WaveReport) -> list[AppState]:
    return sorted((a for w in report.waves for a in w.apps if a.exists), key=lambda a: a.name)


def wave_inversions(waves: WaveReport | Sequence[Wave], *, after_done: bool = False) -> list[str]:
    """Waves entered out of their order, one line each (empty: in order).

    Args:
        waves: The waves (the root's row and waves not started are left out).
        after_done: Also require each wave to be entered no earlier than the one before
            it was done (Argo CD waits for a wave's health before the next).
    """
    ws = waves.waves if isinstance(waves, WaveReport) else tuple(waves)
    entered = sorted(
        ((w.number, w) for w in ws if not w.root and w.entered is not None), key=lambda p: p[0]
    )
    out = []
    for (_, prev), (_, nxt) in itertools.pairwise(entered):
        assert prev.entered is not None and nxt.entered is not None
        if nxt.entered < prev.entered:
            out.append(
                f"{nxt.title} entered at {nxt.entered:%H:%M:%S}, before {prev.title} "
                f"({prev.entered:%H:%M:%S})"
            )
        elif after_done and (prev.done is None or nxt.entered < prev.done):
            when = f"{prev.done:%H:%M:%S}" if prev.done else "not done"
            out.append(
                f"{nxt.title} entered at {nxt.entered:%H:%M:%S}, before {prev.title} "
                f"was done ({when})"
            )
    return out


def entered_in_order(waves: WaveReport | Sequence[Wave], *, after_done: bool = False) -> bool:
    """Whether the waves were entered in their order (see :func:`wave_inversions`)."""
    return not wave_inversions(waves, after_done=after_done)
