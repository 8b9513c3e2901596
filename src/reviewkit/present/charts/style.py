"""The look every chart shares: the Okabe-Ito palette (safe for the common colour-vision
deficiencies), statuses that differ in shape and label as well as hue, values formatted in the
metric's own unit and format (axes by the Vega format string matching
:func:`reviewkit.metrics.catalogue.format_value`), dates on UTC scales, and the shared font and
axes.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import altair as alt
import pandas as pd

from reviewkit.config import Metric
from reviewkit.evidence.estimator import MOVED, NO_CHANGE, NOT_ENOUGH, OTHER_WAY, TOO_EARLY

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Filters

__all__ = [
    "FONT",
    "PALETTE",
    "STATUSES",
    "STATUS_STYLE",
    "UTC",
    "VERDICT_COLOURS",
    "Axis",
    "StatusStyle",
    "as_number",
    "axis_for",
    "factored",
    "iso",
    "layered",
    "scaled",
    "status_encodings",
    "status_scales",
    "style",
    "titled",
    "wrapped",
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


def as_number(value: Any) -> float | None:
    """A float, or None for missing values (NaN, None, pandas NA), so JSON gets null."""
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def scaled(axis: Axis, value: Any) -> float | None:
    return factored(value, axis.factor)


def factored(value: Any, factor: float) -> float | None:
    number = as_number(value)
    return None if number is None else number * factor


def iso(day: Any) -> str:
    """An ISO date string (what Vega parses as a UTC date) from a date, Timestamp or string."""
    if isinstance(day, pd.Timestamp):
        return str(day.date().isoformat())
    if isinstance(day, dt.date):
        return day.isoformat()
    return str(day)[:10]


def wrapped(text: str, width: int = 100) -> list[str]:
    """Subtitle lines: Vega does not wrap titles."""
    return textwrap.wrap(text, width) or [""]


def layered(*charts: Any, **options: Any) -> alt.LayerChart:
    """Layers as a LayerChart (``alt.layer`` is typed as possibly a facet)."""
    return alt.LayerChart(layer=list(charts), **options)


def style(chart: C) -> C:
    """The shared look: font, no view border, quiet axes."""
    styled = (
        chart.configure(font=FONT)
        .configure_view(stroke=None)
        .configure_axis(
            labelColor="#333333", titleColor="#333333", gridColor="#E6E6E6", domainColor="#888888"
        )
    )
    return cast(C, styled)


def status_scales() -> dict[str, alt.Scale]:
    return {
        "color": alt.Scale(domain=list(STATUSES), range=[s.colour for s in STATUS_STYLE.values()]),
        "shape": alt.Scale(domain=list(STATUSES), range=[s.shape for s in STATUS_STYLE.values()]),
    }


def status_encodings(channel: str = "color") -> dict[str, Any]:
    """Status as colour (``fill`` for points beside stroked lines) and shape, one legend."""
    scales = status_scales()
    colour = alt.Fill if channel == "fill" else alt.Color
    return {
        channel: colour("status:N", scale=scales["color"], title="status"),
        "shape": alt.Shape("status:N", scale=scales["shape"], title="status"),
    }


def titled(metric: Metric, filters: Filters | None) -> str:
    segment = ", ".join(
        f"{k} {v if isinstance(v, str) else ' + '.join(v)}" for k, v in (filters or {}).items()
    )
    return f"{metric.label} ({segment})" if segment else metric.label
