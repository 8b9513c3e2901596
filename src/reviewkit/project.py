"""A review project opened for analysis: its KPI workspace, comparisons, review model and evidence.

>>> project = open_project(".")
>>> project.kpi("csat", grain="month", by=["team"])          # a DataFrame
>>> project.scorecard("latest", team="growth")               # one row per metric
>>> project.sql("SELECT team, count(*) FROM tickets GROUP BY team")
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pandas as pd

from reviewkit.base.authors import GIVEN, Author, find_author
from reviewkit.base.errors import QueryError, ReviewkitError
from reviewkit.base.periods import Period, period_containing
from reviewkit.config import Outcome, ProjectConfig, load_config
from reviewkit.evidence import alignment as aligned
from reviewkit.evidence import impact as impacts
from reviewkit.evidence import review
from reviewkit.metrics import compare as comparisons
from reviewkit.metrics import targets
from reviewkit.metrics.coverage import Coverage
from reviewkit.metrics.explain import Explanation, explain
from reviewkit.metrics.workspace import Filters, Workspace, as_by, as_date
from reviewkit.store.core import CHECKIN_STATUSES, BusinessEvent, Decision, Store
from reviewkit.store.files import export_links, import_links

if TYPE_CHECKING:
    import pyarrow as pa

    from reviewkit.evidence.estimator import ImpactResult
    from reviewkit.sources.loaded import LoadedSource
    from reviewkit.store.core import CheckIn, Event, ImportResult, Link, ManualOutput, Review

__all__ = ["Project", "data_gap", "open_project"]


def open_project(path: str | Path = ".") -> Project:
    """Open the project whose ``reviewkit.yaml`` is in ``path``; raises :class:`ConfigError`."""
    return Project(load_config(Path(path)))


class Project:
    """One review project: its KPI :attr:`workspace` (the exports in DuckDB) and its
    :attr:`store` of links, check-ins and hand-added outputs, with the comparisons
    (:mod:`reviewkit.metrics.compare`), the review model (:mod:`reviewkit.evidence.review`) and the
    evidence (:mod:`reviewkit.evidence.alignment`, :mod:`reviewkit.evidence.impact`) over them."""

    def __init__(self, config: ProjectConfig) -> None:
        self.config = config
        self.root = config.root
        #: the exports in DuckDB and the KPI queries over them
        self.workspace = Workspace(config)
        self._store: Store | None = None
        self._opening = threading.Lock()  # a widget's thread and a cell may open it at once
        self._actor: str | None = None

    @property
    def actor(self) -> str | None:
        """Who changes are recorded under, when set in code: first in :meth:`author`'s order."""
        return self._actor

    @actor.setter
    def actor(self, name: str | None) -> None:
        self._actor = name
        if self._store is not None:  # already open: its changes are theirs from now on
            self._store.actor = self.author().name

    def author(self, given: str | None = None) -> Author:
        """Who saves (the one place that decides, :func:`reviewkit.base.authors.find_author`):
        ``given`` (a widget's ``author=``), else :attr:`actor`, else ``$REVIEWKIT_USER``, else
        ``user:`` in reviewkit.yaml, else ``$JUPYTERHUB_USER``, else ``git config user.name``
        (and ``user.email``) in the project's folder, else the OS user. Its
        :attr:`~reviewkit.base.authors.Author.person` is False when only the OS user root was
        found."""
        return find_author(
            given or self._actor,
            configured=self.config.user,
            folder=self.root,
            given_as="author=" if given else GIVEN,
        )

    def __repr__(self) -> str:
        return f"<reviewkit project {self.config.name!r} at {self.root}>"

    def close(self) -> None:
        self.workspace.close()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- KPIs, from the workspace ----------------------------------------------------------------
    def kpis(
        self,
        metrics: Sequence[str] | None = None,
        *,
        grain: str = "month",
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        filters: Filters | None = None,
        by: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """Long table of ``period_start, period_end, period, <by...>, metric, value``
        (:meth:`Workspace.kpis <reviewkit.metrics.workspace.Workspace.kpis>`)."""
        return self.workspace.kpis(
            metrics, grain=grain, start=start, end=end, filters=filters, by=by
        )

    def kpi(
        self,
        metric: str,
        *,
        grain: str = "month",
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        filters: Filters | None = None,
        by: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """One KPI series: ``period_start, period_end, period, <by...>, value``."""
        return self.workspace.kpi(metric, grain=grain, start=start, end=end, filters=filters, by=by)

    def cohorts(
        self,
        metric: str,
        *,
        grain: str = "month",
        filters: Filters | None = None,
        through: dt.date | None = None,
        latest: int | None = None,
    ) -> pd.DataFrame:
        """Cohort retention: ``cohort, period, age, size, value``, as of ``through`` and for
        the cohorts of the ``latest`` periods when given
        (:meth:`Workspace.cohorts <reviewkit.metrics.workspace.Workspace.cohorts>`)."""
        return self.workspace.cohorts(
            metric, grain=grain, filters=filters, through=through, latest=latest
        )

    def explain(
        self,
        metric: str,
        period: str | Period = "latest",
        *,
        by: str | None = None,
        against: str = "previous",
        filters: Filters | None = None,
    ) -> Explanation:
        """Why ``metric`` moved from the previous period (or a year earlier) to ``period``: its
        change split exactly across the members of ``by``, or across its inputs
        (:func:`reviewkit.metrics.explain.explain`)."""
        chosen = period if isinstance(period, Period) else self.period(period, None, [metric])
        return explain(self.workspace, metric, chosen, by=by, against=against, filters=filters)

    def kpi_table(self, metric: str, **options: Any) -> pd.DataFrame:
        """:meth:`kpi` for reading: one row per period, one column per group, formatted values."""
        return self.workspace.kpi_table(metric, **options)

    def kpi_arrow(self, metric: str, **options: Any) -> pa.Table:
        """:meth:`kpi` as an Arrow table (quarantine counts in the schema metadata)."""
        return self.workspace.kpi_arrow(metric, **options)

    def catalogue(self) -> pd.DataFrame:
        """The metric catalogue: name, label, description, how it is computed, format, direction."""
        return self.workspace.catalogue()

    def sql(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run SQL over every declared source (each is a view named after it); pass values as
        ``params`` (``?`` or ``$name`` placeholders), never inside ``query``."""
        return self.workspace.sql(query, params)

    def source(self, name: str) -> LoadedSource:
        """The loaded source ``name`` (parsed or from the cache), registered as a DuckDB view."""
        return self.workspace.source(name)

    def period(
        self,
        text: str,
        grain: str | None = None,
        metrics: Iterable[str] | None = None,
        today: dt.date | None = None,
    ) -> Period:
        """Parse a period (``2026-10``, ``FY2026``, ``last-month``, ``latest``...); ``latest`` is
        the latest period every source behind ``metrics`` covers completely."""
        return self.workspace.period(text, grain, metrics, today)

    def data_through(self, metrics: Iterable[str] | None = None) -> dt.date | None:
        """The last date all the data behind ``metrics`` (default: all metrics) reaches."""
        return self.workspace.data_through(metrics)

    def coverage(self, metrics: Iterable[str], start: dt.date, end: dt.date) -> Coverage:
        """How completely the data behind ``metrics`` covers [start, end]."""
        return self.workspace.coverage(metrics, start, end)

    def quarantined(self, sources: Iterable[str]) -> dict[str, int]:
        """Rows set aside per source (``on_error: quarantine``), for sources that have any."""
        return self.workspace.quarantined(sources)

    def outcome(self, outcome_id: str) -> Outcome:
        """The declared outcome ``outcome_id`` (a QueryError naming the known ids if absent)."""
        return self.workspace.outcome(outcome_id)

    # -- comparisons ----------------------------------------------------------------------------
    def compare(
        self,
        metric: str,
        period: str | Period = "latest",
        *,
        grain: str | None = None,
        by: Sequence[str] | str | None = None,
        filters: Filters | None = None,
    ) -> pd.DataFrame:
        """The period's value against the previous period and the same period a year earlier,
        with coverage, changes and flags (one row per group)."""
        chosen = self.workspace.resolve(period, grain, [metric])
        return comparisons.compare(self.workspace, metric, chosen, by=as_by(by), filters=filters)

    def to_date(
        self,
        metric: str,
        as_of: dt.date | str | None = None,
        *,
        by: Sequence[str] | str | None = None,
        filters: Filters | None = None,
    ) -> pd.DataFrame:
        """MTD, QTD and YTD (fiscal-aware) through ``as_of`` (default: the data's last date)
        against the same dates a year earlier."""
        day = (
            as_date(as_of, "as_of") if as_of is not None else self.workspace.data_through([metric])
        )
        if day is None:
            raise QueryError(f"metric '{metric}' has no data yet")
        return comparisons.to_date(self.workspace, metric, day, by=as_by(by), filters=filters)

    def trailing(
        self,
        metric: str,
        period: str | Period = "latest",
        count: int = 12,
        *,
        grain: str | None = None,
        by: Sequence[str] | str | None = None,
        filters: Filters | None = None,
    ) -> pd.DataFrame:
        """The ``count`` periods ending with ``period``, each beside the same period a year
        earlier (e.g. the last 6 weeks, the last 12 months)."""
        chosen = self.workspace.resolve(period, grain, [metric])
        return comparisons.trailing(
            self.workspace, metric, chosen, count, by=as_by(by), filters=filters
        )

    def wbr(
        self,
        metric: str,
        week_ending: dt.date | str | None = None,
        *,
        filters: Filters | None = None,
    ) -> comparisons.WbrView:
        """The Weekly Business Review view of a metric for the week ending ``week_ending``
        (default: the latest complete week)."""
        day = (
            as_date(week_ending, "week_ending")
            if week_ending is not None
            else self.workspace.period("latest", "week", [metric]).end
        )
        assert day is not None
        return comparisons.wbr(self.workspace, metric, day, filters=filters)

    def scorecard(
        self,
        period: str | Period = "latest",
        *,
        grain: str | None = None,
        team: str | None = None,
        metrics: Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> pd.DataFrame:
        """One row per metric with value, comparisons, target, status and flags; ``team`` keeps
        that team's rows (the `team` dimension) and uses that team's targets."""
        names = list(metrics) if metrics is not None else list(self.config.metrics)
        chosen = self.workspace.resolve(period, grain, names)
        wanted = dict(filters or {})
        if team is not None:
            wanted["team"] = team
        return comparisons.scorecard(self.workspace, chosen, metrics=names, filters=wanted)

    # -- the review model: outcomes, outputs, links, check-ins -----------------------------------
    @property
    def store(self) -> Store:
        """The project's store of links, check-ins and hand-added outputs (opened on first use)."""
        with self._opening:
            if self._store is None:
                self._store = Store(self.config.store_location, actor=lambda: self.author().name)
            return self._store

    def outcomes(self) -> pd.DataFrame:
        """The outcomes declared in reviewkit.yaml, parents before children."""
        return review.outcome_frame(self.workspace)

    def outputs(
        self,
        *,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        team: str | None = None,
        unlinked: bool = False,
        search: str | None = None,
    ) -> pd.DataFrame:
        """Delivered outputs (export and hand-added) with the outcomes each is linked to."""
        return review.outputs(
            self.workspace,
            self.store,
            start=as_date(start, "start"),
            end=as_date(end, "end"),
            team=team,
            unlinked=unlinked,
            search=search,
        )

    def link(
        self,
        output_id: str,
        outcome_id: str,
        *,
        hypothesis: str = "",
        direction: str | None = None,
        size: float | None = None,
        lag_days: int | None = None,
        confidence: str = "medium",
        author: str | None = None,
    ) -> Link:
        """Record that ``output_id`` should move ``outcome_id`` (creates or updates the link).

        ``direction`` defaults to the way the outcome's metric gets better."""
        outcome = self.outcome(outcome_id)
        known = set(self.outputs()["id"])
        if output_id not in known:
            raise QueryError(
                f"unknown output '{output_id}'; it is neither in the outputs export nor added "
                "by hand (project.add_output)"
            )
        if direction is None:
            direction = self._better_way(outcome)
        return self.store.link(
            output_id,
            outcome_id,
            hypothesis=hypothesis,
            direction=direction,
            size=size,
            lag_days=lag_days,
            confidence=confidence,
            author=author,
        )

    def unlink(self, output_id: str, outcome_id: str, *, author: str | None = None) -> Link:
        """Remove the link (the store keeps it in its history)."""
        return self.store.unlink(output_id, outcome_id, author=author)

    def events_about(
        self,
        metric: str,
        *,
        filters: Filters | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[BusinessEvent]:
        """The business events (``reviewkit events``) a chart or review of ``metric`` shows: about
        it (or every KPI), concerning the segment ``filters`` selects (company-wide ones, and
        those scoped to a segment the filters do not exclude), and overlapping ``start`` to
        ``end``; by start."""
        segment = {k: [v] if isinstance(v, str) else list(v) for k, v in (filters or {}).items()}
        return [
            event
            for event in self.store.business_events(metric=metric)
            if not event.clashes(segment)
            and (end is None or event.start <= end)
            and (start is None or (event.end or event.start) >= start)
        ]

    def links(self, *, outcome_id: str | None = None, output_id: str | None = None) -> pd.DataFrame:
        """Live links, one row each."""
        rows = [
            asdict(link) for link in self.store.links(outcome_id=outcome_id, output_id=output_id)
        ]
        return pd.DataFrame(rows)

    def add_output(
        self,
        output_id: str,
        *,
        title: str,
        team: str,
        delivered: dt.date | str,
        type: str = "",
        effort: float | None = None,
        url: str | None = None,
        labels: Sequence[str] = (),
        author: str | None = None,
    ) -> ManualOutput:
        """Add an output by hand (work that no export lists)."""
        day = as_date(delivered, "delivered")
        assert day is not None
        return self.store.add_output(
            output_id,
            title=title,
            team=team,
            delivered=day,
            type=type,
            effort=effort,
            url=url,
            labels=labels,
            author=author,
        )

    def outcome_scorecard(
        self, period: str | Period = "latest", *, team: str | None = None
    ) -> pd.DataFrame:
        """One row per outcome (optionally of one team): its KPI's value for the period, changes,
        target to date, status proposed from the numbers, and flags; what needs a decision
        first (off track, at risk, on track, then the rest: :data:`targets.ATTENTION`), each
        status in the order of reviewkit.yaml."""
        chosen = self.workspace.resolve(
            period, None, list({o.metric for o in self.config.outcomes.values()})
        )
        rows = []
        for outcome in self.config.outcomes.values():
            if team is not None and outcome.team != team:
                continue
            card = comparisons.scorecard(
                self.workspace,
                chosen,
                metrics=[outcome.metric],
                filters=dict(outcome.filters),
                target=outcome.target,
            )
            row = card.iloc[0].to_dict()
            rows.append(
                {
                    "outcome": outcome.id,
                    "title": outcome.title,
                    "team": outcome.team,
                    "owner": outcome.owner,
                    "parent": outcome.parent,
                    **row,
                }
            )
        rank = {status: place for place, status in enumerate(targets.ATTENTION)}
        rows.sort(key=lambda row: rank.get(row["status"], len(rank)))
        return pd.DataFrame(rows)

    def checkin(
        self,
        outcome_id: str,
        period: str | Period,
        *,
        status: str | None = None,
        confidence: str = "medium",
        note: str = "",
        decisions: Sequence[Decision | Mapping[str, Any]] = (),
        author: str | None = None,
    ) -> CheckIn:
        """Record an outcome's check-in for a review period. The status is proposed from the
        numbers (the outcome's KPI against its target to date); pass ``status`` to override.
        A survey KPI behind its target by no more than its noise ("within noise") proposes
        none: the review decides."""
        outcome = self.outcome(outcome_id)
        chosen = self.workspace.resolve(period, None, [outcome.metric])
        proposed = self.proposed_status(outcome_id, chosen)
        decided = proposed in CHECKIN_STATUSES
        chosen_status = status or (proposed if decided else None)
        if chosen_status is None:
            why = (
                f"is within noise of its target in {chosen.label} (behind it, by less than its "
                "answers' noise): the review decides"
                if proposed == "within noise"
                else f"has no target to propose a status from for {chosen.label}"
            )
            raise QueryError(
                f"outcome '{outcome_id}' {why}; pass status= (on track, at risk or off track)"
            )
        return self.store.checkin(
            outcome_id,
            chosen.label,
            status=chosen_status,
            proposed_status=proposed if decided else None,
            confidence=confidence,
            note=note,
            decisions=[_decision(d) for d in decisions],
            author=author,
        )

    def proposed_status(self, outcome_id: str, period: str | Period) -> str:
        """on track / at risk / off track from the numbers, or n/a without a target or value."""
        outcome = self.outcome(outcome_id)
        chosen = self.workspace.resolve(period, None, [outcome.metric])
        card = comparisons.scorecard(
            self.workspace,
            chosen,
            metrics=[outcome.metric],
            filters=dict(outcome.filters),
            target=outcome.target,
        )
        return str(card.iloc[0]["status"])

    def checkins(
        self, *, period: str | None = None, outcome_id: str | None = None
    ) -> list[CheckIn]:
        """Recorded check-ins."""
        return self.store.checkins(outcome_id=outcome_id, period=period)

    def followups(self, period: str | Period, *, team: str | None = None) -> pd.DataFrame:
        """Decisions recorded at the previous review, for follow-up in this one."""
        chosen = self.workspace.resolve(period, None, [])
        previous = chosen.shift(-1).label
        rows = []
        for checkin in self.store.checkins(period=previous):
            outcome = self.config.outcomes.get(checkin.outcome_id)
            if outcome is None or (team is not None and outcome.team != team):
                continue
            rows += [
                {"outcome": checkin.outcome_id, "period": previous, **asdict(d)}
                for d in checkin.decisions
            ]
        return pd.DataFrame(rows, columns=["outcome", "period", "text", "owner", "due", "done"])

    def review_gaps(self, period: str | Period, *, team: str | None = None) -> list[str]:
        """What stops the review from being complete: outcomes without a check-in, and
        off-target outcomes (at risk or off track) without a note."""
        chosen = self.workspace.resolve(period, None, [])
        recorded = {c.outcome_id: c for c in self.store.checkins(period=chosen.label)}
        gaps = []
        for outcome in self.config.outcomes.values():
            if team is not None and outcome.team != team:
                continue
            checkin = recorded.get(outcome.id)
            if checkin is None:
                gaps.append(f"outcome '{outcome.id}' has no check-in for {chosen.label}")
            elif checkin.status != "on track" and not checkin.note.strip():
                gaps.append(
                    f"outcome '{outcome.id}' is {checkin.status} in {chosen.label} but "
                    "has no note: say why and what happens next"
                )
        return gaps

    def complete_review(
        self, period: str | Period, *, team: str | None = None, author: str | None = None
    ) -> Review:
        """Mark the review complete; refused while :meth:`review_gaps` lists anything."""
        chosen = self.workspace.resolve(period, None, [])
        gaps = self.review_gaps(chosen, team=team)
        if gaps:
            raise ReviewkitError(
                f"the {chosen.label} review{f' of {team}' if team else ''} cannot be marked "
                "complete yet:\n" + "\n".join(f"- {g}" for g in gaps)
            )
        return self.store.complete_review(chosen.label, team=team, author=author)

    def alignment(
        self, period: str | Period = "latest", *, team: str | None = None, neglect_periods: int = 3
    ) -> aligned.Alignment:
        """Share of outputs and effort linked to an outcome per team, and neglected outcomes."""
        chosen = self.workspace.resolve(period, None, [])
        return aligned.alignment(
            self.workspace, self.store, chosen, team=team, neglect_periods=neglect_periods
        )

    def impact(
        self,
        link: Link | str,
        outcome_id: str | None = None,
        *,
        as_of: dt.date | str | None = None,
    ) -> ImpactResult | pd.DataFrame:
        """Impact evidence: for a link (a :class:`Link`, or an output id and an outcome id) the
        :class:`ImpactResult`; for an outcome id alone, :meth:`outcome_impact`. Did the KPI move
        after the output, plus lag, against its counterfactual and the other segments?
        Association, not proof."""
        day = as_date(as_of, "as_of")
        if isinstance(link, str) and outcome_id is None:
            return impacts.outcome_impact(self.workspace, self.store, link, as_of=day)
        if isinstance(link, str):
            assert outcome_id is not None
            found = self.store.links(outcome_id=outcome_id, output_id=link)
            if not found:
                raise QueryError(
                    f"there is no link from '{link}' to '{outcome_id}'; create it first "
                    "(project.link)"
                )
            link = found[0]
        return impacts.link_impact(self.workspace, self.store, link, as_of=day)

    def changes_since_review(self, *, team: str | None = None) -> list[Event]:
        """What changed in the store (links, check-ins, outputs) since the last completed
        review (of ``team``, or of the whole organisation); everything if there was none."""
        done = [r for r in self.store.reviews() if r.team == team]
        if not done:
            return self.store.events()
        return self.store.changes_since(max(r.completed_at for r in done))

    def outcome_impact(
        self, outcome_id: str, *, as_of: dt.date | str | None = None
    ) -> pd.DataFrame:
        """Every link of an outcome with its verdict; ``attrs["rollup"]`` counts verdicts."""
        return impacts.outcome_impact(
            self.workspace, self.store, outcome_id, as_of=as_date(as_of, "as_of")
        )

    def outcome_results(
        self, outcome_id: str, *, as_of: dt.date | str | None = None
    ) -> dict[str, ImpactResult]:
        """Every link of an outcome measured together, by output id: the verdicts its review
        shows, with the false discovery rate controlled across them."""
        return impacts.outcome_results(
            self.workspace, self.store, outcome_id, as_of=as_date(as_of, "as_of")
        )

    def team_impact(
        self, team: str, period: str | Period = "latest", *, months: int = 12
    ) -> dict[str, Any]:
        """Share of a team's effort delivered in the ``months`` up to ``period`` that went into
        outputs whose linked KPI moved as hypothesised."""
        chosen = self.workspace.resolve(period, None, [])
        start = period_containing(chosen.end, "month", self.config.calendar).shift(1 - months)
        return impacts.team_impact(self.workspace, self.store, team, start.start, chosen.end)

    def export_links(self, path: Path) -> list[Path]:
        """Write every live link and check-in to ``path`` (.yaml, .yml or .csv, see
        :mod:`reviewkit.store.files`); the files written."""
        return export_links(self.store, path)

    def import_links(self, path: Path, *, author: str | None = None) -> ImportResult:
        """Import links and check-ins exported by ``reviewkit links export``, refusing any that
        name an unknown output or outcome (nothing is imported then). A link without a
        direction takes the way its outcome's metric gets better, as :meth:`link` does."""
        outputs_known = set(self.outputs()["id"])
        return import_links(
            self.store,
            path,
            author=author,
            known_outputs=outputs_known,
            known_outcomes=set(self.config.outcomes),
            directions={o.id: self._better_way(o) for o in self.config.outcomes.values()},
        )

    def _better_way(self, outcome: Outcome) -> str:
        """The direction a link to ``outcome`` hopes for: the way its metric gets better."""
        better = self.config.metrics[outcome.metric].direction
        return "increase" if better == "higher" else "decrease"


def data_gap(project: Project, month: Period, team: str | None = None) -> str | None:
    """A sentence for the top of a review none of whose outcomes (of ``team``, or all) has data
    for ``month`` (an export that stopped, a period asked for ahead of the data), naming where
    the data ends; None when any outcome has data for it."""
    outcomes = project.config.outcomes.values()
    metrics = sorted({o.metric for o in outcomes if team is None or o.team == team})
    if not metrics or any(project.coverage([m], month.start, month.end).covered for m in metrics):
        return None
    through = project.data_through(metrics)
    if through is None:
        return f"No outcome has data for {month.label}: their sources have no data yet."
    last = project.period(through.isoformat(), "month")
    return (
        f"No outcome has data for {month.label}: the data behind them runs through {through}, "
        f"so this review shows no values or statuses; {last.label} is the latest month with "
        "data."
    )


def _decision(value: Decision | Mapping[str, Any]) -> Decision:
    if isinstance(value, Decision):
        return value
    due = value.get("due")
    return Decision(
        text=str(value.get("text", "")),
        owner=str(value.get("owner", "")),
        due=as_date(due, "due") if due else None,
        done=bool(value.get("done", False)),
    )
