"""The KPI catalogue turned into SQL: one scan per source, derived metrics from component totals.

Base metrics of one source are computed in a single grouped query (each metric an aggregate with
its own ``FILTER``), so a count with a filter is 0, not missing, in a period where the source has
rows. Derived metrics are then computed per period and group from their components' totals: a
ratio is a ratio of totals, never an average of ratios. Every user value (dates, filter values) is
a bound parameter; identifiers come from the validated config and are quoted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import duckdb
import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import GRAINS, Window, as_day, bucket_sql, period_containing
from reviewkit.base.sql import quote_ident
from reviewkit.config import (
    RETENTION_AGGREGATIONS,
    SURVEY_AGGREGATIONS,
    Metric,
    ProjectConfig,
    Source,
)
from reviewkit.metrics import lifecycle
from reviewkit.sources.cache import ResultCache
from reviewkit.sources.loaded import LoadedSource

__all__ = [
    "POINT_SCALE",
    "KpiRequest",
    "change_text",
    "compute_cohorts",
    "compute_kpis",
    "dependencies",
    "difference_text",
    "format_change",
    "format_value",
    "metric_columns",
    "metric_sources",
    "monthly_rate",
    "read_monthly",
    "rollup_note",
    "source_sql",
    "value_column",
    "weekday_share",
]

DAY: Final = "_day"
#: Runs reviewkit's SQL over a source where it lives: (source, sql, params) -> rows.
SourceRows = Callable[[str, str, dict[str, Any]], list[tuple[Any, ...]]]
#: Detrended days below which a weekly pattern cannot be told from noise: in simulated pure
#: noise, :func:`weekday_share` is above 0.57 for 1 series in 100 over 4 weeks, but above 0.40
#: for only 1 in 1,000 over 8 weeks.
SEASONAL_MIN_DAYS: Final = 56


@dataclass(frozen=True)
class KpiRequest:
    """What an analyst asks for: metrics at a grain over a date range, filtered and grouped."""

    metrics: tuple[str, ...]
    grain: str = "month"
    start: dt.date | None = None
    end: dt.date | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    by: tuple[str, ...] = ()
    #: named date ranges to aggregate over instead of the grain's periods (comparisons)
    windows: tuple[Window, ...] = ()


def dependencies(config: ProjectConfig, name: str) -> list[str]:
    """``name`` and every metric it is computed from, components first (a :class:`QueryError`
    for a name the catalogue does not have, e.g. typed after ``--metric``)."""
    if name not in config.metrics:
        raise QueryError(
            f"unknown metric(s): {name}; the catalogue has: " + ", ".join(config.metrics)
        )
    order: list[str] = []

    def visit(metric: str) -> None:
        if metric in order:
            return
        for dep in config.metrics[metric].inputs:
            visit(dep)
        order.append(metric)

    visit(name)
    return order


def metric_sources(config: ProjectConfig, name: str) -> list[str]:
    """The sources a metric reads, directly or through its components (a lifecycle source's
    value changes too: :func:`reviewkit.metrics.lifecycle.changes_of`)."""
    found: set[str | None] = set()
    for part in dependencies(config, name):
        metric = config.metrics[part]
        if metric.source:
            found.add(metric.source)
            found.add(lifecycle.changes_of(config.sources[metric.source], metric))
    return sorted(s for s in found if s)


#: Aggregates of a column's values: a row whose value is blank is a day without data for them
#: (counts count rows: a row is a row).
VALUE_AGGREGATES: Final = frozenset(
    {"sum", "mean", "min", "max", "first", "last", "daily_mean", "nps", "satisfaction"}
)


def value_column(metric: Metric) -> str | None:
    """The column whose values base metric ``metric`` aggregates (None: it counts rows, or is
    the user's SQL): the days it has data for are the days that column is not blank."""
    if metric.expression is None and metric.agg in VALUE_AGGREGATES:
        return metric.column
    return None


def metric_columns(config: ProjectConfig, name: str) -> list[tuple[str, str | None]]:
    """The (source, value column) pairs a metric reads, directly or through its components: what
    its coverage is made of (see :func:`value_column`)."""
    found = {
        (metric.source, value_column(metric))
        for metric in (config.metrics[m] for m in dependencies(config, name))
        if metric.source
    }
    return sorted(found, key=lambda pair: (pair[0], pair[1] or ""))


def monthly_rate(config: ProjectConfig, name: str) -> str | None:
    """The monthly snapshot source (``date.grain: month``) whose counts or sums metric ``name``
    is a ratio of, or None. Such a rate is per month: the ratio of a year's summed snapshots is
    not a yearly rate (12 months of 97% retention are not 97% kept over the year)."""
    metric = config.metrics[name]
    if metric.op != "ratio":
        return None
    for part in dependencies(config, name):
        source = config.metrics[part].source
        if source and config.sources[source].date.grain == "month":
            return source
    return None


def read_monthly(config: ProjectConfig, name: str) -> bool:
    """Whether metric ``name`` is read month by month (charts, impact evidence): it is read from
    month-end snapshots, or it is a rate over its period (retention, churn, revenue retention)
    whose weekly values are not comparable with its monthly targets."""
    for part in dependencies(config, name):
        metric = config.metrics[part]
        if metric.agg in RETENTION_AGGREGATIONS:
            return True
        if metric.source and config.sources[metric.source].date.grain == "month":
            return True
    return False


def spans_months(start: dt.date, end: dt.date) -> bool:
    """Whether [start, end] reaches into more than one calendar month."""
    return (start.year, start.month) != (end.year, end.month)


def rollup_note(config: ProjectConfig, name: str, start: dt.date, end: dt.date) -> str | None:
    """What a value of metric ``name`` over [start, end] is, when it is not the metric's plain
    value: the average of its months' rates, or none at all (see :func:`monthly_rate`)."""
    source = monthly_rate(config, name)
    if source is None or not spans_months(start, end):
        return None
    metric = config.metrics[name]
    if metric.rollup == "average_of_periods":
        return f"{metric.label} over {start} to {end} is the average of its monthly rates " + (
            "(avg monthly)"
        )
    return (
        f"{metric.label} is a monthly rate of the snapshot '{source}': it has no value over "
        f"{start} to {end} (a ratio of months' summed snapshots is not a rate over them); "
        f"declare `rollup: average_of_periods` under metrics.{name} to show its average "
        "monthly rate"
    )


def aggregate_sql(metric: Metric, config: ProjectConfig, params: dict[str, Any]) -> str:
    """The SQL aggregate for a base metric over the rows CTE, with its filters bound."""
    if metric.expression is not None:
        return f"({metric.expression})"
    col = quote_ident(metric.column) if metric.column else "*"
    agg = metric.agg
    conditions = []
    for i, (column, values) in enumerate(metric.filters):
        key = f"{metric.name}_f{i}"
        params[key] = list(values)
        conditions.append(f"CAST({quote_ident(column)} AS VARCHAR) IN (SELECT unnest(${key}))")
    if agg in ("first", "last"):
        conditions.append(f"{DAY} = {_edge_day(metric)}")
    where = f" FILTER (WHERE {' AND '.join(conditions)})" if conditions else ""
    if agg in SURVEY_PARTS or agg in SURVEY_AGGREGATIONS:
        return _survey_sql(metric, col, conditions, params)
    if agg == "count":
        return f"count({col}){where}"
    if agg == "count_distinct":
        return f"count(DISTINCT {col}){where}"
    if agg in ("sum", "first", "last"):
        # 0 where the filters leave no row; missing where the rows' values are all blank
        return (
            f"CASE WHEN count({col}){where} > 0 OR count(*){where} = 0 "
            f"THEN coalesce(sum({col}){where}, 0) END"
        )
    if agg == "daily_mean":
        # over the days with a value, so a day the filters leave empty counts as 0 (as it does
        # for `first` and `last`) and a day whose values are blank is missing
        days = f"count(DISTINCT CASE WHEN {col} IS NOT NULL THEN {DAY} END)"
        return f"coalesce(sum({col}){where}, 0) / nullif({days}, 0)"
    function = {"mean": "avg", "min": "min", "max": "max"}[agg or ""]
    return f"{function}({col}){where}"


#: The counts behind a survey metric, asked for apart by :mod:`reviewkit.metrics.surveys` (no
#: ``agg:`` a project declares): answers, promoters (9-10), detractors (0-6), their
#: difference (net promoters, for :mod:`reviewkit.metrics.explain`), satisfied.
SURVEY_PARTS: Final = ("responses", "promoters", "detractors", "net_promoters", "satisfied")


def _survey_sql(metric: Metric, col: str, conditions: list[str], params: dict[str, Any]) -> str:
    """An NPS (promoters minus detractors over the answers, in points), a satisfaction (the
    share of answers at or above the threshold), or one of their counts; blank answers are not
    answers."""

    def counted(extra: str | None = None) -> str:
        where = [*conditions, *([extra] if extra else [])]
        return f"count({col})" + (f" FILTER (WHERE {' AND '.join(where)})" if where else "")

    threshold = f"{metric.name}_threshold"
    if metric.agg in ("satisfaction", "satisfied"):
        params[threshold] = metric.threshold
    parts = {
        "responses": counted(),
        "promoters": counted(f"{col} >= 9"),
        "detractors": counted(f"{col} <= 6"),
        "satisfied": counted(f"{col} >= ${threshold}"),
    }
    parts["net_promoters"] = f"({parts['promoters']} - {parts['detractors']})"
    if metric.agg == "nps":
        return (
            f"100.0 * ({parts['promoters']} - {parts['detractors']}) "
            f"/ nullif({parts['responses']}, 0)"
        )
    if metric.agg == "satisfaction":
        return f"CAST({parts['satisfied']} AS DOUBLE) / nullif({parts['responses']}, 0)"
    return parts[metric.agg or ""]


def weekday_share(run: SourceRows, config: ProjectConfig, name: str) -> float | None:
    """How much of the day-to-day variation of metric ``name``'s column its weekday explains,
    0 to 1, or None with under :data:`SEASONAL_MIN_DAYS` days to tell from.

    The column is summed per day (the metric's filters applied); a centred 7-day average takes
    out the trend and any slower season; the share is the variance of what is left that the
    weekday means account for (R² of the weekday alone). ``run`` runs SQL over the metric's
    source wherever it lives (:meth:`reviewkit.metrics.workspace.Workspace.source_rows`)."""
    metric = config.metrics[name]
    source = config.sources[metric.source or ""]
    params: dict[str, Any] = {"min_days": SEASONAL_MIN_DAYS}
    total = aggregate_sql(replace(metric, agg="sum"), config, params)
    day = f"CAST({quote_ident(source.date.column)} AS DATE)"
    sql = (
        f"WITH base AS (SELECT *, {day} AS {DAY} FROM {quote_ident(source.name)}), "
        f"daily AS (SELECT {DAY}, CAST({total} AS DOUBLE) AS y FROM base "
        f"WHERE {DAY} IS NOT NULL GROUP BY {DAY}), "
        f"detrended AS (SELECT {DAY}, y - avg(y) OVER week AS r, count(*) OVER week AS days "
        f"FROM daily WINDOW week AS (ORDER BY {DAY} "
        "RANGE BETWEEN INTERVAL 3 DAYS PRECEDING AND INTERVAL 3 DAYS FOLLOWING)), "
        f"fitted AS (SELECT r, avg(r) OVER (PARTITION BY EXTRACT(isodow FROM {DAY})) AS weekday, "
        "avg(r) OVER () AS overall FROM detrended WHERE days = 7) "
        "SELECT 1 - sum((r - weekday) ^ 2) / nullif(sum((r - overall) ^ 2), 0) AS share "
        "FROM fitted "
        "HAVING count(*) >= $min_days"
    )
    rows = run(source.name, sql, params)
    if not rows:
        return None
    # a series without any day-to-day variation has no weekly pattern either
    return 0.0 if rows[0][0] is None else float(rows[0][0])


def compute_kpis(
    con: duckdb.DuckDBPyConnection,
    config: ProjectConfig,
    request: KpiRequest,
    loaded: Mapping[str, LoadedSource],
    results: ResultCache,
) -> pd.DataFrame:
    """Long table: ``period_start, period_end, period, <by...>, metric, value``, or with
    ``request.windows``: ``window, <by...>, metric, value``.

    ``loaded`` has the sources the metrics read (as views in ``con``); each source's query is
    answered by ``results`` when it was asked before over the same rows.

    ``value`` is NaN where a metric cannot be computed for a period (no rows, or a ratio whose
    denominator is zero).
    """
    if request.grain not in GRAINS:
        raise QueryError(f"unknown grain '{request.grain}'; use one of: {', '.join(GRAINS)}")
    unknown = [m for m in request.metrics if m not in config.metrics]
    if unknown:
        raise QueryError(
            f"unknown metric(s): {', '.join(unknown)}; the catalogue has: "
            + ", ".join(config.metrics)
        )
    needed: list[str] = []
    for name in request.metrics:
        needed += [m for m in dependencies(config, name) if m not in needed]
    by_source: dict[str, list[Metric]] = {}
    for name in needed:
        metric = config.metrics[name]
        if metric.source:
            by_source.setdefault(metric.source, []).append(metric)
    parts = [
        _source_query(con, config, loaded, source, metrics, request, results)
        for source, metrics in by_source.items()
    ]
    keys = ["window" if request.windows else "period_start", *request.by]
    wide = _join(parts, keys)
    for name in needed:
        metric = config.metrics[name]
        if metric.derived:
            wide[name] = _derive(metric, wide)
    for name in request.metrics:
        if monthly_rate(config, name) is not None:
            wide[name] = _rolled_up(con, config, request, loaded, results, name, wide)
    long = wide.melt(id_vars=keys, value_vars=list(request.metrics), var_name="metric")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype("float64")
    if request.windows:
        return long
    periods = [period_containing(d, request.grain, config.calendar) for d in long["period_start"]]
    long.insert(1, "period_end", [p.end for p in periods])
    long.insert(2, "period", [p.label for p in periods])
    order = {m: i for i, m in enumerate(request.metrics)}
    long["_order"] = long["metric"].map(order)
    long = long.sort_values(["_order", *keys], kind="stable").drop(columns="_order")
    return long.reset_index(drop=True)


def _source_query(
    con: duckdb.DuckDBPyConnection,
    config: ProjectConfig,
    sources: Mapping[str, LoadedSource],
    source_name: str,
    metrics: Sequence[Metric],
    request: KpiRequest,
    results: ResultCache,
) -> pd.DataFrame:
    loaded = sources[source_name]
    spans = [m for m in metrics if m.agg in lifecycle.WINDOWED]
    rows = [m for m in metrics if m not in spans]
    _check_request(loaded.source, request)
    try:
        frames = (
            [_lifecycle_frame(con, config, sources, loaded, spans, request, results)]
            if spans
            else []
        )
        if rows:
            sql, params = source_sql(config, loaded.source, rows, request)
            if loaded.remote is not None:  # compiled to the engine's SQL and run there
                frames.append(loaded.remote.df(sql, params))
            elif any(m.expression is not None for m in rows):
                # the user's SQL may read more than the source's rows (the date, another
                # source), which a kept result's key does not cover: it is run every time
                frames.append(con.execute(sql, params).df())
            else:
                frames.append(results.df(con, sql, params, [loaded]))
        frame = _join(frames, ["_key", *request.by])
    except (duckdb.Error, QueryError) as exc:
        names = ", ".join(m.name for m in metrics)
        engine = "DuckDB" if loaded.remote is None else loaded.remote.warehouse.url
        raise QueryError(
            f"metrics {names} of source '{source_name}' failed in {engine}: "
            f"{str(exc).splitlines()[0]}; check their expression in reviewkit.yaml"
        ) from None
    if request.windows:
        return frame.rename(columns={"_key": "window"})
    frame["_key"] = [d.date() if hasattr(d, "date") else d for d in frame["_key"]]
    return frame.rename(columns={"_key": "period_start"})


def _lifecycle_frame(
    con: duckdb.DuckDBPyConnection,
    config: ProjectConfig,
    sources: Mapping[str, LoadedSource],
    loaded: LoadedSource,
    metrics: Sequence[Metric],
    request: KpiRequest,
    results: ResultCache,
) -> pd.DataFrame:
    """Lifecycle metrics (:mod:`reviewkit.metrics.lifecycle`) over the request's periods or
    windows, each window ending at the last day the export speaks for at the latest."""
    source = loaded.source
    extent = _extent(con, loaded, results)
    if extent is None:
        return pd.DataFrame(columns=["_key", *request.by, *(m.name for m in metrics)])
    first, last = extent
    windows: list[tuple[Any, dt.date, dt.date]]
    if request.windows:
        windows = [(w.name, w.start, min(w.end, last)) for w in request.windows]
    else:
        windows = lifecycle.windows_of(
            config, request.grain, first, last, request.start, request.end
        )
    windows = [w for w in windows if w[1] <= w[2]]
    if not windows:
        return pd.DataFrame(columns=["_key", *request.by, *(m.name for m in metrics)])
    frames = []
    for metric in metrics:
        sql, params = lifecycle.lifecycle_sql(
            config, source, metric, request.by, request.filters, windows
        )
        frames.append(results.df(con, sql, params, _read(sources, loaded, metric)))
    return _join(frames, ["_key", *request.by])


def _read(
    sources: Mapping[str, LoadedSource], loaded: LoadedSource, metric: Metric
) -> list[LoadedSource]:
    """The loaded sources a lifecycle metric's query reads: its own, and its value changes."""
    changes = lifecycle.changes_of(loaded.source, metric)
    return [loaded, sources[changes]] if changes else [loaded]


def _extent(
    con: duckdb.DuckDBPyConnection, loaded: LoadedSource, results: ResultCache
) -> tuple[dt.date, dt.date] | None:
    """A lifecycle export's first start and the last day it speaks for
    (:func:`reviewkit.metrics.lifecycle.extent_sql`); None without rows."""
    sql, params = lifecycle.extent_sql(loaded.source)
    first, last = results.df(con, sql, params, [loaded]).iloc[0]
    if pd.isna(first) or pd.isna(last):
        return None
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


def compute_cohorts(
    con: duckdb.DuckDBPyConnection,
    config: ProjectConfig,
    name: str,
    grain: str,
    filters: Sequence[tuple[str, Sequence[str]]],
    sources: Mapping[str, LoadedSource],
    results: ResultCache,
    *,
    through: dt.date | None = None,
    latest: int | None = None,
) -> pd.DataFrame:
    """Cohort retention of lifecycle metric ``name`` (``retention``, ``churn``,
    ``revenue_retention``: :func:`reviewkit.metrics.lifecycle.cohort_sql`): ``cohort`` (the
    period's first day), ``age``, ``size``, ``value``; a cohort has a row for each age it has
    reached by the export's last day (or ``through``, when earlier: nothing later is read),
    none for the ages still ahead of it; ``latest`` keeps the cohorts of the latest periods
    only."""
    metric = config.metrics[name]
    if metric.agg not in RETENTION_AGGREGATIONS:
        raise QueryError(
            f"cohorts need a retention metric of a lifecycle source (agg: retention, churn or "
            f"revenue_retention); '{name}' is "
            + (f"agg: {metric.agg}" if metric.agg else "not one")
        )
    if grain not in GRAINS:
        raise QueryError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")
    loaded = sources[metric.source or ""]
    source = loaded.source
    _check_request(
        source, KpiRequest(metrics=(name,), filters=tuple((c, tuple(v)) for c, v in filters))
    )
    extent = _extent(con, loaded, results)
    columns = ["cohort", "age", "size", "value"]
    if extent is None:
        return pd.DataFrame(columns=columns)
    first, last = extent
    cells = lifecycle.cohort_cells(config, grain, first, min(last, through or last))
    if latest is not None:
        kept = sorted({cell[0] for cell in cells})[-latest:] if latest > 0 else []
        cells = [cell for cell in cells if cell[0] in kept]
    if not cells:
        return pd.DataFrame(columns=columns)
    sql, params = lifecycle.cohort_sql(config, source, metric, grain, filters, cells)
    frame = results.df(con, sql, params, _read(sources, loaded, metric))
    frame["cohort"] = [as_day(d) for d in frame["cohort"]]
    if metric.agg == "churn":
        frame["value"] = 1 - frame["value"]
    return frame[columns].reset_index(drop=True)


def source_sql(
    config: ProjectConfig, source: Source, metrics: Sequence[Metric], request: KpiRequest
) -> tuple[str, dict[str, Any]]:
    """The one grouped query (DuckDB SQL, over the table named after the source) that answers
    ``metrics`` of ``source`` for ``request``, and its parameters: ``_key`` (the period's first
    day, or the window's name), the ``by`` columns, and a column per metric."""
    source_name = source.name
    _check_request(source, request)
    params: dict[str, Any] = {}
    where = []
    for i, (column, values) in enumerate(request.filters):
        params[f"rf{i}"] = list(values)
        where.append(f"CAST({quote_ident(column)} AS VARCHAR) IN (SELECT unnest($rf{i}))")
    day = f"CAST({quote_ident(source.date.column)} AS DATE)"
    if request.start:
        params["start"] = request.start
        where.append(f"{day} >= $start")
    if request.end:
        params["end"] = request.end
        where.append(f"{day} <= $end")
    by = [quote_ident(c) for c in request.by]
    partition = ", ".join(["_key", *by])
    edges = {
        _edge_day(m): f"{'min' if m.agg == 'first' else 'max'}"
        f"(CASE WHEN {quote_ident(m.column or '')} IS NOT NULL THEN {DAY} END)"
        for m in metrics
        if m.agg in ("first", "last") and m.expression is None
    }
    windows = "".join(
        f", {edge} OVER (PARTITION BY {partition}) AS {name}" for name, edge in edges.items()
    )
    aggregates = ", ".join(
        f"CAST({aggregate_sql(m, config, params)} AS DOUBLE) AS {quote_ident(m.name)}"
        for m in metrics
    )
    if request.windows:
        rows = []
        for i, window in enumerate(request.windows):
            params |= {f"wn{i}": window.name, f"ws{i}": window.start, f"we{i}": window.end}
            rows.append(f"($wn{i}, $ws{i}, $we{i})")
        where.append(f"{day} BETWEEN $wmin AND $wmax")
        params["wmin"] = min(w.start for w in request.windows)
        params["wmax"] = max(w.end for w in request.windows)
        # a VALUES row per window (not zipped arrays): every engine's SQL has it
        keyed = (
            f"SELECT base.*, w.name AS _key FROM base JOIN (VALUES {', '.join(rows)}) "
            f"AS w(name, ws, we) ON base.{DAY} BETWEEN w.ws AND w.we"
        )
    else:
        keyed = f"SELECT *, {bucket_sql(request.grain, DAY, config.calendar)} AS _key FROM base"
    sql = (
        f"WITH base AS (SELECT *, {day} AS {DAY} FROM {quote_ident(source_name)}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f"), keyed AS ({keyed}), rows AS (SELECT *{windows} FROM keyed) "
        f"SELECT {partition}, {aggregates} FROM rows GROUP BY {partition} ORDER BY {partition}"
    )
    return sql, params


def _edge_day(metric: Metric) -> str:
    """The column holding the first or last day with a value of ``metric``'s column."""
    return quote_ident(f"_{metric.agg}_day_{metric.column}")


def _check_request(source: Source, request: KpiRequest) -> None:
    """A :class:`QueryError` for a filter or group that is not a dimension of ``source``."""
    for column, _ in request.filters:
        _require_dimension(source.name, source.dimensions, column, "filter on")
    for column in request.by:
        _require_dimension(source.name, source.dimensions, column, "group by")


def _require_dimension(source: str, dimensions: Sequence[str], column: str, verb: str) -> None:
    if column not in dimensions:
        raise QueryError(
            f"cannot {verb} '{column}': it is not a dimension of source '{source}' "
            f"(its dimensions are: {', '.join(dimensions) or 'none'})"
        )


def _join(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=keys)
    wide = parts[0]
    for part in parts[1:]:
        wide = wide.merge(part, on=keys, how="outer")
    return wide.sort_values(keys, kind="stable").reset_index(drop=True)


def _rolled_up(
    con: duckdb.DuckDBPyConnection,
    config: ProjectConfig,
    request: KpiRequest,
    loaded: Mapping[str, LoadedSource],
    results: ResultCache,
    name: str,
    wide: pd.DataFrame,
) -> pd.Series:
    """Monthly rate ``name`` (:func:`monthly_rate`) over the request's periods or windows: as
    computed where one lies within a month; elsewhere the average of its months' values
    (``rollup: average_of_periods``) or missing."""
    if request.windows:
        found = {w.name: (w.start, w.end) for w in request.windows}
        spans = [found[key] for key in wide["window"]]
    else:
        spans = [
            (start, period_containing(start, request.grain, config.calendar).end)
            for start in wide["period_start"]
        ]
    long = [spans_months(*span) for span in spans]
    values = wide[name].astype("float64").copy()
    if not any(long):
        return values
    if config.metrics[name].rollup != "average_of_periods":
        values[long] = float("nan")
        return values
    first = min(start for (start, _), wide_span in zip(spans, long, strict=True) if wide_span)
    last = max(end for (_, end), wide_span in zip(spans, long, strict=True) if wide_span)
    months = compute_kpis(
        con,
        config,
        replace(request, metrics=(name,), grain="month", windows=(), start=first, end=last),
        loaded,
        results,
    )
    for row, (start, end) in enumerate(spans):
        if not long[row]:
            continue
        inside = (months["period_start"] >= start) & (months["period_start"] <= end)
        for column in request.by:
            inside &= months[column] == wide[column].iloc[row]
        values.iloc[row] = months.loc[inside, "value"].mean()  # NaN when no month has a value
    return values


def _derive(metric: Metric, wide: pd.DataFrame) -> pd.Series:
    columns = [wide[name].astype("float64") for name in metric.inputs]
    if metric.op == "sum":
        result = sum(columns[1:], columns[0])
    elif metric.op == "difference":
        result = columns[0] - columns[1]
    elif metric.op == "product":
        result = columns[0]
        for column in columns[1:]:
            result = result * column
    else:  # ratio of totals; a zero or missing denominator gives NaN, never infinity
        denominator = columns[1].where(columns[1] != 0)
        result = columns[0] / denominator
    return result * metric.scale


def format_value(metric: Metric, value: float | None) -> str:
    """Text for a value in the metric's format: ``1,234``, ``12.5%``, ``$48,200``, ``35 bps``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if metric.format == "percent":
        decimals = 1 if metric.decimals is None else metric.decimals
        return f"{value * 100:,.{decimals}f}%"
    if metric.format == "bps":
        decimals = 0 if metric.decimals is None else metric.decimals
        return f"{value * 10000:,.{decimals}f} bps"
    places = metric.decimals
    if places is None:
        places = 0 if abs(value) >= 100 or float(value).is_integer() else 2
    text = f"{abs(value):,.{places}f}"
    sign = "-" if value < 0 else ""
    if metric.format == "currency":
        symbol = CURRENCY_SYMBOLS.get(metric.currency, metric.currency + " ")
        return f"{sign}{symbol}{text}"
    return f"{sign}{text}{metric.unit and ' ' + metric.unit}"


CURRENCY_SYMBOLS: Final[Mapping[str, str]] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
#: what a difference of two values is multiplied by in each points unit (values of percent and
#: bps metrics are fractions)
POINT_SCALE: Final[Mapping[str, float]] = {"pp": 100.0, "bps": 10_000.0, "points": 1.0}
#: a change that would round to zero is shown with up to this many more decimals, and below
#: that as "<" the smallest number they can show ("+<0.0001 pp")
EXTRA_DECIMALS: Final = 3


def format_change(
    value: float, suffix: str, decimals: int, *, prefix: str = "", signed: bool = True
) -> str:
    """The text of every change and difference reviewkit shows: ``+5.0 pp``, ``-3.2%``,
    ``+$1,200``, ``+16.2 points``. A change of exactly zero is ``0`` (``0 pp``); any other never
    reads as zero: a change that would round to zero at ``decimals`` gets more of them until a
    digit shows (``+0.04 pp``), and one too small even then reads ``+<0.0001 pp``. ``signed``: a
    ``+`` before a rise (changes); a fall always has its ``-``."""
    if value == 0:
        return f"{prefix}0{suffix}"
    if not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else "+" if signed else ""
    for places in range(decimals, decimals + EXTRA_DECIMALS + 1):
        text = f"{abs(value):,.{places}f}"
        if text.strip("0.,"):
            if suffix == " points" and text == "1":
                suffix = " point"
            return f"{sign}{prefix}{text}{suffix}"
    places = decimals + EXTRA_DECIMALS
    return f"{sign}<{prefix}{10.0**-places:.{places}f}{suffix}"


def _change_format(metric: Metric, unit: str) -> tuple[str, int, str]:
    """How a change of ``metric`` in ``unit`` is written: suffix, decimals and prefix."""
    if unit == "percent":
        return "%", 1, ""
    own = metric.decimals if unit == metric.points_unit else None
    if unit in ("pp", "bps"):
        default = 1 if unit == "pp" else 0
        return f" {unit}", default if own is None else own, ""
    if metric.format == "currency":
        symbol = CURRENCY_SYMBOLS.get(metric.currency, metric.currency + " ")
        return "", 0 if own is None else own, symbol
    suffix = " points" if metric.format == "score" else f" {metric.unit}" if metric.unit else ""
    return suffix, 1 if own is None else own, ""


def change_text(metric: Metric, value: float, unit: str, *, signed: bool = True) -> str:
    """A change of ``metric`` in ``unit`` (percent, pp, bps, points), already in that unit:
    percent of the earlier value, or points (pp: x 100 of the fractions' difference, bps:
    x 10,000). Points have the decimals the metric's values have (pp: 1, bps: 0, else 1 unless
    declared), percent 1."""
    suffix, decimals, prefix = _change_format(metric, unit)
    return format_change(value, suffix, decimals, prefix=prefix, signed=signed)


def within_rounding(metric: Metric, value: float, unit: str) -> bool:
    """Whether a change of ``metric`` in ``unit`` rounds to nothing at the decimals its changes
    are written with (``+0.04 pp`` of a rate written to 0.1 pp): neither better nor worse."""
    _, decimals, _ = _change_format(metric, unit)
    return round(abs(value), decimals) == 0


def difference_text(metric: Metric, difference: float, *, signed: bool = False) -> str:
    """A difference of two values of ``metric`` (an effect, an interval's end) in its points:
    ``0.04 pp`` for 0.0004 of a percent metric, ``6 points`` for a score, ``4.0 h``, ``$1,200``,
    ``12.5`` for a number without a unit."""
    unit = metric.points_unit
    return change_text(metric, difference * POINT_SCALE[unit], unit, signed=signed)
