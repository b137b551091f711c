"""``homeport status``: one look at everything that can go wrong, with an exit code.

It reads only what the controllers publish: Argo CD Applications (sync, health,
revision), cert-manager Certificates (Ready, ``notAfter``), the DDNS controller's status
ConfigMap (trusted only while fresh) and Deployment, and the readiness of Traefik,
Authentik and the database cluster.

Levels: ``ok``; ``warning`` (needs attention soon: a certificate under 14 days, an
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

from homeport.cluster.bootstrap import app_states
from homeport.cluster.kube import Kube, Obj
from homeport.names import parse_duration

Level = Literal["ok", "warning", "error"]
_RANK = {"ok": 0, "warning": 1, "error": 2}
CERT_WARNING_DAYS = 14
CERT_ERROR_DAYS = 7
DDNS_NAMESPACE = "cloudflare-ddns"
DDNS_CONFIGMAP = "homeport-ddns-status"
DDNS_KEY = "status.json"
DDNS_ERROR_STREAK = 3
DDNS_DEPLOYMENT = "homeport-ddns"
DDNS_DEFAULT_INTERVAL = 300  # cloudflare.interval's default, 5m
# A report older than this many intervals means the controller stopped running cycles.
DDNS_STALE_INTERVALS = 2
EXIT_OK, EXIT_ERROR, EXIT_WARNING = 0, 1, 3

# (section, namespace) of platform workloads whose Deployments must be available.
WORKLOADS = (("traefik", "traefik"), ("authentik", "authentik"))


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


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _condition(obj: Obj, kind: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def application_checks(kube: Kube) -> list[Check]:
    """Sync, health and revision of every Argo CD Application."""
    out = []
    for s in app_states(kube):
        level: Level
        if s.ready:
            level = "ok"
        elif s.health in ("Degraded", "Missing") or (
            s.sync == "OutOfSync" and s.health != "Progressing"
        ):
            level = "error"
        else:  # Progressing, Suspended, Unknown: not broken yet
            level = "warning"
        detail = f"{s.sync}/{s.health}" + (f" @ {s.revision[:12]}" if s.revision else "")
        if s.message and level != "ok":
            detail += f": {s.message}"
        out.append(
            Check(
                "applications",
                s.name,
                level,
                detail,
                {"sync": s.sync, "health": s.health, "revision": s.revision},
            )
        )
    return out


def certificate_checks(kube: Kube, now: dt.datetime | None = None) -> list[Check]:
    """Readiness and expiry of every cert-manager Certificate."""
    now = now or _utcnow()
    out = []
    for cert in sorted(
        kube.list_objects("cert-manager.io/v1", "Certificate"),
        key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"]),
    ):
        md = cert["metadata"]
        name = f"{md.get('namespace')}/{md['name']}"
        ready = _condition(cert, "Ready")
        is_ready = bool(ready and ready.get("status") == "True")
        not_after = _parse_time((cert.get("status") or {}).get("notAfter"))
        days = None if not_after is None else int((not_after - now).total_seconds() // 86400)
        level: Level = "ok"
        parts = ["ready" if is_ready else "not ready"]
        if not is_ready:
            level = "error"
            if ready and ready.get("message"):
                parts.append(str(ready["message"]))
        if days is not None:
            parts.append(f"expires {not_after:%Y-%m-%d} ({days} days left)")
            if days < CERT_ERROR_DAYS:
                level = "error"
            elif days < CERT_WARNING_DAYS and level == "ok":
                level = "warning"
        out.append(
            Check(
                "certificates",
                name,
                level,
                ", ".join(parts),
                {
                    "ready": is_ready,
                    "notAfter": not_after.strftime("%Y-%m-%dT%H:%M:%SZ") if not_after else None,
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
    last_run = _parse_time(doc.get("lastRun"))
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
    parts: list[Callable[[], list[Check]]] = [
        lambda: application_checks(kube),
        lambda: certificate_checks(kube, now),
        lambda: ddns_checks(kube, now),
        lambda: workload_checks(kube),
    ]
    for part in parts:
        report.checks += part()
    return report
