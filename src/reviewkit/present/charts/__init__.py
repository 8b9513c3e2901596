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

from reviewkit.present.charts.alignment import alignment_chart, outcome_tree, outputs_on_outcome
from reviewkit.present.charts.cohorts import cohort_chart
from reviewkit.present.charts.drivers import waterfall_chart
from reviewkit.present.charts.impact import impact_chart, impact_grid
from reviewkit.present.charts.scorecard import scorecard_chart
from reviewkit.present.charts.style import PALETTE, STATUS_STYLE, VERDICT_COLOURS
from reviewkit.present.charts.trends import kpi_trend, wbr_chart

__all__ = [
    "PALETTE",
    "STATUS_STYLE",
    "VERDICT_COLOURS",
    "alignment_chart",
    "cohort_chart",
    "impact_chart",
    "impact_grid",
    "kpi_trend",
    "outcome_tree",
    "outputs_on_outcome",
    "scorecard_chart",
    "waterfall_chart",
    "wbr_chart",
]
