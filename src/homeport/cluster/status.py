"""``homeport status``: one look at everything that can go wrong, with an exit code.

It reads only what the controllers publish: Argo CD Applications (sync, health,
revision), cert-manager Certificates (Ready, ``notAfter``, ``renewalTime``, and why an
issuance is stuck: an issuer that is not ready, the failed issuance's message and the
reason of each pending ACME Challenge, e.g. the Cloudflare API's error), the DDNS
controller's status ConfigMap (trusted only while fresh) and Deployment, and the
readiness of Traefik, Authentik and the database cluster.

Levels: ``ok``; ``warning`` (needs attention soon: a certificate under 14 days or past
its renewal time by more than an hour, an
Application still progressing, a DDNS failure streak starting); ``error`` (broken now:
degraded or out-of-sync Applications, a certificate under 7 days or not ready, DDNS
failing repeatedly, a component not ready). Exit code: 0 all ok, 3 warnings only,
1 any error (so cron jobs and monitors can act on it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from homeport.cluster.kube import Kube, Obj
from homeport.cluster.waves import AppState, WaveReport, fmt_duration, parse_time, read_waves
from homeport.errors import ClusterError
from homeport.names import parse_duration
from homeport.wellknown import (
    AUTHENTIK_NAMESPACE,
    CERT_MANAGER_GROUP,
    DDNS_NAMESPACE,
    DDNS_STATUS_CONFIGMAP,
    TRAEFIK_NAMESPACE,
)

Level = Literal["ok", "warning", "error"]
_RANK = {"ok": 0, "warning": 1, "error": 2}
CERT_WARNING_DAYS = 14
CERT_ERROR_DAYS = 7
DDNS_CONFIGMAP = DDNS_STATUS_CONFIGMAP
DDNS_KEY = "status.json"
DDNS_ERROR_STREAK = 3
# cert-manager renews at renewalTime; later than this means the renewal is failing.
RENEWAL_GRACE = dt.timedelta(hours=1)
DDNS_DEPLOYMENT = "homeport-ddns"
DDNS_DEFAULT_INTERVAL = 300  # cloudflare.interval's default, 5m
# A report older than this many intervals means the controller stopped running cycles.
DDNS_STALE_INTERVALS = 2
EXIT_OK, EXIT_ERROR, EXIT_WARNING = 0, 1, 3

# (section, namespace) of platform workloads whose Deployments must be available.
WORKLOADS = (("traefik", TRAEFIK_NAMESPACE), ("authentik", AUTHENTIK_NAMESPACE))


@dataclass
class Check:
    """One line of the status report.

    Attributes:
        section: applications, certificates, ddns, traefik, authentik, database.
        name: What was checked (an Application, ``namespace/certificate``, ...).
        level: ok, warning or error.
        detail: Human-readable state.
        data: Machine-readable fields for ``--output json``.
    """

    section: str
    name: str
    level: Level
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class StatusReport:
    """All checks, in display order."""

    server: str
    checks: list[Check] = field(default_factory=list)

    @property
    def level(self) -> Level:
        """The worst level of any check."""
        worst: Level = "ok"
        for c in self.checks:
            if _RANK[c.level] > _RANK[worst]:
                worst = c.level
        return worst

    @property
    def exit_code(self) -> int:
        """0 all ok, 3 warnings only, 1 any error."""
        return {"ok": EXIT_OK, "warning": EXIT_WARNING, "error": EXIT_ERROR}[self.level]

    def to_json(self) -> str:
        """The report as stable JSON."""
        doc = {
            "server": self.server,
            "level": self.level,
            "checks": [asdict(c) for c in self.checks],
        }
        return json.dumps(doc, indent=2, sort_keys=True)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _condition(obj: Obj, kind: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def _app_level(s: AppState) -> Level:
    if s.ready:
        return "ok"
    if s.health in ("Degraded", "Missing") or (s.sync == "OutOfSync" and s.health != "Progressing"):
        return "error"
    return "warning"  # Progressing, Suspended, Unknown: not broken yet


def application_checks(kube: Kube, report: WaveReport | None = None) -> list[Check]:
    """Sync, health, revision and sync wave of every Argo CD Application, wave by wave."""
    out = []
    for w in (report or read_waves(kube)).waves:
        for s in (a for a in w.apps if a.exists):
            level = _app_level(s)
            detail = f"{s.sync}/{s.health}" + (f" @ {s.revision[:12]}" if s.revision else "")
            if s.why and level != "ok":
                detail += f": {s.why}"
            data = {"sync": s.sync, "health": s.health, "revision": s.revision, "wave": s.wave}
            out.append(Check("applications", s.name, level, detail, data))
    return out


def wave_checks(report: WaveReport) -> list[Check]:
    """One line per sync wave: done (and how long it took), current, or not started."""
    out = []
    current = report.current
    for w in report.waves:
        levels = [_app_level(a) for a in w.apps if a.exists]
        level: Level = "ok" if w.ready else ("error" if "error" in levels else "warning")
        detail = f"{w.ready_count}/{len(w.apps)} ready"
        if w.ready:
            detail += f", took {fmt_duration(w.took)}" if w.took is not None else ""
        elif not w.started:
            detail = "not started: " + ", ".join(a.name for a in w.apps)
        else:
            detail += "; waiting on " + "; ".join(a.describe() for a in w.waiting)
        if w is current:
            detail = f"current: {detail}"
        data = {**w.to_dict(), "current": w is current}
        out.append(Check("waves", w.title, level, detail, data))
    return out


def _one_line(text: Any) -> str:
    # cert-manager's reasons carry the API's errors on tab-indented lines.
    return " ".join(str(text).split())


def _owner(obj: Obj, kind: str) -> str | None:
    for o in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if o.get("kind") == kind:
            return str(o.get("name"))
    return None


def challenge_problems(kube: Kube) -> dict[tuple[str, str], list[str]]:
    """Why ACME challenges are stuck, by the (namespace, name) of their Certificate.

    cert-manager links them Challenge -> Order -> CertificateRequest (owner references) and
    CertificateRequest -> Certificate (the ``cert-manager.io/certificate-name`` annotation).
    Valid challenges and those without a reason are left out.
    """
    crs = {
        (cr["metadata"].get("namespace", ""), cr["metadata"]["name"]): (
            (cr["metadata"].get("annotations") or {}).get("cert-manager.io/certificate-name")
        )
        for cr in kube.list_objects("cert-manager.io/v1", "CertificateRequest")
    }
    orders = {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): _owner(o, "CertificateRequest")
        for o in kube.list_objects("acme.cert-manager.io/v1", "Order")
    }
    out: dict[tuple[str, str], list[str]] = {}
    for ch in sorted(
        kube.list_objects("acme.cert-manager.io/v1", "Challenge"),
        key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"]),
    ):
        ns = ch["metadata"].get("namespace", "")
        status = ch.get("status") or {}
        reason = _one_line(status.get("reason") or "")
        if status.get("state") == "valid" or not reason:
            continue
        cr = orders.get((ns, _owner(ch, "Order") or ""))
        cert = crs.get((ns, cr or ""))
        if cert:
            dns_name = (ch.get("spec") or {}).get("dnsName", "?")
            out.setdefault((ns, cert), []).append(f"challenge for {dns_name}: {reason}")
    return out


def issuer_problem(kube: Kube, cert: Obj) -> str | None:
    """Why the Certificate's issuer cannot issue (its Ready condition), or ``None``."""
    ref = (cert.get("spec") or {}).get("issuerRef") or {}
    if ref.get("group", CERT_MANAGER_GROUP) != CERT_MANAGER_GROUP or not ref.get("name"):
        return None  # an external issuer: its status has no common shape
    kind = "ClusterIssuer" if ref.get("kind") == "ClusterIssuer" else "Issuer"
    ns = None if kind == "ClusterIssuer" else cert["metadata"].get("namespace")
    issuer = kube.get("cert-manager.io/v1", kind, str(ref["name"]), ns)
    if issuer is None:
        return f"{kind} {ref['name']} does not exist"
    ready = _condition(issuer, "Ready")
    if ready and ready.get("status") == "True":
        return None
    why = _one_line((ready or {}).get("message") or "no Ready condition yet")
    return f"{kind} {ref['name']} not ready: {why}"


def _why_stuck(
    kube: Kube, cert: Obj, stuck: dict[tuple[str, str], list[str]] | None
) -> tuple[list[str], dict[tuple[str, str], list[str]] | None]:
    """Issuer and Challenge problems of one Certificate (best effort: needs read access)."""
    md = cert["metadata"]
    parts: list[str] = []
    try:
        problem = issuer_problem(kube, cert)
        if stuck is None:
            stuck = challenge_problems(kube)
    except ClusterError:  # a user who may read Certificates but not issuers or challenges
        return parts, stuck
    if problem:
        parts.append(problem)
    parts += stuck.get((str(md.get("namespace", "")), str(md["name"])), [])
    return parts, stuck


def certificate_checks(kube: Kube, now: dt.datetime | None = None) -> list[Check]:
    """Readiness, expiry and renewal time of every cert-manager Certificate.

    A Certificate that is not ready, or whose renewal is overdue, also shows why, as
    cert-manager recorded it: an issuer that is not ready, the message of a failed
    issuance and the reason of each pending ACME Challenge.
    """
    now = now or _utcnow()
    out = []
    stuck: dict[tuple[str, str], list[str]] | None = None
    for cert in sorted(
        kube.list_objects("cert-manager.io/v1", "Certificate"),
        key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"]),
    ):
        md = cert["metadata"]
        name = f"{md.get('namespace')}/{md['name']}"
        ready = _condition(cert, "Ready")
        is_ready = bool(ready and ready.get("status") == "True")
        status = cert.get("status") or {}
        not_after = parse_time(status.get("notAfter"))
        renewal = parse_time(status.get("renewalTime"))
        days = None if not_after is None else int((not_after - now).total_seconds() // 86400)
        level: Level = "ok"
        parts = ["ready" if is_ready else "not ready"]
        if not is_ready:
            level = "error"
            if ready and ready.get("message"):
                parts.append(_one_line(ready["message"]))
            issuing = _condition(cert, "Issuing")
            if issuing and issuing.get("status") == "False" and issuing.get("message"):
                parts.append(_one_line(issuing["message"]))
            why, stuck = _why_stuck(kube, cert, stuck)
            parts += why
        if days is not None:
            parts.append(f"expires {not_after:%Y-%m-%d} ({days} days left)")
            if days < CERT_ERROR_DAYS:
                level = "error"
            elif days < CERT_WARNING_DAYS and level == "ok":
                level = "warning"
        if renewal is not None and is_ready and now > renewal + RENEWAL_GRACE:
            parts.append(f"renewal overdue since {renewal:%Y-%m-%d %H:%M}Z")
            why, stuck = _why_stuck(kube, cert, stuck)
            parts += why
            if level == "ok":
                level = "warning"
        elif renewal is not None:
            parts.append(f"renews {renewal:%Y-%m-%d}")
        out.append(
            Check(
                "certificates",
                name,
                level,
                ", ".join(parts),
                {
                    "ready": is_ready,
                    "notAfter": not_after.strftime("%Y-%m-%dT%H:%M:%SZ") if not_after else None,
                    "renewalTime": renewal.strftime("%Y-%m-%dT%H:%M:%SZ") if renewal else None,
                    "daysLeft": days,
                },
            )
        )
    return out


def _ddns_interval(dep: Obj | None) -> int:
    """The controller's ``--interval`` from its Deployment (seconds; default 5m)."""
    containers = (((dep or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in containers.get("containers") or []:
        args = [str(a) for a in c.get("args") or []]
        for i, a in enumerate(args):
            value = args[i + 1] if a == "--interval" and i + 1 < len(args) else None
            if a.startswith("--interval="):
                value = a.split("=", 1)[1]
            if value:
                try:
                    return parse_duration(value)
                except ValueError:
                    pass
    return DDNS_DEFAULT_INTERVAL


def _ddns_deployment_check(dep: Obj | None) -> Check:
    if dep is None:
        return Check(
            "ddns",
            f"{DDNS_NAMESPACE}/{DDNS_DEPLOYMENT}",
            "error",
            "Deployment missing: nothing updates the DNS records",
            {"ready": 0, "want": None},
        )
    return _deployment_check("ddns", dep)


def ddns_checks(kube: Kube, now: dt.datetime | None = None) -> list[Check]:
    """The DDNS controller: its Deployment's availability, and the status it publishes.

    The report is trusted only while it is fresh: a ``lastRun`` older than two intervals
    (``--interval`` of the Deployment) is an error, whatever the report says, because a
    crash-looping or stopped controller leaves its last good report behind.
    """
    if kube.get("v1", "Namespace", DDNS_NAMESPACE) is None:
        return []
    now = now or _utcnow()
    dep = kube.get("apps/v1", "Deployment", DDNS_DEPLOYMENT, DDNS_NAMESPACE)
    after = [_ddns_deployment_check(dep)]
    interval = _ddns_interval(dep)
    cm = kube.get("v1", "ConfigMap", DDNS_CONFIGMAP, DDNS_NAMESPACE)
    if cm is None:
        return [Check("ddns", "cloudflare-ddns", "warning", "no status published yet"), *after]
    raw = (cm.get("data") or {}).get(DDNS_KEY, "")
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except ValueError:
        return [
            Check("ddns", "cloudflare-ddns", "error", f"status ConfigMap has no valid {DDNS_KEY}"),
            *after,
        ]
    failures = int(doc.get("consecutiveFailures") or 0)
    addrs = doc.get("addresses") or {}
    shown = ", ".join(str(v) for v in (addrs.get("ipv4"), addrs.get("ipv6")) if v) or "no address"
    level: Level = "ok"
    detail = f"last run {doc.get('lastRun') or 'never'}, address {shown}"
    if failures >= DDNS_ERROR_STREAK:
        level = "error"
    elif failures > 0 or not doc.get("lastSuccess"):
        level = "warning"
    if doc.get("lastError") and failures:
        detail += f", {failures} failures in a row: {doc['lastError']}"
    last_run = parse_time(doc.get("lastRun"))
    age = None if last_run is None else int((now - last_run).total_seconds())
    if age is None or age > DDNS_STALE_INTERVALS * interval:
        level = "error"
        detail += (
            ", no run recorded"
            if age is None
            else f", stale: last run {_ago(age)} ago, expected every {_ago(interval)} "
            "(the controller is not running)"
        )
    data = {
        k: doc.get(k)
        for k in ("lastRun", "lastSuccess", "addresses", "lastError", "consecutiveFailures")
    }
    data["records"] = doc.get("records") or []
    data["ageSeconds"] = age
    data["intervalSeconds"] = interval
    return [Check("ddns", "cloudflare-ddns", level, detail, data), *after]


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _deployment_check(section: str, dep: Obj) -> Check:
    md = dep["metadata"]
    want = int((dep.get("spec") or {}).get("replicas", 1) or 0)
    ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
    level: Level = "ok" if ready >= want else "error"
    return Check(
        section,
        f"{md.get('namespace')}/{md['name']}",
        level,
        f"{ready}/{want} ready",
        {"ready": ready, "want": want},
    )


def workload_checks(kube: Kube) -> list[Check]:
    """Traefik's and Authentik's Deployments, and the CloudNativePG database clusters."""
    out = []
    for section, ns in WORKLOADS:
        for dep in sorted(
            kube.list_objects("apps/v1", "Deployment", ns), key=lambda d: d["metadata"]["name"]
        ):
            out.append(_deployment_check(section, dep))
    for cl in sorted(
        kube.list_objects("postgresql.cnpg.io/v1", "Cluster"),
        key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"]),
    ):
        md = cl["metadata"]
        want = int((cl.get("spec") or {}).get("instances", 1) or 1)
        status = cl.get("status") or {}
        ready = int(status.get("readyInstances") or 0)
        level: Level = "ok" if ready >= want else "error"
        phase = str(status.get("phase") or "")
        out.append(
            Check(
                "database",
                f"{md.get('namespace')}/{md['name']}",
                level,
                f"{ready}/{want} instances ready"
                + (f" ({phase})" if phase and level != "ok" else ""),
                {"ready": ready, "want": want, "phase": phase},
            )
        )
    return out


def collect(kube: Kube, now: dt.datetime | None = None) -> StatusReport:
    """Run every check against the cluster."""
    report = StatusReport(server=kube.server)
    waves = read_waves(kube)
    parts: list[Callable[[], list[Check]]] = [
        lambda: application_checks(kube, waves),
        lambda: wave_checks(waves),
        lambda: certificate_checks(kube, now),
        lambda: ddns_checks(kube, now),
        lambda: workload_checks(kube),
    ]
    for part in parts:
        report.checks += part()
    return report
