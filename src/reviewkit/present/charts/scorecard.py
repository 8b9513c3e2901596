"""The scorecard: one row per KPI with its status (shape and label as well as colour), change
and sparkline (:func:`scorecard_chart`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import altair as alt
import pandas as pd

from reviewkit.base.periods import Period
from reviewkit.metrics.catalogue import within_rounding
from reviewkit.present.charts.style import (
    NEUTRAL,
    PALETTE,
    as_number,
    layered,
    status_encodings,
    style,
)

if TYPE_CHECKING:
    from reviewkit.config import Metric
    from reviewkit.metrics.workspace import Filters
    from reviewkit.project import Project

__all__ = ["scorecard_chart"]

#: height of one scorecard row, in pixels
ROW: Final = 30


def _change_cells(row: Mapping[str, Any], key: str, metric: Metric | None) -> dict[str, str]:
    """The text of a scorecard row's change ``key`` and whether it is better, worse or the same:
    the same when it is nothing at the decimals the metric's changes are written with, which it
    then says (``+0.04 pp (≈0)``), when the metric is known."""
    text, number = str(row[f"{key}_change_text"]), as_number(row[f"{key}_change"])
    if number is None or number == 0:
        return {key: text, f"{key}_is": "same"}
    if metric is not None and within_rounding(metric, number, str(row["change_unit"])):
        return {key: f"{text} (≈0)", f"{key}_is": "same"}
    better = (number > 0) == (str(row["direction"]) == "higher")
    return {key: text, f"{key}_is": "better" if better else "worse"}


def _sparkline(
    project: Project, metric: str, period: Period, periods: int, filters: Filters | None
) -> list[float | None]:
    """The last ``periods`` values up to ``period``, oldest first (None where missing)."""
    first = period.shift(1 - periods)
    series = project.kpi(
        metric, grain=period.grain, start=first.start, end=period.end, filters=filters
    )
    values = dict(zip(series["period"], series["value"], strict=True))
    return [as_number(values.get(first.shift(i).label)) for i in range(periods)]


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
        metric = project.config.metrics.get(str(row["metric"])) if project is not None else None
        rows.append(
            {
                "row": i,
                "y": i + 0.5,
                "name": name,
                "value": str(row["text"]),
                **_change_cells(row, "previous", metric),
                **_change_cells(row, "year_ago", metric),
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
        range=[PALETTE["green"], PALETTE["vermillion"], NEUTRAL],
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
            layered(
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
    # the status colours are a scale of their own (not the changes' better and worse: resolved
    # independent below), in one legend with the shapes, each drawn in its colour
    status = status_encodings()
    panels += [
        column("value", first_period, 90),
        *([] if once else [change("previous", "vs previous")]),
        change("year_ago", "vs year ago"),
        column("target", "target to date", 90),
        layered(
            alt.Chart(cells)
            .mark_point(filled=True, size=90, opacity=1)
            .encode(x=alt.value(6), y=y, tooltip=tooltip, **status),
            alt.Chart(cells)
            .mark_text(align="left", baseline="middle", dx=16, fontSize=12)
            .encode(x=alt.value(0), y=y, text="status:N", tooltip=tooltip),
        ).properties(
            width=100,
            height=height,
            title=alt.Title("status", anchor="start", fontSize=11, color="#555555"),
        ),
    ]
    chart: alt.HConcatChart = alt.hconcat(*panels, spacing=8).resolve_scale(
        color="independent", shape="independent"
    )
    return style(chart)
