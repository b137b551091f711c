"""Argo CD's sync waves as the cluster shows them: members, progress, time taken.

The root app-of-apps (``root``) creates the child Applications wave by wave (their
``argocd.argoproj.io/sync-wave`` annotation, default 0) and, with homeport's Application
health check in ``argocd-cm``, waits for each wave to be Synced and Healthy before the
next. So, read from the cluster alone:

- a wave is *entered* when its first Application was created (the earliest
  ``metadata.creationTimestamp``);
- it is *done* when every Application in it is Synced and Healthy: the latest of each
  one's ``status.health.lastTransitionTime`` (when Healthy),
  ``status.operationState.finishedAt`` (when Succeeded) and last
  ``status.history[].deployedAt``, so a run after the fact still reports; where Argo CD
  recorded none of these, the time a follower first saw it done;
- a wave whose Applications do not exist yet is *not started*: the root lists every
  child it will create, with its ``syncWave``, in its ``status.resources``.

Times are the API server's (second resolution), so durations are whole seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from homeport.cluster.kube import Kube, Obj
from homeport.platform.base import ARGOCD_NS
from homeport.wellknown import WAVE_ANNOTATION

APPLICATION_API = "argoproj.io/v1alpha1"
# The app-of-apps bootstrap creates (homeport.platform.argocd.root_application).
ROOT = "root"
FAILED_PHASES = ("Failed", "Error")
# Which unhealthy resource explains an Application best (worst first).
_MESSAGE_ORDER = ("Degraded", "Missing", "Unknown", "Progressing", "Suspended")


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp of the API (``2026-11-02T10:00:00Z``), or ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def fmt_duration(seconds: float | None) -> str:
    """``45s``, ``3m07s``, ``1h02m``; ``-`` for unknown."""
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass(frozen=True)
class AppState:
    """What Argo CD reports about one Application.

    Attributes:
        name: The Application's name.
        sync: ``status.sync.status`` (Synced, OutOfSync, Unknown).
        health: ``status.health.status`` (Healthy, Progressing, Degraded, Missing, ...).
        revision: The Git revision it is synced to.
        message: Why it is not healthy: the health message, else the worst unhealthy
            resource's (Argo CD keeps those only with ``controller.resource.health.persist``),
            else a condition's.
        wave: Its sync wave (annotation, or the root's ``syncWave`` for one not created yet).
        phase: ``status.operationState.phase`` of the last sync (Running, Succeeded,
            Failed, Error), empty when none ran.
        operation_message: ``status.operationState.message`` (``Retrying attempt #2 ...``).
        created: ``metadata.creationTimestamp``.
        ready_at: When it last became Synced and Healthy, as Argo CD recorded it.
        exists: False for a child the root has not created yet.
    """

    name: str
    sync: str
    health: str
    revision: str
    message: str = ""
    wave: int = 0
    phase: str = ""
    operation_message: str = ""
    created: dt.datetime | None = None
    ready_at: dt.datetime | None = None
    exists: bool = True

    @property
    def ready(self) -> bool:
        """Synced and Healthy."""
        return self.sync == "Synced" and self.health == "Healthy"

    @property
    def state(self) -> str:
        """``sync/health``, e.g. ``Synced/Progressing``."""
        return f"{self.sync}/{self.health}"

    @property
    def failure(self) -> str | None:
        """Why it is broken (Degraded, or its sync failed for good), else ``None``.

        Argo CD sets phase Failed or Error only once its retries are used up; while it
        retries the phase stays Running.
        """
        if self.ready or not self.exists:
            return None
        if self.health == "Degraded":
            return f"{self.name} is Degraded" + (f": {self.message}" if self.message else "")
        if self.phase in FAILED_PHASES:
            why = self.operation_message or self.message
            return f"{self.name}: sync {self.phase}" + (f": {why}" if why else "")
        return None

    @property
    def why(self) -> str:
        """Its message, and the sync operation's while that has not succeeded."""
        why = self.message
        if self.phase and self.phase != "Succeeded" and self.operation_message:
            why = f"{why}; " if why else ""
            why += f"sync {self.phase}: {self.operation_message}"
        return why

    def describe(self) -> str:
        """``name: sync/health: why``, or ``name: not created yet``."""
        if not self.exists:
            return f"{self.name}: not created yet"
        return f"{self.name}: {self.state}" + (f": {self.why}" if self.why else "")


def _wave(value: Any) -> int:
    # Argo CD reads a wave it cannot parse as 0 (gitops-engine syncwaves.Wave).
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def _resource_message(status: Obj) -> str:
    worst: tuple[int, str] | None = None
    for r in status.get("resources") or []:
        h = r.get("health") or {}
        if h.get("status") not in _MESSAGE_ORDER:
            continue
        name = str(r.get("name", ""))
        msg = str(h.get("message") or h["status"])
        if name not in msg:
            msg = f"{r.get('kind', '')} {name}: {msg}"
        rank = _MESSAGE_ORDER.index(h["status"])
        if worst is None or rank < worst[0]:
            worst = (rank, msg)
    return worst[1] if worst else ""


def _ready_at(status: Obj, sync: str, health: str) -> dt.datetime | None:
    if sync != "Synced" or health != "Healthy":
        return None
    op = status.get("operationState") or {}
    history = status.get("history") or []
    times = [
        parse_time((status.get("health") or {}).get("lastTransitionTime")),
        parse_time(op.get("finishedAt")) if op.get("phase") == "Succeeded" else None,
        parse_time((history[-1] or {}).get("deployedAt")) if history else None,
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def app_state(app: Obj) -> AppState:
    """One Application object as an :class:`AppState`."""
    md = app.get("metadata") or {}
    st: Obj = app.get("status") or {}
    sync = str((st.get("sync") or {}).get("status") or "Unknown")
    health_obj = st.get("health") or {}
    health = str(health_obj.get("status") or "Unknown")
    cond = next((c["message"] for c in st.get("conditions") or [] if c.get("message")), "")
    op = st.get("operationState") or {}
    return AppState(
        name=str(md.get("name", "")),
        sync=sync,
        health=health,
        revision=str((st.get("sync") or {}).get("revision") or ""),
        message=str(health_obj.get("message") or _resource_message(st) or cond or ""),
        wave=_wave((md.get("annotations") or {}).get(WAVE_ANNOTATION, 0)),
        phase=str(op.get("phase") or ""),
        operation_message=str(op.get("message") or ""),
        created=parse_time(md.get("creationTimestamp")),
        ready_at=_ready_at(st, sync, health),
    )


def app_states(kube: Kube, namespace: str = ARGOCD_NS) -> list[AppState]:
    """Every Application in the namespace, sorted by name."""
    apps = kube.list_objects(APPLICATION_API, "Application", namespace)
    return sorted((app_state(a) for a in apps), key=lambda a: a.name)


def planned_apps(root: Obj | None, existing: Iterable[str], namespace: str) -> list[AppState]:
    """Children the root will create but has not yet (from its ``status.resources``)."""
    have = set(existing)
    out = []
    for r in ((root or {}).get("status") or {}).get("resources") or []:
        if (
            r.get("kind") == "Application"
            and r.get("group") == "argoproj.io"
            and r.get("namespace", namespace) == namespace
            and r.get("name") not in have
        ):
            name = str(r["name"])
            have.add(name)
            out.append(
                AppState(
                    name=name,
                    sync=str(r.get("status") or "OutOfSync"),
                    health="Missing",
                    revision="",
                    wave=_wave(r.get("syncWave", 0)),
                    exists=False,
                )
            )
    return out


@dataclass(frozen=True)
class Wave:
    """One sync wave (or the root Application, shown first as its own row).

    Attributes:
        number: The wave (the root's own annotation, 0, for the root row).
        apps: Its Applications, by name.
        root: Whether this is the root app-of-apps' row.
        seen_done: When a follower first saw it done (used when Argo CD recorded no time).
    """

    number: int
    apps: tuple[AppState, ...]
    root: bool = False
    seen_done: dt.datetime | None = None

    @property
    def label(self) -> str:
        """``root`` or the wave number."""
        return ROOT if self.root else str(self.number)

    @property
    def title(self) -> str:
        """``root`` or ``wave -6``."""
        return ROOT if self.root else f"wave {self.number}"

    @property
    def started(self) -> bool:
        """Whether any of its Applications exists."""
        return any(a.exists for a in self.apps)

    @property
    def ready(self) -> bool:
        """Every Application exists and is Synced and Healthy."""
        return bool(self.apps) and all(a.ready and a.exists for a in self.apps)

    @property
    def ready_count(self) -> int:
        """How many of its Applications are Synced and Healthy."""
        return sum(1 for a in self.apps if a.ready and a.exists)

    @property
    def waiting(self) -> list[AppState]:
        """Its Applications not (yet) Synced and Healthy."""
        return [a for a in self.apps if not (a.ready and a.exists)]

    @property
    def entered(self) -> dt.datetime | None:
        """When its first Application was created."""
        times = [a.created for a in self.apps if a.exists and a.created is not None]
        return min(times) if times else None

    @property
    def done(self) -> dt.datetime | None:
        """When its last Application became Synced and Healthy (``None`` while not done)."""
        if not self.ready:
            return None
        times = [a.ready_at for a in self.apps]
        if all(t is not None for t in times):
            return max(t for t in times if t is not None)
        return self.seen_done

    @property
    def took(self) -> float | None:
        """Seconds from entered to done."""
        entered, done = self.entered, self.done
        if entered is None or done is None:
            return None
        return max(0.0, (done - entered).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """The wave for ``--output json``."""

        def iso(t: dt.datetime | None) -> str | None:
            return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None

        return {
            "wave": self.number,
            "root": self.root,
            "ready": self.ready_count,
            "total": len(self.apps),
            "applications": [a.name for a in self.apps],
            "waiting": [a.name for a in self.waiting],
            "entered": iso(self.entered),
            "done": iso(self.done),
            "seconds": None if self.took is None else int(self.took),
        }


@dataclass(frozen=True)
class WaveReport:
    """Every wave: the root first, then by number."""

    waves: tuple[Wave, ...]

    @property
    def ready(self) -> bool:
        """Every wave is done (and there is at least one)."""
        return bool(self.waves) and all(w.ready for w in self.waves)

    @property
    def current(self) -> Wave | None:
        """The wave being waited on: the first one not done (the root's row last)."""
        numbered = [w for w in self.waves if not w.root and not w.ready]
        if numbered:
            return numbered[0]
        return next((w for w in self.waves if w.root and not w.ready), None)

    @property
    def not_started(self) -> list[Wave]:
        """Waves none of whose Applications exists yet."""
        return [w for w in self.waves if not w.started]

    @property
    def total(self) -> float | None:
        """Seconds from the first wave entered to the last one done (``None`` until done)."""
        entered = [w.entered for w in self.waves if w.entered is not None]
        done = [w.done for w in self.waves]
        if not self.ready or not entered or any(d is None for d in done):
            return None
        return max(0.0, (max(d for d in done if d) - min(entered)).total_seconds())

    def wave_of(self, name: str) -> Wave | None:
        """The wave holding an Application."""
        return next((w for w in self.waves if any(a.name == name for a in w.apps)), None)


def build_report(
    apps: Iterable[AppState], seen_done: Mapping[str, dt.datetime] | None = None
) -> WaveReport:
    """Group Applications into waves.

    Args:
        apps: The Applications (existing and planned).
        seen_done: When a follower first saw each wave done, by :attr:`Wave.label`.
    """
    groups: dict[tuple[bool, int], list[AppState]] = {}
    for a in apps:
        groups.setdefault((a.name != ROOT, a.wave), []).append(a)
    seen = seen_done or {}
    return WaveReport(
        tuple(
            Wave(
                number,
                tuple(sorted(members, key=lambda a: a.name)),
                root=not numbered,
                seen_done=seen.get(ROOT if not numbered else str(number)),
            )
            for (numbered, number), members in sorted(groups.items())
        )
    )


def read_waves(kube: Kube, namespace: str = ARGOCD_NS) -> WaveReport:
    """The waves as the cluster shows them now (the root's row first, then by number)."""
    objs = kube.list_objects(APPLICATION_API, "Application", namespace)
    apps = [app_state(o) for o in objs]
    root = next((o for o in objs if (o.get("metadata") or {}).get("name") == ROOT), None)
    apps += planned_apps(root, (a.name for a in apps), namespace)
    return build_report(apps)
