"""Outputs against outcomes: the outputs shipped on an outcome's KPI (:func:`outputs_on_outcome`),
how a month's work aligns with the outcomes (:func:`alignment_chart`), and the tree from
outcomes down to their KPIs and outputs (:func:`outcome_tree`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import altair as alt
import pandas as pd

from reviewkit.base.periods import Period, period_containing
from reviewkit.config import Outcome
from reviewkit.metrics.catalogue import format_value
from reviewkit.metrics.targets import target_value
from reviewkit.present.charts.events import EVENTS_NOTE, event_layers
from reviewkit.present.charts.periods import is_complete, is_monthly, last_period, metric_of
from reviewkit.present.charts.style import (
    PALETTE,
    UTC,
    as_number,
    axis_for,
    iso,
    layered,
    scaled,
    status_encodings,
    style,
    titled,
)

if TYPE_CHECKING:
    from reviewkit.project import Project

__all__ = ["alignment_chart", "outcome_tree", "outputs_on_outcome"]

#: rows of output labels above a chart; more would push the plot down for little gain
LABEL_ROWS: Final = 4


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
    definition = metric_of(project, outcome.metric)
    axis = axis_for(definition)
    monthly = is_monthly(project, outcome.metric) or (
        grain is None and outcome.impact_grain == "month"
    )
    grain = grain or "week"
    if grain == "week" and monthly:
        grain, periods = "month", max(6, math.ceil(periods * 7 / 30.4))
    last = last_period(project, outcome.metric, grain, "latest", as_of)
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
                "period_start": iso(row["period_start"]),
                "value": scaled(axis, row["value"]),
                "text": format_value(definition, as_number(row["value"])),
                "target": None if goal is None else goal * axis.factor,
                "target_text": "none" if goal is None else format_value(definition, goal),
                "complete": row["period_end"] <= horizon
                and is_complete(project, outcome.metric, row["period_start"], row["period_end"]),
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
        lag = int(row["lag_days"]) if as_number(row["lag_days"]) is not None else outcome.lag_days
        day: dt.date = row["delivered"]
        rows.append(
            {
                "output": row["id"],
                "title": row["title"],
                "team": row["team"],
                "hypothesis": row["hypothesis"] or "(none recorded)",
                "confidence": row["confidence"],
                "delivered": iso(day),
                "lag_end": iso(min(day + dt.timedelta(days=lag), horizon)),
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
    happened = event_layers(
        project.events_about(outcome.metric, filters=filters, start=first.start, end=horizon),
        first.start,
        horizon,
        field="delivered",
    )
    layers[:0] = happened  # under the KPI, the outputs' rules and labels
    subtitle = [
        f"{titled(definition, dict(outcome.filters))} per {grain}. Orange: a linked output's "
        "delivery; shaded: its lag window, until the KPI is expected to move.",
        "Dotted: target to date. Hollow: period in progress. Hover for an output's hypothesis."
        + (f" {EVENTS_NOTE}" if happened else ""),
    ]
    chart = layered(*layers).properties(
        width=760,
        height=300,
        title=alt.Title(outcome.title, subtitle=subtitle, anchor="start", offset=12),
    )
    return style(chart)


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
            share = as_number(team["effort_share"])
            for kind, key in (
                ("linked to an outcome", "linked_effort"),
                ("not linked", "unlinked_effort"),
            ):
                rows.append(
                    {
                        "team": team["team"],
                        "period": shown.label,
                        "kind": kind,
                        "effort": as_number(team[key]) or 0.0,
                        "outputs": f"{team['linked_outputs']} of {team['outputs']} linked",
                        "share": "n/a" if share is None else f"{share:.0%} of effort linked",
                        "unknown": int(team["effort_unknown"]),
                    }
                )
    effort = pd.DataFrame(
        rows, columns=["team", "period", "kind", "effort", "outputs", "share", "unknown"]
    )
    kinds = ["linked to an outcome", "not linked"]
    # no work delivered in the periods: the axis at 0 that Vega draws for no bars, without its
    # warning of an infinite extent
    effort_scale = alt.Scale(domain=[0, 0]) if effort.empty else alt.Undefined
    bars = (
        alt.Chart(effort)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=None, axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("sum(effort):Q", title="effort delivered", scale=effort_scale),
            color=alt.Color(
                "kind:N",
                title=None,
                scale=alt.Scale(domain=kinds, range=[PALETTE["blue"], PALETTE["orange"]]),
            ),
            order=alt.Order("kind:O"),  # linked effort at the bottom of each bar
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
    neglected = layered(
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
    return style(chart)


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
    chart = layered(
        alt.Chart(lines).mark_rule(color="#BBBBBB").encode(x=x, y=y, x2="x2:Q", y2="y2:Q"),
        alt.Chart(others)
        .mark_point(filled=True, size=40, color=PALETTE["grey"], opacity=1)
        .encode(x=x, y=y, tooltip=tooltip),
        alt.Chart(outcome_nodes)
        .mark_point(filled=True, size=140, opacity=1)
        .encode(x=x, y=y, tooltip=tooltip, **status_encodings()),
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
    return style(chart)
