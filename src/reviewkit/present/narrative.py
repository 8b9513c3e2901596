"""The words and tables of a monthly review, generated from the numbers.

``notebooks/monthly_review.ipynb`` holds no logic: each of its cells calls one function here (or
in :mod:`reviewkit.present.charts`), so what a review says is tested like any other library code.
The functions return plain data (sentences, DataFrames, :class:`Section` objects); :func:`table`,
:func:`bullets` and :func:`show_outcomes` turn them into HTML for the notebook and the published
report, escaping every piece of user text (titles, hypotheses, notes) on the way.

A review looks at one month for one team (or the whole company, ``team`` None or ""). Impact
verdicts are computed as of the month's end, so re-running an old review gives the same words.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import altair as alt
import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import Period, Window
from reviewkit.config import RETENTION_AGGREGATIONS, Metric, Outcome
from reviewkit.config.model import base_sources
from reviewkit.evidence.estimator import MOVED, OTHER_WAY, TOO_EARLY, VERDICTS
from reviewkit.metrics.catalogue import difference_text
from reviewkit.metrics.compare import comparisons
from reviewkit.metrics.coverage import coverage_of
from reviewkit.metrics.surveys import verbatims
from reviewkit.present import charts
from reviewkit.present.charts.style import STATUS_STYLE
from reviewkit.present.text import with_margin
from reviewkit.project import data_gap

if TYPE_CHECKING:
    from reviewkit.metrics.explain import Explanation
    from reviewkit.project import Project
    from reviewkit.store.core import CheckIn

__all__ = [
    "NOTABLE_CHANGE",
    "UNTYPESET",
    "Html",
    "ReviewPage",
    "Section",
    "alignment_table",
    "bullets",
    "data_quality",
    "executive_summary",
    "impacts",
    "outcome_sections",
    "outcomes_in_scope",
    "outputs_appendix",
    "recent_wins",
    "review_page",
    "review_period",
    "scorecard_table",
    "show_outcomes",
    "subtitle",
    "table",
]

#: the smallest change (on the previous period or a year earlier) the summary calls a move, per
#: change unit: 5% for counts and amounts, 1 percentage point for rates, 1 point for scores
NOTABLE_CHANGE: Final[Mapping[str, float]] = {
    "percent": 5.0,
    "pp": 1.0,
    "bps": 25.0,
    "points": 1.0,
}
#: at most this many too-early links and wins are named in the summary; the rest are counted
LISTED: Final = 5
#: a win is recognised in the reviews of the months in which its effect should start to show
#: (delivery + lag) and of the months after it, this many months in all: late enough for the
#: evidence to exist (4 weeks after the lag for a weekly KPI, 2 months for a monthly one), soon
#: enough to be news; older wins are counted, and stay in each outcome's section
WIN_MONTHS: Final = 3
OFF_TARGET: Final = ("off track", "at risk")
#: the statuses the summary lists by outcome, in this order: off target, then behind by no
#: more than a survey's noise (not a miss to act on, but not on track either)
BEHIND: Final = (*OFF_TARGET, "within noise")


# --- scope ---------------------------------------------------------------------------------


def review_period(project: Project, period: str | Period) -> Period:
    """The month under review: ``latest`` is the latest month every source covers completely;
    other text is parsed as written (``2026-10``)."""
    if isinstance(period, Period):
        return period
    return project.period(period, "month" if period.strip() == "latest" else None)


def _team(team: str | None) -> str | None:
    """ "" and None both mean the whole company (a notebook parameter cannot be None)."""
    return team or None


def outcomes_in_scope(project: Project, team: str | None = None) -> list[Outcome]:
    """The team's outcomes, or every outcome (company goals included) for the whole company."""
    wanted = _team(team)
    return [o for o in project.config.outcomes.values() if wanted is None or o.team == wanted]


def impacts(
    project: Project, period: str | Period, team: str | None = None
) -> dict[str, pd.DataFrame]:
    """Each in-scope outcome's links with their verdicts as of the period's end, leaving out
    outputs delivered after it. Impact is the slow part of a review: compute it once and pass it
    to :func:`executive_summary` and :func:`outcome_sections`."""
    month = review_period(project, period)
    found = {}
    for outcome in outcomes_in_scope(project, team):
        frame = project.outcome_impact(outcome.id, as_of=month.end)
        delivered = [d is not None and d <= month.end for d in frame["delivered"]]
        kept = frame.loc[pd.Series(delivered, index=frame.index, dtype=bool)]
        found[outcome.id] = kept.reset_index(drop=True)
    return found


def subtitle(project: Project, period: str | Period, team: str | None = None) -> str:
    """The report's subtitle: who it is for, which month, and how fresh the data is."""
    month = review_period(project, period)
    through = project.data_through()
    fresh = f"data through {through}" if through is not None else "some sources have no data"
    return f"{_team(team) or 'Whole company'} · {month.label} · {fresh}"


# --- the executive summary ----------------------------------------------------------------


def executive_summary(
    project: Project,
    period: str | Period,
    team: str | None = None,
    *,
    impact: Mapping[str, pd.DataFrame] | None = None,
) -> list[str]:
    """Plain sentences for the top of the review, what needs a decision first: what is off
    track, then at risk (and why), then missing data; then what moved notably, the wins to
    recognise (outputs whose link moved its KPI as hypothesised, strongest evidence first,
    recent ones only: see :data:`WIN_MONTHS`) and what is too early to tell. User text stays
    plain text: escape it when showing it as HTML (:func:`bullets` does). ``impact`` is
    :func:`impacts` when already made."""
    month = review_period(project, period)
    card = project.outcome_scorecard(month, team=_team(team))
    verdicts = impact if impact is not None else impacts(project, month, team)
    titles = {o.id: o.title for o in project.config.outcomes.values()}
    gap = data_gap(project, month, _team(team))
    return [
        *_off_target(card),
        *([gap] if gap else []),
        *_moved(project, card, month),
        *_wins(project, verdicts, titles, month),
        *_too_early(project, verdicts, titles),
    ]


def _split_dimension(project: Project, outcome: Outcome) -> str | None:
    """The dimension a notable change of the outcome's KPI is split across: its ``explain_by``,
    else the first dimension of the KPI's sources that the outcome and the metric do not fix
    to one value (the team for a company KPI; the plan or segment for a team's); None when
    there is none."""
    if outcome.explain_by is not None:
        return outcome.explain_by
    config = project.config
    metric = config.metrics[outcome.metric]
    fixed = {k for k, v in (*outcome.filters, *metric.filters) if len(v) == 1}
    sources = [config.sources[s] for s in sorted(base_sources(outcome.metric, config.metrics))]
    if not sources:
        return None
    shared = [d for d in sources[0].dimensions if all(d in s.dimensions for s in sources)]
    free = [d for d in shared if d not in fixed]
    return free[0] if free else None


def _explained(
    project: Project, outcome: Outcome, month: Period, by: str, against: str | None = None
) -> Explanation | str:
    """The change of the outcome's KPI from the period ``against`` names (default: the previous
    one, a year's: the year before) split across the members of ``by``, or why it cannot be
    split."""
    against = against or ("previous" if "previous" in comparisons(month) else "year_ago")
    filters = {k: list(v) for k, v in outcome.filters}
    try:
        return project.explain(outcome.metric, month, by=by, against=against, filters=filters)
    except QueryError as exc:
        return f"Its change is not split by {by} ({exc})."


def _drivers(
    project: Project, row: Mapping[str, Any], month: Period, against: str, *, named: bool
) -> str:
    """`` By plan: enterprise +$31,945 of it, pro +$18,901.``: which members of the outcome's
    :func:`_split_dimension` moved its KPI since the period ``against`` names
    (:func:`_explained`), which is ``named`` when the sentence gives more than one change
    (`` By plan, on 2026-09: ...``). Why it cannot be split is said when the outcome's
    ``explain_by`` asked for the split, and left out otherwise."""
    outcome = project.config.outcomes.get(str(row.get("outcome", "")))
    by = _split_dimension(project, outcome) if outcome is not None else None
    if outcome is None or by is None:
        return ""
    found = _explained(project, outcome, month, by, against)
    if isinstance(found, str):
        return " " + found if outcome.explain_by is not None else ""
    drivers = found.drivers()
    on = f", on {_against(month)[against]}" if named else ""
    return f" By {by}{on}: {drivers}." if drivers else ""


def _against(month: Period) -> dict[str, str]:
    """How a review names the period a change is on, by comparison key."""
    return {"previous": month.shift(-1).label, "year_ago": "a year earlier"}


def _changes(metric: Metric, row: Mapping[str, Any], month: Period) -> list[tuple[str, str]]:
    """The notable changes of one scorecard row: the comparison's key and the change as text
    with better/worse."""
    found = []
    against = _against(month)
    for key in comparisons(month):  # a year's previous period is the year earlier: said once
        change = row[f"{key}_change"]
        if not isinstance(change, float | int) or math.isnan(change):
            continue
        if abs(change) < NOTABLE_CHANGE[metric.change_unit]:
            continue
        better = (change > 0) == (metric.direction == "higher")
        # a survey KPI's change inside its noise is neither better nor worse
        verdict = "within noise" if row.get(f"{key}_noise") else "better" if better else "worse"
        found.append((key, f"{row[f'{key}_change_text']} on {against[key]} ({verdict})"))
    return found


def _moved(project: Project, card: pd.DataFrame, month: Period) -> list[str]:
    sentences = []
    for row in card.to_dict("records"):
        metric = project.config.metrics[row["metric"]]
        changes = _changes(metric, row, month)
        if changes:
            value = with_margin(row, " answers")
            sentences.append(
                f"{row['title']}: {row['label']} is {value} in {month.label}, "
                + " and ".join(text for _, text in changes)
                + "."
                + _drivers(project, row, month, changes[0][0], named=len(changes) > 1)
            )
    if not sentences and not card.empty and card["value"].notna().any():
        limits = [f"{v:g}%" if k == "percent" else f"{v:g} {k}" for k, v in NOTABLE_CHANGE.items()]
        told = ", ".join(limits[:-1]) + " or " + limits[-1]
        previous = f"the previous {month.grain.replace('_', ' ')}"
        against = " or ".join(
            previous if key == "previous" else "a year earlier" for key in comparisons(month)
        )
        sentences.append(
            f"No outcome's KPI moved notably in {month.label} (by at least {told} on {against})."
        )
    return sentences


def _off_target(card: pd.DataFrame) -> list[str]:
    """What is off target, or that nothing is: said only of outcomes that have a status."""
    judged = card[card["status"].isin(("on track", *BEHIND))] if not card.empty else card
    if judged.empty:
        return []
    late = judged[judged["status"].isin(BEHIND)]
    if late.empty:
        unjudged = card[card["target"].notna() & ~card["status"].isin(("on track", *BEHIND))]
        on_track = STATUS_STYLE["on track"].symbol
        if unjudged.empty:
            return [
                f"{on_track} Every outcome with a target is on track against its target to date."
            ]
        return [
            f"{on_track} Every outcome with a target and a status is on track against its target "
            f"to date; {len(unjudged)} with a target have no status "
            f"({', '.join(unjudged['title'])})."
        ]
    return [
        f"{STATUS_STYLE[status].symbol} {row['title']} is {row['status']}: "
        f"{row['status_reason']} ({row['label']} "
        f"{with_margin(row, ' answers')} against a target to date of {row['target_text']})."
        for status in BEHIND  # off track first
        for row in late[late["status"] == status].to_dict("records")
    ]


def _links(verdicts: Mapping[str, pd.DataFrame], verdict: str) -> pd.DataFrame:
    """Every in-scope link with ``verdict``, with its outcome id and output team."""
    parts = [
        frame[frame["verdict"] == verdict].assign(outcome=outcome)
        for outcome, frame in verdicts.items()
    ]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=["outcome", "output", "title", "delivered", "verdict"])
    return pd.concat(parts, ignore_index=True)


def _output_teams(project: Project) -> dict[str, str]:
    found = project.outputs()
    return dict(zip(found["id"], found["team"].astype(str), strict=True))


def _more(count: int, what: str) -> list[str]:
    return [f"…and {count} more {what} (see each outcome's section)."] if count > 0 else []


def _too_early(
    project: Project, verdicts: Mapping[str, pd.DataFrame], titles: Mapping[str, str]
) -> list[str]:
    early = _links(verdicts, TOO_EARLY)
    if early.empty:
        return []
    early = early.sort_values(["effective", "output"])
    teams = _output_teams(project)
    sentences = [
        f"Too early to tell whether {row['output']} “{row['title']}” "
        f"({teams.get(row['output'], 'no team')}) moved “{titles[row['outcome']]}”: its "
        f"effect is expected from {row['effective']}."
        for row in early.head(LISTED).to_dict("records")
    ]
    return sentences + _more(len(early) - LISTED, "links too early to tell")


def _strength(row: Mapping[str, Any]) -> float:
    """How clearly an estimate stands off zero: the estimate over its interval's half-width."""
    estimate, low, high = row["estimate"], row["low"], row["high"]
    if any(v is None or math.isnan(v) for v in (estimate, low, high)) or high <= low:
        return 0.0
    return float(abs(estimate) / ((high - low) / 2))


def recent_wins(verdicts: Mapping[str, pd.DataFrame], month: Period) -> pd.DataFrame:
    """The links that moved their KPI as hypothesised and whose effect should have started
    (delivery + lag) in ``month`` or in the :data:`WIN_MONTHS` - 1 months before it, with
    their outcome id: the wins this month's review recognises."""
    wins = _links(verdicts, MOVED)
    since = month.shift(1 - WIN_MONTHS).start
    recent = [
        effective is not None and since <= effective <= month.end
        for effective in wins.get("effective", pd.Series(dtype=object))
    ]
    return wins.loc[pd.Series(recent, index=wins.index, dtype=bool)].reset_index(drop=True)


def _wins(
    project: Project,
    verdicts: Mapping[str, pd.DataFrame],
    titles: Mapping[str, str],
    month: Period,
) -> list[str]:
    everything = _links(verdicts, MOVED)
    wins = recent_wins(verdicts, month)
    older = len(everything) - len(wins)
    since = month.shift(1 - WIN_MONTHS).start
    earlier = (
        [
            f"{older} link(s) whose effect was expected before {since} moved their KPI as "
            "hypothesised too: not news this month (see each outcome's section)."
        ]
        if older
        else []
    )
    if wins.empty:
        return earlier
    wins = wins.assign(strength=[_strength(r) for r in wins.to_dict("records")])
    wins = wins.sort_values(["strength", "output"], ascending=[False, True])
    teams = _output_teams(project)
    sentences = []
    for row in wins.head(LISTED).to_dict("records"):
        outcome = project.outcome(row["outcome"])
        metric = project.config.metrics[outcome.metric]
        size = difference_text(metric, abs(row["estimate"]))
        shared = row.get("shared_with") or ""
        sentences.append(
            f"Win to recognise ({teams.get(row['output'], 'no team')}): {row['output']} "
            f"“{row['title']}”, delivered {row['delivered']}, moved the {metric.label} of "
            f"“{titles[row['outcome']]}” by about {size} as hypothesised (evidence of "
            "association, not proof"
            + (
                f"; the effect of {shared} falls in the same window: the credit is shared"
                if shared
                else ""
            )
            + ")."
        )
    return sentences + _more(len(wins) - LISTED, "wins") + earlier


# --- data quality and the appendix ----------------------------------------------------------


def data_quality(
    project: Project, period: str | Period, *, previous: Mapping[str, str] | str | None = None
) -> pd.DataFrame:
    """One row per export file: its source, rows read, the source's coverage of the period
    with flags for partial or in-progress data, rows quarantined, the file's modification time
    and SHA-256 (a source in a SQL engine has one row naming its table, with neither).
    ``previous`` maps file paths (relative to the project, as in the ``file`` column) to the
    digests recorded at the last completed review; ``changed`` then says whether
    each file changed since (None where nothing was recorded). ``previous`` may also be the path
    of that review's snapshot ("" for none), as ``reviewkit report`` passes it."""
    if isinstance(previous, str):
        previous = _recorded_exports(previous)
    month = review_period(project, period)
    rows = []
    for name in project.config.sources:
        loaded = project.source(name)
        coverage = coverage_of([project.workspace.source_dates(name)], month.start, month.end)
        flags = "; ".join(coverage.flags(f"{name} {month.label}"))
        if loaded.remote is not None:  # a table in a SQL engine: no file to hash
            rows.append(
                {
                    "source": name,
                    "file": f"{loaded.remote.what} in {loaded.remote.warehouse.url}",
                    "rows": loaded.rows,
                    "coverage": coverage.text,
                    "complete": coverage.complete,
                    "flags": flags,
                    "quarantined": 0,
                    "modified": None,
                    "sha256": None,
                    "changed": None,
                }
            )
        for file in loaded.files:
            shown = _relative(file.path, project)
            digest = project.workspace.cache.digest(file.path)
            recorded = (previous or {}).get(shown)
            rows.append(
                {
                    "source": name,
                    "file": shown,
                    "rows": file.rows,
                    "coverage": coverage.text,
                    "complete": coverage.complete,
                    "flags": flags,
                    "quarantined": file.bad_rows,
                    "modified": dt.datetime.fromtimestamp(
                        int(file.path.stat().st_mtime), tz=dt.UTC
                    ),
                    "sha256": digest,
                    "changed": None if recorded is None else recorded != digest,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "source",
            "file",
            "rows",
            "coverage",
            "complete",
            "flags",
            "quarantined",
            "modified",
            "sha256",
            "changed",
        ],
    )


def _recorded_exports(snapshot: str) -> dict[str, str] | None:
    """The export digests a published review's snapshot recorded (None without one)."""
    if not snapshot:
        return None
    try:
        recorded = json.loads(Path(snapshot).read_text(encoding="utf-8")).get("exports")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _relative(path: Any, project: Project) -> str:
    try:
        return str(path.resolve().relative_to(project.root.resolve()).as_posix())
    except ValueError:
        return str(path)


def outputs_appendix(
    project: Project, period: str | Period, team: str | None = None
) -> pd.DataFrame:
    """The outputs delivered in the period (by the team, or by everyone), each with the titles
    of the outcomes it is linked to ("not linked" when none)."""
    month = review_period(project, period)
    found = project.outputs(start=month.start, end=month.end, team=_team(team))
    titles = {o.id: o.title for o in project.config.outcomes.values()}
    linked = ["; ".join(titles.get(i, i) for i in ids) or "not linked" for ids in found["outcomes"]]
    return pd.DataFrame(
        {
            "output": found["id"],
            "title": found["title"],
            "team": found["team"],
            "type": found["type"],
            "delivered": found["delivered"],
            "effort": found["effort"],
            "linked outcomes": linked,
        }
    )


# --- HTML for the notebook and the report ----------------------------------------------------


#: The classes that keep markup from LaTeX typesetting. JupyterLab typesets every text/html and
#: text/markdown output with MathJax, which reads the dollars of "MRR $381,232 against a target
#: to date of $388,278" as the start and end of a formula; MathJax 3.2 and later (JupyterLab 4,
#: Notebook 7, Voila) skip the inside of an element of class ``mathjax_ignore`` (JupyterLab
#: keeps MathJax's default), MathJax 2 (Notebook 6, JupyterLab 3, nbconvert's stock templates)
#: of ``tex2jax_ignore``. Escaping each dollar would not do: JupyterLab's Markdown turns ``\$``
#: back into a delimiter, and in HTML ``\$`` keeps its backslash wherever MathJax does not run
#: (the published report, an HTML widget).
UNTYPESET: Final = "mathjax_ignore tex2jax_ignore"


class Html:
    """Markup shown as ``text/html`` by Jupyter; every piece of user text in it is escaped by
    the function that made it. It is displayed in an element of the :data:`UNTYPESET`
    classes, so amounts and user text show as written in JupyterLab and Voila; :attr:`markup`
    is the markup alone (for an HTML widget, which is never typeset, or a page of our own)."""

    def __init__(self, markup: str) -> None:
        self.markup = markup

    def _repr_html_(self) -> str:
        return f'<div class="{UNTYPESET}">{self.markup}</div>'


def _cell(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return value


def _number(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def table(frame: pd.DataFrame, *, caption: str = "", empty: str = "Nothing to show.") -> Html:
    """A DataFrame as an escaped HTML table (no index), with an optional caption; ``empty`` is
    said instead of an empty table."""
    head = f'<p class="reviewkit-caption">{html.escape(caption)}</p>\n' if caption else ""
    if frame.empty:
        return Html(f'{head}<p class="reviewkit-empty">{html.escape(empty)}</p>')
    shown = frame.map(_cell)
    markup = shown.to_html(
        escape=True,
        index=False,
        na_rep="",
        border=0,
        float_format=_number,
        classes="reviewkit-table",
    )
    return Html(head + markup)


#: the colour of each status's symbol, for text that starts with one
_MARKS: Final = {style.symbol: style.colour for style in STATUS_STYLE.values()}


def marked(sentence: str) -> str:
    """A sentence as escaped HTML, the status symbol it starts with (the executive summary's
    "▼ NPS is off track: ...") in that status's colour."""
    colour = _MARKS.get(sentence[:1])
    if colour is None:
        return html.escape(sentence)
    return (
        f'<span class="reviewkit-status" style="color: {colour}">{sentence[0]}</span>'
        + html.escape(sentence[1:])
    )


def _status_cell(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"{style.symbol} {status}" if style else status


def bullets(items: Iterable[str], *, empty: str = "Nothing to report.") -> Html:
    """Sentences as an escaped HTML list, status symbols in colour (:func:`marked`)."""
    lines = [f"<li>{marked(i)}</li>" for i in items]
    if not lines:
        return Html(f"<p>{html.escape(empty)}</p>")
    return Html('<ul class="reviewkit-summary">\n' + "\n".join(lines) + "\n</ul>")


def _paragraph(text: str) -> Html:
    return Html(f"<p>{html.escape(text)}</p>")


def scorecard_table(project: Project, period: str | Period, team: str | None = None) -> Html:
    """The outcome scorecard as a table to read (and print) beside its chart: the change on the
    previous period and on a year earlier (once for a year, whose previous period it is)."""
    month = review_period(project, period)
    card = project.outcome_scorecard(month, team=_team(team))
    if card.empty:
        return table(card, empty="No outcomes are declared for this team.")
    headers = {"previous": "vs previous", "year_ago": "vs a year ago"}
    shown = pd.DataFrame(
        {
            "outcome": card["title"],
            "owner": card["owner"],
            "KPI": card["label"],
            # a survey KPI's value with its 95% margin and answers: 25 ±10.8 (194)
            "value": [with_margin(row) for row in card.to_dict("records")],
            **{headers[key]: card[f"{key}_change_text"] for key in comparisons(month)},
            "target to date": card["target_text"],
            "status": card["status"].map(_status_cell),
            "why": card["status_reason"],
        }
    )
    markup = table(shown).markup
    for status, style in STATUS_STYLE.items():  # each status in its colour, with its shape
        cell = html.escape(_status_cell(status))
        markup = markup.replace(
            f"<td>{cell}</td>",
            f'<td class="reviewkit-status" style="color: {style.colour}">{cell}</td>',
        )
    return Html(markup)


def _share(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.0%}"


def alignment_table(project: Project, period: str | Period, team: str | None = None) -> Html:
    """Per team, the outputs and effort delivered in the period and the share linked to an
    outcome, then the in-scope outcomes nobody has delivered linked work for lately."""
    found = project.alignment(review_period(project, period), team=_team(team))
    teams = found.teams
    shown = pd.DataFrame(
        {
            "team": teams["team"],
            "outputs": teams["outputs"],
            "linked outputs": teams["linked_outputs"],
            "outputs linked": teams["output_share"].map(_share),
            "effort": teams["effort"],
            "effort linked": teams["effort_share"].map(_share),
            "unlinked effort": teams["unlinked_effort"],
            "outputs without effort": teams["effort_unknown"],
        }
    )
    titles = {o.id: o.title for o in project.config.outcomes.values()}
    start, end = found.neglect_window
    neglected = [titles[i] for i in found.neglected]
    note = (
        f"No linked work delivered from {start} to {end} for: " + "; ".join(neglected) + "."
        if neglected
        else f"Every outcome had linked work delivered from {start} to {end}."
    )
    return Html(
        table(shown, empty="No outputs were delivered in the period.").markup
        + "\n"
        + _paragraph(note).markup
    )


# --- one section per outcome ------------------------------------------------------------------

#: a block of a section: an Altair chart (drawn by the active renderer) or escaped markup
Block = alt.TopLevelMixin | Html


@dataclass(frozen=True)
class Section:
    """One outcome's part of the review: a heading (plain text), an anchor for the table of
    contents, and what to show under it, in order."""

    heading: str
    anchor: str
    blocks: tuple[Block, ...]

    def heading_html(self) -> Html:
        return Html(f'<h3 id="{self.anchor}">{html.escape(self.heading)}</h3>')


def _anchor(outcome_id: str) -> str:
    return "outcome-" + re.sub(r"[^a-z0-9_-]", "-", outcome_id.lower())


def outcome_sections(
    project: Project,
    period: str | Period,
    team: str | None = None,
    *,
    impact: Mapping[str, pd.DataFrame] | None = None,
) -> list[Section]:
    """Per outcome of the team (every outcome for the company): where it stands, its KPI with the
    linked outputs on it, the impact verdicts of its links, the decisions of the last review to
    follow up, and this period's check-in."""
    month = review_period(project, period)
    verdicts = impact if impact is not None else impacts(project, month, team)
    card = project.outcome_scorecard(month, team=_team(team))
    rows = {r["outcome"]: r for r in card.to_dict("records")}
    followups = project.followups(month, team=_team(team))
    checkins = {c.outcome_id: c for c in project.checkins(period=month.label)}
    sections = []
    for outcome in outcomes_in_scope(project, team):
        row = rows[outcome.id]
        frame = verdicts.get(outcome.id, pd.DataFrame())
        value = with_margin(row, " answers")
        blocks: list[Block] = [
            _paragraph(
                f"Owner: {outcome.owner or 'nobody named'}. {row['label']} is {value} in "
                f"{month.label} against a target to date of {row['target_text']}: "
                f"{row['status']} ({row['status_reason']})."
            ),
            charts.outputs_on_outcome(project, outcome.id, as_of=month.end),
            _impact_table(project, outcome, frame),
            table(
                followups[followups["outcome"] == outcome.id].drop(columns=["outcome"]),
                caption=f"Decisions of the {month.shift(-1).label} review to follow up",
                empty=f"No decisions were recorded for this outcome at the "
                f"{month.shift(-1).label} review.",
            ),
            _checkin(checkins.get(outcome.id), month, str(row["status"])),
        ]
        # the waterfall splits the change the summary names first (else the previous period's)
        noted = _changes(project.config.metrics[outcome.metric], row, month)
        blocks[2:2] = _more_to_say(project, outcome, month, noted[0][0] if noted else None)
        sections.append(Section(outcome.title, _anchor(outcome.id), tuple(blocks)))
    return sections


#: How many cohorts (the latest, by month) an outcome's section draws for a retention KPI
SECTION_COHORTS: Final = 12


def _more_to_say(
    project: Project, outcome: Outcome, month: Period, against: str | None
) -> list[Block]:
    """What a section adds under the KPI chart when there is more to say: the business events
    of the period that concern the KPI, the waterfall of its change (on the period ``against``
    names) across the ``explain_by`` members, the latest monthly cohorts of a retention KPI
    (as of the period's end), a survey KPI's detractors' comments."""
    metric = project.config.metrics[outcome.metric]
    filters = {k: list(v) for k, v in outcome.filters}
    blocks: list[Block] = []
    happened = project.events_about(
        outcome.metric, filters=filters, start=month.start, end=month.end
    )
    if happened:
        told = "; ".join(
            f"{e.title} ({e.start}" + (f" to {e.end}" if e.end else "") + ")" for e in happened
        )
        blocks.append(_paragraph(f"Business events in {month.label} that may move it: {told}."))
    if outcome.explain_by is not None:
        found = _explained(project, outcome, month, outcome.explain_by, against)
        blocks.append(
            _paragraph(found) if isinstance(found, str) else charts.waterfall_chart(found)
        )
    if metric.agg in RETENTION_AGGREGATIONS:
        blocks.append(
            charts.cohort_chart(
                project, metric.name, filters=filters, through=month.end, latest=SECTION_COHORTS
            )
        )
    if metric.comments:
        blocks.append(_verbatims(project, outcome, month))
    return blocks


def _verbatims(project: Project, outcome: Outcome, month: Period) -> Html:
    """A few detractors' comments of the period (a survey KPI with ``comments:``), escaped,
    the lowest answers first (:func:`reviewkit.metrics.surveys.verbatims`)."""
    metric = project.config.metrics[outcome.metric]
    window = Window(month.label, month.start, month.end)
    filters = {k: list(v) for k, v in outcome.filters}
    quoted, count = verbatims(project.workspace, metric, window, filters=filters)
    if not quoted:
        return _paragraph(f"No detractor left a comment in {month.label}.")
    lines = "\n".join(
        f"<li>“{html.escape(q.text)}” ({q.answer:g}, {html.escape(str(q.day))})</li>"
        for q in quoted
    )
    told = f"{len(quoted)} of {count:,} comments" if count > len(quoted) else f"{count} comment(s)"
    intro = f"What detractors said in {month.label} ({told}; the lowest answers first):"
    return Html(f'<p>{html.escape(intro)}</p>\n<ul class="reviewkit-verbatims">\n{lines}\n</ul>')


def _impact_table(project: Project, outcome: Outcome, frame: pd.DataFrame) -> Html:
    """The outcome's links with verdict and estimated effect, after a sentence counting them."""
    if frame.empty:
        return _paragraph("No outputs delivered by the end of the period are linked to it.")
    counts = frame["verdict"].value_counts()
    told = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if v in counts)
    metric = project.config.metrics[outcome.metric]
    ordered = frame.sort_values(["delivered", "output"], ascending=[False, True])
    shown = pd.DataFrame(
        {
            "output": ordered["output"],
            "title": ordered["title"],
            "delivered": ordered["delivered"],
            "hypothesis": ordered["hypothesis"],
            "verdict": ordered["verdict"],
            "effect": [_effect(metric, r) for r in ordered.to_dict("records")],
            "detectable": [_detectable(metric, r) for r in ordered.to_dict("records")],
        }
    )
    return table(
        shown,
        caption=f"Impact of the {len(frame)} linked output(s): {told}. {tested_text(frame)} "
        "(evidence of association, not proof)",
    )


def tested_text(frame: pd.DataFrame) -> str:
    """ "2 of 7 link(s) tested moved their KPI as hypothesised", after the false discovery rate
    step (Benjamini-Hochberg across the outcome's links)."""
    tested = int(frame["q_value"].notna().sum()) if "q_value" in frame else 0
    if not tested:
        return "None could be tested yet."
    moved = int((frame["verdict"] == MOVED).sum())
    other = int((frame["verdict"] == OTHER_WAY).sum())
    return (
        f"{moved} of {tested} link(s) tested moved their KPI as hypothesised"
        + (f" ({other} the other way)" if other else "")
        + f", with the false discovery rate across the {tested} held at 10%."
    )


def _detectable(metric: Metric, row: Mapping[str, Any]) -> str:
    """The smallest effect the link's reading detects, flagged when the hypothesis expects less:
    ``≥ 1.2 pp (expects 0.5 pp: too small to see)``."""
    size, expected = row.get("detectable"), row.get("expected_size")
    if size is None or (isinstance(size, float) and math.isnan(size)):
        return ""
    text = f"≥ {difference_text(metric, size)}"
    if isinstance(expected, int | float) and not math.isnan(expected) and abs(expected) < size:
        text += f" (expects {difference_text(metric, abs(expected))}: too small to see)"
    return text


def _effect(metric: Metric, row: Mapping[str, Any]) -> str:
    """``+6.0 pp (2.1 pp to 9.8 pp)``, or "" when nothing was measured."""
    estimate, low, high = row["estimate"], row["low"], row["high"]
    if any(v is None or math.isnan(v) for v in (estimate, low, high)):
        return ""
    return (
        f"{difference_text(metric, estimate, signed=True)} "
        f"({difference_text(metric, low)} to {difference_text(metric, high)})"
    )


def _checkin(checkin: CheckIn | None, month: Period, proposed: str) -> Html:
    if checkin is None:
        return _paragraph(
            f"No check-in is recorded for {month.label} yet; the numbers propose: {proposed}."
        )
    decisions = "; ".join(d.text + (f" ({d.owner})" if d.owner else "") for d in checkin.decisions)
    parts = [
        f"Check-in for {month.label} by {checkin.author}, {checkin.updated_at:%Y-%m-%d}: "
        f"{checkin.status} "
        f"(confidence {checkin.confidence}; the numbers proposed "
        f"{checkin.proposed_status or 'n/a'}).",
        f"Note: {checkin.note}" if checkin.note.strip() else "No note.",
        f"Decisions: {decisions}." if decisions else "No decisions.",
    ]
    return _paragraph(" ".join(parts))


@dataclass(frozen=True)
class ReviewPage:
    """What the live review page shows of a period and team, in order under its three
    headings (:data:`HEADINGS`): the executive summary, the outcome scorecard (chart and table)
    and one section per outcome."""

    HEADINGS = ("Executive summary", "Outcome scorecard", "Outcome detail")

    summary: Html
    scorecard: tuple[Block, ...]
    sections: tuple[Section, ...]


def review_page(project: Project, period: str | Period, team: str | None = None) -> ReviewPage:
    """The live review page's content (the impact computed once for all of it)."""
    month = review_period(project, period)
    impact = impacts(project, month, team)
    card = project.outcome_scorecard(month, team=_team(team))
    return ReviewPage(
        summary=bullets(executive_summary(project, month, team, impact=impact)),
        scorecard=(
            charts.scorecard_chart(card, project=project),
            scorecard_table(project, month, team),
        ),
        sections=tuple(outcome_sections(project, month, team, impact=impact)),
    )


def show_outcomes(
    project: Project,
    period: str | Period,
    team: str | None = None,
    *,
    impact: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """Display :func:`outcome_sections` in a notebook: each heading, then its blocks."""
    from IPython.display import display  # noqa: PLC0415 (only inside a kernel)

    for section in outcome_sections(project, period, team, impact=impact):
        display(section.heading_html(), *section.blocks)  # type: ignore[no-untyped-call]
