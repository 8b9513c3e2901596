"""Survey KPIs with their uncertainty: how many answers stand behind an NPS or a satisfaction
share, and its 95% interval (:func:`estimates`).

- **NPS** (``agg: nps``, 0-10 scores): ``100 (p - d)`` for the shares of promoters ``p`` (9-10)
  and detractors ``d`` (0-6) among the ``n`` answers. Its variance is ``100^2 (p + d - (p -
  d)^2) / n`` (the variance of one answer scored +1, 0 or -1, over ``n``); the interval is the
  normal one, ``1.96`` standard errors either side.
- **Satisfaction** (``agg: satisfaction``): the share ``p`` of answers at or above the
  threshold, with the Wilson score interval (right near 0% and 100% and for small ``n``, where
  the normal one is not).

Two values differ beyond noise when the 95% interval of their difference, ``1.96 sqrt(v1 +
v2)`` either side (independent samples), leaves out zero; a value is within noise of a target
when its own interval covers it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import Window, as_day
from reviewkit.base.sql import quote_ident
from reviewkit.config import SURVEY_AGGREGATIONS, Metric
from reviewkit.metrics.catalogue import KpiRequest
from reviewkit.metrics.workspace import as_filters

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Filters, Workspace

__all__ = [
    "FEWEST_ANSWERS",
    "Estimate",
    "Verbatim",
    "Z",
    "answers",
    "estimates",
    "fewest_answers",
    "is_survey",
    "verbatims",
]

#: The normal quantile of a two-sided 95% interval.
Z: Final = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A survey KPI over one window (and group): its value, the answers behind it, its 95%
    interval and the variance of the value (None without answers)."""

    value: float | None
    responses: int
    low: float | None
    high: float | None
    variance: float | None

    @property
    def margin(self) -> float | None:
        """Half the interval's width (for "25 ±10.8")."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2

    def covers(self, target: float | None) -> bool:
        """Whether the interval holds ``target``: the value is within noise of it."""
        if target is None or self.low is None or self.high is None:
            return False
        return self.low <= target <= self.high

    def differs(self, other: Estimate) -> bool | None:
        """Whether this value and ``other`` differ beyond noise (None when either has no
        answers): the 95% interval of the difference leaves out 0."""
        if self.value is None or other.value is None:
            return None
        if self.variance is None or other.variance is None:
            return None
        spread = Z * math.sqrt(self.variance + other.variance)
        return abs(self.value - other.value) > spread


def is_survey(metric: Metric) -> bool:
    return metric.agg in SURVEY_AGGREGATIONS


def estimates(
    project: Workspace,
    metric: Metric,
    windows: Sequence[Window],
    *,
    filters: Filters | None = None,
    by: Sequence[str] = (),
) -> dict[tuple[Any, ...], Estimate]:
    """``{(window name, *group): Estimate}`` of survey metric ``metric`` over ``windows`` (a
    window without answers: 0 answers, no value; with ``by``, the groups that answered)."""
    if not is_survey(metric):
        raise QueryError(f"'{metric.name}' is not a survey metric (agg: nps or satisfaction)")
    counts = (
        ("responses", "promoters", "detractors")
        if metric.agg == "nps"
        else ("responses", "satisfied")
    )
    parts = _parts(metric, counts)
    request = KpiRequest(
        metrics=tuple(m.name for m in parts.values()),
        windows=tuple(windows),
        filters=as_filters(filters),
        by=tuple(by),
    )
    frame = project.compute_with({m.name: m for m in parts.values()}, request)
    found: dict[tuple[Any, ...], dict[str, float]] = {}
    names = {m.name: c for c, m in parts.items()}
    for row in frame.to_dict("records"):
        key = (row["window"], *(row[c] for c in by))
        value = row["value"]
        found.setdefault(key, {})[names[row["metric"]]] = 0.0 if math.isnan(value) else value
    if not by:
        for window in windows:
            found.setdefault((window.name,), {})
    return {key: _estimate(metric, got) for key, got in found.items()}


def _parts(metric: Metric, counts: Sequence[str]) -> dict[str, Metric]:
    """The hidden metrics counting a survey metric's answers (``responses``, ``promoters``...),
    asked for with :meth:`Workspace.compute_with`."""
    return {c: replace(metric, name=f"_{metric.name}_{c}", agg=c) for c in counts}


#: The answers a period needs, when the metric sets no ``min_responses:``, for its value to be
#: read in the impact evidence (NPS from 30 answers is about ±30 points wide at 95%)
FEWEST_ANSWERS: Final = 30


def fewest_answers(metric: Metric) -> int:
    """The answers a period of survey metric ``metric`` needs: its ``min_responses:``, or
    :data:`FEWEST_ANSWERS`."""
    return metric.min_responses if metric.min_responses is not None else FEWEST_ANSWERS


def answers(
    project: Workspace,
    metric: Metric,
    *,
    grain: str,
    end: dt.date | None = None,
    filters: Filters | None = None,
    by: Sequence[str] = (),
) -> dict[tuple[Any, ...], int]:
    """The answers behind survey metric ``metric`` per period of ``grain`` through ``end``:
    ``{(period's first day, *group): answers}``; a period without answers has no key."""
    (part,) = _parts(metric, ("responses",)).values()
    request = KpiRequest(
        metrics=(part.name,), grain=grain, end=end, filters=as_filters(filters), by=tuple(by)
    )
    frame = project.compute_with({part.name: part}, request)
    return {
        (as_day(row["period_start"]), *(row[c] for c in by)): int(row["value"])
        for row in frame.to_dict("records")
        if not math.isnan(row["value"])
    }


def _estimate(metric: Metric, counts: dict[str, float]) -> Estimate:
    n = int(counts.get("responses", 0))
    if n == 0:
        return Estimate(None, 0, None, None, None)
    if metric.agg == "nps":
        p, d = counts.get("promoters", 0.0) / n, counts.get("detractors", 0.0) / n
        value = 100 * (p - d)
        variance = 100**2 * max(p + d - (p - d) ** 2, 0.0) / n
        half = Z * math.sqrt(variance)
        return Estimate(value, n, value - half, value + half, variance)
    p = counts.get("satisfied", 0.0) / n
    z2 = Z**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n**2)) / (1 + z2 / n)
    return Estimate(p, n, centre - half, centre + half, p * (1 - p) / n)


#: The longest comment quoted, in characters; a longer one ends with "...".
LONGEST: Final = 280


@dataclass(frozen=True)
class Verbatim:
    """One detractor's comment: the day, the answer and the text (shortened to LONGEST)."""

    day: Any
    answer: float
    text: str


def verbatims(
    project: Workspace,
    metric: Metric,
    window: Window,
    *,
    filters: Filters | None = None,
    most: int = 3,
) -> tuple[list[Verbatim], int]:
    """Up to ``most`` comments of the detractors (NPS 0-6; for a satisfaction share, answers
    below the threshold) in ``window``, and how many there were: the lowest answers first, then
    the latest, then by text, so the same data always quotes the same comments. Blank comments
    are not comments. Needs ``comments:`` on the metric."""
    if not is_survey(metric) or metric.comments is None or metric.source is None:
        return [], 0
    source = project.config.sources[metric.source]
    project.source(source.name)
    column, comment = quote_ident(metric.column or ""), quote_ident(metric.comments)
    day = f"CAST({quote_ident(source.date.column)} AS DATE)"
    params: dict[str, Any] = {"first": window.start, "last": window.end}
    low = f"{column} <= 6"
    if metric.agg == "satisfaction":
        params["threshold"] = metric.threshold
        low = f"{column} < $threshold"
    conditions = [
        f"{day} BETWEEN $first AND $last",
        low,
        f"NULLIF(trim({comment}), '') IS NOT NULL",
    ]
    for i, (name, values) in enumerate([*metric.filters, *as_filters(filters)]):
        params[f"f{i}"] = list(values)
        conditions.append(f"CAST({quote_ident(name)} AS VARCHAR) IN (SELECT unnest($f{i}))")
    where = " AND ".join(conditions)
    table = quote_ident(source.name)
    rows = project.source_rows(
        source.name,
        f"SELECT {day}, {column}, trim(CAST({comment} AS VARCHAR)), count(*) OVER () "
        f"FROM {table} WHERE {where} ORDER BY 2, 1 DESC, 3 LIMIT {int(most)}",
        params,
    )
    found = [
        Verbatim(d, float(a), t if len(t) <= LONGEST else t[: LONGEST - 3].rstrip() + "...")
        for d, a, t, _ in rows
    ]
    return found, int(rows[0][3]) if rows else 0
