"""Business events (``reviewkit events``: a price change, an outage, a campaign) on a chart's
time axis, so a move that coincides with one reads as what it may be (:func:`event_layers`).
Drawn on the KPI charts (:mod:`.trends`, :mod:`.alignment`); titles are data, drawn as text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import altair as alt
import pandas as pd

from reviewkit.present.charts.style import PALETTE, UTC, iso

if TYPE_CHECKING:
    from reviewkit.store.core import BusinessEvent

__all__ = ["EVENTS_NOTE", "PERIOD_EVENTS_NOTE", "event_layers", "period_event_layers"]

#: What a chart's subtitle says of the events when it draws any (on periods: no shading)
EVENTS_NOTE: Final = "Purple: a business event (shaded while it lasts)."
PERIOD_EVENTS_NOTE: Final = "Purple: a period with a business event."


def event_layers(
    events: Sequence[BusinessEvent], first: dt.date, last: dt.date, *, field: str = "start"
) -> list[Any]:
    """The events overlapping ``first`` to ``last``: a dashed purple rule where each starts, its
    days shaded when it has an end (cut to the chart's days), and a diamond above the plot;
    the tooltip gives its title, dates and scope. ``field`` names the x field of the chart the
    layers join (they share its time scale). None when no event falls on the chart."""
    rows = [
        {
            field: iso(max(event.start, first)),
            "until": iso(min(event.end or event.start, last) + dt.timedelta(days=1)),
            **_described(event),
            "lasting": event.end is not None,
        }
        for event in events
        if event.start <= last and (event.end or event.start) >= first
    ]
    if not rows:
        return []
    data = pd.DataFrame(rows)
    x = alt.X(f"{field}:T", scale=UTC)
    return [
        alt.Chart(data[data["lasting"]])
        .mark_rect(color=PALETTE["purple"], opacity=0.12)
        .encode(x=x, x2="until:T", tooltip=TIP),
        *_marks(data, x),
    ]


def period_event_layers(
    events: Sequence[BusinessEvent], periods: Sequence[tuple[str, dt.date, dt.date]], x: alt.X
) -> list[Any]:
    """The events on a chart of periods (``x``: its ordinal ``period`` axis, as the WBR
    view's): a rule and a diamond at each period an event touches, given as ``(label, first
    day, last day)``. None when no event touches them."""
    rows = [
        {"period": label, **_described(event)}
        for event in events
        for label, first, last in periods
        if event.start <= last and (event.end or event.start) >= first
    ]
    if not rows:
        return []
    return _marks(pd.DataFrame(rows), x)


#: The tooltip of an event's marks
TIP: Final = [
    alt.Tooltip("event:N", title="business event"),
    alt.Tooltip("when:N"),
    alt.Tooltip("scope:N"),
]


def _described(event: BusinessEvent) -> dict[str, str]:
    return {
        "event": event.title,
        "when": f"{event.start}" + (f" to {event.end}" if event.end else ""),
        "scope": ", ".join(f"{key} = {value}" for key, value in event.scope) or "the whole company",
    }


def _marks(data: pd.DataFrame, x: alt.X) -> list[Any]:
    """A dashed purple rule at each event and a diamond above the plot."""
    return [
        alt.Chart(data)
        .mark_rule(color=PALETTE["purple"], strokeDash=[4, 2], strokeWidth=1.5)
        .encode(x=x, tooltip=TIP),
        alt.Chart(data)
        .mark_point(shape="diamond", filled=True, size=70, color=PALETTE["purple"], opacity=1)
        .encode(x=x, y=alt.value(-6), tooltip=TIP),
    ]
