"""Reporting periods: day, week (ending on the configured weekday), month, quarter, year, and the
fiscal quarter and year (from the project's fiscal year start month).

A period is addressed as text: ``2026-10-05``, ``2026-W42`` (the week whose last day falls in ISO
week 42), ``2026-10``, ``2026-Q3``, ``2026``, ``FY2026-Q1``, ``FY2026`` (the fiscal year that ends
in 2026), ``this-month``/``last-month`` (and -week, -quarter, -year, -fiscal-quarter,
-fiscal-year, relative to today), or ``latest``: the most recent period the data covers completely.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Final

from reviewkit.base import clock
from reviewkit.base.errors import QueryError

__all__ = [
    "GRAINS",
    "WEEKDAYS",
    "Calendar",
    "Period",
    "Window",
    "as_day",
    "bucket_sql",
    "parse_period",
    "period_containing",
]


def as_day(value: dt.date) -> dt.date:
    """A date, also from a datetime or pandas Timestamp (a row of a frame gives those)."""
    return value.date() if isinstance(value, dt.datetime) else value


WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
GRAINS: Final = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
MONTHS_IN: Final = {"month": 1, "quarter": 3, "year": 12, "fiscal_quarter": 3, "fiscal_year": 12}
PATTERNS: Final = {
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
    "fiscal_quarter": re.compile(r"^FY(\d{4})-Q([1-4])$", re.IGNORECASE),
    "fiscal_year": re.compile(r"^FY(\d{4})$", re.IGNORECASE),
}
RELATIVE: Final = re.compile(
    r"^(this|last)-(day|week|month|quarter|year|fiscal-quarter|fiscal-year)$"
)
FORMS: Final = (
    "latest, YYYY-MM-DD, YYYY-Www, YYYY-MM, YYYY-Qn, YYYY, FYyyyy-Qn, FYyyyy, "
    "this-month or last-month (also -week, -quarter, -year, -fiscal-quarter, -fiscal-year)"
)


@dataclass(frozen=True)
class Calendar:
    """How periods are cut: the weekday a reporting week ends on and the fiscal year's start."""

    week_ends_on: str = "sunday"
    fiscal_year_start_month: int = 1

    @property
    def week_end_isodow(self) -> int:
        """ISO weekday number (Monday=1 ... Sunday=7) of the last day of a week."""
        return WEEKDAYS.index(self.week_ends_on) + 1


@dataclass(frozen=True, order=True)
class Period:
    """A closed date range [start, end] at one grain."""

    start: dt.date
    end: dt.date
    grain: str
    fiscal_start: int = 1

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
        if self.grain == "year":
            return f"{self.start.year}"
        year_end = _add_months(_fiscal_year_start(self.start, self.fiscal_start), 12)
        fiscal_year = (year_end - dt.timedelta(days=1)).year
        if self.grain == "fiscal_year":
            return f"FY{fiscal_year}"
        quarter = (self.start.month - self.fiscal_start) % 12 // 3 + 1
        return f"FY{fiscal_year}-Q{quarter}"

    def __str__(self) -> str:
        return self.label

    def shift(self, steps: int) -> Period:
        """The period ``steps`` periods later (negative: earlier) at the same grain."""
        if self.grain == "day":
            return replace(
                self,
                start=self.start + dt.timedelta(days=steps),
                end=self.end + dt.timedelta(days=steps),
            )
        if self.grain == "week":
            return replace(
                self,
                start=self.start + dt.timedelta(weeks=steps),
                end=self.end + dt.timedelta(weeks=steps),
            )
        start = _add_months(self.start, steps * MONTHS_IN[self.grain])
        return replace(
            self, start=start, end=_add_months(start, MONTHS_IN[self.grain]) - dt.timedelta(days=1)
        )

    def year_ago(self) -> Period:
        """The same period a year earlier: 364 days back for days and weeks (so weekdays
        align), the same calendar (or fiscal) period otherwise."""
        if self.grain in ("day", "week"):
            return replace(
                self,
                start=self.start - dt.timedelta(days=364),
                end=self.end - dt.timedelta(days=364),
            )
        return self.shift(-12 // MONTHS_IN[self.grain])


@dataclass(frozen=True)
class Window:
    """A named date range [start, end] to compute metrics over: a period, the same period a
    year earlier, a period to date..."""

    name: str
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _add_months(day: dt.date, months: int) -> dt.date:
    """``day`` (the first of a month) moved by whole months."""
    year, month = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + year, month + 1, 1)


def _fiscal_year_start(day: dt.date, fiscal_start: int) -> dt.date:
    year = day.year if day.month >= fiscal_start else day.year - 1
    return dt.date(year, fiscal_start, 1)


def period_containing(day: dt.date, grain: str, calendar: Calendar) -> Period:
    """The period of ``grain`` that contains ``day``."""
    fiscal = calendar.fiscal_year_start_month
    if grain == "day":
        return Period(day, day, grain, fiscal)
    if grain == "week":
        end = day + dt.timedelta(days=(calendar.week_end_isodow - day.isoweekday()) % 7)
        return Period(end - dt.timedelta(days=6), end, grain, fiscal)
    if grain == "month":
        start = day.replace(day=1)
    elif grain == "quarter":
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    elif grain == "year":
        start = dt.date(day.year, 1, 1)
    elif grain in ("fiscal_quarter", "fiscal_year"):
        year_start = _fiscal_year_start(day, fiscal)
        offset = (day.month - fiscal) % 12 // 3 * 3 if grain == "fiscal_quarter" else 0
        start = _add_months(year_start, offset)
    else:
        raise QueryError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")
    end = _add_months(start, MONTHS_IN[grain]) - dt.timedelta(days=1)
    return Period(start, end, grain, fiscal)


def parse_period(
    text: str,
    grain: str | None,
    calendar: Calendar,
    data_through: dt.date | None = None,
    today: dt.date | None = None,
) -> Period:
    """Turn period text into a :class:`Period`.

    With ``grain=None`` the grain is the one the text names (``latest``: month). With a grain,
    a day selects the period of that grain containing it, and any other mismatch is an error.
    """
    if grain is not None and grain not in GRAINS:
        raise QueryError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")
    text = text.strip()
    if text == "latest":
        if data_through is None:
            raise QueryError("no data yet, so there is no latest period")
        current = period_containing(data_through, grain or "month", calendar)
        if current.end == data_through:
            return current
        return current.shift(-1)
    relative = RELATIVE.match(text)
    if relative:
        kind = relative.group(2).replace("-", "_")
        period = period_containing(today or clock.today(), kind, calendar)
        period = period.shift(-1) if relative.group(1) == "last" else period
        return _at_grain(text, period, grain, calendar)
    for kind, pattern in PATTERNS.items():
        found = pattern.match(text)
        if not found:
            continue
        try:
            period = _period_of(kind, [int(g) for g in found.groups()], calendar)
        except ValueError:
            break
        return _at_grain(text, period, grain, calendar)
    raise QueryError(f"cannot read period '{text}'; write {FORMS}")


def _at_grain(text: str, period: Period, grain: str | None, calendar: Calendar) -> Period:
    if grain is None or grain == period.grain:
        return period
    if period.grain == "day":
        return period_containing(period.start, grain, calendar)
    example = period_containing(period.start, grain, calendar).label
    raise QueryError(
        f"period '{text}' is a {period.grain.replace('_', ' ')}, but the grain is "
        f"{grain.replace('_', ' ')}; ask for grain {period.grain} or a period such as {example}"
    )


def _period_of(kind: str, parts: list[int], calendar: Calendar) -> Period:
    fiscal = calendar.fiscal_year_start_month
    if kind == "day":
        return period_containing(dt.date(*parts), "day", calendar)
    if kind == "week":
        monday = dt.date.fromisocalendar(parts[0], parts[1], 1)
        end = monday + dt.timedelta(days=calendar.week_end_isodow - 1)
        return Period(end - dt.timedelta(days=6), end, "week", fiscal)
    if kind == "month":
        return period_containing(dt.date(parts[0], parts[1], 1), "month", calendar)
    if kind == "quarter":
        return period_containing(dt.date(parts[0], parts[1] * 3 - 2, 1), "quarter", calendar)
    if kind == "year":
        return period_containing(dt.date(parts[0], 1, 1), "year", calendar)
    # FY2026 is the fiscal year that ends in 2026: its last month is the one before the start
    last_month = period_containing(
        dt.date(parts[0], (fiscal - 2) % 12 + 1, 1), "fiscal_year", calendar
    )
    if kind == "fiscal_year":
        return last_month
    return period_containing(_add_months(last_month.start, (parts[1] - 1) * 3), kind, calendar)


def bucket_sql(grain: str, day: str, calendar: Calendar) -> str:
    """SQL for the first day of the ``grain`` period containing the DATE expression ``day``.

    The offsets come from the validated calendar (ints), never from user input. Written in
    SQL that SQLGlot carries to every engine's dialect (no DuckDB-only functions).
    """
    if grain == "day":
        return day
    if grain == "week":
        start_isodow = calendar.week_end_isodow % 7 + 1
        back = f"CAST((EXTRACT(isodow FROM {day}) - {start_isodow} + 7) % 7 AS INTEGER)"
        return f"CAST({day} - {back} AS DATE)"
    if grain in ("month", "quarter", "year"):
        return f"CAST(date_trunc('{grain}', {day}) AS DATE)"
    if grain in ("fiscal_quarter", "fiscal_year"):
        fiscal = calendar.fiscal_year_start_month
        back = f"(EXTRACT(month FROM {day}) - {fiscal} + 12) % 12"
        if grain == "fiscal_quarter":
            back = f"({back}) % 3"
        months = f"CAST({back} AS INTEGER) * INTERVAL '1 month'"
        return f"CAST(date_trunc('month', {day}) - {months} AS DATE)"
    raise QueryError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")
