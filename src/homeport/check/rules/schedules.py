"""HP-S007: cron schedules their consumer rejects.

A ``batch/v1`` CronJob takes five fields or an ``@`` descriptor (the API server refuses a
six-field line, and the Application that carries it never syncs); CloudNativePG's
ScheduledBackup takes six, seconds first. The parsing lives in :mod:`homeport.schedules`,
shared with the config's validation.
"""

from __future__ import annotations

from homeport.check.context import Context
from homeport.schedules import cron_problem
from homeport.wellknown import CNPG_GROUP

# (group, kind) -> whether the consumer's cron takes a seconds field.
_SCHEDULED = {("batch", "CronJob"): False, (CNPG_GROUP, "ScheduledBackup"): True}


def check_schedules(ctx: Context) -> None:
    """Flag every CronJob and ScheduledBackup whose ``spec.schedule`` would be refused."""
    for res in ctx.resources:
        seconds = _SCHEDULED.get((res.group, res.kind))
        if seconds is None:
            continue
        spec = res.obj.get("spec")
        schedule = spec.get("schedule") if isinstance(spec, dict) else None
        if not isinstance(schedule, str):
            continue  # a missing or non-string schedule is a schema violation (HP-S002)
        problem = cron_problem(schedule, seconds=seconds)
        if problem:
            ctx.add("HP-S007", res, f'schedule "{schedule}" {problem}', ("spec", "schedule"))
