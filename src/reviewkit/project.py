"""A review project opened for analysis: its config, its exports in DuckDB, and KPI queries.

>>> project = open_project(".")
>>> project.kpi("csat", grain="month", by=["team"])          # a DataFrame
>>> project.sql("SELECT team, count(*) FROM tickets GROUP BY team")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb
import pandas as pd
import pyarrow as pa

from reviewkit import compare as comparisons
from reviewkit import evidence, review
from reviewkit.config import CONFIG_FILE, Outcome, ProjectConfig, load_config
from reviewkit.coverage import Coverage, SourceDates, coverage_of
from reviewkit.errors import ConfigError, DataError, Problem, QueryError, ReviewkitError
from reviewkit.metrics import (
    KpiRequest,
    compute_kpis,
    format_value,
    metric_sources,
    weekday_share,
)
from reviewkit.periods import Period, Window, parse_period, period_containing
from reviewkit.sources import (
    LoadedSource,
    SourceCache,
    connect,
    load_source,
    quote_ident,
    quote_literal,
)

if TYPE_CHECKING:
    from reviewkit.impact import ImpactResult
    from reviewkit.store import (
        CheckIn,
        Decision,
        Event,
        ImportResult,
        Link,
        ManualOutput,
        Review,
        Store,
    )

__all__ = ["Project", "check_project", "open_project"]

Filters = Mapping[str, str | Sequence[str]]
KPI_COLUMNS = ("period_start", "period_end", "period", "metric", "value", "text")
#: From this share of a daily series' day-to-day variation explained by the weekday, one day's
#: value says more about its weekday than about the period: the weekday outweighs noise and
#: everything else together. The sample's daily series score 0.70 (NPS responses) to 0.95
#: (signups), active users 0.94; pure noise over 8 weeks scores above 0.40 once in 1,000 series.
WEEKLY_SEASONAL_SHARE: Final = 0.5


def open_project(path: str | Path = ".") -> Project:
    """Open the project whose ``reviewkit.yaml`` is in ``path``; raises :class:`ConfigError`."""
    return Project(load_config(Path(path)))


class Project:
    """One review project: ask it for KPI series, run SQL over its sources, or check it."""

    def __init__(self, config: ProjectConfig) -> None:
        self.config = config
        self.root = config.root
        self.cache = SourceCache(self.root / ".reviewkit" / "cache")
        self._con: duckdb.DuckDBPyConnection = connect()
        self._loaded: dict[str, LoadedSource] = {}
        self._dates: dict[str, SourceDates] = {}
        self._store: Store | None = None
        #: who the store records as the author of changes (default: $REVIEWKIT_USER or the OS user)
        self.actor: str | None = None

    def __repr__(self) -> str:
        return f"<reviewkit project {self.config.name!r} at {self.root}>"

    def close(self) -> None:
        self._con.close()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- sources ------------------------------------------------------------------------------
    def source(self, name: str) -> LoadedSource:
        """The loaded source ``name`` (parsed or from the cache), registered as a DuckDB view."""
        if name not in self.config.sources:
            raise QueryError(
                f"unknown source '{name}'; sources are: {', '.join(self.config.sources)}"
            )
        if name not in self._loaded:
            loaded = load_source(self.config, self.config.sources[name], self.cache)
            files = "[" + ", ".join(quote_literal(str(f.table)) for f in loaded.files) + "]"
            self._con.execute(
                f"CREATE OR REPLACE VIEW {quote_ident(name)} AS SELECT * FROM read_parquet({files})"
            )
            self._loaded[name] = loaded
        return self._loaded[name]

    def quarantined(self, sources: Iterable[str]) -> dict[str, int]:
        """Rows set aside per source (``on_error: quarantine``), for sources that have any."""
        counts = {name: self.source(name).quarantined for name in sources}
        return {name: n for name, n in counts.items() if n}

    def source_dates(self, name: str) -> SourceDates:
        """Which dates source ``name`` has data for (for coverage and ``latest``)."""
        if name not in self._dates:
            source = self.config.sources[name]
            self.source(name)
            days = self.query(
                f"SELECT DISTINCT CAST({quote_ident(source.date.column)} AS DATE) "
                f"FROM {quote_ident(name)}"
            )
            self._dates[name] = SourceDates((d for (d,) in days if d is not None), source.date)
        return self._dates[name]

    def coverage(self, metrics: Iterable[str], start: dt.date, end: dt.date) -> Coverage:
        """How completely the sources behind ``metrics`` cover [start, end]."""
        sources = sorted({s for m in metrics for s in metric_sources(self.config, m)})
        return coverage_of([self.source_dates(s) for s in sources], start, end)

    def data_through(self, metrics: Iterable[str] | None = None) -> dt.date | None:
        """The last date every source behind ``metrics`` (default: all metrics) has data for."""
        names = list(metrics) if metrics is not None else list(self.config.metrics)
        sources = sorted({s for m in names for s in metric_sources(self.config, m)})
        ends = [self.source_dates(s).through for s in sources]
        known = [d for d in ends if d is not None]
        return min(known) if known and len(known) == len(ends) else None

    def period(
        self,
        text: str,
        grain: str | None = None,
        metrics: Iterable[str] | None = None,
        today: dt.date | None = None,
    ) -> Period:
        """Parse a period (``2026-10``, ``FY2026``, ``last-month``, ``latest``...).

        ``grain=None`` takes the grain the text names; ``latest`` is the latest period that
        every source behind ``metrics`` covers completely."""
        through = self.data_through(metrics) if text.strip() == "latest" else None
        return parse_period(text, grain, self.config.calendar, through, today)

    # -- KPIs ---------------------------------------------------------------------------------
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
        """Long table of ``period_start, period_end, period, <by...>, metric, value``.

        ``df.attrs["quarantined"]`` maps each source with rows set aside to their count.
        """
        names = tuple(metrics) if metrics is not None else tuple(self.config.metrics)
        request = KpiRequest(
            metrics=names,
            grain=grain,
            start=_date(start, "start"),
            end=_date(end, "end"),
            filters=_filters(filters),
            by=(by,) if isinstance(by, str) else tuple(by or ()),
        )
        used = sorted(
            {s for m in names if m in self.config.metrics for s in metric_sources(self.config, m)}
        )
        for name in used:
            self.source(name)
        frame = compute_kpis(self._con, self.config, request)
        frame.attrs["quarantined"] = self.quarantined(used)
        return frame

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
        frame = self.kpis([metric], grain=grain, start=start, end=end, filters=filters, by=by)
        series = frame.drop(columns="metric")
        series.attrs = frame.attrs
        return series

    def kpi_table(self, metric: str, **options: Any) -> pd.DataFrame:
        """:meth:`kpi` for reading: one row per period, one column per group, formatted values."""
        frame = self.kpi(metric, **options)
        definition = self.config.metrics[metric]
        frame["text"] = [format_value(definition, v) for v in frame["value"]]
        by = [c for c in frame.columns if c not in KPI_COLUMNS]
        if not by:
            return frame.set_index("period")[["text"]].rename(columns={"text": definition.label})
        table = frame.pivot_table(
            index="period", columns=by, values="text", aggfunc="first", fill_value="n/a"
        )
        table.columns.name = " / ".join(by)
        return table

    def catalogue(self) -> pd.DataFrame:
        """The metric catalogue: name, label, description, how it is computed, format, direction."""
        rows = []
        for name, m in self.config.metrics.items():
            if m.derived:
                how = f"{m.op} of {', '.join(m.inputs)}"
            elif m.expression:
                how = f"{m.source}: {m.expression}"
            else:
                how = f"{m.source}: {m.agg}({m.column or '*'})"
                how += "".join(f" where {c} in ({', '.join(v)})" for c, v in m.filters)
            rows.append(
                {
                    "metric": name,
                    "label": m.label,
                    "description": m.description,
                    "computed as": how,
                    "format": m.format,
                    "better when": m.direction,
                }
            )
        return pd.DataFrame(rows).set_index("metric")

    def kpi_arrow(self, metric: str, **options: Any) -> pa.Table:
        """:meth:`kpi` as an Arrow table (quarantine counts in the schema metadata)."""
        frame = self.kpi(metric, **options)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = {f"quarantined.{k}": str(v) for k, v in frame.attrs["quarantined"].items()}
        return table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})

    def window_values(
        self,
        metrics: Sequence[str],
        windows: Sequence[Window],
        *,
        filters: Filters | None = None,
        by: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """Long table ``window, <by...>, metric, value``: each metric over each named date range
        (derived metrics from their components' totals in each window)."""
        request = KpiRequest(
            metrics=tuple(metrics),
            filters=_filters(filters),
            by=(by,) if isinstance(by, str) else tuple(by or ()),
            windows=tuple(windows),
        )
        self._load_for(metrics)
        return compute_kpis(self._con, self.config, request)

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
        chosen = self._resolve(period, grain, [metric])
        return comparisons.compare(self, metric, chosen, by=_by(by), filters=filters)

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
        day = _date(as_of, "as_of") if as_of is not None else self.data_through([metric])
        if day is None:
            raise QueryError(f"metric '{metric}' has no data yet")
        return comparisons.to_date(self, metric, day, by=_by(by), filters=filters)

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
        chosen = self._resolve(period, grain, [metric])
        return comparisons.trailing(self, metric, chosen, count, by=_by(by), filters=filters)

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
            _date(week_ending, "week_ending")
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
        chosen = self._resolve(period, grain, names)
        wanted = dict(filters or {})
        if team is not None:
            wanted["team"] = team
        return comparisons.scorecard(self, chosen, metrics=names, filters=wanted)

    def _resolve(self, period: str | Period, grain: str | None, metrics: Sequence[str]) -> Period:
        if isinstance(period, Period):
            return period
        unknown = [m for m in metrics if m not in self.config.metrics]
        if unknown:
            raise QueryError(
                f"unknown metric(s): {', '.join(unknown)}; the catalogue has: "
                + ", ".join(self.config.metrics)
            )
        return self.period(period, grain, metrics or None)

    def _load_for(self, metrics: Iterable[str]) -> None:
        for name in sorted(
            {s for m in metrics if m in self.config.metrics for s in metric_sources(self.config, m)}
        ):
            self.source(name)

    # -- the review model: outcomes, outputs, links, check-ins -----------------------------------
    @property
    def store(self) -> Store:
        """The project's store of links, check-ins and hand-added outputs (opened on first use)."""
        if self._store is None:
            from reviewkit.store import Store  # noqa: PLC0415 (only reviews need it)

            self._store = Store(self.config.store_path, actor=self.actor)
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
            start=_date(start, "start"),
            end=_date(end, "end"),
            team=team,
            unlinked=unlinked,
            search=search,
        )

    def outcome(self, outcome_id: str) -> Outcome:
        """The declared outcome ``outcome_id`` (a QueryError naming the known ids if absent)."""
        try:
            return self.config.outcomes[outcome_id]
        except KeyError:
            known = ", ".join(self.config.outcomes) or "none declared"
            raise QueryError(f"unknown outcome '{outcome_id}'; outcomes are: {known}") from None

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
            better = self.config.metrics[outcome.metric].direction
            direction = "increase" if better == "higher" else "decrease"
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
        day = _date(delivered, "delivered")
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
        chosen = self._resolve(
            period, None, list({o.metric for o in self.config.outcomes.values()})
        )
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
        chosen = self._resolve(period, None, [outcome.metric])
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
        chosen = self._resolve(period, None, [outcome.metric])
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
        chosen = self._resolve(period, None, [])
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
        chosen = self._resolve(period, None, [])
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
        chosen = self._resolve(period, None, [])
        gaps = self.review_gaps(chosen, team=team)
        if gaps:
            raise ReviewkitError(
                f"the {chosen.label} review{f' of {team}' if team else ''} cannot be marked "
                "complete yet:\n" + "\n".join(f"- {g}" for g in gaps)
            )
        return self.store.complete_review(chosen.label, team=team, author=author)

    def alignment(
        self, period: str | Period = "latest", *, team: str | None = None, neglect_periods: int = 3
    ) -> evidence.Alignment:
        """Share of outputs and effort linked to an outcome per team, and neglected outcomes."""
        chosen = self._resolve(period, None, [])
        return evidence.alignment(self, chosen, team=team, neglect_periods=neglect_periods)

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
        day = _date(as_of, "as_of")
        if isinstance(link, str) and outcome_id is None:
            return evidence.outcome_impact(self, link, as_of=day)
        if isinstance(link, str):
            assert outcome_id is not None
            found = self.store.links(outcome_id=outcome_id, output_id=link)
            if not found:
                raise QueryError(
                    f"there is no link from '{link}' to '{outcome_id}'; create it first "
                    "(project.link)"
                )
            link = found[0]
        return evidence.link_impact(self, link, as_of=day)

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
        return evidence.outcome_impact(self, outcome_id, as_of=_date(as_of, "as_of"))

    def team_impact(
        self, team: str, period: str | Period = "latest", *, months: int = 12
    ) -> dict[str, Any]:
        """Share of a team's effort delivered in the ``months`` up to ``period`` that went into
        outputs whose linked KPI moved as hypothesised."""
        chosen = self._resolve(period, None, [])
        start = period_containing(chosen.end, "month", self.config.calendar).shift(1 - months)
        return evidence.team_impact(self, team, start.start, chosen.end)

    def import_links(self, path: Path, *, author: str | None = None) -> ImportResult:
        """Import links and check-ins exported by ``reviewkit links export``, refusing any that
        name an unknown output or outcome (nothing is imported then)."""
        outputs_known = set(self.outputs()["id"])
        return self.store.import_(
            path,
            author=author,
            known_outputs=outputs_known,
            known_outcomes=set(self.config.outcomes),
        )

    # -- exploration --------------------------------------------------------------------------
    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows of reviewkit's own SQL over the loaded sources (library use; see :meth:`sql`)."""
        return self._con.execute(sql, params or []).fetchall()

    def sql(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run SQL over every declared source (each is a view named after it).

        Pass values as ``params`` (``?`` or ``$name`` placeholders), never inside ``query``.
        """
        for name in self.config.sources:
            self.source(name)
        try:
            return self._con.execute(query, params or []).df()
        except duckdb.Error as exc:
            raise QueryError(f"SQL failed: {str(exc).strip()}") from None


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
    return problems


def _check_outputs(project: Project) -> list[Problem]:
    """The outputs mapping names columns the export must really have (text columns such as the
    id and title are not declared under the source, so only the file can tell)."""
    spec = project.config.outputs
    if spec is None or spec.source not in project._loaded:
        return []
    columns = {r[0] for r in project.query(f"DESCRIBE SELECT * FROM {quote_ident(spec.source)}")}
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
    return problems


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
            columns = project._con.execute(
                f"DESCRIBE SELECT * FROM {quote_ident(metric.source or '')}"
            ).fetchall()
            if metric.column and metric.column not in {c[0] for c in columns}:
                raise QueryError(
                    f"source '{metric.source}' has no column '{metric.column}'; its columns are: "
                    + ", ".join(c[0] for c in columns)
                )
            compute_kpis(project._con, config, request)
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
    share = weekday_share(project._con, config, name)
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


def _date(value: dt.date | str | None, what: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{what} date {value!r} is not a date; write YYYY-MM-DD") from None


def _decision(value: Decision | Mapping[str, Any]) -> Decision:
    from reviewkit.store import Decision  # noqa: PLC0415

    if isinstance(value, Decision):
        return value
    due = value.get("due")
    return Decision(
        text=str(value.get("text", "")),
        owner=str(value.get("owner", "")),
        due=_date(due, "due") if due else None,
        done=bool(value.get("done", False)),
    )


def _by(by: Sequence[str] | str | None) -> tuple[str, ...]:
    return (by,) if isinstance(by, str) else tuple(by or ())


def _filters(filters: Filters | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for column, wanted in (filters or {}).items():
        values = (wanted,) if isinstance(wanted, str) else tuple(str(v) for v in wanted)
        out.append((column, values))
    return tuple(out)
