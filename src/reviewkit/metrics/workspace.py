"""The KPI workspace: a project's config, its exports loaded into DuckDB, and KPI queries over them.

The comparisons, the review model and the evidence take a :class:`Workspace`;
:class:`reviewkit.project.Project` is the facade analysts use: it holds a workspace and the store,
and calls the comparisons, the review and the evidence with them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

import duckdb
import pandas as pd
import pyarrow as pa

from reviewkit.base import clock
from reviewkit.base.errors import QueryError
from reviewkit.base.periods import Period, Window, parse_period, period_containing
from reviewkit.base.sql import connect, quote_ident, quote_literal
from reviewkit.config import Metric, Outcome, ProjectConfig
from reviewkit.metrics.catalogue import (
    KpiRequest,
    compute_cohorts,
    compute_kpis,
    dependencies,
    format_value,
    metric_columns,
    metric_sources,
    rollup_note,
)
from reviewkit.metrics.coverage import Coverage, SourceDates, coverage_of
from reviewkit.sources.cache import ResultCache, SourceCache
from reviewkit.sources.loaded import LoadedSource
from reviewkit.sources.loading import load_remote, load_source
from reviewkit.sources.warehouse import Warehouse, table_names

__all__ = ["KPI_COLUMNS", "Filters", "Workspace"]

Filters = Mapping[str, str | Sequence[str]]
KPI_COLUMNS = ("period_start", "period_end", "period", "metric", "value", "text")


class Workspace:
    """A project's exports in DuckDB: ask it for sources, periods and KPI series, or run SQL."""

    def __init__(self, config: ProjectConfig) -> None:
        self.config = config
        self.root = config.root
        self.cache = SourceCache(self.root / ".reviewkit" / "cache")
        self.results = ResultCache(self.cache.directory / "results")
        self._con: duckdb.DuckDBPyConnection = connect()
        #: one thread at a time on the connection and the caches: DuckDB refuses a call on a
        #: connection busy with another ("connection is busy with another call"), and a
        #: JupyterLab kernel runs widget callbacks on a thread of their own while a cell queries
        self._lock = threading.RLock()
        self._loaded: dict[str, LoadedSource] = {}
        self._dates: dict[tuple[str, str | None], SourceDates] = {}
        #: the SQL engines of sources declared with ``engine:``, by URL
        self._warehouses: dict[str, Warehouse] = {}

    def close(self) -> None:
        with self._lock:
            self._con.close()
        for warehouse in self._warehouses.values():
            warehouse.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- sources ------------------------------------------------------------------------------
    def source(self, name: str) -> LoadedSource:
        """The loaded source ``name`` (parsed or from the cache), registered as a DuckDB view."""
        with self._lock:
            return self._source(name)

    def _source(self, name: str) -> LoadedSource:
        if name not in self.config.sources:
            raise QueryError(
                f"unknown source '{name}'; sources are: {', '.join(self.config.sources)}"
            )
        if name not in self._loaded and self.config.sources[name].engine is not None:
            source = self.config.sources[name]
            url = source.engine or ""
            warehouse = self._warehouses.setdefault(url, Warehouse(url))
            self._loaded[name] = load_remote(self.config, source, warehouse)
        if name not in self._loaded:
            loaded = load_source(self.config, self.config.sources[name], self.cache)
            # the cached files in one scan, each export read in place on its own
            cached = [quote_literal(str(f.table)) for f in loaded.files if f.select is None]
            parts = [f"SELECT * FROM read_parquet([{', '.join(cached)}])"] if cached else []
            parts += [f"SELECT * FROM {f.relation}" for f in loaded.files if f.select is not None]
            self._con.execute(
                f"CREATE OR REPLACE VIEW {quote_ident(name)} AS {' UNION ALL BY NAME '.join(parts)}"
            )
            self._loaded[name] = loaded
        return self._loaded[name]

    def quarantined(self, sources: Iterable[str]) -> dict[str, int]:
        """Rows set aside per source (``on_error: quarantine``), for sources that have any."""
        counts = {name: self.source(name).quarantined for name in sources}
        return {name: n for name, n in counts.items() if n}

    def source_dates(self, name: str, column: str | None = None) -> SourceDates:
        """Which dates source ``name`` has data for (for coverage and ``latest``): rows, or
        with ``column``, rows whose ``column`` is not blank."""
        if (name, column) not in self._dates:
            source = self.config.sources[name]
            valued = f" WHERE {quote_ident(column)} IS NOT NULL" if column else ""
            sql = (
                f"SELECT DISTINCT CAST({quote_ident(source.date.column)} AS DATE) AS day "
                f"FROM {quote_ident(name)}{valued}"
            )
            params = {}
            if source.lifecycle is not None:
                # entities are known up to the last start or end the export has (not after
                # today: a cancellation it schedules has not happened)
                end = quote_ident(source.lifecycle.end)
                sql += (
                    f" UNION SELECT CAST({end} AS DATE) FROM {quote_ident(name)} "
                    f"WHERE CAST({end} AS DATE) <= $today"
                )
                params["today"] = clock.today()
            days = self.source_rows(name, sql, params)
            dates = SourceDates((d for (d,) in days if d is not None), source.date)
            self._dates[name, column] = dates
        return self._dates[name, column]

    def metric_dates(self, metrics: Iterable[str]) -> list[SourceDates]:
        """The dates behind ``metrics``: per source they read, the days it has a value for each
        column they aggregate (a blank value is a day without data), or rows for counts."""
        pairs = {pair for m in metrics for pair in metric_columns(self.config, m)}
        return [self.source_dates(source, column) for source, column in pairs]

    def coverage(self, metrics: Iterable[str], start: dt.date, end: dt.date) -> Coverage:
        """How completely the data behind ``metrics`` covers [start, end], and what their
        values over it are when not their plain values (a monthly rate over a longer range)."""
        names = list(metrics)
        found = coverage_of(self.metric_dates(names), start, end)
        notes = [rollup_note(self.config, m, start, end) for m in names]
        return dataclasses.replace(found, notes=tuple(n for n in notes if n))

    def data_through(self, metrics: Iterable[str] | None = None) -> dt.date | None:
        """The last date all the data behind ``metrics`` (default: all metrics) reaches: the
        last day with a value, for metrics of a column's values."""
        names = list(metrics) if metrics is not None else list(self.config.metrics)
        ends = [dates.through for dates in self.metric_dates(names)]
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
        every source behind ``metrics`` covers completely; while the data covers none (less
        than a month of it, at month grain) it is refused, never a period before the data."""
        if text.strip() != "latest":
            return parse_period(text, grain, self.config.calendar, None, today)
        names = list(metrics) if metrics is not None else list(self.config.metrics)
        through = self.data_through(names)
        period = parse_period(text, grain, self.config.calendar, through, today)
        starts = [dates.first for dates in self.metric_dates(names) if dates.first is not None]
        if starts and period.end < max(starts):
            shorter = "" if period.grain in ("day", "week") else ", such as a week"
            raise QueryError(
                f"no {period.grain.replace('_', ' ')} is complete yet: the data starts "
                f"{max(starts)} and runs through {through}, so there is no latest one; ask for "
                f"{period.shift(1).label} (in progress) or a shorter period{shorter}"
            )
        return period

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
            start=as_date(start, "start"),
            end=as_date(end, "end"),
            filters=as_filters(filters),
            by=as_by(by),
        )
        used = sorted(
            {s for m in names if m in self.config.metrics for s in metric_sources(self.config, m)}
        )
        for name in used:
            self.source(name)
        frame = self.compute(request)
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

    def cohorts(
        self,
        metric: str,
        *,
        grain: str = "month",
        filters: Filters | None = None,
        through: dt.date | None = None,
        latest: int | None = None,
    ) -> pd.DataFrame:
        """Cohort retention of a lifecycle retention metric: ``cohort`` (the first day of the
        period its entities started in), ``period`` (its label), ``age`` (periods since),
        ``size`` and ``value``; ages a cohort has not reached yet (by ``through``, when given)
        have no row; ``latest`` keeps the cohorts of the latest periods only
        (:func:`reviewkit.metrics.catalogue.compute_cohorts`)."""
        dependencies(self.config, metric)  # an unknown metric is refused, naming the known
        source = self.config.metrics[metric].source
        if source is None or self.config.sources[source].lifecycle is None:
            raise QueryError(
                f"cohorts need a retention metric of a lifecycle source; '{metric}' reads "
                + (f"source '{source}', which has no `lifecycle:`" if source else "no source")
            )
        for name in metric_sources(self.config, metric):
            self.source(name)
        with self._lock:
            frame = compute_cohorts(
                self._con,
                self.config,
                metric,
                grain,
                as_filters(filters),
                self._loaded,
                self.results,
                through=through,
                latest=latest,
            )
        labels = [period_containing(d, grain, self.config.calendar).label for d in frame["cohort"]]
        frame.insert(1, "period", labels)
        return frame

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
            filters=as_filters(filters),
            by=as_by(by),
            windows=tuple(windows),
        )
        self._load_for(metrics)
        return self.compute(request)

    def compute_with(self, metrics: Mapping[str, Metric], request: KpiRequest) -> pd.DataFrame:
        """:meth:`compute` with ``metrics`` added to the catalogue for this request only (the
        parts of a metric that :mod:`reviewkit.metrics.explain` asks for apart)."""
        config = dataclasses.replace(self.config, metrics={**self.config.metrics, **metrics})
        for metric in metrics.values():
            for name in metric_sources(config, metric.name):
                self.source(name)
        with self._lock:
            return compute_kpis(self._con, config, request, self._loaded, self.results)

    def compute(self, request: KpiRequest) -> pd.DataFrame:
        """The KPIs ``request`` asks for, over the sources loaded so far (see
        :func:`reviewkit.metrics.catalogue.compute_kpis`)."""
        with self._lock:
            return compute_kpis(self._con, self.config, request, self._loaded, self.results)

    @property
    def loaded(self) -> dict[str, LoadedSource]:
        """The sources loaded so far, by name (for reading)."""
        return self._loaded

    def resolve(self, period: str | Period, grain: str | None, metrics: Sequence[str]) -> Period:
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

    def outcome(self, outcome_id: str) -> Outcome:
        """The declared outcome ``outcome_id`` (a QueryError naming the known ids if absent)."""
        try:
            return self.config.outcomes[outcome_id]
        except KeyError:
            known = ", ".join(self.config.outcomes) or "none declared"
            raise QueryError(f"unknown outcome '{outcome_id}'; outcomes are: {known}") from None

    def source_rows(
        self, name: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows of reviewkit's own SQL over source ``name``, run where the source lives (DuckDB,
        or the source's SQL engine, compiled to its dialect)."""
        loaded = self.source(name)
        if loaded.remote is not None:
            frame = loaded.remote.df(sql, params or {})
            return list(frame.itertuples(index=False, name=None))
        with self._lock:
            return self._con.execute(sql, params or {}).fetchall()

    def columns(self, name: str) -> list[str]:
        """The columns of source ``name`` as queries see them."""
        loaded = self.source(name)
        if loaded.remote is not None:
            return list(loaded.remote.columns)
        with self._lock:
            described = self._con.execute(f"DESCRIBE SELECT * FROM {quote_ident(name)}").fetchall()
        return [str(row[0]) for row in described]

    # -- exploration --------------------------------------------------------------------------
    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows of reviewkit's own SQL over the loaded sources (library use; see :meth:`sql`)."""
        with self._lock:
            return self._con.execute(sql, params or []).fetchall()

    def sql(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run SQL over every declared source (each is a view named after it).

        Pass values as ``params`` (``?`` or ``$name`` placeholders), never inside ``query``.
        """
        remote = [n for n, s in self.config.sources.items() if s.engine is not None]
        named = table_names(query) & set(self.config.sources) if remote else set()
        if named & set(remote):
            return self._remote_sql(query, params, sorted(named), remote)
        for name in self.config.sources:
            if name not in remote:
                self.source(name)
        try:
            with self._lock:
                return self._con.execute(query, params or []).df()
        except duckdb.Error as exc:
            raise QueryError(f"SQL failed: {str(exc).strip()}") from None

    def _remote_sql(
        self,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] | None,
        named: Sequence[str],
        remote: Sequence[str],
    ) -> pd.DataFrame:
        """SQL naming sources in a SQL engine runs there, compiled to its dialect: it may name
        only sources of that one engine."""
        engines = {self.config.sources[n].engine for n in named}
        if len(engines) > 1 or any(n not in remote for n in named):
            where = ", ".join(f"{n} ({self.config.sources[n].engine or 'files'})" for n in named)
            raise QueryError(
                f"the SQL names sources that live in different places: {where}; query each "
                "engine's sources on their own (or join the results in pandas)"
            )
        if params is not None and not isinstance(params, Mapping):  # values for ?, in order
            params = {f"p{n}": value for n, value in enumerate(params, start=1)}
        tables = [self.source(n).remote for n in named]
        relations = {t.source.name: t.relation for t in tables if t is not None}
        first = tables[0]
        assert first is not None
        try:
            return first.warehouse.query(first.source.name, query, relations, params or {})
        except QueryError as exc:
            raise QueryError(f"SQL failed: {exc} (in {first.warehouse.url})") from None


def as_date(value: dt.date | str | None, what: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{what} date {value!r} is not a date; write YYYY-MM-DD") from None


def as_by(by: Sequence[str] | str | None) -> tuple[str, ...]:
    return (by,) if isinstance(by, str) else tuple(by or ())


def as_filters(filters: Filters | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for column, wanted in (filters or {}).items():
        values = (wanted,) if isinstance(wanted, str) else tuple(str(v) for v in wanted)
        out.append((column, values))
    return tuple(out)
