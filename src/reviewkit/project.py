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

from reviewkit.config import CONFIG_FILE, ProjectConfig, load_config
from reviewkit.errors import ConfigError, DataError, Problem, QueryError, ReviewkitError
from reviewkit.metrics import KpiRequest, compute_kpis, format_value, metric_sources
from reviewkit.periods import Period, parse_period
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

    def data_through(self, metrics: Iterable[str] | None = None) -> dt.date | None:
        """The last date every source behind ``metrics`` (default: all metrics) has data for."""
        names = list(metrics) if metrics is not None else list(self.config.metrics)
        sources = sorted({s for m in names for s in metric_sources(self.config, m)})
        ends = [self.source(s).max_date for s in sources]
        known = [d for d in ends if d is not None]
        return min(known) if known and len(known) == len(ends) else None

    def period(
        self, text: str, grain: str = "month", metrics: Iterable[str] | None = None
    ) -> Period:
        """Parse a period (``2026-10``, ``latest``...) at ``grain`` against this project's data."""
        through = self.data_through(metrics) if text.strip() == "latest" else None
        return parse_period(text, grain, self.config.calendar, through)

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

    # -- exploration --------------------------------------------------------------------------
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


def _filters(filters: Filters | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for column, wanted in (filters or {}).items():
        values = (wanted,) if isinstance(wanted, str) else tuple(str(v) for v in wanted)
        out.append((column, values))
    return tuple(out)
