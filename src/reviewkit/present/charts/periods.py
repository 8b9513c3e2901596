"""What a chart asks the project before drawing: the metric by name, the last period to draw
(``latest`` is the period the data has reached), whether a period is complete, and the filters
as lists.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import Period, period_containing
from reviewkit.config import Metric
from reviewkit.metrics.catalogue import read_monthly

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Filters
    from reviewkit.project import Project

__all__ = ["is_complete", "is_monthly", "last_period", "metric_of", "wanted"]


def last_period(
    project: Project,
    metric: str,
    grain: str,
    period: str | Period,
    as_of: dt.date | None = None,
) -> Period:
    """The last period to draw: for ``latest``, the period the data has reached (by ``as_of``
    at the latest), even if it is still in progress (drawn as such); otherwise the period asked
    for."""
    if isinstance(period, Period):
        return period
    if period.strip() == "latest":
        through = project.data_through([metric])
        if through is not None or as_of is not None:
            day = min(d for d in (through, as_of) if d is not None)
            return period_containing(day, grain, project.config.calendar)
    return project.period(period, grain, [metric])


def is_complete(project: Project, metric: str, start: dt.date, end: dt.date) -> bool:
    return project.coverage([metric], start, end).complete


def is_monthly(project: Project, metric: str) -> bool:
    """Whether the metric is drawn per month (read from month-end snapshots, or a rate over its
    period such as retention: :func:`reviewkit.metrics.catalogue.read_monthly`)."""
    return read_monthly(project.config, metric)


def metric_of(project: Project, name: str) -> Metric:
    try:
        return project.config.metrics[name]
    except KeyError:
        known = ", ".join(project.config.metrics)
        raise QueryError(f"unknown metric '{name}'; the catalogue has: {known}") from None


def wanted(filters: Filters | None) -> dict[str, list[str]]:
    return {
        k: [v] if isinstance(v, str) else [str(x) for x in v] for k, v in (filters or {}).items()
    }
