"""How much of a date range the data actually covers, so no comparison hides a partial period.

Every compared value carries its coverage: the days with data over the days in the range. A day
is *covered* when its source has rows for it (for a monthly snapshot, rows for its month), or,
for sources whose gaps are normal (``date.gaps: ignore``), when it lies inside the data's span.
Days after the data ends make a period *in progress*; days inside the span without rows are
*missing*. A metric over several sources is covered on a day only if all of them are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reviewkit.config import DateColumn

__all__ = ["Coverage", "SourceDates", "coverage_of"]


@dataclass(frozen=True)
class Coverage:
    """Coverage of one date range."""

    start: dt.date
    end: dt.date
    covered: int
    missing: int
    after: int
    before: int
    through: dt.date | None
    #: what the value over the range is when it is not the metric's plain value (a monthly
    #: rate over a longer range: reviewkit.metrics.catalogue.rollup_note)
    notes: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def ratio(self) -> float:
        return self.covered / self.days

    @property
    def complete(self) -> bool:
        return self.covered == self.days

    @property
    def text(self) -> str:
        return f"{self.covered} of {self.days} days"

    def flags(self, what: str) -> list[str]:
        """Plain sentences naming what is incomplete about ``what`` (e.g. a period label)."""
        flags = list(self.notes)
        if self.covered == 0:
            return [*flags, f"{what} has no data"]
        if self.after:
            flags.append(f"{what} is in progress: data through {self.through} ({self.text})")
        if self.missing:
            flags.append(f"{what} has {self.missing} day(s) without data ({self.text})")
        if self.before:
            flags.append(f"{what} starts before the data does ({self.text})")
        return flags


class SourceDates:
    """The dates one source has data for, and what a date stands for."""

    def __init__(self, dates: Iterable[dt.date], date: DateColumn) -> None:
        self.monthly = date.grain == "month"
        self.ignore_gaps = date.gaps == "ignore"
        units = {self._unit(d) for d in dates}
        self.units = frozenset(units)
        self.first: dt.date | None = min(units) if units else None
        last = max(units) if units else None
        self.through: dt.date | None = last
        if last is not None and self.monthly:
            following = dt.date(last.year + last.month // 12, last.month % 12 + 1, 1)
            self.through = following - dt.timedelta(days=1)

    def _unit(self, day: dt.date) -> dt.date:
        return day.replace(day=1) if self.monthly else day

    def state(self, day: dt.date) -> str:
        """covered, missing, after (the data has not reached it) or before (not begun)."""
        if self.first is None or self.through is None or day > self.through:
            return "after"
        if day < self.first:
            return "before"
        if self.ignore_gaps or self._unit(day) in self.units:
            return "covered"
        return "missing"


def coverage_of(sources: Sequence[SourceDates], start: dt.date, end: dt.date) -> Coverage:
    """Coverage of [start, end] by all of ``sources`` together (a day counts once, as the worst
    state among the sources)."""
    counts = {"covered": 0, "missing": 0, "after": 0, "before": 0}
    rank = {"after": 3, "before": 2, "missing": 1, "covered": 0}
    day = start
    while day <= end:
        states = [s.state(day) for s in sources] or ["covered"]
        counts[max(states, key=rank.__getitem__)] += 1
        day += dt.timedelta(days=1)
    throughs = [s.through for s in sources if s.through is not None]
    return Coverage(
        start,
        end,
        counts["covered"],
        counts["missing"],
        counts["after"],
        counts["before"],
        min(throughs) if throughs else None,
    )
