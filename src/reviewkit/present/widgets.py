"""Widgets for the monthly review in JupyterLab and Voila: pick a period and team, explore a KPI,
link outputs to outcomes and record check-ins.

Each widget keeps its state in traits (the values of its controls) and calls only the library.
Voila lets a browser set any synced value, so every value is checked here before it is used, and
a refused value or a library error is shown as a message in the widget, never as a traceback.
User text is escaped wherever it is shown as HTML.

Saves are recorded under the signed-in person's name in the served pages, else under whoever
the environment names (:meth:`Project.author <reviewkit.project.Project.author>`), shown as
"Saving as NAME" above the buttons; never as the OS user root: then the widget refuses to save
and says how to set a name.

The controls are as wide as the notebook, their descriptions never cut, each label means one
thing, and a long option shows in full on hover.

>>> navigator = ReviewNavigator(project)
>>> LinkEditor(project, navigator)      # the last expression of a cell displays the widget
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import ipywidgets as widgets  # type: ignore[import-untyped]
import pandas as pd
import traitlets

from reviewkit.base.authors import HOW_TO_NAME, Author
from reviewkit.base.errors import ReviewkitError
from reviewkit.base.periods import GRAINS
from reviewkit.metrics.catalogue import metric_sources
from reviewkit.project import Project
from reviewkit.store.core import CHECKIN_STATUSES, CONFIDENCES, DIRECTIONS

__all__ = [
    "CheckinForm",
    "KpiExplorer",
    "LinkEditor",
    "Refused",
    "ReviewDashboard",
    "ReviewNavigator",
    "Viewer",
    "review_scope",
]

#: How many complete months back the period selector offers.
RECENT_MONTHS: Final = 12
#: Longest text accepted from a text box: a browser can send any length.
MAX_TEXT: Final = 2000
MAX_SEARCH: Final = 200
#: Lags longer than ten years are typos.
MAX_LAG_DAYS: Final = 3650
MAX_DECISIONS: Final = 20
#: How many candidate outputs the link editor lists at once (narrow the filters for more).
MAX_CANDIDATES: Final = 500
#: Every team; the empty value of the team selectors.
ALL_TEAMS: Final = ""
#: Descriptions at their own width (ipywidgets cuts them at 80 pixels: "Confid...").
LABELS: Final = {"description_width": "initial"}
#: How many lines the note, hypothesis and decision boxes show.
TEXT_ROWS: Final = 3


class Refused(ReviewkitError):
    """A value from the browser that a widget will not use (outside its options, too long...)."""


@dataclass(frozen=True)
class Viewer:
    """Who uses the widgets, as `reviewkit serve` signed them in (the kernel learns it from the
    server, never from the browser): saves are theirs, and their role bounds what they may do.
    A viewer reads; a contributor also links outputs and checks in; the owner of an outcome
    (its ``owner:`` is their name or email) also records its decisions and completes its
    review."""

    name: str
    email: str | None = None
    role: str = "contributor"

    def may_change(self, doing: str) -> None:
        if self.role != "contributor":
            raise Refused(
                f"{self.name} may read these pages but not {doing}: ask whoever runs reviewkit "
                "to make you a contributor"
            )

    def owns(self, outcome: Any) -> bool:
        return bool(outcome.owner) and outcome.owner in (self.name, self.email)

    def may_decide(self, outcomes: Sequence[Any], doing: str) -> None:
        """Refuse unless this person owns one of ``outcomes``."""
        self.may_change(doing)
        if not any(self.owns(outcome) for outcome in outcomes):
            owners = sorted({o.owner for o in outcomes if o.owner}) or ["nobody yet"]
            raise Refused(
                f"only an outcome's owner may {doing}: {', '.join(owners)}, not {self.name}"
            )


def _options(selector: Any) -> list[object]:
    """The values a selection widget offers (its options are values or (label, value) pairs)."""
    return [o[1] if isinstance(o, tuple) else o for o in selector.options]


def _list(select: Any, options: Sequence[Any]) -> None:
    """Give a multiple selection new ``options`` (values or (label, value) pairs), keeping
    what is selected and still offered. In two steps: ipywidgets' browser side marks the
    selected rows before it draws new options, so a selection kept at a row the old list did
    not have failed there ("Error setting state: Cannot set properties of undefined (setting
    'selected')" in the browser's console, and the list drawn stale; ipywidgets#3876)."""
    kept = select.value
    select.value = ()
    select.options = list(options)
    offered = set(_options(select))
    select.value = tuple(value for value in kept if value in offered)


def _choice(selector: Any, what: str) -> Any:
    """The selector's value, refused unless it is one of its options."""
    value = selector.value
    allowed = _options(selector)
    if value not in allowed:
        shown = ", ".join(repr(v) for v in allowed[:10]) + (" ..." if len(allowed) > 10 else "")
        raise Refused(
            f"{what} {value!r} is not one of the choices ({shown}); pick one from the list"
        )
    return value


def _choices(selector: Any, what: str) -> tuple[Any, ...]:
    """A multiple selection's values, refused unless every one is among its options."""
    allowed = _options(selector)
    values = tuple(selector.value)
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise Refused(f"{what} {wrong[0]!r} is not one of the choices; pick from the list")
    return values


def _text(box: Any, what: str, limit: int = MAX_TEXT) -> str:
    """A text box's value, refused when it is not text or longer than ``limit`` characters."""
    value = box.value
    if not isinstance(value, str):
        raise Refused(f"{what} is not text")
    if len(value) > limit:
        raise Refused(f"{what} has {len(value)} characters; keep it under {limit}")
    return value


def _date(picker: Any, what: str) -> dt.date | None:
    """A date picker's value (None when empty), refused unless it is a date."""
    value = picker.value
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    raise Refused(f"{what} {value!r} is not a date; pick one in the calendar")


def _wide() -> Any:
    """The layout of a control as wide as the notebook."""
    return widgets.Layout(width="100%")


def _in_row() -> Any:
    """The layout of a control in a :func:`_row`: as wide as its content, growing to share the
    row's width."""
    return widgets.Layout(width="auto", flex="1 1 auto")


def _text_box(description: str, placeholder: str) -> Any:
    """A box for what a person types (a hypothesis, a note): :data:`TEXT_ROWS` lines, as wide
    as the notebook."""
    return widgets.Textarea(
        description=description,
        placeholder=placeholder,
        rows=TEXT_ROWS,
        layout=_wide(),
        style=LABELS,
    )


def _row(*children: Any) -> Any:
    """Controls side by side across the notebook's width, on more lines when it is narrow."""
    return widgets.HBox(list(children), layout=widgets.Layout(width="100%", flex_flow="row wrap"))


def _hover(picker: Any, hint: str = "") -> None:
    """Show the picked option's full label (or labels) on hover: a long one is cut in the box.
    ``hint`` shows while nothing is picked."""

    def show(_change: object = None) -> None:
        label = picker.label
        shown = "\n".join(label) if isinstance(label, tuple) else (label or "")
        picker.tooltip = shown or hint or None

    picker.observe(show, names="label")
    show()


def _html_table(frame: pd.DataFrame, empty: str) -> str:
    """A frame as an HTML table with every cell escaped (it holds user text), or ``empty``."""
    if frame.empty:
        return f"<i>{html.escape(empty)}</i>"
    return str(frame.to_html(index=False, escape=True, na_rep=""))


class _Panel(traitlets.HasTraits):
    """What every review widget shares: a VBox to display, a status line, and error handling
    that turns refused values and library errors into that line's message."""

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        #: who is signed in (None in a notebook, or behind a shared token)
        self.viewer: Viewer | None = None
        #: the name saves are recorded under when nobody is signed in (None: whoever the
        #: environment names, :meth:`Project.author <reviewkit.project.Project.author>`)
        self.author: str | None = None
        #: the last message for the user (escaped into :attr:`status`)
        self.message = ""
        self.status = widgets.HTML(layout=_wide())
        #: "Saving as NAME", or why nothing can be saved yet
        self.saving_as = widgets.HTML(layout=_wide())
        self.widget = widgets.VBox(layout=_wide())
        #: True while controls are set in code: their observers then do nothing
        self._quiet = False

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Display as the wrapped VBox, so a cell ending in the widget shows it."""
        return self.widget._repr_mimebundle_(**kwargs)

    def _say(self, message: str, *, error: bool = False) -> None:
        self.message = message
        color = "#b00020" if error else "#1b5e20"
        text = html.escape(message).replace("\n", "<br>")
        self.status.value = f'<div style="color: {color}">{text}</div>' if message else ""

    def _offer(self, picker: Any, options: Sequence[tuple[str, object]]) -> None:
        """Give ``picker`` new (label, value) options, keeping its value if still offered, else
        the first (None when there is none), without triggering this panel's observers."""
        kept = picker.value
        values = [value for _, value in options]
        quiet, self._quiet = self._quiet, True
        try:
            picker.options = list(options)
            picker.value = kept if kept in values else (values[0] if values else None)
        finally:
            self._quiet = quiet

    def _may_change(self, doing: str) -> None:
        if self.viewer is not None:
            self.viewer.may_change(doing)

    def _saver(self, doing: str) -> str:
        """The name to record this change under: the signed-in person's, else :attr:`author` or
        whoever the environment names; refused (and nothing saved) when that is only the OS
        user root."""
        if self.viewer is not None:
            return self.viewer.name
        return self._show_author().required(doing)

    def _show_author(self) -> Author:
        """Say who saves (hidden when someone is signed in: the page says who), and return it."""
        found = self.project.author(self.author)
        if self.viewer is not None:
            self.saving_as.value = ""
        elif found.person:
            self.saving_as.value = (
                f"Saving as <b>{html.escape(found.name)}</b> "
                f"<small>(from {html.escape(found.source)})</small>"
            )
        else:
            unknown = (
                f"Nothing says who you are, so nothing can be saved (only the OS user "
                f"{found.name!r} was found): {HOW_TO_NAME}."
            )
            self.saving_as.value = f'<div style="color: #b00020">{html.escape(unknown)}</div>'
        return found

    def _attempt(self, action: Callable[[], str | None]) -> bool:
        """Run ``action``; show its message, or the error's, in the status line."""
        try:
            message = action()
        except ReviewkitError as exc:
            self._say(str(exc), error=True)
            return False
        if message is not None:
            self._say(message)
        return True


def _month_labels(project: Project, months: int) -> list[str]:
    """The latest complete month and the ``months - 1`` before it, newest first."""
    latest = project.period("latest", "month")
    return [latest.shift(-back).label for back in range(months)]


def _teams(project: Project) -> list[str]:
    """Every team that owns an outcome or delivered an output."""
    outcomes = project.outcomes()["team"].dropna()
    outputs = project.outputs()["team"].dropna()
    return sorted({str(t) for t in (*outcomes, *outputs) if str(t)})


def _team_options(teams: Sequence[str]) -> list[tuple[str, str]]:
    return [("All teams", ALL_TEAMS), *((t, t) for t in teams)]


def _outcome_options(project: Project, team: str) -> list[tuple[str, str]]:
    """The outcomes ``team`` owns (every outcome for :data:`ALL_TEAMS`), labelled in full."""
    outcomes = project.outcomes()
    if team:
        outcomes = outcomes[outcomes["team"] == team]
    return [(f"{r.title} ({r.id})", r.id) for r in outcomes.itertuples()]


def review_scope(
    project: Project, period: str = "latest", team: str = ALL_TEAMS, months: int = RECENT_MONTHS
) -> tuple[list[str], str, list[str]]:
    """What a :class:`ReviewNavigator` offers and picks: the recent complete months (newest
    first), the one ``period`` picks (``latest``: the newest) and the known teams. Raises
    :class:`Refused` for a period or team it does not offer."""
    labels = _month_labels(project, months)
    chosen = labels[0] if period in ("", "latest") else project.period(period, "month").label
    if chosen not in labels:
        raise Refused(f"period {period!r} is not one of the recent complete months: {labels}")
    teams = _teams(project)
    if team not in (ALL_TEAMS, *teams):
        raise Refused(f"team {team!r} is unknown; teams are: {', '.join(teams)}")
    return labels, chosen, teams


#: The navigator's team, as the pages whose widgets show that team's outcomes call it.
OUTCOMES_TEAM: Final = "Outcome's team"


class ReviewNavigator(_Panel):
    """The review period and team that the other widgets follow (they observe :attr:`period`
    and :attr:`team`); the options come from the data: recent complete months, known teams.
    ``team_label`` says what the team picks on the page (:data:`OUTCOMES_TEAM` where it picks
    the outcomes shown)."""

    #: the review period's label, e.g. ``2026-10``
    period = traitlets.Unicode("")
    #: the team under review ('' for every team)
    team = traitlets.Unicode(ALL_TEAMS)

    def __init__(
        self,
        project: Project,
        *,
        period: str = "latest",
        team: str = ALL_TEAMS,
        months: int = RECENT_MONTHS,
        team_label: str = "Team",
    ) -> None:
        super().__init__(project)
        labels, chosen, teams = review_scope(project, period, team, months)
        self.period_picker = widgets.Dropdown(
            options=labels,
            value=chosen,
            description="Period",
            tooltip="The review month",
            layout=_in_row(),
            style=LABELS,
        )
        self.team_picker = widgets.Dropdown(
            options=_team_options(teams),
            value=team,
            description=team_label,
            tooltip="The team under review",
            layout=_in_row(),
            style=LABELS,
        )
        # the served pages' bar names the period and team picked here (templates/voila)
        self.period_picker.add_class("reviewkit-period")
        self.team_picker.add_class("reviewkit-team")
        self.period, self.team = chosen, team
        self.period_picker.observe(self._picked, names="value")
        self.team_picker.observe(self._picked, names="value")
        self.widget.children = [_row(self.period_picker, self.team_picker), self.status]

    def _picked(self, _change: object = None) -> None:
        def pick() -> str | None:
            period = _choice(self.period_picker, "period")
            team = _choice(self.team_picker, "team")
            self.period, self.team = period, team
            return ""

        self._attempt(pick)


class KpiExplorer(_Panel):
    """One KPI over time: metric, grain, date range, a dimension filter and a breakdown, drawn as
    a trend chart (or, with a breakdown, a table per group) above the KPI's table by period.
    With a navigator, its period ends the range and its team filters the KPI.

    The defaults suit any project: no ``metric`` is the first of the project's catalogue, no
    ``by`` is no breakdown. The filter and breakdown offer only the metric's own dimensions
    (:meth:`dimensions`), anew when another metric is picked."""

    def __init__(
        self,
        project: Project,
        navigator: ReviewNavigator | None = None,
        *,
        metric: str = "",
        grain: str = "month",
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        by: str = "",
        filters: dict[str, str | Sequence[str]] | None = None,
    ) -> None:
        super().__init__(project)
        names = list(project.config.metrics)
        if not names:
            raise Refused(
                "the project has no metrics to explore: declare one under `metrics:` in "
                "reviewkit.yaml"
            )
        chosen = metric or names[0]
        if chosen not in names:
            raise Refused(f"unknown metric {chosen!r}; the catalogue has: {', '.join(names)}")
        if grain not in GRAINS:
            raise Refused(f"unknown grain {grain!r}; grains are: {', '.join(GRAINS)}")
        if len(filters or {}) > 1:
            raise Refused("the explorer filters on one dimension; pass at most one in filters")
        self._quiet = True  # no redraw while the controls are being set up
        self.metric_picker = widgets.Dropdown(
            options=[(f"{project.config.metrics[n].label} ({n})", n) for n in names],
            value=chosen,
            description="Metric",
            layout=_in_row(),
            style=LABELS,
        )
        _hover(self.metric_picker)
        self.grain_picker = widgets.Dropdown(
            options=list(GRAINS), value=grain, description="Grain", layout=_in_row(), style=LABELS
        )
        self.start_picker = widgets.DatePicker(
            value=_as_date(start), description="From", layout=_in_row(), style=LABELS
        )
        self.end_picker = widgets.DatePicker(
            value=_as_date(end), description="To", layout=_in_row(), style=LABELS
        )
        self.filter_picker = widgets.Dropdown(description="Filter", layout=_in_row(), style=LABELS)
        self.value_picker = widgets.SelectMultiple(
            description="Values", rows=4, layout=_in_row(), style=LABELS
        )
        self.by_picker = widgets.Dropdown(description="Group by", layout=_in_row(), style=LABELS)
        self.chart = widgets.Output(layout=_wide())
        self.table = widgets.Output(layout=_wide())
        self._dimensions_for(chosen, by=by)
        if by and self.by_picker.value != by:
            raise Refused(f"metric {chosen!r} cannot be broken down by {by!r}" + self._has(chosen))
        for dimension, wanted in (filters or {}).items():
            values = (wanted,) if isinstance(wanted, str) else tuple(wanted)
            if dimension not in _options(self.filter_picker):
                raise Refused(
                    f"metric {chosen!r} cannot be filtered on {dimension!r}" + self._has(chosen)
                )
            self.filter_picker.value = dimension
            self._values_for(dimension)
            unknown = [v for v in values if v not in _options(self.value_picker)]
            if unknown:
                raise Refused(f"{dimension} {unknown[0]!r} has no data for metric {chosen!r}")
            self.value_picker.value = values
        self.navigator = navigator
        if navigator is not None:
            navigator.observe(self._follow, names=["period", "team"])
            self._follow()
        self.metric_picker.observe(self._metric_changed, names="value")
        self.filter_picker.observe(self._filter_changed, names="value")
        for control in (
            self.grain_picker,
            self.start_picker,
            self.end_picker,
            self.value_picker,
            self.by_picker,
        ):
            control.observe(self.refresh, names="value")
        self.widget.children = [
            _row(self.metric_picker, self.grain_picker),
            _row(self.start_picker, self.end_picker),
            _row(self.filter_picker, self.value_picker, self.by_picker),
            self.status,
            self.chart,
            self.table,
        ]
        self._quiet = False
        self.refresh()

    def dimensions(self, metric: str) -> list[str]:
        """The dimensions ``metric`` can be filtered on and broken down by: those every source
        behind it has (a filter or breakdown needs the dimension in each of them)."""
        sources = [
            self.project.config.sources[s] for s in metric_sources(self.project.config, metric)
        ]
        return [d for d in sources[0].dimensions if all(d in s.dimensions for s in sources)]

    def _has(self, metric: str) -> str:
        """The end of a refusal: what ``metric`` can be broken down by."""
        shared = self.dimensions(metric)
        if not shared:
            return ": it has no dimensions"
        return f"; its dimensions are: {', '.join(shared)}"

    def _dimensions_for(self, metric: str, *, by: str = "") -> None:
        """Offer ``metric``'s :meth:`dimensions` to filter on and break down by."""
        shared = self.dimensions(metric)
        none = [("(none)", "")]
        self.filter_picker.options = none + [(d, d) for d in shared]
        self.filter_picker.value = ""
        _list(self.value_picker, [])
        self.by_picker.options = none + [(d, d) for d in shared]
        self.by_picker.value = by if by in shared else ""

    def _values_for(self, dimension: str) -> None:
        """Offer the values ``dimension`` takes for the metric (its groups in the data)."""
        if not dimension:
            _list(self.value_picker, [])
            return
        metric = _choice(self.metric_picker, "metric")
        groups = self.project.kpi(metric, grain="year", by=dimension)[dimension]
        _list(self.value_picker, sorted({str(v) for v in groups.dropna()}))

    def _metric_changed(self, _change: object = None) -> None:
        def change() -> None:
            self._quiet = True
            try:
                self._dimensions_for(_choice(self.metric_picker, "metric"))
                if self.navigator is not None:
                    self._follow()
            finally:
                self._quiet = False
            self.refresh()

        self._attempt(change)

    def _filter_changed(self, _change: object = None) -> None:
        def change() -> None:
            self._quiet = True
            try:
                self._values_for(_choice(self.filter_picker, "filter dimension"))
            finally:
                self._quiet = False
            self.refresh()

        self._attempt(change)

    def _follow(self, _change: object = None) -> None:
        """Take the navigator's period as the end of the range, its team as the filter."""
        navigator = self.navigator
        assert navigator is not None

        def follow() -> None:
            quiet, self._quiet = self._quiet, True
            try:
                self.end_picker.value = self.project.period(navigator.period, "month").end
                team_filter = "team" in _options(self.filter_picker)
                if team_filter and navigator.team:
                    self.filter_picker.value = "team"
                    self._values_for("team")
                    if navigator.team not in _options(self.value_picker):
                        raise Refused(f"team {navigator.team!r} has no data for this metric")
                    self.value_picker.value = (navigator.team,)
                elif team_filter and self.filter_picker.value == "team":
                    self.value_picker.value = ()
            finally:
                self._quiet = quiet
            if not quiet:
                self.refresh()

        self._attempt(follow)

    def options(self) -> dict[str, Any]:
        """The KPI request the controls describe (checked): grain, start, end, filters, by."""
        grain = _choice(self.grain_picker, "grain")
        start = _date(self.start_picker, "start date")
        end = _date(self.end_picker, "end date")
        if start is not None and end is not None and start > end:
            raise Refused(f"the range starts on {start} after it ends on {end}; swap the dates")
        dimension = _choice(self.filter_picker, "filter dimension")
        values = _choices(self.value_picker, "filter value")
        by = _choice(self.by_picker, "group by")
        filters = {dimension: list(values)} if dimension and values else {}
        return {"grain": grain, "start": start, "end": end, "filters": filters, "by": by or None}

    def refresh(self, _change: object = None) -> None:
        """Redraw the chart and the table from the controls (a message instead if refused)."""
        if self._quiet:
            return

        def draw() -> str:
            metric = _choice(self.metric_picker, "metric")
            options = self.options()
            total = self.project.kpi_table(metric, **{**options, "by": None})
            if options["by"] is None:
                from reviewkit.present import charts  # noqa: PLC0415 (Altair only when drawing)

                end = options["end"]
                shown: object = charts.kpi_trend(
                    self.project,
                    metric,
                    grain=options["grain"],
                    periods=max(len(total), 1),
                    period="latest" if end is None else end.isoformat(),
                    filters=options["filters"] or None,
                )
            else:
                shown = self.project.kpi_table(metric, **options)
            self.chart.outputs = ()
            self.chart.append_display_data(shown)
            self.table.outputs = ()
            self.table.append_display_data(total)
            return ""

        self._attempt(draw)


def _as_date(value: dt.date | str | None) -> dt.date | None:
    """A date parameter (a notebook passes text) as a date; empty text is no date."""
    if value is None or isinstance(value, dt.date):
        return value
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Refused(f"{value!r} is not a date; write YYYY-MM-DD") from None


class LinkEditor(_Panel):
    """Say which outputs should move an outcome: pick the outcome, find candidate outputs (by
    the team that delivered them, the month, unlinked only, text; every delivered output at
    first, newest first), and link or unlink the selected ones with a hypothesis, direction, lag
    and confidence; undo the last change; then see the evidence of the link.

    With a navigator, its team picks the outcomes offered (that team's; every outcome for all
    teams), and a period picked there lists the outputs delivered in it."""

    def __init__(
        self,
        project: Project,
        navigator: ReviewNavigator | None = None,
        *,
        author: str | None = None,
        viewer: Viewer | None = None,
    ) -> None:
        super().__init__(project)
        self.viewer = viewer
        self.author = author
        self._quiet = True
        self.outcome_picker = widgets.Dropdown(
            options=_outcome_options(project, ALL_TEAMS),
            description="Outcome",
            layout=_wide(),
            style=LABELS,
        )
        _hover(self.outcome_picker, "No outcome to pick")
        self.team_picker = widgets.Dropdown(
            options=_team_options(_teams(project)),
            value=ALL_TEAMS,
            description="Delivered by",
            tooltip="The team that delivered the outputs listed",
            layout=_in_row(),
            style=LABELS,
        )
        months = _month_labels(project, RECENT_MONTHS * 2)
        self.period_picker = widgets.Dropdown(
            options=[("any time", ""), *((m, m) for m in months)],
            value="",
            description="Delivered in",
            tooltip="The month the outputs listed were delivered in",
            layout=_in_row(),
            style=LABELS,
        )
        self.unlinked_box = widgets.Checkbox(
            value=True,
            description="Unlinked only",
            tooltip="Only outputs not yet linked to any outcome",
            layout=_in_row(),
            style=LABELS,
        )
        self.search_box = widgets.Text(
            description="Search",
            placeholder="id or words in title",
            layout=_wide(),
            style=LABELS,
        )
        self.candidates = widgets.SelectMultiple(
            description="Outputs", rows=10, layout=_wide(), style=LABELS
        )
        _hover(self.candidates, "Outputs, newest first: select one or more")
        self.hypothesis_box = _text_box("Hypothesis", "Why should this output move the outcome?")
        self.direction_picker = widgets.Dropdown(
            options=[("the KPI's better way", ""), *((d, d) for d in DIRECTIONS)],
            value="",
            description="Direction",
            layout=_in_row(),
            style=LABELS,
        )
        self.lag_box = widgets.IntText(
            value=0,
            description="Lag (days)",
            tooltip="Days from delivery until the KPI should move",
            layout=_in_row(),
            style=LABELS,
        )
        self.confidence_picker = widgets.Dropdown(
            options=list(CONFIDENCES),
            value="medium",
            description="Confidence",
            layout=_in_row(),
            style=LABELS,
        )
        self.link_button = widgets.Button(description="Link selected", button_style="primary")
        self.unlink_button = widgets.Button(description="Unlink selected")
        self.undo_button = widgets.Button(description="Undo last change")
        self.links_view = widgets.HTML(layout=_wide())
        self.evidence = widgets.HTML(layout=_wide())
        self.evidence_charts = widgets.Output(layout=_wide())
        self.link_button.on_click(self._link)
        self.unlink_button.on_click(self._unlink)
        self.undo_button.on_click(self._undo)
        self.outcome_picker.observe(self._outcome_changed, names="value")
        for control in (self.team_picker, self.period_picker, self.unlinked_box, self.search_box):
            control.observe(self.refresh, names="value")
        self.navigator = navigator
        if navigator is not None:
            navigator.observe(self._follow, names=["period", "team"])
            self._follow()
        self._show_author()
        self.widget.children = [
            self.outcome_picker,
            _row(self.team_picker, self.period_picker, self.unlinked_box),
            self.search_box,
            self.candidates,
            self.hypothesis_box,
            _row(self.direction_picker, self.lag_box, self.confidence_picker),
            self.saving_as,
            _row(self.link_button, self.unlink_button, self.undo_button),
            self.status,
            self.links_view,
            self.evidence,
            self.evidence_charts,
        ]
        self._quiet = False
        self._outcome_changed()

    def _follow(self, change: Any = None) -> None:
        """Offer the navigator's team's outcomes; when its period is picked, list the outputs
        delivered in it (at first, every delivered output is listed)."""
        navigator = self.navigator
        assert navigator is not None
        quiet, self._quiet = self._quiet, True
        try:
            self._offer(self.outcome_picker, _outcome_options(self.project, navigator.team))
            picked = isinstance(change, dict) and change.get("name") == "period"
            if picked and navigator.period in _options(self.period_picker):
                self.period_picker.value = navigator.period
        finally:
            self._quiet = quiet
        self._outcome_changed()

    def _outcome_changed(self, _change: object = None) -> None:
        """A new outcome: its lag as the default, its links listed, candidates refreshed."""

        def change() -> None:
            if self.outcome_picker.value is None:
                _list(self.candidates, [])
                self.links_view.value = ""
                raise Refused(
                    "this team owns no outcome to link outputs to; pick another team, or all teams"
                )
            outcome = self.project.outcome(_choice(self.outcome_picker, "outcome"))
            self.lag_box.value = outcome.lag_days or 0
            self.evidence.value = ""
            self.evidence_charts.outputs = ()
            self.refresh()

        self._attempt(change)

    def refresh(self, _change: object = None) -> None:
        """List the candidate outputs and the outcome's links for the current filters."""
        if self._quiet:
            return

        def list_them() -> str:
            outcome_id = _choice(self.outcome_picker, "outcome")
            team = _choice(self.team_picker, "team")
            period = _choice(self.period_picker, "delivery period")
            search = _text(self.search_box, "search", MAX_SEARCH)
            unlinked = self.unlinked_box.value
            if not isinstance(unlinked, bool):
                raise Refused(f"unlinked only {unlinked!r} is not true or false")
            chosen = self.project.period(period, "month") if period else None
            found = self.project.outputs(
                start=chosen.start if chosen else None,
                end=chosen.end if chosen else None,
                team=team or None,
                unlinked=unlinked,
                search=search.strip() or None,
            )
            if not found.empty:  # newest first
                found = found.sort_values(["delivered", "id"], ascending=[False, True])
            shown = found.head(MAX_CANDIDATES)
            _list(
                self.candidates,
                [
                    (f"{r.id} · {r.title} ({r.team}, {r.delivered})", r.id)
                    for r in shown.itertuples()
                ],
            )
            self._show_links(outcome_id)
            if len(found) > len(shown):
                return (
                    f"showing the newest {len(shown)} of {len(found)} outputs; narrow the filters "
                    "for older ones"
                )
            return ""

        self._attempt(list_them)

    def _show_links(self, outcome_id: str) -> None:
        links = self.project.links(outcome_id=outcome_id)
        columns = ["output_id", "hypothesis", "direction", "lag_days", "confidence", "author"]
        frame = links[columns] if not links.empty else pd.DataFrame(columns=columns)
        self.links_view.value = _html_table(frame, f"no output is linked to {outcome_id} yet")

    def _selection(self) -> tuple[str, tuple[str, ...]]:
        outcome_id = _choice(self.outcome_picker, "outcome")
        outputs = _choices(self.candidates, "output")
        if not outputs:
            raise Refused("select one or more outputs in the list first")
        return outcome_id, outputs

    def _link(self, _button: object = None) -> None:
        def link() -> str:
            self._may_change("link outputs")
            author = self._saver("link outputs")
            outcome_id, outputs = self._selection()
            hypothesis = _text(self.hypothesis_box, "the hypothesis")
            direction = _choice(self.direction_picker, "direction")
            confidence = _choice(self.confidence_picker, "confidence")
            lag = self.lag_box.value
            if not isinstance(lag, int) or isinstance(lag, bool) or not 0 <= lag <= MAX_LAG_DAYS:
                raise Refused(
                    f"lag {lag!r} is not a number of days from 0 to {MAX_LAG_DAYS}; write the "
                    "days from delivery until the KPI should move"
                )
            for output_id in outputs:
                self.project.link(
                    output_id,
                    outcome_id,
                    hypothesis=hypothesis,
                    direction=direction or None,
                    lag_days=lag,
                    confidence=confidence,
                    author=author,
                )
            self.refresh()
            self._show_evidence(outcome_id, outputs)
            return f"linked {', '.join(outputs)} to {outcome_id}"

        self._attempt(link)

    def _show_evidence(self, outcome_id: str, outputs: Sequence[str]) -> None:
        """What the data says about each new link: the impact sentence (with the smallest effect
        it can detect, also before any data after delivery is in) and its chart."""
        from reviewkit.present import charts  # noqa: PLC0415 (Altair only when drawing)

        sentences = []
        self.evidence_charts.outputs = ()
        results = self.project.outcome_results(outcome_id)  # with its other links, as reviewed
        for output_id in outputs:
            result = results[output_id]
            sentences.append(
                f"<p><b>{html.escape(output_id)}</b> ({html.escape(result.verdict)}): "
                f"{html.escape(result.sentence)}</p>"
            )
            title = f"{output_id} → {outcome_id}"
            self.evidence_charts.append_display_data(charts.impact_chart(result, title=title))
        self.evidence.value = "".join(sentences)

    def _unlink(self, _button: object = None) -> None:
        def unlink() -> str:
            self._may_change("unlink outputs")
            author = self._saver("unlink outputs")
            outcome_id, outputs = self._selection()
            for output_id in outputs:
                self.project.unlink(output_id, outcome_id, author=author)
            self.evidence.value = ""
            self.evidence_charts.outputs = ()
            self.refresh()
            return f"unlinked {', '.join(outputs)} from {outcome_id}"

        self._attempt(unlink)

    def _undo(self, _button: object = None) -> None:
        def undo() -> str:
            self._may_change("undo changes")
            event = self.project.store.undo(author=self._saver("undo changes"))
            self.refresh()
            if event is None:
                return "nothing to undo"
            return f"undone: the last change to {event.key}"

        self._attempt(undo)


def _decisions(text: str) -> list[dict[str, str]]:
    """``decision | owner`` lines as decisions; every line needs both."""
    decisions = []
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) > MAX_DECISIONS:
        raise Refused(f"{len(lines)} decisions; record at most {MAX_DECISIONS} per check-in")
    for number, line in lines:
        what, bar, owner = line.partition("|")
        if not bar or not what.strip() or not owner.strip() or "|" in owner:
            raise Refused(
                f"decision line {number} {line.strip()!r} is not 'decision | owner'; "
                "write the decision, a bar, and who owns it"
            )
        decisions.append({"text": what.strip(), "owner": owner.strip()})
    return decisions


class CheckinForm(_Panel):
    """Check in on each outcome for the review period: the status the numbers propose, an
    override, confidence, a note and decisions with owners, last period's decisions to follow
    up; save it, then complete the review (refused, with the reasons, while gaps remain)."""

    def __init__(
        self,
        project: Project,
        navigator: ReviewNavigator | None = None,
        *,
        author: str | None = None,
        viewer: Viewer | None = None,
    ) -> None:
        super().__init__(project)
        self.viewer = viewer
        self.author = author
        self.navigator = navigator or ReviewNavigator(project, team_label=OUTCOMES_TEAM)
        self._quiet = True
        self.outcome_picker = widgets.Dropdown(description="Outcome", layout=_wide(), style=LABELS)
        _hover(self.outcome_picker, "No outcome to pick")
        self.proposed = widgets.HTML(layout=_wide())
        self.status_picker = widgets.Dropdown(
            options=[("as proposed", ""), *((s, s) for s in CHECKIN_STATUSES)],
            value="",
            description="Status",
            layout=_in_row(),
            style=LABELS,
        )
        self.confidence_picker = widgets.Dropdown(
            options=list(CONFIDENCES),
            value="medium",
            description="Confidence",
            layout=_in_row(),
            style=LABELS,
        )
        self.note_box = _text_box("Note", "Why, and what next?")
        self.decisions_box = _text_box("Decisions", "one per line: decision | owner")
        self.followups_view = widgets.HTML(layout=_wide())
        self.save_button = widgets.Button(description="Save check-in", button_style="primary")
        self.complete_button = widgets.Button(description="Complete review")
        self.save_button.on_click(self._save)
        self.complete_button.on_click(self._complete)
        self.outcome_picker.observe(self._load, names="value")
        self.navigator.observe(self._follow, names=["period", "team"])
        self._show_author()
        self.widget.children = [
            *([] if navigator is not None else [self.navigator.widget]),
            self.outcome_picker,
            self.proposed,
            _row(self.status_picker, self.confidence_picker),
            self.note_box,
            self.decisions_box,
            self.saving_as,
            _row(self.save_button, self.complete_button),
            self.status,
            widgets.HTML("<b>Decisions from the last review, to follow up</b>"),
            self.followups_view,
        ]
        self._quiet = False
        self._follow()

    def _follow(self, _change: object = None) -> None:
        """The navigator's team's outcomes, and last period's decisions for follow-up."""

        def follow() -> None:
            team = self.navigator.team
            self._offer(self.outcome_picker, _outcome_options(self.project, team))
            followups = self.project.followups(self.navigator.period, team=team or None)
            self.followups_view.value = _html_table(
                followups, "no decisions were recorded at the last review"
            )
            self._load()

        self._attempt(follow)

    def _load(self, _change: object = None) -> None:
        """Show the outcome's proposed status and its saved check-in for the period, if any."""
        if self._quiet:
            return
        if self.outcome_picker.value is None:
            self.proposed.value = "<i>this team owns no outcome</i>"
            return

        def load() -> None:
            outcome_id = _choice(self.outcome_picker, "outcome")
            period = self.navigator.period
            proposed = self.project.proposed_status(outcome_id, period)
            self.proposed.value = (
                f"Proposed from the numbers for {html.escape(period)}: "
                f"<b>{html.escape(proposed)}</b>"
            )
            saved = self.project.checkins(period=period, outcome_id=outcome_id)
            if saved:
                checkin = saved[0]
                self.status_picker.value = checkin.status
                self.confidence_picker.value = checkin.confidence
                self.note_box.value = checkin.note
                self.decisions_box.value = "\n".join(
                    f"{d.text} | {d.owner}" for d in checkin.decisions
                )
            else:
                self.status_picker.value = ""
                self.confidence_picker.value = "medium"
                self.note_box.value = ""
                self.decisions_box.value = ""

        self._attempt(load)

    def _save(self, _button: object = None) -> None:
        def save() -> str:
            outcome_id = _choice(self.outcome_picker, "outcome")
            status = _choice(self.status_picker, "status")
            confidence = _choice(self.confidence_picker, "confidence")
            note = _text(self.note_box, "the note")
            given = _decisions(_text(self.decisions_box, "the decisions"))
            saved = self.project.checkins(period=self.navigator.period, outcome_id=outcome_id)
            decisions: list[Any] = list(saved[0].decisions) if saved else []
            changed = [(d["text"], d["owner"]) for d in given] != [
                (d.text, d.owner) for d in decisions
            ]
            if self.viewer is not None:
                self.viewer.may_change("check in")
                if changed:  # adding, changing or clearing them alike
                    outcome = self.project.config.outcomes[outcome_id]
                    self.viewer.may_decide([outcome], f"record decisions on {outcome_id}")
            author = self._saver("check in")
            if changed:
                decisions = given  # else kept as saved, with the due dates the form hides
            checkin = self.project.checkin(
                outcome_id,
                self.navigator.period,
                status=status or None,
                confidence=confidence,
                note=note,
                decisions=decisions,
                author=author,
            )
            return f"saved: {outcome_id} is {checkin.status} in {checkin.period}"

        self._attempt(save)

    def _complete(self, _button: object = None) -> None:
        def complete() -> str:
            team = self.navigator.team or None
            if self.viewer is not None:
                mine = [
                    o
                    for o in self.project.config.outcomes.values()
                    if team is None or o.team == team
                ]
                self.viewer.may_decide(mine, "complete this review")
            review = self.project.complete_review(
                self.navigator.period, team=team, author=self._saver("complete this review")
            )
            whose = f" of {team}" if team else ""
            return f"the {review.period} review{whose} is complete"

        self._attempt(complete)


class ReviewDashboard(_Panel):
    """The review as a leader reads it: the executive summary and the outcome scorecard of the
    navigator's period and team, then one outcome at a time (picked from the scorecard's
    outcomes): its KPI with the linked outputs on it, the impact of each link, the decisions to
    follow up and the check-in. Everything shown comes from :mod:`reviewkit.present.narrative`, as
    in the published report."""

    def __init__(self, project: Project, navigator: ReviewNavigator) -> None:
        super().__init__(project)
        self.navigator = navigator
        self.summary = widgets.HTML()
        self.scorecard = widgets.Output()
        self.outcome_picker = widgets.ToggleButtons(
            description="Outcome",
            layout=widgets.Layout(width="100%", flex_flow="row wrap"),
            style={**LABELS, "button_width": "auto"},  # as wide as their headings, uncut
        )
        self.detail = widgets.Output(layout=_wide())
        self._sections: dict[str, Any] = {}
        self._quiet = False
        self.outcome_picker.observe(self._show_outcome, names="value")
        navigator.observe(self._follow, names=["period", "team"])
        from reviewkit.present.narrative import ReviewPage  # noqa: PLC0415 (Altair only when drawing)

        summary, scorecard, detail = (f"<h2>{h}</h2>" for h in ReviewPage.HEADINGS)
        self.widget.children = [
            widgets.HTML(summary),
            self.summary,
            widgets.HTML(scorecard),
            self.scorecard,
            widgets.HTML(detail),
            self.outcome_picker,
            self.status,
            self.detail,
        ]
        self._follow()

    def _follow(self, _change: object = None) -> None:
        """Recompute the summary, scorecard and sections for the navigator's period and team."""
        from reviewkit.present import narrative  # noqa: PLC0415 (Altair only when drawing)

        def follow() -> None:
            shown = narrative.review_page(self.project, self.navigator.period, self.navigator.team)
            self.summary.value = shown.summary.markup
            self.scorecard.outputs = ()
            for block in shown.scorecard:
                self.scorecard.append_display_data(block)  # kept from MathJax: Html
            self._sections = {s.anchor: s for s in shown.sections}
            self._offer(self.outcome_picker, [(s.heading, s.anchor) for s in shown.sections])
            self.outcome_picker.tooltips = [s.heading for s in shown.sections]  # in full
            self._show_outcome()

        self._attempt(follow)

    def _show_outcome(self, _change: object = None) -> None:
        """Draw the picked outcome's section (refused unless it is one of the outcomes shown)."""
        if self._quiet:
            return

        def show() -> str:
            if self.outcome_picker.value is None:
                self.detail.outputs = ()
                return "No outcome is in scope for this team."
            section = self._sections[_choice(self.outcome_picker, "outcome")]
            self.detail.outputs = ()
            for block in (section.heading_html(), *section.blocks):
                self.detail.append_display_data(block)
            return ""

        self._attempt(show)
