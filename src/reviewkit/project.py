"""A review project opened for analysis: its config, its exports in DuckDB, and KPI queries.

>>> project = open_project(".")
>>> project.kpi("csat", grain="month", by=["team"])          # a DataFrame
>>> project.sql("SELECT team, count(*) FROM tickets GROUP BY team")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from reviewkit import compare as comparisons
from reviewkit.config import CONFIG_FILE, ProjectConfig, load_config
from reviewkit.coverage import Coverage, SourceDates, coverage_of
from reviewkit.errors import ConfigError, DataError, Problem, QueryError, ReviewkitError
from reviewkit.metrics import KpiRequest, compute_kpis, format_value, metric_sources
from reviewkit.periods import Period, Window, parse_period
from reviewkit.sources import (
    LoadedSource,
    SourceCache,
    connect,
    load_source,
    quote_ident,
    quote_literal,
)

__all__ = ["Project", "check_project", "open_project"]

Filters = Mapping[str, str | Sequence[str]]
KPI_COLUMNS = ("period_start", "period_end", "period", "metric", "value", "text")


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

    def __repr__(self) -> str:
        return f"<reviewkit project {self.config.name!r} at {self.root}>"

    def close(self) -> None:
        self._con.close()

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
        return self.period(period, grain, metrics)

    def _load_for(self, metrics: Iterable[str]) -> None:
        for name in sorted(
            {s for m in metrics if m in self.config.metrics for s in metric_sources(self.config, m)}
        ):
            self.source(name)

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
    return problems


def _date(value: dt.date | str | None, what: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{what} date {value!r} is not a date; write YYYY-MM-DD") from None


def _by(by: Sequence[str] | str | None) -> tuple[str, ...]:
    return (by,) if isinstance(by, str) else tuple(by or ())


def _filters(filters: Filters | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for column, wanted in (filters or {}).items():
        values = (wanted,) if isinstance(wanted, str) else tuple(str(v) for v in wanted)
        out.append((column, values))
    return tuple(out)
