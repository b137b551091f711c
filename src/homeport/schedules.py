"""Cron schedules as their consumers parse them.

A ``batch/v1`` CronJob takes five fields (minute hour day-of-month month day-of-week) or an
``@`` descriptor: the API server parses it with robfig/cron's standard parser and rejects
anything else, a six-field line included. CloudNativePG's ScheduledBackup parses with
robfig/cron's ``Parse``, seconds first: six fields. Both accept the same field syntax
(``*``, ``?``, numbers, ranges, steps, lists, month and weekday names).
"""

from __future__ import annotations

import re

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, low, high, names) of each field in robfig/cron's order.
_Field = tuple[str, int, int, dict[str, int]]
_SECOND: _Field = ("second", 0, 59, {})
_FIELDS: tuple[_Field, ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
# robfig/cron's "@every <duration>", the duration in Go's time.ParseDuration syntax.
_EVERY = re.compile(
    r"@every ([-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+|0)"
)
_TERM = re.compile(r"(\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?")


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int | None:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        return None
    n = int(text)
    return n if low <= n <= high else None


def _field_problem(text: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    for term in text.split(","):
        m = _TERM.fullmatch(term)
        if m is None:
            return f'{name} "{text}" is not a cron field'
        head, step = m.group(1), m.group(2)
        if step is not None and int(step) == 0:
            return f'{name} "{text}" has a step of 0'
        if head in ("*", "?"):
            continue
        bounds = [_value(part, low, high, names) for part in head.split("-")]
        if any(b is None for b in bounds):
            return f'{name} "{text}" is outside {low}-{high}'
        if len(bounds) == 2 and (bounds[0] or 0) > (bounds[1] or 0):
            return f'{name} "{text}" has a range that runs backwards'
    return None


def cron_problem(value: str, *, seconds: bool = False) -> str | None:
    """Say why a schedule would be rejected, or None when its consumer accepts it.

    Args:
        value: The schedule.
        seconds: The consumer takes six fields, seconds first (CloudNativePG); otherwise
            five fields (a Kubernetes CronJob).

    Returns:
        A short reason, or None.
    """
    text = value.strip()
    if text.startswith("@"):
        if text in DESCRIPTORS or _EVERY.fullmatch(text):
            return None
        return f'unknown descriptor "{text}"'
    fields = text.split()
    want = 6 if seconds else 5
    if len(fields) != want:
        if seconds:
            return f"has {len(fields)} fields; CloudNativePG takes six (seconds first)"
        return (
            f"has {len(fields)} fields; a Kubernetes CronJob takes five (minute hour "
            "day-of-month month day-of-week) or a descriptor such as @daily"
        )
    specs = (_SECOND, *_FIELDS) if seconds else _FIELDS
    for text_field, (name, low, high, names) in zip(fields, specs, strict=True):
        problem = _field_problem(text_field, name, low, high, names)
        if problem:
            return problem
    return None
