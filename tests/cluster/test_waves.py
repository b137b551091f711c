"""The sync waves as homeport reads and follows them (``bootstrap --wait``, ``status``).

Real: the kube-apiserver of the pinned version with Argo CD's pinned Application CRD
(creation timestamps, stored status, field managers are the server's); homeport's own
rendered child Applications of ``examples/homeport.yaml`` (their real sync waves) and its
real ``bootstrap`` creating the root Application; the CLI entry point.

Stand-in: Argo CD's application controller does not run here, so a background thread
plays it, writing what it writes into each Application (``status.sync``, ``status.health``
with ``lastTransitionTime``, ``status.operationState``, ``status.resources`` with each
resource's health and each child's ``syncWave``) and creating the children wave by wave
as the root app-of-apps does. This tests homeport's reading of that status; the sync test
against the real Argo CD is separate.

A dedicated API server: ``status`` and ``bootstrap --wait`` read every Application in
``argocd``, so other tests' objects must not leak into these verdicts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from homeport import sealing, yamlio
from homeport.cli._waves import live_table, summary_table
from homeport.cluster.apply import apply_objects, pinned_crds
from homeport.cluster.kube import Kube, Obj, connect
from homeport.cluster.waves import read_waves
from homeport.cluster.wavewait import (
    WaveError,
    entered_in_order,
    wait_for_waves,
    wave_changes,
    wave_inversions,
)
from homeport.config import load_config
from homeport.gitops import render_tree

from .apiserver import ApiServer
from .conftest import CliRun

EXAMPLE = Path(__file__).parents[2] / "examples" / "homeport.yaml"
API = "argoproj.io/v1alpha1"
CONTROLLER = "argocd-application-controller"
PROGRESS_DEADLINE = 'Deployment "traefik" exceeded its progress deadline'


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    srv = ApiServer().start()
    try:
        with connect(srv.kubeconfig) as k:
            apply_objects(k, pinned_crds(["argocd"]))
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def wkube(server: ApiServer) -> Iterator[Kube]:
    with connect(server.kubeconfig) as k:
        yield k


@pytest.fixture
def ns(wkube: Kube) -> str:
    name = f"w-{uuid.uuid4().hex[:8]}"
    wkube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class ArgoStandIn:
    """Writes what Argo CD's application controller would (it does not run here).

    Args:
        kubeconfig: Its own connection (it runs in a thread beside the one under test).
        namespace: Where the Applications live.
        record_times: Set ``status.health.lastTransitionTime`` on each health change, as
            Argo CD 3 does (off: homeport must time the waves by watching).
    """

    def __init__(self, kubeconfig: Path, namespace: str, *, record_times: bool = True) -> None:
        self.kubeconfig = kubeconfig
        self.ns = namespace
        self.record_times = record_times
        self.error: BaseException | None = None
        self._health: dict[str, str] = {}
        self._since: dict[str, str] = {}

    def create(self, kube: Kube, name: str, wave: int | None, spec: Obj | None = None) -> None:
        md: Obj = {"name": name, "namespace": self.ns}
        if wave is not None:
            md["annotations"] = {"argocd.argoproj.io/sync-wave": str(wave)}
        spec = spec or {
            "project": "default",
            "source": {"repoURL": "https://example.com/r.git", "path": name},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
        }
        kube.apply({"apiVersion": API, "kind": "Application", "metadata": md, "spec": spec})

    def status(
        self,
        kube: Kube,
        name: str,
        sync: str,
        health: str,
        *,
        phase: str = "",
        op_message: str = "",
        resources: list[Obj] | None = None,
        extra: Obj | None = None,
    ) -> None:
        h: Obj = {"status": health}
        if self.record_times:
            if self._health.get(name) != health:
                self._since[name] = _now()
            h["lastTransitionTime"] = self._since[name]
        self._health[name] = health
        st: Obj = {"sync": {"status": sync, "revision": "0123456789abcdef"}, "health": h}
        if phase:
            st["operationState"] = {
                "phase": phase,
                "message": op_message,
                "operation": {"sync": {"revision": "0123456789abcdef"}},
                "startedAt": _now(),
            }
        if resources is not None:
            st["resources"] = resources
        st.update(extra or {})
        kube.apply(
            {"apiVersion": API, "kind": "Application", "metadata": self._md(name), "status": st},
            field_manager=CONTROLLER,
        )

    def _md(self, name: str) -> Obj:
        return {"name": name, "namespace": self.ns}

    def plan(self, kube: Kube, children: dict[str, int], sync: str = "OutOfSync") -> None:
        """The root's status: every child it will create, with its syncWave."""
        res = [
            {
                "group": "argoproj.io",
                "version": "v1alpha1",
                "kind": "Application",
                "namespace": self.ns,
                "name": n,
                "status": sync,
                "syncWave": w,
            }
            for n, w in sorted(children.items())
        ]
        health = "Healthy" if sync == "Synced" else "Progressing"
        self.status(kube, "root", sync, health, phase="Running", resources=res)

    def run(self, script: Callable[[Kube], None]) -> threading.Thread:
        def body() -> None:
            try:
                with connect(self.kubeconfig) as k:
                    script(k)
            except BaseException as exc:  # surfaced by the test after join
                self.error = exc

        t = threading.Thread(target=body, daemon=True)
        t.start()
        return t

    def join(self, t: threading.Thread) -> None:
        t.join(timeout=120)
        assert not t.is_alive(), "the Argo CD stand-in did not finish"
        if self.error:
            raise self.error


def _rendered_children() -> dict[str, Obj]:
    """The child Applications homeport renders for the example (real names and waves)."""
    tree = render_tree(load_config(EXAMPLE))
    out = {}
    for path, text in tree.files.items():
        if path.startswith("apps/"):
            obj = yamlio.load(text)
            if isinstance(obj, dict) and obj.get("kind") == "Application":
                out[obj["metadata"]["name"]] = obj
    return out


def _wave(app: Obj) -> int:
    return int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def _sync_waves(
    argo: ArgoStandIn,
    kube: Kube,
    children: dict[str, int],
    *,
    step: float,
    specs: dict[str, Obj] | None = None,
    degrade: str | None = None,
    hold: int | None = None,
) -> None:
    """The root's sync: create each wave, take it through Progressing to Healthy, next wave.

    ``degrade`` names an Application that turns Degraded instead (and stays so); wave
    ``hold`` stays Progressing for a second (long enough for any poll to see it).
    """
    argo.plan(kube, children)
    for wave in sorted(set(children.values())):
        names = sorted(n for n, w in children.items() if w == wave)
        for n in names:
            argo.create(kube, n, wave, (specs or {}).get(n))
            argo.status(kube, n, "OutOfSync", "Missing")
        time.sleep(step)
        for n in names:
            argo.status(kube, n, "Synced", "Progressing", phase="Running", op_message="syncing")
        time.sleep(1.0 if wave == hold else step)
        for n in names:
            if n == degrade:
                dep = {"group": "apps", "version": "v1", "kind": "Deployment", "name": n}
                dep |= {"namespace": n, "status": "Synced"}
                bad = {"status": "Degraded", "message": PROGRESS_DEADLINE}
                argo.status(kube, n, "Synced", "Degraded", resources=[{**dep, "health": bad}])
            else:
                argo.status(kube, n, "Synced", "Healthy", phase="Succeeded", op_message="ok")
        if degrade in names:
            return
        time.sleep(step)
    argo.plan(kube, children, sync="Synced")


# ----------------------------------------------------------------------- reading the waves


def test_waves_and_their_times_are_read_after_the_fact(
    wkube: Kube, ns: str, server: ApiServer
) -> None:
    """Each time source Argo CD records counts; a child not created yet is 'not started'."""
    argo = ArgoStandIn(server.kubeconfig, ns, record_times=False)
    argo.create(wkube, "root", None)
    for name, wave in (("ns-a", -2), ("ns-b", -2), ("mid", -1), ("late", 0)):
        argo.create(wkube, name, wave)
    created = {
        a["metadata"]["name"]: dt.datetime.fromisoformat(a["metadata"]["creationTimestamp"])
        for a in wkube.list_objects(API, "Application", ns)
    }
    t = lambda name, s: _iso(created[name] + dt.timedelta(seconds=s))  # noqa: E731
    argo.plan(wkube, {"ns-a": -2, "ns-b": -2, "mid": -1, "late": 0, "later": 3})
    # ns-a: healthy 5s after; ns-b: healthy at 3s, deployed again at 7s (the latest counts).
    argo.status(
        wkube,
        "ns-a",
        "Synced",
        "Healthy",
        extra={"health": {"status": "Healthy", "lastTransitionTime": t("ns-a", 5)}},
    )
    argo.status(
        wkube,
        "ns-b",
        "Synced",
        "Healthy",
        extra={
            "health": {"status": "Healthy", "lastTransitionTime": t("ns-b", 3)},
            "history": [{"id": 0, "revision": "0123456789abcdef", "deployedAt": t("ns-b", 7)}],
        },
    )
    argo.status(
        wkube,
        "mid",
        "Synced",
        "Healthy",
        extra={
            "operationState": {
                "phase": "Succeeded",
                "message": "ok",
                "finishedAt": t("mid", 42),
                "operation": {"sync": {}},
                "startedAt": t("mid", 1),
            }
        },
    )
    argo.status(
        wkube,
        "late",
        "Synced",
        "Progressing",
        resources=[
            {
                "group": "",
                "version": "v1",
                "kind": "Service",
                "namespace": "late",
                "name": "web",
                "status": "Synced",
                "health": {"status": "Progressing"},
            }
        ],
    )

    report = read_waves(wkube, ns)
    assert [w.label for w in report.waves] == ["root", "-2", "-1", "0", "3"]
    by = {w.label: w for w in report.waves}
    first = min(created["ns-a"], created["ns-b"])
    want = max(created["ns-a"] + dt.timedelta(seconds=5), created["ns-b"] + dt.timedelta(seconds=7))
    assert by["-2"].entered == first and by["-2"].took == (want - first).total_seconds()
    assert by["-1"].took == 42.0
    assert by["0"].done is None and by["0"].took is None
    assert report.current is by["0"]  # the numbered waves come before the root's row
    assert [w.label for w in report.not_started] == ["3"]
    assert by["3"].apps[0].describe() == "later: not created yet"
    # The waiting Application says which resource holds it.
    assert by["0"].waiting[0].describe() == "late: Synced/Progressing: Service web: Progressing"
    doc = by["-1"].to_dict()
    assert doc["wave"] == -1 and doc["seconds"] == 42 and doc["applications"] == ["mid"]
    # Negative control: without any recorded time a done wave has no duration.
    argo.status(wkube, "mid", "Synced", "Healthy")
    assert {w.label: w for w in read_waves(wkube, ns).waves}["-1"].took is None


def test_entered_in_order_detects_an_inversion(wkube: Kube, ns: str, server: ApiServer) -> None:
    argo = ArgoStandIn(server.kubeconfig, ns)
    argo.create(wkube, "first", -5)
    argo.status(wkube, "first", "Synced", "Healthy")
    argo.create(wkube, "too-early", 8)
    argo.create(wkube, "third", 10)
    time.sleep(1.1)  # creation timestamps have whole seconds
    argo.create(wkube, "second", -4)
    argo.create(wkube, "too-late", 7)
    argo.create(wkube, "fourth", 11)
    report = read_waves(wkube, ns)
    ordered = [w for w in report.waves if w.number in (-5, -4)]
    assert entered_in_order(ordered) and entered_in_order(ordered, after_done=True)
    # Negative control: wave 8 was created before wave 7.
    assert not entered_in_order(report)
    (line,) = wave_inversions(report)
    assert line.startswith("wave 8 entered at ") and ", before wave 7 (" in line
    # after_done: wave 11 entered while wave 10 was not done.
    strict = wave_inversions(report, after_done=True)
    assert "before wave 10 was done (not done)" in next(s for s in strict if "wave 11" in s)
    assert not entered_in_order(
        ordered + [w for w in report.waves if w.number == 10], after_done=True
    )


# ----------------------------------------------------------------------- following them


def test_wait_follows_wave_by_wave_and_times_each(wkube: Kube, ns: str, server: ApiServer) -> None:
    """No recorded times: homeport times the waves by what it saw."""
    argo = ArgoStandIn(server.kubeconfig, ns, record_times=False)
    argo.create(wkube, "root", None)
    children = {"ns-a": -2, "ns-b": -2, "mid": -1, "blog": 0}
    thread = argo.run(lambda k: _sync_waves(argo, k, children, step=0.3, hold=-1))
    seen: list[Any] = []
    report = wait_for_waves(
        wkube, timeout=60, interval=0.1, grace=5, on_update=seen.append, namespace=ns
    )
    argo.join(thread)
    lines = [line for a, b in zip([None, *seen], seen, strict=False) for line in wave_changes(a, b)]
    order = [
        "wave -2 entered: ",
        "wave -2 done in ",
        "wave -1 entered: mid",
        "wave -1 done in ",
        "wave 0 entered: blog",
        "wave 0 done in ",
        "root done in ",
    ]
    at = [next(i for i, s in enumerate(lines) if s.startswith(o)) for o in order]
    assert at == sorted(at), lines
    assert "wave -1: mid Synced/Progressing: sync Running: syncing" in lines
    assert report.ready and all(w.took is not None and 0 < w.took < 30 for w in report.waves)
    assert report.total is not None and report.total >= 1.5
    assert entered_in_order(report)


def test_degraded_beyond_the_grace_fails_naming_wave_and_app(
    wkube: Kube, ns: str, server: ApiServer
) -> None:
    argo = ArgoStandIn(server.kubeconfig, ns)
    argo.create(wkube, "root", None)
    thread = argo.run(
        lambda k: _sync_waves(
            argo, k, {"cert-manager": -6, "traefik": -6, "blog": 0}, step=0.1, degrade="traefik"
        )
    )
    start = time.monotonic()
    with pytest.raises(WaveError) as err:
        wait_for_waves(wkube, timeout=60, interval=0.1, grace=0.5, namespace=ns)
    argo.join(thread)
    assert str(err.value) == f"wave -6: traefik is Degraded: {PROGRESS_DEADLINE}"
    assert time.monotonic() - start < 10
    assert [w.label for w in err.value.report.not_started] == ["0"]


def test_a_short_degraded_spell_is_forgiven(wkube: Kube, ns: str, server: ApiServer) -> None:
    """Negative control of the grace: Degraded while a rollout starts, then Healthy."""
    argo = ArgoStandIn(server.kubeconfig, ns)
    argo.create(wkube, "web", -1)
    argo.status(wkube, "web", "Synced", "Degraded")

    def heal(k: Kube) -> None:
        time.sleep(0.6)
        argo.status(k, "web", "Synced", "Healthy")

    thread = argo.run(heal)
    report = wait_for_waves(wkube, timeout=30, interval=0.1, grace=5, namespace=ns)
    argo.join(thread)
    assert report.ready


def test_sync_failed_for_good_fails_but_retrying_waits(
    wkube: Kube, ns: str, server: ApiServer
) -> None:
    argo = ArgoStandIn(server.kubeconfig, ns)
    argo.create(wkube, "issuers", -5)
    retrying = "one or more objects failed to apply. Retrying attempt #2 at 10:01AM."
    argo.status(wkube, "issuers", "OutOfSync", "Missing", phase="Running", op_message=retrying)
    want = r"^timed out after 1s at wave -5 \(issuers: OutOfSync/Missing: sync Running: one or"
    with pytest.raises(WaveError, match=want) as err:
        wait_for_waves(wkube, timeout=1, interval=0.1, grace=0, namespace=ns)
    assert "Retrying attempt #2" in str(err.value)
    gave_up = "one or more objects failed to apply (retried 10 times)."
    argo.status(wkube, "issuers", "OutOfSync", "Missing", phase="Failed", op_message=gave_up)
    with pytest.raises(WaveError) as err:
        wait_for_waves(wkube, timeout=30, interval=0.1, grace=0, namespace=ns)
    assert str(err.value) == f"wave -5: issuers: sync Failed: {gave_up}"


def test_timeout_names_the_wave_waited_on_and_those_not_started(
    wkube: Kube, ns: str, server: ApiServer
) -> None:
    argo = ArgoStandIn(server.kubeconfig, ns)
    argo.create(wkube, "root", None)
    argo.plan(wkube, {"cert-manager": -6, "traefik": -6, "issuers": -5, "blog": 0})
    for n in ("cert-manager", "traefik"):
        argo.create(wkube, n, -6)
    argo.status(wkube, "cert-manager", "Synced", "Healthy")
    svc = {
        "group": "",
        "version": "v1",
        "kind": "Service",
        "namespace": "traefik",
        "name": "traefik",
        "status": "Synced",
        "health": {
            "status": "Progressing",
            "message": "Waiting for LoadBalancer service to get an address",
        },
    }
    argo.status(wkube, "traefik", "Synced", "Progressing", resources=[svc])
    with pytest.raises(WaveError) as err:
        wait_for_waves(wkube, timeout=1, interval=0.2, namespace=ns)
    assert str(err.value) == (
        "timed out after 1s at wave -6 (traefik: Synced/Progressing: Service traefik: "
        "Waiting for LoadBalancer service to get an address); not started: wave -5, wave 0"
    )
    # The live view marks the wave waited on and the ones not started.
    console = Console(record=True, width=120)
    console.print(live_table(err.value.report))
    text = console.export_text()
    row = next(line for line in text.splitlines() if "▶" in line)
    assert "-6" in row and "1/2" in row and "traefik Synced/Progressing" in row
    assert re.search(r"│ -5 +│ 0/1 +│ not started +│ - +│", text)
    console.print(summary_table(err.value.report))
    assert re.search(r"-6 .*cert-manager, traefik.*not done", console.export_text())


# ----------------------------------------------------------------------- the CLI


def _reset(kube: Kube) -> None:
    """Remove every Application: bootstrap creates the root again, then the children come."""
    for a in kube.list_objects(API, "Application", "argocd"):
        # Kube has no delete (homeport never deletes); the raw client does it here.
        name = a["metadata"]["name"]
        resp = kube._http.delete(f"/apis/{API}/namespaces/argocd/applications/{name}")
        assert resp.status_code == 200, resp.text
    assert kube.list_objects(API, "Application", "argocd") == []


def _row(out: str, label: str) -> list[str]:
    """The cells of the summary table's row for a wave."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 3 and cells[0] == label:
            return cells
    raise AssertionError(f"no summary row for wave {label}:\n{out}")


def _children_script(argo: ArgoStandIn, degrade: str | None = None) -> Callable[[Kube], None]:
    apps = _rendered_children()
    children = {n: _wave(a) for n, a in apps.items()}
    # Argo CD would remove its finalizer on delete; nothing does here.
    specs = {n: a["spec"] for n, a in apps.items()}

    def script(k: Kube) -> None:
        deadline = time.monotonic() + 60
        while k.get(API, "Application", "root", "argocd") is None:  # bootstrap creates it
            assert time.monotonic() < deadline, "bootstrap never created the root Application"
            time.sleep(0.1)
        _sync_waves(argo, k, children, step=0.15, specs=specs, degrade=degrade, hold=-6)

    return script


def test_bootstrap_wait_shows_each_wave_and_its_time(
    server: ApiServer, wkube: Kube, keypair: sealing.KeyPair, cli: CliRun
) -> None:
    _reset(wkube)
    argo = ArgoStandIn(server.kubeconfig, "argocd")
    thread = argo.run(_children_script(argo))
    code, out = cli(
        "bootstrap",
        "--config",
        str(EXAMPLE),
        "--kubeconfig",
        str(server.kubeconfig),
        "--wait",
        "--timeout",
        "120",
        "--interval",
        "0.1",
    )
    argo.join(thread)
    assert code == 0, out
    lines = out.splitlines()
    # Plain lines (stderr is not a terminal here), in the rendered order of the waves.
    waves = ["-10", "-9", "-8", "-7", "-6", "-5", "-4", "-3", "0"]
    entered = [
        next(i for i, s in enumerate(lines) if s.startswith(f"wave {w} entered: ")) for w in waves
    ]
    done = [
        next(i for i, s in enumerate(lines) if s.startswith(f"wave {w} done in ")) for w in waves
    ]
    assert entered == sorted(entered) and all(e < d for e, d in zip(entered, done, strict=True))
    assert "wave -6 entered: cert-manager OutOfSync/Missing" in out
    assert "wave -6: traefik Synced/Progressing: sync Running: syncing" in out
    assert re.search(r"^wave -5 done in \d+s \(5 applications\)$", out, re.M)
    # The summary: one row per wave with its Applications and time, then the total.
    assert re.fullmatch(r"\d+s", _row(out, "root")[2])
    assert _row(out, "-6")[1].startswith("cert-manager, cloudnative-pg")
    assert re.fullmatch(r"\d+s", _row(out, "-6")[2])
    assert re.search(r"^total: \d+s$", out, re.M)
    assert "all Applications are Synced and Healthy" in out
    # homeport status, after the fact: every wave done, each with its time; apps carry waves.
    code, out = cli("status", "--kubeconfig", str(server.kubeconfig), "--output", "json")
    checks = json.loads(out)["checks"]
    waves_json = [c for c in checks if c["section"] == "waves"]
    assert [c["data"]["wave"] for c in waves_json][1:] == [int(w) for w in waves]
    assert all(c["level"] == "ok" and c["data"]["seconds"] is not None for c in waves_json)
    traefik = next(c for c in checks if c["section"] == "applications" and c["name"] == "traefik")
    assert traefik["data"]["wave"] == -6


def test_bootstrap_wait_fails_fast_on_a_degraded_application(
    server: ApiServer, wkube: Kube, keypair: sealing.KeyPair, cli: CliRun
) -> None:
    _reset(wkube)
    argo = ArgoStandIn(server.kubeconfig, "argocd")
    thread = argo.run(_children_script(argo, degrade="traefik"))
    code, out = cli(
        "bootstrap",
        "--config",
        str(EXAMPLE),
        "--kubeconfig",
        str(server.kubeconfig),
        "--wait",
        "--timeout",
        "120",
        "--interval",
        "0.1",
        "--degraded-grace",
        "0.5",
    )
    argo.join(thread)
    assert code == 1, out
    assert f"error: wave -6: traefik is Degraded: {PROGRESS_DEADLINE}" in out.splitlines()
    assert "Traceback" not in out
    assert "wave -7 done in " in out and "traefik Synced/Degraded" in out
    # The timings so far: earlier waves done, the later ones not started.
    assert _row(out, "-7")[1] == "secrets" and re.fullmatch(r"\d+s", _row(out, "-7")[2])
    assert _row(out, "-4")[1:] == ["authentik, ddns", "not started"]
    assert _row(out, "-6")[2] == "not done"
    # homeport status marks the current wave and names the broken Application.
    code, out = cli("status", "--kubeconfig", str(server.kubeconfig), "--output", "json")
    assert code == 1
    by = {(c["section"], c["name"]): c for c in json.loads(out)["checks"]}
    wave = by[("waves", "wave -6")]
    assert wave["level"] == "error" and wave["data"]["current"] is True
    assert wave["detail"].startswith("current: 3/4 ready; waiting on traefik: Synced/Degraded: ")
    assert by[("waves", "wave -4")]["detail"] == "not started: authentik, ddns"
    assert by[("waves", "wave -7")]["data"]["current"] is False
    code, text = cli("status", "--kubeconfig", str(server.kubeconfig))
    assert code == 1 and "current: 3/4" in text
