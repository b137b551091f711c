"""Scheduled platform backups: a CronJob running ``homeport backup`` inside the cluster.

The objects come from :mod:`homeport.platform.backupjob` (the same code the cluster tests
run against a real API server); this module places them in the tree with their namespace
and network policy. Archives are age-encrypted to public keys from homeport.yaml, so the
cluster can write backups it can never read.
"""

from __future__ import annotations

import datetime as dt
import itertools

from homeport.config import HomeportConfig
from homeport.platform.backupjob import NAME, backup_objects
from homeport.platform.base import WAVE_SERVICES, Component, NamespaceSpec, Obj, meta
from homeport.platform.policies import APISERVER_EGRESS, DNS_EGRESS, netpol

NAMESPACE = NAME
RUNBOOK_BASE = "https://github.com/homeport-dev/homeport/blob/main/docs/runbooks"
# Alert name -> runbook page (docs/runbooks/<page>.md).
RUNBOOKS = {
    "HomeportBackupFailed": "homeport-backup-failed",
    "HomeportBackupTooOld": "homeport-backup-too-old",
}

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _cron_field(text: str, lo: int, hi: int, names: list[str], base: int) -> set[int]:
    out: set[int] = set()
    for part in text.lower().split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if rng in ("*", "?"):
            a, b = lo, hi
        else:
            a_s, dash, b_s = rng.partition("-")

            def num(v: str) -> int:
                return names.index(v) + base if v in names else int(v)

            a = num(a_s)
            b = num(b_s) if dash else (hi if step_s else a)
        out.update(range(a, b + 1, step))
    return out


def cron_max_gap(schedule: str) -> int:
    """The longest time between two runs of a cron schedule, in seconds.

    Standard five fields (a leading seconds field is ignored), names and ``@`` descriptors;
    day of month and day of week match either when both are restricted, as cron does.

    Args:
        schedule: The schedule, e.g. ``30 2 * * *``.

    Returns:
        Seconds, e.g. 86400 for a daily schedule.
    """
    fields = _DESCRIPTORS.get(schedule.strip(), schedule).split()
    if len(fields) == 6:
        fields = fields[1:]
    minute, hour, dom, month, dow = fields
    mins = sorted(
        h * 60 + m
        for h in _cron_field(hour, 0, 23, [], 0)
        for m in _cron_field(minute, 0, 59, [], 0)
    )
    doms, months = _cron_field(dom, 1, 31, [], 1), _cron_field(month, 1, 12, _MONTHS, 1)
    dows = {d % 7 for d in _cron_field(dow, 0, 7, _DAYS, 0)}
    dom_any, dow_any = dom.strip() in ("*", "?"), dow.strip() in ("*", "?")
    # Within a day; across days below.
    gap = max((b - a for a, b in itertools.pairwise(mins)), default=0)
    # Walk eight years of days: enough for any pattern, 29 February included.
    day, prev, hits = dt.date(2024, 1, 1), None, 0
    for _ in range(8 * 366):
        by_dom, by_dow = day.day in doms, (day.isoweekday() % 7) in dows
        hit = (by_dom or by_dow) if not (dom_any or dow_any) else (by_dom and by_dow)
        if hit and day.month in months:
            if prev is not None:
                gap = max(gap, (day - prev).days * 1440 + mins[0] - mins[-1])
            prev, hits = day, hits + 1
        day += dt.timedelta(days=1)
    return gap * 60 if hits > 1 else 8 * 366 * 86400


def prometheus_rule(schedule: str) -> Obj:
    """Alerts on the backup CronJob: its newest Job failed, or no success for two intervals.

    Args:
        schedule: The CronJob's schedule (its longest gap sets the age threshold).

    Returns:
        The PrometheusRule (kube-state-metrics series; see docs/runbooks).
    """
    ns, limit = NAMESPACE, 2 * cron_max_gap(schedule)
    sel = f'namespace="{ns}"'
    cj = f'{sel}, cronjob="{NAME}"'
    failed = (
        f"max by (namespace) (\n"
        f"  kube_job_status_start_time{{{sel}}}\n"
        f"  * on (namespace, job_name) group_left ()\n"
        f'  (kube_job_failed{{{sel}, condition="true"}} == 1)\n'
        f")\n"
        f"> on (namespace) (\n"
        f"  max by (namespace) (kube_cronjob_status_last_successful_time{{{cj}}})\n"
        f"  or on (namespace)\n"
        f"  max by (namespace) (kube_job_status_start_time{{{sel}}}) * 0\n"
        f")"
    )
    too_old = (
        f"time() - max by (namespace, cronjob) "
        f"(kube_cronjob_status_last_successful_time{{{cj}}}) > {limit}\n"
        f"or (\n"
        f"  time() - max by (namespace, cronjob) (kube_cronjob_created{{{cj}}}) > {limit}\n"
        f"  unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{{{cj}}}\n"
        f")"
    )
    hours = limit // 3600

    def rule(alert: str, expr: str, severity: str, summary: str, desc: str) -> Obj:
        return {
            "alert": alert,
            "expr": expr,
            "labels": {"severity": severity},
            "annotations": {
                "summary": summary,
                "description": desc,
                "runbook_url": f"{RUNBOOK_BASE}/{RUNBOOKS[alert]}.md",
            },
        }

    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta(NAME, ns, **{"app.kubernetes.io/name": NAME}),
        "spec": {
            "groups": [
                {
                    "name": NAME,
                    "rules": [
                        rule(
                            "HomeportBackupFailed",
                            failed,
                            "warning",
                            "The newest platform backup failed",
                            "The newest homeport backup Job in namespace {{ $labels.namespace }} "
                            "failed after the last successful one: no new archive was written. "
                            f"Read its logs: kubectl -n {ns} logs job/<name>.",
                        ),
                        rule(
                            "HomeportBackupTooOld",
                            too_old,
                            "critical",
                            f"No platform backup for {hours} hours",
                            "The last successful homeport backup in namespace "
                            "{{ $labels.namespace }} is older than twice the schedule "
                            f"({schedule}): a restore would lose everything since.",
                        ),
                    ],
                }
            ]
        },
    }


def components(cfg: HomeportConfig) -> list[Component]:
    """The backup CronJob, when ``backup.platform`` is configured."""
    plan = cfg.backup.platform
    if plan is None:
        return []
    objs = backup_objects(
        image=cfg.components.ddns.image,
        recipients=list(plan.recipients),
        namespace=NAMESPACE,
        schedule=plan.schedule,
        storage=plan.storage,
        storage_class=plan.storage_class,
        keep=plan.keep,
    )
    if cfg.components.monitoring.enabled:
        objs.append(prometheus_rule(plan.schedule))
    return [
        Component(
            name="backup",
            namespace=NAMESPACE,
            wave=WAVE_SERVICES,
            objects=objs,
            namespaces=[
                NamespaceSpec(
                    NAMESPACE,
                    "restricted",
                    (
                        # It only reads the API server and writes its own volume.
                        netpol("allow-apiserver", NAMESPACE, egress=[APISERVER_EGRESS]),
                        netpol("allow-dns", NAMESPACE, egress=[DNS_EGRESS]),
                    ),
                    keep=True,  # the archive volume
                )
            ],
            description=f"homeport backup on schedule {plan.schedule}, encrypted with age",
            # The PrometheusRule's CRD comes with monitoring, an earlier wave.
            skip_dry_run=cfg.components.monitoring.enabled,
        )
    ]
