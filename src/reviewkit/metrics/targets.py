"""Targets and status: where a metric should be by now, and whether it is on track.

A target is a value due by a date (a straight line from its baseline when one is given, so the
target *to date* grows with time), or a value per period (from YAML or from a source). Status
compares the period's value with the target to date, in the metric's direction: for a
lower-is-better metric (churn, time to resolution) being above the target is behind.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reviewkit.config import Metric, ProjectConfig, StatusRules, Target
from reviewkit.metrics.catalogue import format_change

__all__ = [
    "ATTENTION",
    "STATUSES",
    "TargetResult",
    "evaluate",
    "matching_target",
    "project_to",
    "target_value",
]

STATUSES = ("on track", "within noise", "at risk", "off track", "n/a")
#: The statuses in the order a review takes them: what needs a decision first.
ATTENTION = ("off track", "at risk", "within noise", "on track", "n/a")
#: periods of history the projection's trend line is fitted to
TREND_PERIODS = 6


@dataclass(frozen=True)
class TargetResult:
    """A metric's value measured against its target for one period."""

    target: float | None
    final: float | None
    due: dt.date | None
    attainment: float | None
    gap: float | None
    projection: float | None
    status: str
    reason: str


def matching_target(
    config: ProjectConfig, metric: str, filters: Mapping[str, Sequence[str]]
) -> Target | None:
    """The target for this metric and segment: one declared for exactly this segment, else a
    target read from a source whose dimensions can select the segment (a finance plan per team
    serves every team and, summed, the company). A company-wide value does not apply to a team,
    nor a team's value to the company."""
    wanted = {k: tuple(sorted(v)) for k, v in filters.items()}
    for target in config.targets:
        declared = {k: tuple(sorted(v)) for k, v in target.filters}
        if target.metric == metric and declared == wanted:
            return target
    for target in config.targets:
        declared = {k: tuple(sorted(v)) for k, v in target.filters}
        if target.metric != metric or target.source is None:
            continue
        dimensions = config.sources[target.source].dimensions
        same = all(wanted.get(k) == v for k, v in declared.items())
        if same and all(k in declared or k in dimensions for k in wanted):
            return target
    return None


def target_value(
    target: Target, period_end: dt.date, series: Mapping[str, float], label: str
) -> float | None:
    """The target for the period ending ``period_end`` (labelled ``label``).

    A value with a baseline is interpolated linearly from the baseline date to the due date;
    without one it is the bar for every period. A series gives the value of its period.
    """
    if target.value is None:
        return series.get(label)
    if target.baseline_value is None or target.baseline_date is None or target.by is None:
        return target.value
    if period_end <= target.baseline_date:
        return target.baseline_value
    if period_end >= target.by:
        return target.value
    done = (period_end - target.baseline_date).days / (target.by - target.baseline_date).days
    return target.baseline_value + (target.value - target.baseline_value) * done


def project_to(history: Sequence[tuple[dt.date, float]], due: dt.date) -> float | None:
    """The value at ``due`` on a least-squares line through the recent history (None with
    fewer than 3 points)."""
    points = [(d, v) for d, v in history if v is not None and not math.isnan(v)]
    points = points[-TREND_PERIODS:]
    if len(points) < 3:
        return None
    origin = points[0][0]
    xs = [(d - origin).days for d, _ in points]
    ys = [v for _, v in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return mean_y + slope * ((due - origin).days - mean_x)


def evaluate(
    metric: Metric,
    value: float | None,
    target: float | None,
    *,
    final: float | None = None,
    due: dt.date | None = None,
    history: Sequence[tuple[dt.date, float]] = (),
    rules: StatusRules | None = None,
) -> TargetResult:
    """Status of ``value`` against ``target`` (the target to date), aware of direction."""
    rules = rules or StatusRules()
    projection = project_to(history, due) if due is not None else None
    sign = 1.0 if metric.direction == "higher" else -1.0
    if value is None or math.isnan(value):
        return TargetResult(
            target, final, due, None, None, projection, "n/a", "no value for this period"
        )
    if target is None:
        return TargetResult(
            None, final, due, None, None, projection, "n/a", "no target for this period"
        )
    gap = value - target
    attainment = None
    if metric.direction == "higher" and target != 0:
        attainment = value / target
    elif metric.direction == "lower" and value != 0:
        attainment = target / value
    shortfall = sign * (target - value) / (abs(target) or 1.0)
    behind = f"behind the target to date by {format_change(shortfall * 100, '%', 1, signed=False)}"
    if shortfall <= rules.on_track:
        status, reason = "on track", "at or ahead of the target to date"
        if shortfall > 0:
            reason = f"{behind}, within {rules.on_track:.1%}"
    elif shortfall <= rules.at_risk:
        status, reason = "at risk", behind
    elif projection is not None and final is not None and sign * (projection - final) >= 0:
        status = "at risk"
        reason = f"{behind}, but the recent trend reaches the target by {due}"
    else:
        status, reason = "off track", behind
        if projection is not None and due is not None:
            reason += f"; the recent trend does not reach the target by {due}"
    return TargetResult(target, final, due, attainment, gap, projection, status, reason)
