"""Charts of a review project: Altair chart objects, built and returned, never displayed.

Every chart asks the library for its numbers (which aggregates them in DuckDB) and embeds only
what it draws: a few dozen to a few thousand rows, never the exports. The look is shared: the
Okabe-Ito palette (safe for the common colour-vision deficiencies), statuses that differ in
shape and label as well as hue, values formatted in the metric's own unit and format (the text
of tooltips and labels by :func:`reviewkit.metrics.catalogue.format_value`, axes by the matching
Vega format string), and dates drawn on UTC scales so a browser's time zone cannot move a period.

User text (titles, hypotheses, output titles) only ever enters a chart as data or as a title
string, never inside a Vega expression. Show a chart in a notebook after
:func:`reviewkit.present.render.enable`, or write it with :mod:`reviewkit.present.render`.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import altair as alt
import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import Period, period_containing
from reviewkit.config import Metric, Outcome
from reviewkit.evidence.estimator import (
    MOVED,
    NO_CHANGE,
    NOT_ENOUGH,
    OTHER_WAY,
    TOO_EARLY,
    ImpactResult,
)
from reviewkit.metrics.catalogue import format_value, metric_sources
from reviewkit.metrics.targets import matching_target, target_value

if TYPE_CHECKING:
    from reviewkit.metrics.compare import WbrView
    from reviewkit.metrics.workspace import Filters
    from reviewkit.project import Project

__all__ = [
    "PALETTE",
    "STATUS_STYLE",
    "VERDICT_COLOURS",
    "alignment_chart",
    "impact_chart",
    "impact_grid",
    "kpi_trend",
    "outcome_tree",
    "outputs_on_outcome",
    "scorecard_chart",
    "wbr_chart",
]

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with any common colour deficiency
PALETTE: Final[Mapping[str, str]] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}


@dataclass(frozen=True)
class StatusStyle:
    """How a status is drawn: a colour, a shape (so hue is never the only cue) and a symbol for
    text cells."""

    colour: str
    shape: str
    symbol: str


STATUS_STYLE: Final[Mapping[str, StatusStyle]] = {
    "on track": StatusStyle(PALETTE["green"], "circle", "●"),
    "at risk": StatusStyle(PALETTE["orange"], "diamond", "◆"),
    "off track": StatusStyle(PALETTE["vermillion"], "triangle-down", "▼"),
    "n/a": StatusStyle(PALETTE["grey"], "square", "■"),
}
STATUSES: Final = tuple(STATUS_STYLE)

VERDICT_COLOURS: Final[Mapping[str, str]] = {
    MOVED: PALETTE["green"],
    NO_CHANGE: PALETTE["grey"],
    OTHER_WAY: PALETTE["vermillion"],
    TOO_EARLY: PALETTE["sky"],
    NOT_ENOUGH: "#CCCCCC",
}

C = TypeVar("C", bound=alt.TopLevelMixin)
FONT: Final = "Helvetica, Arial, sans-serif"
#: UTC scales: ISO dates in the data are UTC midnights, so local time zones would shift them
UTC: Final = alt.Scale(type="utc")
#: at most this many periods after the post window are kept in an impact grid panel
GRID_AFTER: Final = 8
#: rows of output labels above a chart; more would push the plot down for little gain
LABEL_ROWS: Final = 4


# --- formats -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """How a metric's values are plotted: multiplied by ``factor`` (bps are stored as fractions
    but read as basis points), with a Vega format string and an axis title."""

    factor: float
    format: str
    title: str


def axis_for(metric: Metric) -> Axis:
    """The Vega axis format matching the metric's ``format`` and ``decimals``."""
    if metric.format == "percent":
        decimals = 1 if metric.decimals is None else metric.decimals
        return Axis(1.0, f".{decimals}%", metric.label)
    if metric.format == "bps":
        decimals = 0 if metric.decimals is None else metric.decimals
        return Axis(10_000.0, f",.{decimals}f", f"{metric.label} (bps)")
    numbers = ",.2~f" if metric.decimals is None else f",.{metric.decimals}f"
    if metric.format == "currency":
        symbol = "$" if metric.currency == "USD" else ""
        return Axis(1.0, symbol + numbers, f"{metric.label} ({metric.currency})")
    return Axis(1.0, numbers, f"{metric.label} ({metric.unit})" if metric.unit else metric.label)


def _number(value: Any) -> float | None:
    """A float, or None for missing values (NaN, None, pandas NA), so JSON gets null."""
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _scaled(axis: Axis, value: Any) -> float | None:
    return _times(value, axis.factor)


def _times(value: Any, factor: float) -> float | None:
    number = _number(value)
    return None if number is None else number * factor


def _iso(day: Any) -> str:
    """An ISO date string (what Vega parses as a UTC date) from a date, Timestamp or string."""
    if isinstance(day, pd.Timestamp):
        return str(day.date().isoformat())
    if isinstance(day, dt.date):
        return day.isoformat()
    return str(day)[:10]


def _lines(text: str, width: int = 100) -> list[str]:
    """Subtitle lines: Vega does not wrap titles."""
    return textwrap.wrap(text, width) or [""]


def _layer(*charts: Any, **options: Any) -> alt.LayerChart:
    """Layers as a LayerChart (``alt.layer`` is typed as possibly a facet)."""
    return alt.LayerChart(layer=list(charts), **options)


def _style(chart: C) -> C:
    """The shared look: font, no view border, quiet axes."""
    styled = (
        chart.configure(font=FONT)
        .configure_view(stroke=None)
        .configure_axis(
            labelColor="#333333", titleColor="#333333", gridColor="#E6E6E6", domainColor="#888888"
        )
    )
    return cast(C, styled)


def _status_scales() -> dict[str, alt.Scale]:
    return {
        "color": alt.Scale(domain=list(STATUSES), range=[s.colour for s in STATUS_STYLE.values()]),
        "shape": alt.Scale(domain=list(STATUSES), range=[s.shape for s in STATUS_STYLE.values()]),
    }


def _status_encodings(channel: str = "color") -> dict[str, Any]:
    """Status as colour (``fill`` for points beside stroked lines) and shape, one legend."""
    scales = _status_scales()
    colour = alt.Fill if channel == "fill" else alt.Color
    return {
        channel: colour("status:N", scale=scales["color"], title="status"),
        "shape": alt.Shape("status:N", scale=scales["shape"], title="status"),
    }


# --- periods -----------------------------------------------------------------------------------


def _last_period(
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


def _is_complete(project: Project, metric: str, start: dt.date, end: dt.date) -> bool:
    return project.coverage([metric], start, end).complete


def _monthly(project: Project, metric: str) -> bool:
    """Whether the metric only exists per month (read from month-end snapshots)."""
    sources = metric_sources(project.config, metric)
    return any(project.config.sources[s].date.grain == "month" for s in sources)


def _metric(project: Project, name: str) -> Metric:
    try:
        return project.config.metrics[name]
    except KeyError:
        known = ", ".join(project.config.metrics)
        raise QueryError(f"unknown metric '{name}'; the catalogue has: {known}") from None


def _wanted(filters: Filters | None) -> dict[str, list[str]]:
    return {
        k: [v] if isinstance(v, str) else [str(x) for x in v] for k, v in (filters or {}).items()
    }


# --- 1. a KPI's trend --------------------------------------------------------------------------


def kpi_trend(
    project: Project,
    metric: str,
    *,
    grain: str = "month",
    periods: int = 24,
    period: str | Period = "latest",
    filters: Filters | None = None,
    title: str | None = None,
    as_of: dt.date | None = None,
) -> alt.LayerChart:
    """A KPI over ``periods`` periods ending with ``period``: the value, the same periods a year
    earlier (dashed), the target to date where one applies (dotted, with each complete period's
    point coloured and shaped by its status), and periods still in progress drawn hollow at the
    end of a dashed segment, so a partial month never reads as a drop.

    ``as_of`` bounds the chart to what was known then (a review month's end): it ends with the
    last whole period ending on or before that day, so no data after it is drawn."""
    definition = _metric(project, metric)
    axis = axis_for(definition)
    last = _last_period(project, metric, grain, period, as_of)
    while as_of is not None and last.end > as_of:
        last = last.shift(-1)
    rows = project.trailing(metric, last, periods, filters=filters)
    target = matching_target(project.config, metric, _wanted(filters))
    points = []
    for row in rows.to_dict("records"):
        complete = _is_complete(project, metric, row["start"], row["end"])
        goal: float | None = None
        status, reason = "n/a", "no target"
        if target is not None:
            card = project.scorecard(
                project.period(str(row["period"]), grain), metrics=[metric], filters=filters
            ).iloc[0]
            goal = _number(card["target"])
            status, reason = str(card["status"]), str(card["status_reason"])
        if not complete:
            status, reason = "n/a", "period in progress"
        points.append(
            {
                "period": row["period"],
                "period_start": _iso(row["start"]),
                "value": _scaled(axis, row["value"]),
                "text": format_value(definition, _number(row["value"])),
                "year_ago": _scaled(axis, row["year_ago"]),
                "year_ago_text": format_value(definition, _number(row["year_ago"])),
                "year_ago_period": row["year_ago_period"],
                "yoy": row["year_ago_change_text"],
                "target": None if goal is None else goal * axis.factor,
                "target_text": format_value(definition, goal) if goal is not None else "none",
                "status": status,
                "status_reason": reason,
                "complete": complete,
                "coverage": row["coverage"],
                "flags": "; ".join(row["flags"]) or "none",
            }
        )
    frame = pd.DataFrame(points)
    return _trend_layers(frame, axis, title or _titled(definition, filters), target is not None)


def _titled(metric: Metric, filters: Filters | None) -> str:
    segment = ", ".join(
        f"{k} {v if isinstance(v, str) else ' + '.join(v)}" for k, v in (filters or {}).items()
    )
    return f"{metric.label} ({segment})" if segment else metric.label


def _trend_layers(frame: pd.DataFrame, axis: Axis, title: str, has_target: bool) -> alt.LayerChart:
    """The layers of :func:`kpi_trend` from its per-period frame."""
    x = alt.X("period_start:T", title=None, scale=UTC, axis=alt.Axis(format="%b %Y"))
    y = alt.Y(
        "value:Q", title=axis.title, axis=alt.Axis(format=axis.format), scale=alt.Scale(zero=False)
    )
    tooltip = [
        alt.Tooltip("period:N", title="period"),
        alt.Tooltip("text:N", title="value"),
        alt.Tooltip("year_ago_text:N", title="year ago"),
        alt.Tooltip("yoy:N", title="YoY"),
        alt.Tooltip("target_text:N", title="target to date"),
        alt.Tooltip("status:N", title="status"),
        alt.Tooltip("status_reason:N", title="why"),
        alt.Tooltip("coverage:N", title="coverage"),
        alt.Tooltip("flags:N", title="flags"),
    ]
    complete = frame[frame["complete"]]
    # the dashed tail joins the last complete point to the periods still in progress
    first_partial = frame.index[~frame["complete"]].min() if (~frame["complete"]).any() else None
    tail = frame.loc[max(first_partial - 1, 0) :] if first_partial is not None else frame.iloc[:0]
    domain = ["value", "year ago", "target to date"]
    series = {
        "stroke": alt.Stroke(
            "series:N",
            title=None,
            scale=alt.Scale(
                domain=domain, range=[PALETTE["blue"], PALETTE["grey"], PALETTE["black"]]
            ),
        ),
        "strokeDash": alt.StrokeDash(
            "series:N", title=None, scale=alt.Scale(domain=domain, range=[[1, 0], [6, 4], [2, 3]])
        ),
    }
    layers: list[Any] = [
        alt.Chart(frame.assign(series="year ago"))
        .mark_line(strokeWidth=1.5)
        .encode(x=x, y=alt.Y("year_ago:Q"), tooltip=tooltip, **series)
    ]
    if has_target:
        layers.append(
            alt.Chart(frame.assign(series="target to date"))
            .mark_line(strokeWidth=1.5)
            .encode(x=x, y=alt.Y("target:Q"), tooltip=tooltip, **series)
        )
    layers += [
        alt.Chart(complete.assign(series="value"))
        .mark_line(strokeWidth=2.5)
        .encode(x=x, y=y, tooltip=tooltip, **series),
        # the tail into a period in progress: dashed whatever the legend says of "value"
        alt.Chart(tail)
        .mark_line(strokeWidth=2.5, strokeDash=[4, 3], opacity=0.7, color=PALETTE["blue"])
        .encode(x=x, y=y, tooltip=tooltip),
        alt.Chart(complete[complete["target"].isna()])
        .mark_point(filled=True, size=30, color=PALETTE["blue"], opacity=1)
        .encode(x=x, y=y, tooltip=tooltip),
        alt.Chart(complete[complete["target"].notna()])
        .mark_point(filled=True, size=80, opacity=1, stroke="white", strokeWidth=0.5)
        .encode(x=x, y=y, tooltip=tooltip, **_status_encodings("fill")),
        alt.Chart(frame[~frame["complete"]])
        .mark_point(filled=False, size=80, strokeWidth=2, color=PALETTE["blue"])
        .encode(x=x, y=y, tooltip=tooltip),
    ]
    subtitle = "Dashed: a year earlier. Hollow: period in progress."
    if has_target:
        subtitle += " Dotted: target to date; points show the status."
    chart = _layer(*layers).properties(
        width=640, height=260, title=alt.Title(title, subtitle=subtitle, anchor="start")
    )
    return _style(chart)


# --- 2. the outputs on their outcome -----------------------------------------------------------


def _target_to_date(project: Project, outcome: Outcome, period: Period) -> float | None:
    """The outcome's target for a period: its value line, or its series entry for the period
    (or for the month the period ends in, when a weekly chart meets a monthly series)."""
    if outcome.target is None:
        return None
    series = dict(outcome.target.series)
    month = period_containing(period.end, "month", project.config.calendar).label
    label = period.label if period.label in series else month
    return target_value(outcome.target, period.end, series, label)


def _lanes(days: Sequence[dt.date], spacing: int) -> list[int]:
    """A label row for each delivery (sorted by day) so labels closer than ``spacing`` days
    go to different rows instead of overprinting; beyond :data:`LABEL_ROWS` rows a delivery
    gets -1 (no label: its marker and tooltip remain)."""
    ends: list[dt.date] = []
    lanes = []
    for day in days:
        lane = next((i for i, last in enumerate(ends) if (day - last).days >= spacing), len(ends))
        if lane == len(ends):
            ends.append(day)
        ends[lane] = day
        lanes.append(lane if lane < LABEL_ROWS else -1)
    return lanes


def outputs_on_outcome(
    project: Project,
    outcome_id: str,
    *,
    grain: str | None = "week",
    periods: int = 52,
    as_of: dt.date | None = None,
) -> alt.LayerChart:
    """The outcome's KPI over the last ``periods`` periods with every linked output on it: a
    rule at its delivery date, its id above the chart, and its lag window (delivery to delivery
    + lag, when the KPI should start to move) shaded. Tooltips give the output's id, title, team,
    hypothesis and confidence. ``grain=None`` takes the outcome's ``impact_grain`` (weekly team
    NPS is too noisy to read); a KPI read from month-end snapshots is drawn per month, with
    ``periods`` converted from weeks to months.

    ``as_of`` (a review month's end) bounds the chart to what was known then: no data after that
    day (a period running past it is computed from its days up to it and drawn in progress), no
    output delivered after it, and lag windows cut at it. Default: the latest data."""
    outcome = project.outcome(outcome_id)
    definition = _metric(project, outcome.metric)
    axis = axis_for(definition)
    monthly = _monthly(project, outcome.metric) or (
        grain is None and outcome.impact_grain == "month"
    )
    grain = grain or "week"
    if grain == "week" and monthly:
        grain, periods = "month", max(6, math.ceil(periods * 7 / 30.4))
    last = _last_period(project, outcome.metric, grain, "latest", as_of)
    first = last.shift(1 - periods)
    #: the last day drawn: the end of the last period, or the day the chart is as of
    horizon = last.end if as_of is None else min(last.end, as_of)
    filters = {k: list(v) for k, v in outcome.filters}
    series = project.kpi(
        outcome.metric, grain=grain, start=first.start, end=horizon, filters=filters
    )
    kpi_rows = []
    for row in series.to_dict("records"):
        shown = project.period(str(row["period"]), grain)
        goal = _target_to_date(project, outcome, shown)
        kpi_rows.append(
            {
                "period": row["period"],
                "period_start": _iso(row["period_start"]),
                "value": _scaled(axis, row["value"]),
                "text": format_value(definition, _number(row["value"])),
                "target": None if goal is None else goal * axis.factor,
                "target_text": "none" if goal is None else format_value(definition, goal),
                "complete": row["period_end"] <= horizon
                and _is_complete(project, outcome.metric, row["period_start"], row["period_end"]),
            }
        )
    kpi = pd.DataFrame(kpi_rows)
    links = project.links(outcome_id=outcome_id)
    delivered = project.outputs(start=first.start, end=horizon)
    if links.empty:
        marks = pd.DataFrame(columns=["output", "delivered", "lag_end", "lane"])
    else:
        marks = delivered.merge(links, left_on="id", right_on="output_id")
        marks = marks.sort_values(["delivered", "id"], kind="stable")
    rows = []
    lanes = _lanes(list(marks["delivered"]), spacing=max(7, (horizon - first.start).days // 12))
    for lane, row in zip(lanes, marks.to_dict("records"), strict=True):
        lag = int(row["lag_days"]) if _number(row["lag_days"]) is not None else outcome.lag_days
        day: dt.date = row["delivered"]
        rows.append(
            {
                "output": row["id"],
                "title": row["title"],
                "team": row["team"],
                "hypothesis": row["hypothesis"] or "(none recorded)",
                "confidence": row["confidence"],
                "delivered": _iso(day),
                "lag_end": _iso(min(day + dt.timedelta(days=lag), horizon)),
                "lag": f"{lag} days: should show from {day + dt.timedelta(days=lag)}",
                "lane": lane,
            }
        )
    outputs = pd.DataFrame(
        rows,
        columns=[
            "output",
            "title",
            "team",
            "hypothesis",
            "confidence",
            "delivered",
            "lag_end",
            "lag",
            "lane",
        ],
    )
    x = alt.X("period_start:T", title=None, scale=UTC, axis=alt.Axis(format="%b %Y"))
    y = alt.Y(
        "value:Q", title=axis.title, axis=alt.Axis(format=axis.format), scale=alt.Scale(zero=False)
    )
    kpi_tip = [
        alt.Tooltip("period:N"),
        alt.Tooltip("text:N", title=definition.label),
        alt.Tooltip("target_text:N", title="target to date"),
        alt.Tooltip("complete:N", title="complete period"),
    ]
    out_tip = [
        alt.Tooltip("output:N", title="output"),
        alt.Tooltip("title:N"),
        alt.Tooltip("team:N"),
        alt.Tooltip("delivered:N", title="delivered"),
        alt.Tooltip("lag:N", title="lag"),
        alt.Tooltip("hypothesis:N"),
        alt.Tooltip("confidence:N"),
    ]
    at = alt.X("delivered:T", scale=UTC)
    layers: list[Any] = [
        alt.Chart(outputs)
        .mark_rect(color=PALETTE["orange"], opacity=0.12)
        .encode(x=at, x2="lag_end:T", tooltip=out_tip),
        alt.Chart(outputs)
        .mark_rule(color=PALETTE["orange"], strokeWidth=1.5)
        .encode(x=at, tooltip=out_tip),
        alt.Chart(kpi[kpi["target"].notna()])
        .mark_line(color=PALETTE["black"], strokeDash=[2, 3], strokeWidth=1.5)
        .encode(x=x, y=alt.Y("target:Q"), tooltip=kpi_tip),
        alt.Chart(kpi).mark_line(color=PALETTE["blue"], strokeWidth=2).encode(x=x, y=y),
        alt.Chart(kpi[kpi["complete"]])
        .mark_point(filled=True, size=25, color=PALETTE["blue"], opacity=1)
        .encode(x=x, y=y, tooltip=kpi_tip),
        alt.Chart(kpi[~kpi["complete"]])
        .mark_point(filled=False, size=70, strokeWidth=2, color=PALETTE["blue"])
        .encode(x=x, y=y, tooltip=kpi_tip),
        alt.Chart(outputs)
        .mark_point(shape="triangle-down", filled=True, size=60, color=PALETTE["orange"])
        .encode(x=at, y=alt.value(-4), tooltip=out_tip),
    ]
    # one text layer per label row, stacked above the plot (a pixel offset is per mark)
    layers += [
        alt.Chart(outputs[outputs["lane"] == lane])
        .mark_text(align="left", baseline="bottom", dx=2, dy=-10 - 12 * lane, fontSize=10)
        .encode(x=at, y=alt.value(0), text="output:N", tooltip=out_tip)
        for lane in sorted(set(outputs["lane"]) - {-1})
    ]
    subtitle = [
        f"{_titled(definition, dict(outcome.filters))} per {grain}. Orange: a linked output's "
        "delivery; shaded: its lag window, until the KPI is expected to move.",
        "Dotted: target to date. Hollow: period in progress. Hover for an output's hypothesis.",
    ]
    chart = _layer(*layers).properties(
        width=760,
        height=300,
        title=alt.Title(outcome.title, subtitle=subtitle, anchor="start", offset=12),
    )
    return _style(chart)


# --- 3. impact evidence ------------------------------------------------------------------------


def _impact_frame(
    result: ImpactResult, *, factor: float = 1.0, after: int | None = None
) -> pd.DataFrame:
    """The result's series as plain JSON-ready columns in plotted units (times ``factor``; bps)
    (``after`` keeps that many periods past the post window), each row with the next period's
    start so the lag window can be drawn as a span of whole periods."""
    frame = result.series.copy()
    if after is not None:
        past = frame.index[frame["phase"] == "after"]
        frame = frame.drop(past[after:])
    starts = [_iso(d) for d in frame["period_start"]]
    step = pd.Timestamp(starts[-1]) - pd.Timestamp(starts[-2]) if len(starts) > 1 else None
    ends = [*starts[1:], _iso(pd.Timestamp(starts[-1]) + step) if step is not None else starts[-1]]
    return pd.DataFrame(
        {
            "period_start": starts,
            "period_next": ends,
            "actual": [_times(v, factor) for v in frame["actual"]],
            "counterfactual": [_times(v, factor) for v in frame["counterfactual"]],
            "low": [_times(v, factor) for v in frame["low"]],
            "high": [_times(v, factor) for v in frame["high"]],
            "phase": list(frame["phase"]),
        }
    )


def _impact_layers(frame: pd.DataFrame, colour: str, axis: Axis) -> alt.LayerChart:
    """Band, counterfactual, actual and the lag window of one impact series."""
    x = alt.X("period_start:T", title=None, scale=UTC, axis=alt.Axis(format="%b %Y", tickCount=4))
    tooltip = [
        alt.Tooltip("period_start:N", title="period start"),
        alt.Tooltip("phase:N"),
        alt.Tooltip("actual:Q", format=",.4~f"),
        alt.Tooltip("counterfactual:Q", format=",.4~f"),
        alt.Tooltip("low:Q", format=",.4~f", title="band low"),
        alt.Tooltip("high:Q", format=",.4~f", title="band high"),
    ]
    lag = frame[frame["phase"] == "lag"]
    post = frame[frame["phase"] == "post"]
    spans = pd.DataFrame(
        [
            {
                "window": name,
                "start": part["period_start"].iloc[0],
                "end": part["period_next"].iloc[-1],
            }
            for name, part in (("lag window", lag), ("measured", post))
            if not part.empty
        ],
        columns=["window", "start", "end"],
    )
    window_colour = alt.Color(
        "window:N",
        title=None,
        scale=alt.Scale(
            domain=["lag window", "measured"], range=[PALETTE["orange"], PALETTE["sky"]]
        ),
        legend=None,
    )
    return _layer(
        alt.Chart(spans)
        .mark_rect(opacity=0.15)
        .encode(
            x=alt.X("start:T", scale=UTC), x2="end:T", color=window_colour, tooltip=["window:N"]
        ),
        alt.Chart(frame)
        .mark_area(color=PALETTE["grey"], opacity=0.25)
        .encode(
            x=x,
            y=alt.Y(
                "low:Q",
                title=axis.title,
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format=axis.format),
            ),
            y2="high:Q",
        ),
        alt.Chart(frame)
        .mark_line(color=PALETTE["black"], strokeDash=[5, 3], strokeWidth=1.5)
        .encode(x=x, y="counterfactual:Q", tooltip=tooltip),
        alt.Chart(frame)
        .mark_line(color=colour, strokeWidth=2, point=alt.OverlayMarkDef(size=12, filled=True))
        .encode(x=x, y="actual:Q", tooltip=tooltip),
    )


def impact_chart(
    result: ImpactResult, *, title: str, metric: Metric | None = None
) -> alt.LayerChart:
    """One link's evidence: the KPI (coloured by the verdict) against its counterfactual
    (dashed) and the band where it should fall without an effect (grey), with the lag window
    (orange) and the measured window (blue) shaded; the verdict and its sentence in the
    subtitle. ``title`` is shown as text, never interpreted; ``metric`` (the outcome's KPI
    definition) formats the axis in its unit."""
    axis = axis_for(metric) if metric is not None else Axis(1.0, ",.4~f", "KPI")
    frame = _impact_frame(result, factor=axis.factor)
    colour = VERDICT_COLOURS.get(result.verdict, PALETTE["blue"])
    subtitle = [
        f"Verdict: {result.verdict} ({result.method}).",
        *_lines(result.sentence, 110),
        "Dashed: counterfactual; grey: its band; orange: lag window; blue: measured window.",
    ]
    chart = _impact_layers(frame, colour, axis).properties(
        width=640, height=240, title=alt.Title(title, subtitle=subtitle, anchor="start")
    )
    return _style(chart)


def impact_grid(
    project: Project, outcome_id: str, *, columns: int = 4, as_of: dt.date | None = None
) -> alt.FacetChart:
    """Small multiples: one panel per link of the outcome with its verdict in the panel's
    header and colour, the counterfactual band, and the lag window; panels in delivery order.
    Each panel keeps its pre-period, lag and measured window and a few periods after."""
    outcome = project.outcome(outcome_id)
    definition = _metric(project, outcome.metric)
    axis = axis_for(definition)
    found = project.outputs()
    days = dict(zip(found["id"], found["delivered"], strict=True))
    links = sorted(
        project.store.links(outcome_id=outcome_id),
        key=lambda k: (days.get(k.output_id), k.output_id),
    )
    parts = []
    for link in links:
        result = project.impact(link, as_of=as_of)
        assert isinstance(result, ImpactResult)
        panel = f"{link.output_id}: {result.verdict}"
        parts.append(
            _impact_frame(result, factor=axis.factor, after=GRID_AFTER).assign(
                panel=panel, output=link.output_id, verdict=result.verdict
            )
        )
    columns_ = ["period_start", "period_next", "actual", "counterfactual", "low", "high", "phase"]
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=[*columns_, "panel", "output", "verdict"])
    )
    verdict_colour = alt.Color(
        "verdict:N",
        title="verdict",
        scale=alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values())),
    )
    x = alt.X("period_start:T", title=None, scale=UTC, axis=alt.Axis(format="%b %y", tickCount=3))
    base = alt.Chart(frame)
    layers = _layer(
        base.transform_filter(alt.datum.phase == "lag")
        .mark_rect(color=PALETTE["orange"], opacity=0.2)
        .encode(x=x, x2="period_next:T"),
        base.mark_area(color=PALETTE["grey"], opacity=0.3).encode(
            x=x,
            y=alt.Y(
                "low:Q",
                title=axis.title,
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format=axis.format),
            ),
            y2="high:Q",
        ),
        base.mark_line(color=PALETTE["black"], strokeDash=[4, 3], strokeWidth=1).encode(
            x=x, y="counterfactual:Q"
        ),
        base.mark_line(strokeWidth=1.5).encode(
            x=x,
            y="actual:Q",
            color=verdict_colour,
            tooltip=["output:N", "verdict:N", "phase:N", alt.Tooltip("actual:Q", format=",.4~f")],
        ),
        data=frame,
    ).properties(width=170, height=100)
    order = list(dict.fromkeys(frame["panel"]))
    chart: alt.FacetChart = layers.facet(
        facet=alt.Facet("panel:N", sort=order, title=None, header=alt.Header(labelFontSize=11)),
        columns=columns,
    ).resolve_scale(y="independent", x="independent")
    rollup = ", ".join(
        f"{n} {v}" for v, n in frame.drop_duplicates("panel")["verdict"].value_counts().items()
    )
    chart = chart.properties(
        title=alt.Title(
            f"{outcome.title}: every linked output's evidence",
            subtitle=[
                f"{len(links)} links ({rollup or 'none'}). Grey: where the KPI should be without "
                "the output; dashed: counterfactual; orange: lag window.",
                "Association, not proof.",
            ],
            anchor="start",
        )
    )
    return _style(chart)


# --- 4. the WBR view ---------------------------------------------------------------------------


def _wbr_frame(frame: pd.DataFrame, metric: Metric, axis: Axis) -> pd.DataFrame:
    rows = []
    for row in frame.to_dict("records"):
        partial = any("is to date" in f or "in progress" in f for f in row["flags"])
        for series, key, period in (
            ("this year", "value", row["period"]),
            ("prior year", "year_ago", row["year_ago_period"]),
        ):
            rows.append(
                {
                    "period": row["period"],
                    "series": series,
                    "shown_period": period,
                    "value": _scaled(axis, row[key]),
                    "text": format_value(metric, _number(row[key])),
                    "yoy": row["year_ago_change_text"],
                    "partial": partial,
                    "flags": "; ".join(row["flags"]) or "none",
                }
            )
    return pd.DataFrame(rows)


def wbr_chart(view: WbrView, *, metric: Metric | None = None) -> alt.HConcatChart:
    """The Weekly Business Review chart: the trailing 6 weeks and 12 months side by side, this
    year solid and the prior year dashed, a month to date drawn hollow; the WBR box (last week,
    WoW, YoY, MTD, QTD, YTD) in the subtitle. Pass the metric's definition
    (``project.config.metrics[view.metric]``) for its label and format; without it values are
    plain numbers."""
    metric = metric or Metric(name=view.metric, label=view.metric)
    axis = axis_for(metric)
    domain = ["this year", "prior year"]
    stroke = alt.Stroke(
        "series:N",
        title=None,
        scale=alt.Scale(domain=domain, range=[PALETTE["blue"], PALETTE["grey"]]),
    )
    dash = alt.StrokeDash(
        "series:N", title=None, scale=alt.Scale(domain=domain, range=[[1, 0], [6, 4]])
    )
    y = alt.Y(
        "value:Q", title=axis.title, axis=alt.Axis(format=axis.format), scale=alt.Scale(zero=False)
    )
    tooltip = [
        alt.Tooltip("shown_period:N", title="period"),
        alt.Tooltip("series:N"),
        alt.Tooltip("text:N", title="value"),
        alt.Tooltip("yoy:N", title="YoY"),
        alt.Tooltip("flags:N"),
    ]

    def panel(frame: pd.DataFrame, title: str, width: int) -> alt.LayerChart:
        x = alt.X(
            "period:O",
            title=None,
            sort=list(dict.fromkeys(frame["period"])),
            axis=alt.Axis(labelAngle=-40),
        )
        lines = (
            alt.Chart(frame)
            .mark_line(strokeWidth=2)
            .encode(x=x, y=y, stroke=stroke, strokeDash=dash, tooltip=tooltip)
        )
        full = frame[(frame["series"] == "this year") & ~frame["partial"]]
        partial = frame[(frame["series"] == "this year") & frame["partial"]]
        return _layer(
            lines,
            alt.Chart(full)
            .mark_point(filled=True, size=40, color=PALETTE["blue"], opacity=1)
            .encode(x=x, y=y, tooltip=tooltip),
            alt.Chart(partial)
            .mark_point(filled=False, size=70, strokeWidth=2, color=PALETTE["blue"])
            .encode(x=x, y=y, tooltip=tooltip),
        ).properties(width=width, height=220, title=title)

    weeks = _wbr_frame(view.weeks, metric, axis)
    months = _wbr_frame(view.months, metric, axis)
    box = "  ·  ".join(f"{r['name']} {r['text']}" for r in view.box.to_dict("records"))
    chart = alt.hconcat(
        panel(weeks, "Trailing 6 weeks", 260), panel(months, "Trailing 12 months", 480), spacing=30
    ).properties(
        title=alt.Title(
            f"{metric.label}: week ending {view.week_ending:%a %d %b %Y}",
            subtitle=[box, *(_lines("Flags: " + "; ".join(view.flags), 140) if view.flags else [])],
            anchor="start",
        )
    )
    return _style(chart)


# --- 5. the scorecard --------------------------------------------------------------------------

#: height of one scorecard row, in pixels
ROW: Final = 30


def _better(direction: str, change: Any) -> str:
    number = _number(change)
    if number is None or number == 0:
        return "same"
    return "better" if (number > 0) == (direction == "higher") else "worse"


def _sparkline(
    project: Project, metric: str, period: Period, periods: int, filters: Filters | None
) -> list[float | None]:
    """The last ``periods`` values up to ``period``, oldest first (None where missing)."""
    first = period.shift(1 - periods)
    series = project.kpi(
        metric, grain=period.grain, start=first.start, end=period.end, filters=filters
    )
    values = dict(zip(series["period"], series["value"], strict=True))
    return [_number(values.get(first.shift(i).label)) for i in range(periods)]


def scorecard_chart(
    frame: pd.DataFrame,
    *,
    project: Project | None = None,
    periods: int = 12,
    filters: Filters | None = None,
) -> alt.HConcatChart:
    """A scorecard for reading at a glance, from :meth:`Project.scorecard` or
    :meth:`Project.outcome_scorecard`: one row per metric (or outcome) with its name, a
    sparkline of the last ``periods`` periods (needs ``project``; an outcome uses its own
    segment, a metric ``filters``), the value, the previous-period and year-ago changes (green
    when better, vermillion when worse, given the metric's direction; for a year, whose previous
    period is the year earlier, one change), the target to date and the status as a coloured
    shape and its word."""
    outcomes = "outcome" in frame.columns
    rows, lines = [], []
    for i, row in enumerate(frame.to_dict("records")):
        name = str(row["title"] if outcomes else row["label"])
        rows.append(
            {
                "row": i,
                "y": i + 0.5,
                "name": name,
                "value": str(row["text"]),
                "previous": str(row["previous_change_text"]),
                "previous_is": _better(str(row["direction"]), row["previous_change"]),
                "year_ago": str(row["year_ago_change_text"]),
                "year_ago_is": _better(str(row["direction"]), row["year_ago_change"]),
                "target": str(row["target_text"]) or "none",
                "status": str(row["status"]),
                "reason": str(row["status_reason"]),
                "flags": "; ".join(row["flags"]) or "none",
            }
        )
        if project is None:
            continue
        segment = dict(project.outcome(str(row["outcome"])).filters) if outcomes else filters
        period = project.period(str(row["period"]))
        values = _sparkline(project, str(row["metric"]), period, periods, segment)
        known = [v for v in values if v is not None]
        low, high = (min(known), max(known)) if known else (0.0, 0.0)
        for step, value in enumerate(values):
            if value is None:
                continue
            share = (value - low) / (high - low) if high > low else 0.5
            lines.append(
                {"row": i, "step": step, "y": i + 0.85 - 0.7 * share, "last": step == periods - 1}
            )
    cells = pd.DataFrame(rows)
    y = alt.Y(
        "y:Q", axis=None, scale=alt.Scale(domain=[0, max(len(rows), 1)], reverse=True, nice=False)
    )
    height = ROW * max(len(rows), 1)
    tooltip = [
        alt.Tooltip("name:N"),
        alt.Tooltip("value:N"),
        alt.Tooltip("target:N", title="target to date"),
        alt.Tooltip("status:N"),
        alt.Tooltip("reason:N", title="why"),
        alt.Tooltip("flags:N"),
    ]

    def column(field: str, header: str, width: int, **mark: Any) -> alt.Chart:
        text: alt.Chart = (
            alt.Chart(cells, title=alt.Title(header, anchor="start", fontSize=11, color="#555555"))
            .mark_text(align="left", baseline="middle", fontSize=12, **mark)
            .encode(x=alt.value(0), y=y, text=f"{field}:N", tooltip=tooltip)
            .properties(width=width, height=height)
        )
        return text

    better = alt.Scale(
        domain=["better", "worse", "same"],
        range=[PALETTE["green"], PALETTE["vermillion"], "#333333"],
    )

    def change(field: str, header: str) -> alt.Chart:
        return column(field, header, 90).encode(
            color=alt.Color(f"{field}_is:N", scale=better, legend=None)
        )

    first_period = str(frame["period"].iloc[0]) if len(frame) else ""
    spark = pd.DataFrame(lines, columns=["row", "step", "y", "last"])
    panels: list[Any] = [
        column("name", "outcome" if outcomes else "metric", 250, fontWeight="bold")
    ]
    if project is not None:
        x = alt.X("step:Q", axis=None, scale=alt.Scale(domain=[0, periods - 1]))
        panels.append(
            _layer(
                alt.Chart(spark)
                .mark_line(color=PALETTE["blue"], strokeWidth=1.5)
                .encode(x=x, y=y, detail="row:N"),
                alt.Chart(spark[spark["last"]])
                .mark_point(filled=True, size=20, color=PALETTE["blue"], opacity=1)
                .encode(x=x, y=y),
            ).properties(
                width=110,
                height=height,
                title=alt.Title(f"last {periods}", anchor="start", fontSize=11, color="#555555"),
            )
        )
    # a year's previous period is the year earlier: its change is shown once
    once = bool(len(frame)) and bool((frame["previous_period"] == frame["year_ago_period"]).all())
    panels += [
        column("value", first_period, 90),
        *([] if once else [change("previous", "vs previous")]),
        change("year_ago", "vs year ago"),
        column("target", "target to date", 90),
        _layer(
            alt.Chart(cells)
            .mark_point(filled=True, size=90, opacity=1)
            .encode(x=alt.value(6), y=y, tooltip=tooltip, **_status_encodings()),
            alt.Chart(cells)
            .mark_text(align="left", baseline="middle", dx=16, fontSize=12)
            .encode(x=alt.value(0), y=y, text="status:N", tooltip=tooltip),
        ).properties(
            width=100,
            height=height,
            title=alt.Title("status", anchor="start", fontSize=11, color="#555555"),
        ),
    ]
    chart: alt.HConcatChart = alt.hconcat(*panels, spacing=8).configure_legend(disable=True)
    return _style(chart)


# --- 6. alignment and the outcome tree ---------------------------------------------------------


def _month(project: Project, period: str | Period) -> Period:
    """A period for alignment: ``latest`` is the latest month every source covers."""
    if isinstance(period, Period):
        return period
    return project.period(period, "month" if period.strip() == "latest" else None)


def alignment_chart(
    project: Project, period: str | Period = "latest", *, periods: int = 6
) -> alt.VConcatChart:
    """Linked and unlinked effort per team over the last ``periods`` periods (stacked bars, one
    panel per team), and below it every outcome with the linked outputs delivered in the
    neglect window, neglected outcomes (none) called out in vermillion."""
    last = _month(project, period)
    rows = []
    for step in range(periods - 1, -1, -1):
        shown = last.shift(-step)
        teams = project.alignment(shown).teams
        for team in teams.to_dict("records"):
            share = _number(team["effort_share"])
            for kind, key in (
                ("linked to an outcome", "linked_effort"),
                ("not linked", "unlinked_effort"),
            ):
                rows.append(
                    {
                        "team": team["team"],
                        "period": shown.label,
                        "kind": kind,
                        "effort": _number(team[key]) or 0.0,
                        "outputs": f"{team['linked_outputs']} of {team['outputs']} linked",
                        "share": "n/a" if share is None else f"{share:.0%} of effort linked",
                        "unknown": int(team["effort_unknown"]),
                    }
                )
    effort = pd.DataFrame(
        rows, columns=["team", "period", "kind", "effort", "outputs", "share", "unknown"]
    )
    kinds = ["linked to an outcome", "not linked"]
    bars = (
        alt.Chart(effort)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=None, axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("sum(effort):Q", title="effort delivered"),
            color=alt.Color(
                "kind:N",
                title=None,
                scale=alt.Scale(domain=kinds, range=[PALETTE["blue"], PALETTE["orange"]]),
            ),
            order=alt.Order("kind:N"),
            column=alt.Column("team:N", title=None, header=alt.Header(labelFontWeight="bold")),
            tooltip=[
                "team:N",
                "period:N",
                "kind:N",
                "effort:Q",
                "outputs:N",
                "share:N",
                alt.Tooltip("unknown:Q", title="outputs without effort"),
            ],
        )
        .properties(width=120, height=180)
    )
    latest = project.alignment(last)
    start, end = latest.neglect_window
    outcomes = latest.outcomes.assign(
        label=[
            f"neglected: no linked output delivered {start} to {end}"
            if n
            else f"{k} linked output(s), last {d}"
            for n, k, d in zip(
                latest.outcomes["neglected"],
                latest.outcomes["outputs_in_window"],
                latest.outcomes["last_delivery"],
                strict=True,
            )
        ],
        state=["neglected" if n else "worked on" for n in latest.outcomes["neglected"]],
    )[["outcome", "title", "team", "outputs_in_window", "label", "state"]]
    state = alt.Color(
        "state:N",
        scale=alt.Scale(
            domain=["neglected", "worked on"], range=[PALETTE["vermillion"], PALETTE["blue"]]
        ),
        legend=None,
    )
    y = alt.Y("title:N", title=None, sort=list(outcomes["title"]), axis=alt.Axis(labelLimit=260))
    neglected = _layer(
        alt.Chart(outcomes)
        .mark_bar(height=10)
        .encode(
            x=alt.X("outputs_in_window:Q", title=f"linked outputs delivered {start} to {end}"),
            y=y,
            color=state,
            tooltip=["outcome:N", "title:N", "team:N", "label:N"],
        ),
        alt.Chart(outcomes)
        .mark_text(align="left", dx=4, fontSize=11)
        .encode(x="outputs_in_window:Q", y=y, text="label:N", color=state),
    ).properties(width=420, height=22 * max(len(outcomes), 1))
    chart: alt.VConcatChart = (
        alt.vconcat(bars, neglected, spacing=24)
        .resolve_scale(color="independent")
        .properties(
            title=alt.Title(
                f"Alignment: effort linked to outcomes, "
                f"{last.shift(1 - periods).label} to {last.label}",
                subtitle=[
                    f"Below: outcomes with linked work from {start} to {end}; neglected ones "
                    "in vermillion."
                ],
                anchor="start",
            )
        )
    )
    return _style(chart)


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def outcome_tree(project: Project, *, outputs_per_outcome: int = 5) -> alt.LayerChart:
    """The company's outcome tree, left to right: the organisation, its goals (outcomes without
    a parent), the outcomes under them (coloured and shaped by their status this period), and
    each outcome's most recently delivered linked outputs (the rest counted). Laid out in Python
    as a tidy tree: leaves one row apart, each parent centred on its children."""
    outcomes = project.config.outcomes
    status = {}
    card = project.outcome_scorecard("latest")
    for row in card.to_dict("records"):
        status[str(row["outcome"])] = (
            str(row["status"]),
            str(row["text"]),
            str(row["target_text"]),
        )
    found = project.outputs()
    titles = dict(zip(found["id"], found["title"], strict=True))
    days = dict(zip(found["id"], found["delivered"], strict=True))
    linked: dict[str, list[str]] = {}
    for link in project.store.links():
        linked.setdefault(link.outcome_id, []).append(link.output_id)
    children: dict[str | None, list[str]] = {}
    for outcome in outcomes.values():
        parent = outcome.parent if outcome.parent in outcomes else None
        children.setdefault(parent, []).append(outcome.id)

    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    leaf = 0

    def place(node: dict[str, Any], kids: list[dict[str, Any]]) -> dict[str, Any]:
        nonlocal leaf
        if kids:
            node["y"] = sum(k["y"] for k in kids) / len(kids)
        else:
            node["y"], leaf = float(leaf), leaf + 1
        nodes.append(node)
        edges.extend({"x": node["x"], "y": node["y"], "x2": k["x"], "y2": k["y"]} for k in kids)
        return node

    def grow(outcome_id: str, depth: int) -> dict[str, Any]:
        outcome = outcomes[outcome_id]
        kids = [grow(child, depth + 1) for child in children.get(outcome_id, [])]
        recent = sorted(linked.get(outcome_id, []), key=lambda o: (days.get(o), o), reverse=True)
        for output in recent[:outputs_per_outcome]:
            kids.append(
                place(
                    {
                        "x": depth + 1,
                        "kind": "output",
                        "label": f"{output} · {_short(titles.get(output, ''))}",
                        "detail": f"delivered {days.get(output)}",
                        "status": "n/a",
                    },
                    [],
                )
            )
        if len(recent) > outputs_per_outcome:
            kids.append(
                place(
                    {
                        "x": depth + 1,
                        "kind": "more",
                        "label": f"+ {len(recent) - outputs_per_outcome} earlier linked outputs",
                        "detail": "",
                        "status": "n/a",
                    },
                    [],
                )
            )
        state, value, target = status.get(outcome_id, ("n/a", "n/a", ""))
        return place(
            {
                "x": depth,
                "kind": "outcome",
                "label": outcome.title,
                "detail": f"{value} (target to date {target or 'none'}); "
                f"owner {outcome.owner or 'none'}",
                "status": state,
            },
            kids,
        )

    roots = [grow(o, 1) for o in children.get(None, [])]
    place(
        {
            "x": 0,
            "kind": "organisation",
            "label": project.config.name,
            "detail": "",
            "status": "n/a",
        },
        roots,
    )
    frame = pd.DataFrame(nodes)
    lines = pd.DataFrame(edges, columns=["x", "y", "x2", "y2"])
    depth = int(frame["x"].max()) if len(frame) else 0
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, depth + 1.6]))
    y = alt.Y(
        "y:Q",
        axis=None,
        scale=alt.Scale(domain=[-0.5, max(leaf - 0.5, 0.5)], reverse=True, nice=False),
    )
    tooltip = [
        alt.Tooltip("label:N", title="node"),
        alt.Tooltip("kind:N"),
        alt.Tooltip("detail:N"),
        alt.Tooltip("status:N"),
    ]
    outcome_nodes = frame[frame["kind"] == "outcome"]
    others = frame[frame["kind"] != "outcome"]
    chart = _layer(
        alt.Chart(lines).mark_rule(color="#BBBBBB").encode(x=x, y=y, x2="x2:Q", y2="y2:Q"),
        alt.Chart(others)
        .mark_point(filled=True, size=40, color=PALETTE["grey"], opacity=1)
        .encode(x=x, y=y, tooltip=tooltip),
        alt.Chart(outcome_nodes)
        .mark_point(filled=True, size=140, opacity=1)
        .encode(x=x, y=y, tooltip=tooltip, **_status_encodings()),
        alt.Chart(outcome_nodes)
        .mark_text(align="left", dx=10, fontSize=11, fontWeight="bold")
        .encode(x=x, y=y, text="label:N", tooltip=tooltip),
        alt.Chart(others)
        .mark_text(align="left", dx=8, fontSize=11)
        .encode(x=x, y=y, text="label:N", tooltip=tooltip),
    ).properties(
        width=260 * (depth + 1),
        height=18 * max(leaf, 1),
        title=alt.Title(
            f"{project.config.name}: goals, outcomes and the work linked to them",
            subtitle=f"Outcomes by status this period; up to {outputs_per_outcome} most recent "
            "linked outputs each.",
            anchor="start",
        ),
    )
    return _style(chart)
