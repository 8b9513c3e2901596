"""Why a KPI moved, as a waterfall: the earlier period's value, each part of the change (a
member's, or an input's) as a step up or down, and the later value (:func:`waterfall_chart`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from reviewkit.metrics.catalogue import difference_text, format_value
from reviewkit.present.charts.style import NEUTRAL, PALETTE, axis_for, layered, style

if TYPE_CHECKING:
    from reviewkit.metrics.explain import Explanation

__all__ = ["waterfall_chart"]


def waterfall_chart(found: Explanation, *, most: int = 12) -> alt.LayerChart:
    """:meth:`Project.explain <reviewkit.project.Project.explain>` as a waterfall: a bar for
    the value in the period compared with, a floating bar per part (the ``most`` largest; the
    rest together as "others"), green when it moved the metric the better way for its
    direction, vermillion when the worse way, and a bar for the value in the period explained.
    The steps add up to the change exactly, as the parts do."""
    metric = found.metric
    axis = axis_for(metric)
    parts = found.parts.head(most)
    rest = float(found.parts["change"].iloc[most:].sum())
    steps = [(str(p), float(c)) for p, c in zip(parts["part"], parts["change"], strict=True)]
    if len(found.parts) > most:
        steps.append((f"{len(found.parts) - most} others", rest))
    higher = metric.direction == "higher"
    rows = [
        {
            "label": found.base.name,
            "start": 0.0,
            "end": found.base_value,
            "kind": "value",
            "text": format_value(metric, found.base_value),
        }
    ]
    level = found.base_value
    for label, change in steps:
        better = (change > 0) == higher
        rows.append(
            {
                "label": label,
                "start": level,
                "end": level + change,
                "kind": "better" if better else "worse",
                "text": difference_text(metric, change, signed=True),
            }
        )
        level += change
    rows.append(
        {
            "label": found.current.name,
            "start": 0.0,
            "end": found.value,
            "kind": "value",
            "text": format_value(metric, found.value),
        }
    )
    data = pd.DataFrame(rows)
    if found.kind != "sum":
        # a rate's parts are small against its level: the axis starts near the levels reached
        # (not at 0, where the steps would be hairlines), the two value bars from there
        levels = [*data["start"][1:-1], *data["end"]]
        low, high = min(levels), max(levels)
        floor = low - max(high - low, abs(high) * 0.01)
        data.loc[data["kind"] == "value", "start"] = floor
    for column in ("start", "end"):
        data[column] = data[column] * axis.factor
    order = list(data["label"])
    colours = alt.Scale(
        domain=["value", "better", "worse"],
        range=[NEUTRAL, PALETTE["green"], PALETTE["vermillion"]],
    )
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y(
                "start:Q",
                title=axis.title,
                axis=alt.Axis(format=axis.format if found.kind == "sum" else _finer(axis.format)),
                scale=alt.Scale(zero=found.kind == "sum"),
            ),
            y2="end:Q",
            color=alt.Color("kind:N", scale=colours, title=None),
            tooltip=[
                alt.Tooltip("label:N", title=found.by or "part"),
                alt.Tooltip("text:N", title=""),
            ],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-6, fontSize=10)
        .encode(x=alt.X("label:N", sort=order), y="end:Q", text="text:N")
    )
    split = f" by {found.by}" if found.by else ""
    title = f"{metric.label}: {found.base.name} to {found.current.name}{split}"
    return style(layered(bars, labels, title=title, width=max(300, 48 * len(rows))))


def _finer(fmt: str) -> str:
    """An axis format with two more decimals (``.1%`` -> ``.3%``): a rate's steps are small."""
    head, dot, rest = fmt.rpartition(".")
    digits = "".join(c for c in rest if c.isdigit())
    if not dot or not digits:
        return fmt
    return f"{head}.{int(digits) + 2}{rest[len(digits) :]}"
