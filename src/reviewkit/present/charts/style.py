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
from reviewkit.evidence.estimator import (
    CONFOUNDED,
    MOVED,
    NO_CHANGE,
    NOT_ENOUGH,
    OTHER_WAY,
    TOO_EARLY,
)

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Filters

__all__ = [
    "FONT",
    "NEUTRAL",
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


#: text that is neither better nor worse (a change within rounding): grey, 4.5:1 on white
NEUTRAL: Final = "#767676"

#: in the order reviews take them (legends too): what needs a decision first
STATUS_STYLE: Final[Mapping[str, StatusStyle]] = {
    "off track": StatusStyle(PALETTE["vermillion"], "triangle-down", "▼"),
    "at risk": StatusStyle(PALETTE["orange"], "diamond", "◆"),
    # a survey KPI behind its target to date, but the target inside its 95% interval
    "within noise": StatusStyle(PALETTE["sky"], "cross", "✚"),
    "on track": StatusStyle(PALETTE["green"], "circle", "●"),
    "n/a": StatusStyle(PALETTE["grey"], "square", "■"),
}


STATUSES: Final = tuple(STATUS_STYLE)


VERDICT_COLOURS: Final[Mapping[str, str]] = {
    MOVED: PALETTE["green"],
    NO_CHANGE: PALETTE["grey"],
    OTHER_WAY: PALETTE["vermillion"],
    CONFOUNDED: PALETTE["purple"],
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


#: the position channels, each with the channel of a range's other end (on the same scale)
_POSITIONS: Final = (("x", "x2"), ("y", "y2"))
#: the channels that draw a legend
_LEGENDS: Final = ("color", "fill", "stroke", "strokeDash", "shape", "size", "opacity")


def _channel(chart: alt.Chart, name: str) -> dict[str, Any] | None:
    """The layer's encoding of a channel as Vega-Lite has it, or None."""
    encoding: Any = chart.encoding
    channel: Any = getattr(encoding, name, alt.Undefined)
    if channel is alt.Undefined:
        return None
    spec: dict[str, Any] = channel.to_dict(validate=False, context={"data": chart.data})
    return spec


def _extent_fields(chart: alt.Chart) -> list[str]:
    """The fields whose extent Vega takes over the layer's rows for a scale's domain: those on
    continuous position scales without a domain given."""
    fields = []
    for main, second in _POSITIONS:
        spec = _channel(chart, main)
        if spec is None or "field" not in spec or "aggregate" in spec:
            continue
        scale = spec.get("scale", {})
        given = isinstance(scale, dict) and "domain" in scale
        if spec.get("type") in ("quantitative", "temporal") and not given:
            fields.append(spec["field"])
            end = _channel(chart, second)
            if end is not None and "field" in end:
                fields.append(end["field"])
    return fields


def _placed(chart: alt.Chart) -> pd.DataFrame | None:
    """The layer's rows that place a mark (every extent field known), or None when the layer is
    not one to check: data that is not inline, transforms, no extent to take."""
    data = chart.data
    if not isinstance(data, pd.DataFrame) or chart.transform is not alt.Undefined:
        return None
    fields = _extent_fields(chart)
    if not fields:
        return None
    return data[data[fields].notna().all(axis=1)]


def _legend_only(chart: alt.Chart) -> alt.Chart | None:
    """The layer with no rows and no position, keeping the legend it draws (if any)."""
    legends = {}
    for name in _LEGENDS:
        if _channel(chart, name) is not None:
            legends[name] = getattr(chart.encoding, name)
    if not legends:
        return None
    return alt.Chart(chart.data.iloc[:0], mark=chart.mark).encode(**legends)


def _axis_only(chart: alt.Chart) -> alt.Chart | None:
    """An invisible layer keeping the layer's x axis over the rows that place it, if any."""
    spec = _channel(chart, "x")
    if spec is None or "field" not in spec or not isinstance(chart.data, pd.DataFrame):
        return None
    rows = chart.data[chart.data[spec["field"]].notna()]
    if rows.empty:
        return None
    keeper: alt.Chart = alt.Chart(rows).mark_point(opacity=0).encode(x=chart.encoding.x)
    return keeper


#: what a position channel says of its axis, and Vega-Lite merges across layers
_AXIS_PROPERTIES: Final = ("title", "axis", "scale")


def _axes_of(chart: alt.Chart) -> dict[str, dict[str, Any]]:
    """The layer's position channels that place a field (as dictionaries), by name."""
    found = {}
    for name, _ in _POSITIONS:
        spec = _channel(chart, name)
        if spec is not None and "field" in spec:
            found[name] = spec
    return found


def _with_axes(chart: Any, axes: dict[str, dict[str, Any]]) -> Any:
    """The layer with the axis properties of left-out layers that it does not set itself."""
    if not isinstance(chart, alt.Chart):
        return chart
    changes = {}
    for name, spec in _axes_of(chart).items():
        missing = {k: v for k, v in axes.get(name, {}).items() if k not in spec}
        if missing:
            changes[name] = type(getattr(chart.encoding, name))(**spec, **missing)
    return chart.encode(**changes) if changes else chart


def layered(*charts: Any, **options: Any) -> alt.LayerChart:
    """Layers as a LayerChart (``alt.layer`` is typed as possibly a facet), leaving out the
    layers with nothing to draw.

    Vega takes a continuous scale's domain from the extent of each layer's rows, and warns of
    an "Infinite extent" in the browser's console for a layer without any (a KPI without a
    target, an outcome without linked outputs, periods without data). Such a layer is left out,
    or kept without rows or position when it draws a legend, so the legend stays; the axis
    title, format and scale it set go to the layers kept; when no layer is left to draw, an
    invisible one keeps the x axis. Layers with nothing left out are returned as given."""
    layers: list[Any] = []
    axes: dict[str, dict[str, Any]] = {}
    axis, drawn = None, False
    for chart in charts:
        rows = _placed(chart) if isinstance(chart, alt.Chart) else None
        if rows is None or not rows.empty:
            layers.append(chart)
            drawn = True
            continue
        for name, spec in _axes_of(chart).items():
            given: dict[str, Any] = {k: spec[k] for k in _AXIS_PROPERTIES if k in spec}
            axes[name] = {**given, **axes.get(name, {})}
        axis = axis or _axis_only(chart)
        legend = _legend_only(chart)
        if legend is not None:
            layers.append(legend)
    if not drawn and axis is not None:
        layers.insert(0, axis)
    if axes:
        layers = [_with_axes(layer, axes) for layer in layers]
    return alt.LayerChart(layer=layers, **options)


def style(chart: C) -> C:
    """The shared look: font, no view border, quiet axes (in one step: each copy of a
    concatenated chart copies every panel)."""
    styled = chart.configure(
        font=FONT,
        view=alt.ViewConfig(stroke=None),
        axis=alt.AxisConfig(
            labelColor="#333333", titleColor="#333333", gridColor="#E6E6E6", domainColor="#888888"
        ),
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
