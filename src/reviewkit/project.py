"""A review project opened for analysis: its KPI workspace, comparisons, review model and evidence.

>>> project = open_project(".")
>>> project.kpi("csat", grain="month", by=["team"])          # a DataFrame
>>> project.scorecard("latest", team="growth")               # one row per metric
>>> project.sql("SELECT team, count(*) FROM tickets GROUP BY team")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from reviewkit.base.errors import ConfigError, DataError, Problem, QueryError, ReviewkitError
from reviewkit.base.files import relative
from reviewkit.base.periods import Period, period_containing
from reviewkit.base.sql import quote_ident
from reviewkit.config import CONFIG_FILE, Outcome, ProjectConfig, load_config
from reviewkit.evidence import alignment as aligned
from reviewkit.evidence import impact as impacts
from reviewkit.evidence import review
from reviewkit.metrics import compare as comparisons
from reviewkit.metrics.catalogue import (
    KpiRequest,
    compute_kpis,
    monthly_rate,
    value_column,
    weekday_share,
)
from reviewkit.metrics.workspace import Filters, Workspace, as_by, as_date
from reviewkit.sources.loading import source_files
from reviewkit.sources.quality import blank_rows
from reviewkit.store.core import Decision, Store
from reviewkit.store.files import export_links, import_links

if TYPE_CHECKING:
    from reviewkit.evidence.estimator import ImpactResult
    from reviewkit.store.core import CheckIn, Event, ImportResult, Link, ManualOutput, Review

__all__ = ["Project", "check_project", "data_gap", "open_project"]

#: From this share of a daily series' day-to-day variation explained by the weekday, one day's
#: value says more about its weekday than about the period: the weekday outweighs noise and
#: everything else together. The sample's daily series score 0.70 (NPS responses) to 0.95
#: (signups), active users 0.94; pure noise over 8 weeks scores above 0.40 once in 1,000 series.
WEEKLY_SEASONAL_SHARE: Final = 0.5


def open_project(path: str | Path = ".") -> Project:
    """Open the project whose ``reviewkit.yaml`` is in ``path``; raises :class:`ConfigError`."""
    return Project(load_config(Path(path)))


class Project(Workspace):
    """One review project: its KPI workspace, with the comparisons, the store of links and
    check-ins, and the evidence of impact on top."""

    def __init__(self, config: ProjectConfig) -> None:
        super().__init__(config)
        self._store: Store | None = None
        #: who the store records as the author of changes (default: $REVIEWKIT_USER or the OS user)
        self.actor: str | None = None

    def __repr__(self) -> str:
        return f"<reviewkit project {self.config.name!r} at {self.root}>"

    def close(self) -> None:
        super().close()
        if self._store is not None:
            self._store.close()

    def config_files(self) -> list[Path]:
        """reviewkit.yaml and the files it includes."""
        data = self.config.located.data
        included = data.get("include", []) if isinstance(data, dict) else []
        names = [CONFIG_FILE, *(str(name) for name in included)]
        return [self.root / name for name in dict.fromkeys(names)]

    def inputs(self) -> dict[str, Any]:
        """What a review reads, as its snapshot records it: the content hash of every export
        file and of the config files, by path relative to the project, the store's last event
        id (None without a store file: opening it would create one), and for each source in a
        SQL engine, its table or query with the rows and dates it had (a stamp, not a hash:
        reviewkit cannot tell every change of a warehouse's table)."""
        exports = {
            relative(path, self.root): self.cache.digest(path)
            for source in self.config.sources.values()
            for path in source_files(self.config, source)
        }
        warehouse = {}
        for name, source in self.config.sources.items():
            if source.engine is not None:
                loaded = self.source(name)
                warehouse[name] = {
                    "engine": source.engine,
                    "table": source.table,
                    "query": source.query,
                    "rows": loaded.rows,
                    "first": str(loaded.min_date),
                    "last": str(loaded.max_date),
                }
        config = {
            relative(path, self.root): self.cache.digest(path) for path in self.config_files()
        }
        last_event = None
        store = self.config.store_location
        if not isinstance(store, Path) or store.exists():
            last_event = self.store.last_event_id()
        return {
            "exports": exports,
            "config": config,
            "store_last_event_id": last_event,
            **({"warehouse": warehouse} if warehouse else {}),
        }

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
        chosen = self.resolve(period, grain, [metric])
        return comparisons.compare(self, metric, chosen, by=as_by(by), filters=filters)

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
        day = as_date(as_of, "as_of") if as_of is not None else self.data_through([metric])
        if day is None:
            raise QueryError(f"metric '{metric}' has no data yet")
        return comparisons.to_date(self, metric, day, by=as_by(by), filters=filters)

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
        chosen = self.resolve(period, grain, [metric])
        return comparisons.trailing(self, metric, chosen, count, by=as_by(by), filters=filters)

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
            else self.period("latest", "week", [metric]).end
        )
        assert day is not None
        return comparisons.wbr(self, metric, day, filters=filters)

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
        chosen = self.resolve(period, grain, names)
        wanted = dict(filters or {})
        if team is not None:
            wanted["team"] = team
        return comparisons.scorecard(self, chosen, metrics=names, filters=wanted)

    # -- the review model: outcomes, outputs, links, check-ins -----------------------------------
    @property
    def store(self) -> Store:
        """The project's store of links, check-ins and hand-added outputs (opened on first use)."""
        if self._store is None:
            self._store = Store(self.config.store_location, actor=self.actor)
        return self._store

    def outcomes(self) -> pd.DataFrame:
        """The outcomes declared in reviewkit.yaml, parents before children."""
        return review.outcome_frame(self)

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
            self,
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
        target to date, status proposed from the numbers, and flags."""
        chosen = self.resolve(period, None, list({o.metric for o in self.config.outcomes.values()}))
        rows = []
        for outcome in self.config.outcomes.values():
            if team is not None and outcome.team != team:
                continue
            card = comparisons.scorecard(
                self,
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
        numbers (the outcome's KPI against its target to date); pass ``status`` to override."""
        outcome = self.outcome(outcome_id)
        chosen = self.resolve(period, None, [outcome.metric])
        proposed = self.proposed_status(outcome_id, chosen)
        chosen_status = status or (proposed if proposed != "n/a" else None)
        if chosen_status is None:
            raise QueryError(
                f"outcome '{outcome_id}' has no target to propose a status from for "
                f"{chosen.label}; pass status= (on track, at risk or off track)"
            )
        return self.store.checkin(
            outcome_id,
            chosen.label,
            status=chosen_status,
            proposed_status=None if proposed == "n/a" else proposed,
            confidence=confidence,
            note=note,
            decisions=[_decision(d) for d in decisions],
            author=author,
        )

    def proposed_status(self, outcome_id: str, period: str | Period) -> str:
        """on track / at risk / off track from the numbers, or n/a without a target or value."""
        outcome = self.outcome(outcome_id)
        chosen = self.resolve(period, None, [outcome.metric])
        card = comparisons.scorecard(
            self,
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
        chosen = self.resolve(period, None, [])
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
        chosen = self.resolve(period, None, [])
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
        chosen = self.resolve(period, None, [])
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
        chosen = self.resolve(period, None, [])
        return aligned.alignment(
            self, self.store, chosen, team=team, neglect_periods=neglect_periods
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
            return impacts.outcome_impact(self, self.store, link, as_of=day)
        if isinstance(link, str):
            assert outcome_id is not None
            found = self.store.links(outcome_id=outcome_id, output_id=link)
            if not found:
                raise QueryError(
                    f"there is no link from '{link}' to '{outcome_id}'; create it first "
                    "(project.link)"
                )
            link = found[0]
        return impacts.link_impact(self, self.store, link, as_of=day)

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
        return impacts.outcome_impact(self, self.store, outcome_id, as_of=as_date(as_of, "as_of"))

    def team_impact(
        self, team: str, period: str | Period = "latest", *, months: int = 12
    ) -> dict[str, Any]:
        """Share of a team's effort delivered in the ``months`` up to ``period`` that went into
        outputs whose linked KPI moved as hypothesised."""
        chosen = self.resolve(period, None, [])
        start = period_containing(chosen.end, "month", self.config.calendar).shift(1 - months)
        return impacts.team_impact(self, self.store, team, start.start, chosen.end)

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


def check_project(path: str | Path = ".") -> list[Problem]:
    """Every problem with a project: its config, each export, and each metric expression."""
    try:
        config = load_config(Path(path))
    except ConfigError as exc:
        return list(exc.problems) or [Problem(str(Path(path) / CONFIG_FILE), str(exc))]
    problems: list[Problem] = []
    with Project(config) as project:
        for name in config.sources:
            try:
                loaded = project.source(name)
            except DataError as exc:
                problems.extend(exc.problems)
                # the headline says what the problems mean for the source and what to do
                problems.append(
                    Problem(
                        config.located.path,
                        str(exc).splitlines()[0].rstrip(":"),
                        config.line_of("sources", name),
                        key=f"sources.{name}",
                    )
                )
                continue
            problems.extend(
                Problem(p.path, p.message, p.line, p.col, p.key, severity="warning")
                for p in loaded.rejected
            )
            if loaded.quarantined:
                problems.append(
                    Problem(
                        config.located.path,
                        f"{loaded.quarantined} row(s) of source '{name}' are quarantined "
                        "(on_error: quarantine); they are left out of every KPI and counted in "
                        "its output",
                        config.line_of("sources", name, "on_error"),
                        key=f"sources.{name}.on_error",
                        severity="warning",
                    )
                )
        problems.extend(_check_metrics(project))
        problems.extend(_check_outputs(project))
        problems.extend(_check_blank_runs(project))
        problems.extend(_check_rollups(config))
    return problems


def _check_rollups(config: ProjectConfig) -> list[Problem]:
    """A ratio of a monthly snapshot's counts (a rate such as retention) without ``rollup:``
    has no value over a quarter or a year: say so before a review shows n/a there."""
    problems = []
    for name, metric in config.metrics.items():
        source = monthly_rate(config, name)
        if source is None or metric.rollup:
            continue
        line, col = config.located.where(("metrics", name))
        problems.append(
            Problem(
                config.located.path,
                f"metric '{name}' is a ratio of the monthly snapshot '{source}' (a monthly "
                "rate): over a quarter or a year it has no value, since summed snapshots make no "
                "rate; add `rollup: average_of_periods` to show its average monthly rate there",
                line,
                col,
                key=f"metrics.{name}",
                severity="warning",
            )
        )
    return problems


def _check_blank_runs(project: Project) -> list[Problem]:
    """A column that metrics aggregate and that is blank from some date on, over two days or
    more (an export that lists the days ahead, or whose last days are not filled in yet): those
    days are missing for its metrics, never zero, which the analyst should know before a review
    says so. (A last day alone is usually one not filled in yet: the review flags it as in
    progress.)"""
    config = project.config
    aggregated = {(m.source, value_column(m)) for m in config.metrics.values()}
    problems = []
    for name in project._loaded:
        source = config.sources[name]
        day = f"CAST({quote_ident(source.date.column)} AS DATE)"
        for column, _ in source.values:
            if (name, column) not in aggregated:
                continue
            valued = (
                f"(SELECT max({day}) FROM {quote_ident(name)} "
                f"WHERE {quote_ident(column)} IS NOT NULL)"
            )
            ((first, rows, days),) = project.source_rows(
                name,
                f"SELECT min({day}), count(*), count(DISTINCT {day}) FROM {quote_ident(name)} "
                f"WHERE {day} > coalesce({valued}, DATE '0001-01-01')",
            )
            if days < 2:
                continue
            line, col = config.located.where(("sources", name, "values", column))
            problems.append(
                Problem(
                    config.located.path,
                    f"source '{name}': {column} is blank from {first} on: {rows} row(s); "
                    "reviews will treat those days as missing (not zero) until it is filled in",
                    line,
                    col,
                    key=f"sources.{name}.values.{column}",
                    severity="warning",
                )
            )
    return problems


def _check_outputs(project: Project) -> list[Problem]:
    """The outputs mapping names columns the export must really have (text columns such as the
    id and title are not declared under the source, so only the file can tell), and each
    output's id must be there (a title or team missing is a warning: the row still counts)."""
    spec = project.config.outputs
    if spec is None or spec.source not in project._loaded:
        return []
    columns = set(project.columns(spec.source))
    problems = []
    for key in ("id", "title", "team", "type", "effort", "url", "labels"):
        name = getattr(spec, key)
        if name is not None and name not in columns:
            line, col = project.config.located.where(("outputs", key))
            problems.append(
                Problem(
                    project.config.located.path,
                    f"source '{spec.source}' has no column '{name}'; its columns are: "
                    + ", ".join(sorted(columns)),
                    line,
                    col,
                    key=f"outputs.{key}",
                )
            )
    if problems:
        return problems
    loaded = project._loaded[spec.source]
    return [
        *blank_rows(
            loaded,
            spec.id,
            f"column '{spec.id}' is blank, so this output has no id to link it by; fill it in "
            "(or remove the row)",
            key="outputs.id",
        ),
        *blank_rows(
            loaded,
            spec.title,
            f"column '{spec.title}' is blank, so this output is shown without a title; fill it in",
            key="outputs.title",
            severity="warning",
        ),
        *blank_rows(
            loaded,
            spec.team,
            f"column '{spec.team}' is blank, so this output counts for no team in alignment; fill "
            "it in",
            key="outputs.team",
            severity="warning",
        ),
    ]


def _check_metrics(project: Project) -> list[Problem]:
    """Bind every base metric against its loaded source, so a bad expression or column is named
    with its line in reviewkit.yaml instead of failing later in a report."""
    config = project.config
    problems = []
    for name, metric in config.metrics.items():
        if metric.derived or metric.source not in project._loaded:
            continue
        request = KpiRequest(metrics=(name,), grain="month")
        key = "expression" if metric.expression else "column"
        line, col = config.located.where(("metrics", name, key))
        try:
            columns = project.columns(metric.source or "")
            if metric.column and metric.column not in columns:
                raise QueryError(
                    f"source '{metric.source}' has no column '{metric.column}'; its columns are: "
                    + ", ".join(columns)
                )
            compute_kpis(project._con, config, request, project._loaded, project.results)
        except ReviewkitError as exc:
            problems.append(
                Problem(
                    config.located.path,
                    str(exc),
                    line,
                    col,
                    key=f"metrics.{name}.{key}",
                )
            )
            continue
        if metric.agg in ("first", "last") and config.sources[metric.source].date.grain == "day":
            problems.extend(_check_weekday_level(project, name))
    return problems


def _check_weekday_level(project: Project, name: str) -> list[Problem]:
    """A `first`/`last` level of a weekly-seasonal daily series compares one weekday with
    another from month to month (the sample's active users fell 66% in a month that ended on a
    Saturday): warn, with the days compared, unless the weekday barely moves the series."""
    config = project.config
    metric = config.metrics[name]
    share = weekday_share(project.source_rows, config, name)
    if share is None or share < WEEKLY_SEASONAL_SHARE:
        return []

    def boundary(period: Period) -> dt.date:
        return period.end if metric.agg == "last" else period.start

    # Reviews compare months (weeks, and their year ago 364 days back, keep weekdays aligned).
    # Months' last days share a weekday only across a 28-day February (first days: from one), so
    # of the latest month's MoM and the one before, at least one compares different weekdays.
    latest = project.period("latest", "month", [name])
    current, base = next(
        (p, p.shift(-1))
        for p in (latest, latest.shift(-1))
        if boundary(p).weekday() != boundary(p.shift(-1)).weekday()
    )
    day, other = boundary(current), boundary(base)
    line, col = config.located.where(("metrics", name, "agg"))
    return [
        Problem(
            config.located.path,
            f"daily values of '{metric.column}' vary by weekday (the weekday explains "
            f"{share:.0%} of their day-to-day variation), so `agg: {metric.agg}` compares "
            f"{day} ({day:%A}) with {other} ({other:%A}) in {current.label}'s MoM: a weekday "
            "effect, not a change; use `agg: daily_mean` (the average of the daily totals), or "
            f"review it by week (`--grain week`), whose {metric.agg} days share a weekday",
            line,
            col,
            key=f"metrics.{name}.agg",
            severity="warning",
        )
    ]


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
