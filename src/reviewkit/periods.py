"""Reporting periods: day, week (ending on the configured weekday), month, quarter and year.

A period is addressed as text (``2026-10``, ``2026-Q3``, ``2026``, ``2026-W42``, ``2026-10-05``)
or as ``latest``: the most recent period that the data covers completely.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from reviewkit.config import Calendar
from reviewkit.errors import QueryError

__all__ = ["GRAINS", "Period", "bucket_sql", "parse_period", "period_containing"]

GRAINS: Final = ("day", "week", "month", "quarter", "year")
PATTERNS: Final = {
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
}


@dataclass(frozen=True, order=True)
class Period:
    """A closed date range [start, end] at one grain."""

    start: dt.date
    end: dt.date
    grain: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.grain == "day":
            return self.start.isoformat()
        if self.grain == "week":
            iso = self.end.isocalendar()
            return f"{iso.year}-W{iso.week:02d}"
        if self.grain == "month":
            return f"{self.start:%Y-%m}"
        if self.grain == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    def __str__(self) -> str:
        return self.label


def period_containing(day: dt.date, grain: str, calendar: Calendar) -> Period:
    """The period of ``grain`` that contains ``day``."""
    if grain == "day":
        return Period(day, day, grain)
    if grain == "week":
        end = day + dt.timedelta(days=(calendar.week_end_isodow - day.isoweekday()) % 7)
        return Period(end - dt.timedelta(days=6), end, grain)
    if grain == "month":
        start = day.replace(day=1)
    elif grain == "quarter":
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    elif grain == "year":
        start = dt.date(day.year, 1, 1)
    else:
        raise QueryError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    year, month = divmod(start.month - 1 + months, 12)
    end = dt.date(start.year + year, month + 1, 1) - dt.timedelta(days=1)
    return Period(start, end, grain)


def parse_period(
    text: str, grain: str, calendar: Calendar, data_through: dt.date | None = None
) -> Period:
    """Turn ``2026-10``, ``2026-Q3``, ``2026``, ``2026-W42``, ``2026-10-05`` or ``latest`` into a
    :class:`Period` of ``grain``; a day inside a longer grain selects the period containing it."""
    if grain not in GRAINS:
        raise QueryError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")
    text = text.strip()
    if text == "latest":
        if data_through is None:
            raise QueryError("no data yet, so there is no latest period")
        current = period_containing(data_through, grain, calendar)
        if current.end == data_through:
            return current
        return period_containing(current.start - dt.timedelta(days=1), grain, calendar)
    for kind, pattern in PATTERNS.items():
        found = pattern.match(text)
        if not found:
            continue
        try:
            period = _period_of(kind, [int(g) for g in found.groups()], calendar)
        except ValueError:
            break
        if kind in (grain, "day"):
            return period_containing(period.start, grain, calendar)
        raise QueryError(
            f"period '{text}' is a {kind}, but the grain is {grain}; pass --grain {kind} or a "
            f"{grain} such as {period_containing(period.start, grain, calendar).label}"
        )
    raise QueryError(
        f"cannot read period '{text}'; write latest, YYYY-MM-DD, YYYY-Www, YYYY-MM, YYYY-Qn or YYYY"
    )


def _period_of(kind: str, parts: list[int], calendar: Calendar) -> Period:
    if kind == "day":
        return period_containing(dt.date(*parts), "day", calendar)
    if kind == "week":
        end_weekday = calendar.week_end_isodow
        monday = dt.date.fromisocalendar(parts[0], parts[1], 1)
        end = monday + dt.timedelta(days=end_weekday - 1)
        return Period(end - dt.timedelta(days=6), end, "week")
    if kind == "month":
        return period_containing(dt.date(parts[0], parts[1], 1), "month", calendar)
    if kind == "quarter":
        return period_containing(dt.date(parts[0], parts[1] * 3 - 2, 1), "quarter", calendar)
    return period_containing(dt.date(parts[0], 1, 1), "year", calendar)


def bucket_sql(grain: str, day: str, calendar: Calendar) -> str:
    """SQL for the first day of the ``grain`` period containing the DATE expression ``day``.

    The weekday offset comes from the validated calendar (an int), never from user input.
    """
    if grain == "day":
        return day
    if grain == "week":
        start_isodow = calendar.week_end_isodow % 7 + 1
        return f"CAST({day} - CAST((isodow({day}) - {start_isodow} + 7) % 7 AS INTEGER) AS DATE)"
    if grain in ("month", "quarter", "year"):
        return f"CAST(date_trunc('{grain}', {day}) AS DATE)"
    raise QueryError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")
