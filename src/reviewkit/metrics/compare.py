"""Comparisons a business review needs, honest about what they compare.

For a metric and a period: the previous period (WoW, MoM, QoQ), the same period a year earlier
(weeks 364 days back so weekdays align), periods to date (MTD, QTD, YTD, fiscal-aware) against the
same dates a year earlier, trailing windows with the prior-year series beside them, the WBR view
(6 weeks and 12 months with the summary box), and a scorecard with targets and status.

Every value carries its coverage, and every comparison of unequal coverage, partial period or
missing day is flagged in plain words. Changes are in each metric's change unit: percent of the
earlier value, or points (percentage points or basis points of a rate, points of a score); a
zero base of a percent change or a missing base gives n/a with the reason, never infinity or 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import Period, Window, period_containing
from reviewkit.base.sql import quote_ident
from reviewkit.config import Metric, Target
from reviewkit.metrics.catalogue import POINT_SCALE, change_text, format_value
from reviewkit.metrics.coverage import Coverage
from reviewkit.metrics.surveys import Estimate, estimates, is_survey
from reviewkit.metrics.targets import TargetResult, evaluate, matching_target, target_value

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Filters, Workspace

__all__ = [
    "Change",
    "WbrView",
    "change",
    "compare",
    "comparisons",
    "scorecard",
    "to_date",
    "trailing",
    "wbr",
]

#: The comparison with the previous period, per grain (a year's is :data:`YEAR_AGO_NAME`).
PREVIOUS_NAME: Final = {
    "day": "DoD",
    "week": "WoW",
    "month": "MoM",
    "quarter": "QoQ",
    "fiscal_quarter": "QoQ",
}
#: The comparison with the same period a year earlier.
YEAR_AGO_NAME: Final = "YoY"
#: complete periods whose lengths differ by more than this share are flagged for additive metrics
LENGTH_TOLERANCE: Final = 0.05
TO_DATE_NAME: Final = {
    "month": "MTD",
    "quarter": "QTD",
    "year": "YTD",
    "fiscal_quarter": "QTD",
    "fiscal_year": "YTD",
}


#: two values this close (relative to the larger) are the same value: floating-point rounding
#: in a sum or mean of many rows, not a change (a change of 1 in 10^12 is never one a review means)
SAME: Final = 1e-12


@dataclass(frozen=True)
class Change:
    """The change from a base value in the metric's change unit (percent, pp, bps, points), or
    None and why there is none in ``text``."""

    value: float | None
    unit: str
    text: str


def comparisons(period: Period) -> dict[str, str]:
    """The distinct comparisons of a value of ``period``, {key: name}, keyed as the scorecard's
    columns (``previous_change``...): the previous period (MoM, WoW...) and the same period a
    year earlier (YoY). A year's previous period is the year earlier: one comparison, YoY."""
    if period.shift(-1) == period.year_ago():
        return {"year_ago": YEAR_AGO_NAME}
    return {"previous": PREVIOUS_NAME[period.grain], "year_ago": YEAR_AGO_NAME}


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def change(metric: Metric, current: float | None, base: float | None, base_label: str) -> Change:
    """``current`` against ``base`` in the metric's change unit: percent of ``base``, or the
    difference in points of the value's own unit (pp, bps for fractions). Values equal up to
    floating-point rounding are no change: exactly 0."""
    unit = metric.change_unit
    if _missing(current):
        return Change(None, unit, "n/a (no value this period)")
    if _missing(base):
        return Change(None, unit, f"n/a (no value for {base_label})")
    assert current is not None and base is not None
    if unit == "percent" and base == 0:
        return Change(None, unit, f"n/a ({base_label} is 0)")
    if math.isclose(current, base, rel_tol=SAME):
        value = 0.0
    elif unit == "percent":
        value = (current - base) / abs(base) * 100
    else:
        value = (current - base) * POINT_SCALE[unit]
    return Change(value, unit, change_text(metric, value, unit))


def additive(metrics: Mapping[str, Metric], name: str) -> bool:
    """Whether the metric grows with the number of days (sums, counts, and sums or differences
    of them): comparing 28 days of it with 31 days is then misleading."""
    metric = metrics[name]
    if metric.derived:
        return metric.op in ("sum", "difference") and all(
            additive(metrics, m) for m in metric.inputs if m != name
        )
    return metric.expression is not None or metric.agg in ("sum", "count", "count_distinct")


def _comparison_flags(
    name: str, current: Coverage, base: Coverage, base_label: str, *, sums: bool
) -> list[str]:
    """Flags for comparing ``current`` with ``base``: the base's own gaps, and unequal coverage
    (partial periods always; complete periods of different length for additive metrics)."""
    flags = base.flags(base_label)
    if not (current.covered and base.covered):
        return flags
    partial = not (current.complete and base.complete)
    longest = max(current.days, base.days)
    if partial and current.covered != base.covered:
        flags.append(f"{name} compares {current.text} with {base.text} of {base_label}")
    elif not partial and sums and abs(current.days - base.days) > LENGTH_TOLERANCE * longest:
        flags.append(f"{name} compares {current.days} days with {base.days} days of {base_label}")
    return flags


def _values(
    project: Workspace,
    metrics: Sequence[str],
    windows: Sequence[Window],
    filters: Filters | None,
    by: Sequence[str],
) -> dict[tuple[Any, ...], float]:
    """{(window, *groups, metric): value} for every window."""
    frame = project.window_values(metrics, windows, filters=filters, by=by)
    keys = ["window", *by, "metric"]
    return {tuple(row[k] for k in keys): row["value"] for row in frame.to_dict("records")}


def _groups(values: Mapping[tuple[Any, ...], float], by: Sequence[str]) -> list[tuple[Any, ...]]:
    if not by:
        return [()]
    return sorted({key[1:-1] for key in values}, key=lambda g: tuple(str(v) for v in g))


def compare(
    project: Workspace,
    metric: str,
    period: Period,
    *,
    by: Sequence[str] = (),
    filters: Filters | None = None,
) -> pd.DataFrame:
    """One row per group: the period's value, the previous period and the same period a year
    earlier, each with its coverage and change, and the flags that qualify them."""
    definition = project.config.metrics[metric]
    sums = additive(project.config.metrics, metric)
    bases = {"previous": period.shift(-1), "year_ago": period.year_ago()}
    windows = [
        Window("current", period.start, period.end),
        *(Window(name, base.start, base.end) for name, base in bases.items()),
    ]
    values = _values(project, [metric], windows, filters, by)
    cover = {w.name: project.coverage([metric], w.start, w.end) for w in windows}
    rows = []
    for group in _groups(values, by):
        value = values.get(("current", *group, metric))
        row: dict[str, Any] = {
            "metric": metric,
            "label": definition.label,
            "period": period.label,
            **dict(zip(by, group, strict=True)),
            "value": value,
            "text": format_value(definition, value),
            "coverage": cover["current"].text,
        }
        flags = cover["current"].flags(period.label)
        for name, base in bases.items():
            base_value = values.get((name, *group, metric))
            moved = change(definition, value, base_value, base.label)
            row.update(
                {
                    f"{name}_period": base.label,
                    name: base_value,
                    f"{name}_coverage": cover[name].text,
                    f"{name}_change": moved.value,
                    f"{name}_change_text": moved.text,
                }
            )
        for name, label in comparisons(period).items():
            flags += _comparison_flags(
                label, cover["current"], cover[name], bases[name].label, sums=sums
            )
        row["flags"] = flags
        rows.append(row)
    return pd.DataFrame(rows)


def _year_earlier(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def to_date(
    project: Workspace,
    metric: str,
    as_of: dt.date,
    *,
    by: Sequence[str] = (),
    filters: Filters | None = None,
) -> pd.DataFrame:
    """MTD, QTD and YTD through ``as_of`` against the same dates a year earlier; quarters and
    years are fiscal when the project's fiscal year does not start in January."""
    calendar = project.config.calendar
    fiscal = calendar.fiscal_year_start_month != 1
    grains = [
        "month",
        "fiscal_quarter" if fiscal else "quarter",
        "fiscal_year" if fiscal else "year",
    ]
    definition = project.config.metrics[metric]
    sums = additive(project.config.metrics, metric)
    windows, spans = [], {}
    for grain in grains:
        period = period_containing(as_of, grain, calendar)
        prior = Window(f"{grain}_py", period.year_ago().start, _year_earlier(as_of))
        current = Window(grain, period.start, as_of)
        windows += [current, prior]
        spans[grain] = (period, current, prior)
    values = _values(project, [metric], windows, filters, by)
    survey = _survey(project, definition, windows, filters, by)
    rows = []
    for group in _groups(values, by):
        for grain in grains:
            period, current, prior = spans[grain]
            now = values.get((grain, *group, metric))
            before = values.get((prior.name, *group, metric))
            label = f"{prior.start} to {prior.end}"
            moved = change(definition, now, before, label)
            cur_cov = project.coverage([metric], current.start, current.end)
            py_cov = project.coverage([metric], prior.start, prior.end)
            name = TO_DATE_NAME[grain]
            flags = cur_cov.flags(f"{name} {period.label}")
            flags += _comparison_flags(f"{name} {YEAR_AGO_NAME}", cur_cov, py_cov, label, sums=sums)
            noise, noted = _against_year_ago(
                definition, survey, (grain, *group), (prior.name, *group), name, moved
            )
            rows.append(
                {
                    "metric": metric,
                    "window": name,
                    "period": period.label,
                    **dict(zip(by, group, strict=True)),
                    "start": current.start,
                    "end": as_of,
                    "value": now,
                    "text": format_value(definition, now),
                    "year_ago_start": prior.start,
                    "year_ago_end": prior.end,
                    "year_ago": before,
                    "year_ago_change": moved.value,
                    "year_ago_change_text": moved.text,
                    "coverage": cur_cov.text,
                    "year_ago_coverage": py_cov.text,
                    **noise,
                    "flags": flags + noted,
                }
            )
    return pd.DataFrame(rows)


def trailing(
    project: Workspace,
    metric: str,
    last: Period,
    count: int,
    *,
    by: Sequence[str] = (),
    filters: Filters | None = None,
) -> pd.DataFrame:
    """The ``count`` periods ending with ``last``, oldest first, each beside the same period a
    year earlier, with coverage and flags."""
    if count < 1:
        raise QueryError(f"a trailing window needs at least 1 period, got {count}")
    periods = [last.shift(-i) for i in range(count - 1, -1, -1)]
    windows = []
    for period in periods:
        prior = period.year_ago()
        windows += [
            Window(period.label, period.start, period.end),
            Window(f"py:{period.label}", prior.start, prior.end),
        ]
    return _series_rows(project, metric, periods, windows, by, filters)


def _series_rows(
    project: Workspace,
    metric: str,
    periods: Sequence[Period],
    windows: Sequence[Window],
    by: Sequence[str],
    filters: Filters | None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    definition = project.config.metrics[metric]
    sums = additive(project.config.metrics, metric)
    values = _values(project, [metric], windows, filters, by)
    survey = _survey(project, definition, windows, filters, by)
    spans = {w.name: w for w in windows}
    rows = []
    for group in _groups(values, by):
        for period in periods:
            current, prior = spans[period.label], spans[f"py:{period.label}"]
            now = values.get((period.label, *group, metric))
            before = values.get((prior.name, *group, metric))
            cur_cov = project.coverage([metric], current.start, current.end)
            py_cov = project.coverage([metric], prior.start, prior.end)
            prior_label = period_containing(
                prior.start, period.grain, project.config.calendar
            ).label
            moved = change(definition, now, before, prior_label)
            flags = cur_cov.flags(period.label)
            if end is not None and current.end == end and end < period.end:
                flags.append(f"{period.label} is to date: through {end}")
            flags += _comparison_flags(YEAR_AGO_NAME, cur_cov, py_cov, prior_label, sums=sums)
            noise, noted = _against_year_ago(
                definition,
                survey,
                (period.label, *group),
                (prior.name, *group),
                period.label,
                moved,
            )
            rows.append(
                {
                    "metric": metric,
                    "period": period.label,
                    **dict(zip(by, group, strict=True)),
                    "start": current.start,
                    "end": current.end,
                    "value": now,
                    "year_ago_period": prior_label,
                    "year_ago": before,
                    "year_ago_change": moved.value,
                    "year_ago_change_text": moved.text,
                    "coverage": cur_cov.text,
                    "year_ago_coverage": py_cov.text,
                    **noise,
                    "flags": flags + noted,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class WbrView:
    """Amazon's Weekly Business Review layout for one metric and week."""

    metric: str
    week_ending: dt.date
    weeks: pd.DataFrame
    months: pd.DataFrame
    box: pd.DataFrame
    flags: list[str] = field(default_factory=list)


def wbr(
    project: Workspace,
    metric: str,
    week_ending: dt.date,
    *,
    filters: Filters | None = None,
) -> WbrView:
    """The trailing 6 weeks and 12 months, each with the prior-year series, and the box: last
    week, WoW, last week YoY, MTD, MTD YoY, QTD, QTD YoY, YTD, YTD YoY."""
    calendar = project.config.calendar
    week = period_containing(week_ending, "week", calendar)
    if week.end != week_ending:
        raise QueryError(
            f"{week_ending} is a {week_ending:%A}, but weeks end on {calendar.week_ends_on}; "
            f"use {week.end} (or {week.shift(-1).end})"
        )
    weeks = [week.shift(-i) for i in range(5, -1, -1)]
    windows = []
    for period in weeks:
        prior = period.year_ago()
        windows += [
            Window(period.label, period.start, period.end),
            Window(f"py:{period.label}", prior.start, prior.end),
        ]
    weekly = _series_rows(project, metric, weeks, windows, (), filters)
    month = period_containing(week_ending, "month", calendar)
    months = [month.shift(-i) for i in range(11, -1, -1)]
    windows = []
    for period in months:
        end = min(period.end, week_ending)
        prior_start = period.year_ago().start
        prior_end = _year_earlier(end) if end < period.end else period.year_ago().end
        windows += [
            Window(period.label, period.start, end),
            Window(f"py:{period.label}", prior_start, prior_end),
        ]
    monthly = _series_rows(project, metric, months, windows, (), filters, end=week_ending)
    ptd = to_date(project, metric, week_ending, filters=filters)
    last, previous = weekly.iloc[-1], weekly.iloc[-2]
    definition = project.config.metrics[metric]
    wow = change(definition, last["value"], previous["value"], str(previous["period"]))
    box = [
        {
            "name": "last week",
            "value": last["value"],
            "text": format_value(definition, last["value"]),
        },
        {"name": "WoW", "value": wow.value, "text": wow.text},
        {
            "name": f"last week {YEAR_AGO_NAME}",
            "value": last["year_ago_change"],
            "text": last["year_ago_change_text"],
        },
    ]
    for row in ptd.to_dict("records"):
        box += [
            {"name": row["window"], "value": row["value"], "text": row["text"]},
            {
                "name": f"{row['window']} {YEAR_AGO_NAME}",
                "value": row["year_ago_change"],
                "text": row["year_ago_change_text"],
            },
        ]
    flags = [*last["flags"], *[f for row in ptd.to_dict("records") for f in row["flags"]]]
    return WbrView(
        metric, week_ending, weekly, monthly, pd.DataFrame(box), list(dict.fromkeys(flags))
    )


def _target_series(
    project: Workspace, target: Target, grain: str, segment: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Per-period target values: from YAML, or from a source: its rows for the segment, added up
    per day for sums and levels (averaged otherwise), then per period summed for additive
    metrics or the period's last day for others."""
    if target.series:
        return dict(target.series)
    if target.source is None or target.column is None:
        return {}
    source = project.config.sources[target.source]
    params: dict[str, Any] = {}
    where = []
    selected = {**dict(target.filters), **segment}
    for i, (column, values) in enumerate(selected.items()):
        params[f"f{i}"] = list(values)
        where.append(f"CAST({quote_ident(column)} AS VARCHAR) IN (SELECT unnest($f{i}))")
    rows = project.source_rows(
        target.source,
        f"SELECT CAST({quote_ident(source.date.column)} AS DATE) AS day, "
        f"{quote_ident(target.column)} AS value FROM {quote_ident(target.source)}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY day",
        params,
    )
    definition = project.config.metrics[target.metric]
    sums = additive(project.config.metrics, target.metric)
    levels = sums or definition.agg in ("first", "last", "daily_mean")
    days: dict[dt.date, list[float]] = {}
    for day, value in rows:
        if value is not None:
            days.setdefault(day, []).append(float(value))
    out: dict[str, float] = {}
    for day in sorted(days):
        # segments of one day add up for sums and levels (MRR per team); otherwise average
        total = sum(days[day]) if levels else sum(days[day]) / len(days[day])
        label = period_containing(day, grain, project.config.calendar).label
        out[label] = out.get(label, 0.0) + total if sums else total
    return out


def scorecard(
    project: Workspace,
    period: Period,
    *,
    metrics: Sequence[str] | None = None,
    filters: Filters | None = None,
    target: Target | None = None,
) -> pd.DataFrame:
    """One row per metric: value, previous period and year-ago changes (in ``change_unit``),
    target to date, attainment, gap, projection, status and flags. ``target`` replaces the
    declared targets (an outcome's own target)."""
    names = list(metrics) if metrics is not None else list(project.config.metrics)
    previous, year_ago = period.shift(-1), period.year_ago()
    history = [period.shift(-i) for i in range(5, -1, -1)]
    windows = [
        Window("current", period.start, period.end),
        Window("previous", previous.start, previous.end),
        Window("year_ago", year_ago.start, year_ago.end),
        *(Window(f"h:{p.label}", p.start, p.end) for p in history[:-1]),
    ]
    values = _values(project, names, windows, filters, ())
    wanted = {k: ([v] if isinstance(v, str) else list(v)) for k, v in (filters or {}).items()}
    rows = []
    for name in names:
        definition = project.config.metrics[name]
        value = values.get(("current", name))
        cover = {w.name: project.coverage([name], w.start, w.end) for w in windows[:3]}
        flags = cover["current"].flags(period.label)
        row: dict[str, Any] = {
            "metric": name,
            "label": definition.label,
            "period": period.label,
            "value": value,
            "text": format_value(definition, value),
            "coverage": cover["current"].text,
            "change_unit": definition.change_unit,
        }
        bases = {"previous": previous, "year_ago": year_ago}
        survey = _survey(project, definition, windows[:3], filters)
        row.update(_survey_fields(survey.get(("current",))))
        for key, base in bases.items():
            moved = change(definition, value, values.get((key, name)), base.label)
            row[f"{key}_period"] = base.label
            row[f"{key}_change"] = moved.value
            row[f"{key}_change_text"] = moved.text
            row[f"{key}_noise"] = _within_noise(survey, key)
        for key, label in comparisons(period).items():
            flags += _comparison_flags(
                label,
                cover["current"],
                cover[key],
                bases[key].label,
                sums=additive(project.config.metrics, name),
            )
        goal = target if target is not None else matching_target(project.config, name, wanted)
        result = _evaluate_target(project, definition, goal, period, value, values, history, wanted)
        if survey:
            noted, result = _judged_by_noise(definition, survey, row, period, result)
            flags += noted
        row.update(
            {
                "target": result.target,
                "target_text": format_value(definition, result.target)
                if result.target is not None
                else "",
                "attainment": result.attainment,
                "gap": result.gap,
                "projection": result.projection,
                "status": result.status,
                "status_reason": result.reason,
                "direction": definition.direction,
                "flags": flags,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _survey(
    project: Workspace,
    metric: Metric,
    windows: Sequence[Window],
    filters: Filters | None,
    by: Sequence[str] = (),
) -> dict[tuple[Any, ...], Estimate]:
    """The survey estimates of ``metric`` over ``windows``; none for other metrics."""
    if not is_survey(metric):
        return {}
    return estimates(project, metric, windows, filters=filters, by=by)


def _survey_fields(found: Estimate | None) -> dict[str, Any]:
    """A scorecard row's ``responses``, ``low`` and ``high`` (None but for survey metrics)."""
    if found is None:
        return {"responses": None, "low": None, "high": None}
    return {"responses": found.responses, "low": found.low, "high": found.high}


def _judged_by_noise(
    metric: Metric,
    survey: Mapping[tuple[Any, ...], Estimate],
    row: Mapping[str, Any],
    period: Period,
    result: TargetResult,
) -> tuple[list[str], TargetResult]:
    """A survey KPI's flags (changes within noise, too few answers) and its status: *within
    noise* where it is behind its target to date by no more than its noise (neither a miss to
    act on nor a win)."""
    flags = [
        f"{label} {row[f'{key}_change_text'].split(' (')[0]} is within noise: the 95% interval "
        "of the difference covers 0"
        for key, label in comparisons(period).items()
        if row[f"{key}_noise"]
    ]
    current = survey.get(("current",))
    if current is None:
        return flags, result
    flags += _noise_flags(metric, period.label, current)
    if result.status in ("at risk", "off track") and current.covers(result.target):
        low, high = (format_value(metric, v) for v in (current.low, current.high))
        result = replace(
            result,
            status="within noise",
            reason=f"{result.reason}, but the target to date lies inside the 95% interval "
            f"{low} to {high} ({current.responses:,} answers)",
        )
    return flags, result


def _against_year_ago(
    metric: Metric,
    survey: Mapping[tuple[Any, ...], Estimate],
    key: tuple[Any, ...],
    prior: tuple[Any, ...],
    label: str,
    moved: Change,
) -> tuple[dict[str, Any], list[str]]:
    """A series row's survey fields (``responses``, ``low``, ``high``, ``year_ago_noise``: its
    change on a year earlier within noise) and flags; None and False for other metrics."""
    found, earlier = survey.get(key), survey.get(prior)
    noise = found is not None and earlier is not None and found.differs(earlier) is False
    fields = {**_survey_fields(found), "year_ago_noise": noise}
    return fields, _noise_flags(metric, label, found, moved.text if noise else None)


def _noise_flags(
    metric: Metric, label: str, found: Estimate | None, year_ago_change: str | None = None
) -> list[str]:
    """A survey KPI's period with fewer answers than ``min_responses``, and (given its text) a
    change on a year earlier whose 95% interval covers 0."""
    flags = []
    least = metric.min_responses
    if found is not None and least is not None and found.responses < least:
        flags.append(
            f"{label} has {found.responses:,} answers, fewer than the {least:,} its "
            "value needs (min_responses): read it as noise"
        )
    if year_ago_change is not None:
        flags.append(
            f"{YEAR_AGO_NAME} {year_ago_change.split(' (')[0]} is within noise: the 95% "
            "interval of the difference covers 0"
        )
    return flags


def _within_noise(survey: Mapping[tuple[Any, ...], Estimate], key: str) -> bool:
    """Whether a survey metric's change on the period ``key`` is within its noise."""
    now, then = survey.get(("current",)), survey.get((key,))
    if now is None or then is None:
        return False
    return now.differs(then) is False


def _evaluate_target(
    project: Workspace,
    metric: Metric,
    target: Target | None,
    period: Period,
    value: float | None,
    values: Mapping[tuple[Any, ...], float],
    history: Sequence[Period],
    segment: Mapping[str, Sequence[str]],
) -> TargetResult:
    if target is None:
        return evaluate(metric, value, None)
    series = _target_series(project, target, period.grain, segment)
    goal = target_value(target, period.end, series, period.label)
    due, final = target.by, target.value
    if target.value is None and series:
        last_label = max(series, key=lambda label: _period_end(project, label))
        due, final = _period_end(project, last_label), series[last_label]
    points = [(p.end, values.get((f"h:{p.label}", metric.name))) for p in history[:-1]]
    points.append((period.end, value))
    known = [(d, v) for d, v in points if not _missing(v)]
    return evaluate(
        metric,
        value,
        goal,
        final=final,
        due=due,
        history=[(d, float(v)) for d, v in known if v is not None],
        rules=target.rules,
    )


def _period_end(project: Workspace, label: str) -> dt.date:
    """The last day of a target series' period, at the grain its label names (a series of
    months serves a year's review too)."""
    return project.period(label).end
