"""A KPI over time: its trend against target (:func:`kpi_trend`), and the weekly business
review's view of it, weeks and months side by side (:func:`wbr_chart`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd

from reviewkit.base.periods import Period
from reviewkit.config import Metric
from reviewkit.metrics.catalogue import format_value
from reviewkit.metrics.surveys import is_survey
from reviewkit.metrics.targets import matching_target
from reviewkit.present.charts.events import (
    EVENTS_NOTE,
    PERIOD_EVENTS_NOTE,
    event_layers,
    period_event_layers,
)
from reviewkit.present.charts.periods import is_complete, last_period, metric_of, wanted
from reviewkit.present.charts.style import (
    PALETTE,
    UTC,
    Axis,
    as_number,
    axis_for,
    iso,
    layered,
    scaled,
    status_encodings,
    style,
    titled,
    wrapped,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reviewkit.metrics.compare import WbrView
    from reviewkit.metrics.workspace import Filters
    from reviewkit.project import Project
    from reviewkit.store.core import BusinessEvent

__all__ = ["kpi_trend", "wbr_chart"]


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
    definition = metric_of(project, metric)
    axis = axis_for(definition)
    last = last_period(project, metric, grain, period, as_of)
    while as_of is not None and last.end > as_of:
        last = last.shift(-1)
    rows = project.trailing(metric, last, periods, filters=filters)
    target = matching_target(project.config, metric, wanted(filters))
    points = []
    for row in rows.to_dict("records"):
        complete = is_complete(project, metric, row["start"], row["end"])
        goal: float | None = None
        status, reason = "n/a", "no target"
        if target is not None:
            card = project.scorecard(
                project.period(str(row["period"]), grain), metrics=[metric], filters=filters
            ).iloc[0]
            goal = as_number(card["target"])
            status, reason = str(card["status"]), str(card["status_reason"])
        if not complete:
            status, reason = "n/a", "period in progress"
        points.append(
            {
                "period": row["period"],
                "period_start": iso(row["start"]),
                "value": scaled(axis, row["value"]),
                "text": format_value(definition, as_number(row["value"])),
                "year_ago": scaled(axis, row["year_ago"]),
                "year_ago_text": format_value(definition, as_number(row["year_ago"])),
                "year_ago_period": row["year_ago_period"],
                "yoy": row["year_ago_change_text"],
                "target": None if goal is None else goal * axis.factor,
                "target_text": format_value(definition, goal) if goal is not None else "none",
                "status": status,
                "status_reason": reason,
                "complete": complete,
                "coverage": row["coverage"],
                "flags": "; ".join(row["flags"]) or "none",
                **_interval(definition, axis, row),
            }
        )
    frame = pd.DataFrame(points)
    first = project.period(str(rows["period"].iloc[0]), grain).start if len(rows) else last.start
    happened = event_layers(
        project.events_about(metric, filters=filters, start=first, end=last.end),
        first,
        last.end,
        field="period_start",
    )
    return _trend_layers(
        frame,
        axis,
        title or titled(definition, filters),
        target is not None,
        is_survey(definition),
        happened,
    )


def _interval(metric: Metric, axis: Axis, row: Mapping[str, Any]) -> dict[str, Any]:
    """A survey KPI's 95% interval of one period of a series row (scaled for the axis, and as
    text with the answers behind it); none for other metrics or a period without answers."""
    low, high = as_number(row.get("low")), as_number(row.get("high"))
    if low is None or high is None:
        return {"low": None, "high": None, "interval": "none"}
    return {
        "low": scaled(axis, low),
        "high": scaled(axis, high),
        "interval": f"{format_value(metric, low)} to {format_value(metric, high)} "
        f"({int(row['responses']):,} answers)",
    }


def _trend_layers(
    frame: pd.DataFrame,
    axis: Axis,
    title: str,
    has_target: bool,
    has_band: bool = False,
    events: Sequence[Any] = (),
) -> alt.LayerChart:
    """The layers of :func:`kpi_trend` from its per-period frame; ``has_band``: a survey KPI's
    95% interval as a shaded band under the value; ``events``: the business events' layers
    (:func:`~reviewkit.present.charts.events.event_layers`), drawn under the rest."""
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
        *([alt.Tooltip("interval:N", title="95% interval")] if has_band else []),
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
    layers: list[Any] = list(events)
    if has_band:
        banded = frame[frame["low"].notna() & frame["high"].notna()]
        layers.append(
            alt.Chart(banded)
            .mark_area(opacity=0.15, color=PALETTE["blue"])
            .encode(x=x, y=alt.Y("low:Q"), y2="high:Q", tooltip=tooltip)
        )
    layers += [
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
        .encode(x=x, y=y, tooltip=tooltip, **status_encodings("fill")),
        alt.Chart(frame[~frame["complete"]])
        .mark_point(filled=False, size=80, strokeWidth=2, color=PALETTE["blue"])
        .encode(x=x, y=y, tooltip=tooltip),
    ]
    subtitle = "Dashed: a year earlier. Hollow: period in progress."
    if has_band:
        subtitle += " Band: 95% interval from the answers."
    if has_target:
        subtitle += " Dotted: target to date; points show the status."
    if events:
        subtitle += f" {EVENTS_NOTE}"
    chart = layered(*layers).properties(
        width=640, height=260, title=alt.Title(title, subtitle=subtitle, anchor="start")
    )
    return style(chart)


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
                    "value": scaled(axis, row[key]),
                    "text": format_value(metric, as_number(row[key])),
                    "yoy": row["year_ago_change_text"],
                    "partial": partial,
                    "flags": "; ".join(row["flags"]) or "none",
                    # this year's 95% interval and answers (a survey KPI's)
                    **_interval(metric, axis, row if key == "value" else {}),
                }
            )
    return pd.DataFrame(rows)


def wbr_chart(
    view: WbrView, *, metric: Metric | None = None, events: Sequence[BusinessEvent] = ()
) -> alt.HConcatChart:
    """The Weekly Business Review chart: the trailing 6 weeks and 12 months side by side, this
    year solid and the prior year dashed, a month to date drawn hollow, a survey KPI's 95%
    interval shaded; the WBR box (last week, WoW, YoY, MTD, QTD, YTD) in the subtitle. Pass the
    metric's definition (``project.config.metrics[view.metric]``) for its label and format;
    without it values are plain numbers. ``events`` (``project.events_about(view.metric)``) are
    marked at the weeks and months they touch."""
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
    banded = is_survey(metric)
    tooltip = [
        alt.Tooltip("shown_period:N", title="period"),
        alt.Tooltip("series:N"),
        alt.Tooltip("text:N", title="value"),
        *([alt.Tooltip("interval:N", title="95% interval")] if banded else []),
        alt.Tooltip("yoy:N", title="YoY"),
        alt.Tooltip("flags:N"),
    ]

    def axis_of(frame: pd.DataFrame) -> alt.X:
        return alt.X(
            "period:O",
            title=None,
            sort=list(dict.fromkeys(frame["period"])),
            axis=alt.Axis(labelAngle=-40),
        )

    def panel(frame: pd.DataFrame, title: str, width: int, marks: list[Any]) -> alt.LayerChart:
        x = axis_of(frame)
        lines = (
            alt.Chart(frame)
            .mark_line(strokeWidth=2)
            .encode(x=x, y=y, stroke=stroke, strokeDash=dash, tooltip=tooltip)
        )
        full = frame[(frame["series"] == "this year") & ~frame["partial"]]
        partial = frame[(frame["series"] == "this year") & frame["partial"]]
        band = (
            alt.Chart(frame[frame["low"].notna() & frame["high"].notna()])
            .mark_area(opacity=0.15, color=PALETTE["blue"])
            .encode(x=x, y=alt.Y("low:Q"), y2="high:Q", tooltip=tooltip)
        )
        return layered(
            *marks,
            *([band] if banded else []),
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
    marks = [
        period_event_layers(
            events,
            [(str(r["period"]), r["start"], r["end"]) for r in rows.to_dict("records")],
            axis_of(frame),
        )
        for rows, frame in ((view.weeks, weeks), (view.months, months))
    ]
    box = "  ·  ".join(f"{r['name']} {r['text']}" for r in view.box.to_dict("records"))
    chart = alt.hconcat(
        panel(weeks, "Trailing 6 weeks", 260, marks[0]),
        panel(months, "Trailing 12 months", 480, marks[1]),
        spacing=30,
    ).properties(
        title=alt.Title(
            f"{metric.label}: week ending {view.week_ending:%a %d %b %Y}",
            subtitle=[
                box,
                *(["Band: 95% interval from the answers."] if banded else []),
                *([PERIOD_EVENTS_NOTE] if any(marks) else []),
                *(wrapped("Flags: " + "; ".join(view.flags), 140) if view.flags else []),
            ],
            anchor="start",
        )
    )
    return style(chart)
