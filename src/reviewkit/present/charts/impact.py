"""Impact evidence: an output's KPI before and after it shipped, against the counterfactual,
with its verdict (:func:`impact_chart`), and a grid of them (:func:`impact_grid`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Final

import altair as alt
import pandas as pd

from reviewkit.config import Metric
from reviewkit.evidence.estimator import ImpactResult
from reviewkit.present.charts.periods import metric_of
from reviewkit.present.charts.style import (
    PALETTE,
    UTC,
    VERDICT_COLOURS,
    Axis,
    axis_for,
    factored,
    iso,
    layered,
    style,
    wrapped,
)

if TYPE_CHECKING:
    from reviewkit.project import Project

__all__ = ["impact_chart", "impact_grid"]

#: at most this many periods after the post window are kept in an impact grid panel
GRID_AFTER: Final = 8


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
    starts = [iso(d) for d in frame["period_start"]]
    step = pd.Timestamp(starts[-1]) - pd.Timestamp(starts[-2]) if len(starts) > 1 else None
    ends = [*starts[1:], iso(pd.Timestamp(starts[-1]) + step) if step is not None else starts[-1]]
    return pd.DataFrame(
        {
            "period_start": starts,
            "period_next": ends,
            "actual": [factored(v, factor) for v in frame["actual"]],
            "counterfactual": [factored(v, factor) for v in frame["counterfactual"]],
            "low": [factored(v, factor) for v in frame["low"]],
            "high": [factored(v, factor) for v in frame["high"]],
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
    return layered(
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
        *wrapped(result.sentence, 110),
        "Dashed: counterfactual; grey: its band; orange: lag window; blue: measured window.",
    ]
    chart = _impact_layers(frame, colour, axis).properties(
        width=640, height=240, title=alt.Title(title, subtitle=subtitle, anchor="start")
    )
    return style(chart)


class _GridPanel:
    """The layers of an :func:`impact_grid` panel (lag window, band, counterfactual and the
    KPI), their marks and encodings made once for every panel: Altair takes ~10 ms to make a
    channel from a string, and a grid has dozens of panels."""

    def __init__(self, axis: Axis, colour: alt.Color) -> None:
        x = alt.X(
            "period_start:T", title=None, scale=UTC, axis=alt.Axis(format="%b %y", tickCount=3)
        )
        self.layers: tuple[tuple[alt.MarkDef, dict[str, Any]], ...] = (
            (
                alt.MarkDef(type="rect", color=PALETTE["orange"], opacity=0.2),
                {"x": x, "x2": alt.X2("period_next:T")},
            ),
            (
                alt.MarkDef(type="area", color=PALETTE["grey"], opacity=0.3),
                {
                    "x": x,
                    "y": alt.Y(
                        "low:Q",
                        title=axis.title,
                        scale=alt.Scale(zero=False),
                        axis=alt.Axis(format=axis.format),
                    ),
                    "y2": alt.Y2("high:Q"),
                },
            ),
            (
                alt.MarkDef(type="line", color=PALETTE["black"], strokeDash=[4, 3], strokeWidth=1),
                {"x": x, "y": alt.Y("counterfactual:Q")},
            ),
            (
                alt.MarkDef(type="line", strokeWidth=1.5),
                {
                    "x": x,
                    "y": alt.Y("actual:Q"),
                    "color": colour,
                    "tooltip": [
                        alt.Tooltip("output:N"),
                        alt.Tooltip("verdict:N"),
                        alt.Tooltip("phase:N"),
                        alt.Tooltip("actual:Q", format=",.4~f"),
                    ],
                },
            ),
        )

    def __call__(self, part: pd.DataFrame, **options: Any) -> alt.LayerChart:
        lag = part[part["phase"] == "lag"]
        return layered(
            *(
                alt.Chart(data, mark=mark, encoding=alt.FacetedEncoding(**channels))
                for data, (mark, channels) in zip((lag, part, part, part), self.layers, strict=True)
            ),
            **options,
        )


def impact_grid(
    project: Project, outcome_id: str, *, columns: int = 4, as_of: dt.date | None = None
) -> alt.ConcatChart:
    """Small multiples: one panel per link of the outcome with its verdict in the panel's
    header and colour, the counterfactual band, and the lag window; panels in delivery order.
    Each panel keeps its pre-period, lag and measured window and a few periods after, on scales
    of its own; a panel draws only what its link has (no band where the estimator made no
    counterfactual)."""
    outcome = project.outcome(outcome_id)
    definition = metric_of(project, outcome.metric)
    axis = axis_for(definition)
    found = project.outputs()
    days = dict(zip(found["id"], found["delivered"], strict=True))
    links = sorted(
        project.store.links(outcome_id=outcome_id),
        key=lambda k: (days.get(k.output_id), k.output_id),
    )
    results = project.outcome_results(outcome_id, as_of=as_of)
    verdict_colour = alt.Color(
        "verdict:N",
        title="verdict",
        scale=alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values())),
    )
    draw = _GridPanel(axis, verdict_colour)
    verdicts, panels = [], []
    for link in links:
        result = results[link.output_id]
        panel = f"{link.output_id}: {result.verdict}"
        part = _impact_frame(result, factor=axis.factor, after=GRID_AFTER).assign(
            panel=panel, output=link.output_id, verdict=result.verdict
        )
        verdicts.append(result.verdict)
        panels.append(
            draw(
                part,
                width=170,
                height=100,
                # as a facet's header
                title=alt.Title(
                    panel, fontSize=11, fontWeight="normal", anchor="middle", offset=10
                ),
            )
        )
    if not panels:  # no links: the title and the verdicts' legend
        panels.append(
            alt.Chart(pd.DataFrame(columns=["verdict"]))
            .mark_line()
            .encode(color=verdict_colour)
            .properties(width=0, height=0)
        )
    counts = pd.Series(verdicts, dtype=object).value_counts()
    rollup = ", ".join(f"{n} {v}" for v, n in counts.items())
    # made at once: each copy of a concatenated chart copies every panel
    chart = alt.ConcatChart(
        concat=panels,
        columns=columns,
        resolve=alt.Resolve(scale=alt.ScaleResolveMap(x="independent", y="independent")),
        title=alt.Title(
            f"{outcome.title}: every linked output's evidence",
            subtitle=[
                f"{len(links)} links ({rollup or 'none'}). Grey: where the KPI should be without "
                "the output; dashed: counterfactual; orange: lag window.",
                "Association, not proof.",
            ],
            anchor="start",
        ),
    )
    return style(chart)
