"""Cohort retention: a grid of cohorts (the entities that started in a period) by age (periods
since), each cell the share still there, darker when more stayed (:func:`cohort_chart`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from reviewkit.metrics.catalogue import format_value
from reviewkit.present.charts.style import as_number, axis_for, layered, style, titled

if TYPE_CHECKING:
    import datetime as dt

    from reviewkit.metrics.workspace import Filters
    from reviewkit.project import Project

__all__ = ["cohort_chart"]


def cohort_chart(
    project: Project,
    metric: str,
    *,
    grain: str = "month",
    filters: Filters | None = None,
    through: dt.date | None = None,
    latest: int | None = None,
) -> alt.LayerChart:
    """:meth:`Project.cohorts <reviewkit.project.Project.cohorts>` as a heat map: a row per
    cohort (labelled with its size), a column per age, the value written in each cell and
    coloured on one sequential scale (blue, readable in grey too). A cohort's ages still ahead
    of it (by ``through``, when given) are left empty, not drawn as 0; ``latest`` draws the
    cohorts of the latest periods only."""
    definition = project.config.metrics[metric]
    axis = axis_for(definition)
    frame = project.cohorts(metric, grain=grain, filters=filters, through=through, latest=latest)
    unit = grain.replace("_", " ")
    cohorts = [f"{row.period} ({int(row.size):,})" for row in frame.itertuples()]
    ages = [int(a) for a in frame["age"]]
    values = [as_number(v) for v in frame["value"]]
    data = pd.DataFrame(
        {
            "cohort": cohorts,
            "age": ages,
            "value": values,
            "text": [format_value(definition, v) for v in frame["value"]],
        }
    )
    base = alt.Chart(data).encode(
        x=alt.X("age:O", title=f"{unit}s since the cohort's {unit} (0: its own)"),
        y=alt.Y("cohort:N", sort=list(dict.fromkeys(cohorts)), title=f"cohort ({unit}, size)"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "value:Q",
            scale=alt.Scale(scheme="blues"),
            legend=alt.Legend(format=axis.format, title=definition.label),
        ),
        tooltip=[
            alt.Tooltip("cohort:N", title="cohort (size)"),
            alt.Tooltip("age:O", title=f"{unit}s since"),
            alt.Tooltip("text:N", title=definition.label),
        ],
    )
    # white text on the darker half of the scale (a number computed here, no user text)
    known = [v for v in values if v is not None]
    dark = min(known) + 0.55 * (max(known) - min(known)) if known else 0.0
    labels = base.mark_text(fontSize=9).encode(
        text="text:N",
        color=alt.condition(f"datum.value > {dark!r}", alt.value("white"), alt.value("#222222")),
    )
    title = f"{titled(definition, filters)} by cohort"
    return style(
        layered(cells, labels, title=title, width=max(240, 34 * (max(ages, default=0) + 1)))
    )
