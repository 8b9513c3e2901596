"""Cron expressions: parse one, and find the scheduled times before and after a moment.

>>> cron = parse_cron("0 6 1 * *")               # 06:00 on the 1st of every month
>>> cron.next_after(dt.datetime(2026, 10, 1, 6))  # 2026-11-01 06:00

Cron subset: five fields (minute hour day-of-month month day-of-week), each ``*``, a number, a
range ``a-b``, a step ``*/n`` or ``a-b/n`` or ``a/n``, or a comma list of those; day-of-week
0-7 with 0 and 7 for Sunday. As in cron, when both day fields are restricted a day matching
either runs. Times are naive local times.

Only the standard library and :mod:`reviewkit.base.errors` are imported, so validating a
``schedule:`` in reviewkit.yaml stays light; running reports on the schedule lives in
:mod:`reviewkit.publish.schedule`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reviewkit.base.errors import ReviewkitError

__all__ = ["Cron", "CronError", "parse_cron"]

#: (name, lowest, highest) of the five fields, in order
FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
#: how far ahead a schedule must fire at least once (a 29 February fires within 8 years)
HORIZON = dt.timedelta(days=8 * 366)


class CronError(ReviewkitError):
    """A cron expression is not valid (the message names the field)."""


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month is *
    any_weekday: bool  # day-of-week is *

    def day_matches(self, day: dt.date) -> bool:
        """Whether the schedule runs on ``day`` (cron's rule: either day field, if both set)."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def matches(self, when: dt.datetime) -> bool:
        return when.minute in self.minutes and when.hour in self.hours and self.day_matches(when)

    def next_after(self, when: dt.datetime) -> dt.datetime:
        """The first scheduled time strictly after ``when``."""
        t = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = t + HORIZON
        while t < limit:
            if not self.day_matches(t):
                t = dt.datetime.combine(t.date() + dt.timedelta(days=1), dt.time())
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                return t
        raise CronError(f"{self.text!r} never runs")

    def latest_at_or_before(self, when: dt.datetime) -> dt.datetime | None:
        """The last scheduled time at or before ``when`` (None: none within the horizon)."""
        t = when.replace(second=0, microsecond=0)
        limit = t - HORIZON
        while t > limit:
            if not self.day_matches(t):
                t = dt.datetime.combine(t.date(), dt.time()) - dt.timedelta(minutes=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) - dt.timedelta(minutes=1)
            elif t.minute not in self.minutes:
                t -= dt.timedelta(minutes=1)
            else:
                return t
        return None


def parse_cron(text: str) -> Cron:
    """Parse a five-field cron expression; :class:`CronError` names the field at fault."""
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise CronError(
            f"cron expression {text!r} has {len(parts)} field(s); it needs 5: "
            "minute hour day-of-month month day-of-week (e.g. '0 6 1 * *')"
        )
    values = [
        _field(part, name, low, high) for part, (name, low, high) in zip(parts, FIELDS, strict=True)
    ]
    cron = Cron(
        " ".join(parts),
        minutes=frozenset(values[0]),
        hours=frozenset(values[1]),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=frozenset(d % 7 for d in values[4]),
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )
    cron.next_after(dt.datetime(2000, 1, 1))  # raises for e.g. '0 0 31 2 *' (never runs)
    return cron


def _field(text: str, name: str, low: int, high: int) -> set[int]:
    """The values one field allows."""
    found: set[int] = set()
    for item in text.split(","):
        where = f"cron {name} field {text!r}"
        spread, slash, step_text = item.partition("/")
        step = 1
        if slash:
            step = _number(step_text, f"{where}: step", 1, high - low + 1)
        if spread == "*":
            start, end = low, high
        elif "-" in spread:
            first, _, last = spread.partition("-")
            start = _number(first, where, low, high)
            end = _number(last, where, low, high)
            if start > end:
                raise CronError(f"{where}: range {spread} runs backwards; write {end}-{start}")
        else:
            start = _number(spread, where, low, high)
            end = high if slash else start
        found.update(range(start, end + 1, step))
    return found


def _number(text: str, where: str, low: int, high: int) -> int:
    if not text.isdigit():
        shown = repr(text) if text else "nothing"
        raise CronError(f"{where}: {shown} is not a number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{where}: {value} is out of range {low}-{high}")
    return value
