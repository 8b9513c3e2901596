"""Metrics of entities with a lifetime (``lifecycle:`` sources): active, retention, churn and
revenue retention, computed over each period or window rather than over the rows dated in it.

A spell (one row) is active from its ``start`` day until the day before its ``end`` (blank:
still active); an entity (``id``) is active on a day when one of its spells is. Over a window
from day ``ws`` to day ``we``:

- *active*: the entities active on ``we`` (``at: end``), or the average over its days of the
  entities active on each (``at: average``);
- *retention*: of the entities active at the window's start (on the day before ``ws``), the
  share active on ``we``; *churn* is the share that is not. Entities that start inside the
  window are not in it: a year's retention is the share of the year's opening customers still
  there at its end, not the average of its months;
- *revenue_retention*: the same entities' value on ``we`` (0 if they left) over their value at
  the start: net revenue retention, or gross with ``expansion: capped`` (each entity counts at
  most its value at the start). An entity whose value is blank on either day is left out of both.

Filters and breakdowns place an entity by the spell it had at the window's start (its plan,
team, region then); whether it is still there at the end is read from any of its spells. The
last window ends at the latest start or end in the export that is not after today: the export
says nothing about later days, and an entity without an end is active up to then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from reviewkit.base import clock
from reviewkit.base.periods import bucket_sql, period_containing
from reviewkit.base.sql import quote_ident
from reviewkit.config import LIFECYCLE_AGGREGATIONS, Lifecycle, Metric, ProjectConfig, Source

__all__ = [
    "COUNTED",
    "WINDOWED",
    "changes_of",
    "cohort_cells",
    "cohort_sql",
    "extent_sql",
    "lifecycle_sql",
    "windows_of",
]


#: The counts of entities at the start of a window (``opening``), those still there at its end
#: (``kept``) and those gone (``lost``): what retention and churn are the ratio of, asked for
#: apart by :mod:`reviewkit.metrics.explain` (no ``agg:`` a project declares).
COUNTED: Final = {
    "retention": "CAST(count(k._id) AS DOUBLE) / count(*)",
    "churn": "CAST(count(*) - count(k._id) AS DOUBLE) / count(*)",
    "opening": "CAST(count(*) AS DOUBLE)",
    "kept": "CAST(count(k._id) AS DOUBLE)",
    "lost": "CAST(count(*) - count(k._id) AS DOUBLE)",
}
#: Every aggregation computed over windows (lifecycle metrics and the parts of their ratios).
WINDOWED: Final = frozenset({*LIFECYCLE_AGGREGATIONS, *COUNTED, "opening_value", "kept_value"})


def changes_of(source: Source, metric: Metric) -> str | None:
    """The source of value changes ``metric`` reads besides ``source`` (``lifecycle: changes:``):
    only a metric of the spells' values (revenue retention) does."""
    if source.lifecycle is None or metric.column is None:
        return None
    return source.lifecycle.changes


def extent_sql(source: Source) -> tuple[str, dict[str, Any]]:
    """The first start and the last start or end not after today: the days the export
    speaks for."""
    spell = _lifecycle(source)
    start, end = quote_ident(spell.start), quote_ident(spell.end)
    sql = (
        f"SELECT CAST(min({start}) AS DATE), CAST(greatest("
        f"max({start}) FILTER (WHERE CAST({start} AS DATE) <= $today), "
        f"max({end}) FILTER (WHERE CAST({end} AS DATE) <= $today)) AS DATE) "
        f"FROM {quote_ident(source.name)}"
    )
    return sql, {"today": clock.today()}


def windows_of(
    config: ProjectConfig,
    grain: str,
    first: dt.date,
    last: dt.date,
    start: dt.date | None,
    end: dt.date | None,
) -> list[tuple[dt.date, dt.date, dt.date]]:
    """``(key, ws, we)`` per period of ``grain`` from the one holding ``start`` (else ``first``,
    the export's first start) to the one holding ``end`` (else ``last``), each window cut to the
    days asked for and to ``last``."""
    upto = min(end, last) if end else last
    day = start or first
    if day > upto:
        return []
    period = period_containing(day, grain, config.calendar)
    found = []
    while period.start <= upto:
        found.append(
            (period.start, max(period.start, start or period.start), min(period.end, upto))
        )
        period = period.shift(1)
    return found


def lifecycle_sql(
    config: ProjectConfig,
    source: Source,
    metric: Metric,
    by: Sequence[str],
    filters: Sequence[tuple[str, Sequence[str]]],
    windows: Sequence[tuple[Any, dt.date, dt.date]],
) -> tuple[str, dict[str, Any]]:
    """One query answering ``metric`` over ``windows`` (``(key, first day, last day)``): columns
    ``_key``, the ``by`` columns and the metric's name."""
    params: dict[str, Any] = {
        "wk": [key for key, _, _ in windows],
        "ws": [first for _, first, _ in windows],
        "we": [last for _, _, last in windows],
    }
    groups = [quote_ident(c) for c in by]
    head = (
        _spells(config, source, metric, filters, params)
        + ", windows AS (SELECT unnest($wk) AS _key, unnest($ws) AS _ws, unnest($we) AS _we)"
    )
    keys = ", ".join(["_key", *groups])
    name = quote_ident(metric.name)
    if metric.agg == "active":
        return head + _active(metric, groups, keys, name), params
    # at the start: active on the day before the window (started before it, not ended before it)
    opening = "c._s < w._ws AND (c._e IS NULL OR c._e >= w._ws)"
    closing = "a._s <= w._we AND (a._e IS NULL OR a._e > w._we)"
    member = ", ".join([f"c.{g}" for g in groups] + ["c._id"])
    if metric.agg in COUNTED:
        measure = COUNTED[metric.agg]
        body = (
            f", opening AS (SELECT DISTINCT w._key, {member} FROM windows w JOIN chosen c "
            f"ON {opening}), "
            f"closing AS (SELECT DISTINCT w._key, a._id FROM windows w JOIN spells a ON {closing}) "
            f"SELECT {keys}, {measure} AS {name} "
            "FROM opening o LEFT JOIN closing k USING (_key, _id) "
            f"GROUP BY {keys} ORDER BY {keys}"
        )
        return head + body, params
    # revenue retention: value at the end of the entities there at the start, over their value
    # then; an entity with a blank value on either day weighs nothing either side
    kept_value = "sum(_kept)" if metric.expansion == "counted" else "sum(least(_kept, _v))"
    measure = {
        "revenue_retention": f"{kept_value} / nullif(sum(_v), 0)",
        "kept_value": f"CAST({kept_value} AS DOUBLE)",
        "opening_value": "CAST(sum(_v) AS DOUBLE)",
    }[metric.agg or ""]
    body = (
        f", opening AS (SELECT w._key, {member}, "
        "CASE WHEN count(c._v) = count(*) THEN sum(c._v) END AS _v "
        f"FROM windows w JOIN chosen c ON {opening} GROUP BY ALL), "
        "closing AS (SELECT w._key, a._id, CASE WHEN count(a._v) = count(*) THEN sum(a._v) END "
        f"AS _v FROM windows w JOIN spells a ON {closing} GROUP BY ALL), "
        "weighed AS (SELECT o.*, CASE WHEN k._id IS NULL THEN 0.0 ELSE k._v END AS _kept "
        "FROM opening o LEFT JOIN closing k USING (_key, _id)) "
        f"SELECT {keys}, {measure} AS {name} "
        "FROM weighed WHERE _v IS NOT NULL AND _kept IS NOT NULL "
        f"GROUP BY {keys} ORDER BY {keys}"
    )
    return head + body, params


def _spells(
    config: ProjectConfig,
    source: Source,
    metric: Metric,
    filters: Sequence[tuple[str, Sequence[str]]],
    params: dict[str, Any],
) -> str:
    """``WITH spells AS (...), chosen AS (...)``: every spell typed (``_id``, ``_s``, ``_e``,
    ``_v`` the metric's value column, the dimensions), and those the filters keep. With a
    source of value changes (:func:`changes_of`), a spell is cut where its value changed: the
    pieces follow each other, each with the value from its first day (a change on the spell's
    first day replaces the spell's own value; one outside every spell of its entity is not
    read)."""
    spell = _lifecycle(source)
    conditions = []
    for i, (column, values) in enumerate([*filters, *metric.filters]):
        params[f"lf{i}"] = list(values)
        conditions.append(f"CAST({quote_ident(column)} AS VARCHAR) IN (SELECT unnest($lf{i}))")
    value = quote_ident(metric.column) if metric.column else "NULL"
    dimensions = "".join(", " + quote_ident(d) for d in source.dimensions)
    rows = (
        f"SELECT CAST({quote_ident(spell.id)} AS VARCHAR) AS _id, "
        f"CAST({quote_ident(spell.start)} AS DATE) AS _s, "
        f"CAST({quote_ident(spell.end)} AS DATE) AS _e, "
        f"CAST({value} AS DOUBLE) AS _v{dimensions} FROM {quote_ident(source.name)}"
    )
    changes = changes_of(source, metric)
    if changes is None:
        spells = rows
    else:
        dated = config.sources[changes].date.column
        marks = (
            f"SELECT CAST({quote_ident(spell.id)} AS VARCHAR) AS _id, "
            f"CAST({quote_ident(dated)} AS DATE) AS _d, CAST({value} AS DOUBLE) AS _cv "
            f"FROM {quote_ident(changes)}"
        )
        # each spell's first day (rank 0) and the changes inside it (rank 1: a change on the
        # first day comes after it, leaving an empty piece, active on no day)
        points = (
            f"SELECT _id, _s AS _s0, _e, _s AS _p, 0 AS _r, _v{dimensions} FROM base UNION ALL "
            f"SELECT b._id, b._s, b._e, m._d, 1, m._cv"
            + "".join(f", b.{quote_ident(d)}" for d in source.dimensions)
            + " "
            "FROM base b JOIN marks m ON m._id = b._id AND m._d >= b._s "
            "AND (b._e IS NULL OR m._d < b._e)"
        )
        spells = (
            f"WITH base AS ({rows}), marks AS ({marks}), points AS ({points}) "
            "SELECT _id, _p AS _s, coalesce(lead(_p) OVER (PARTITION BY _id, _s0, _e "
            f"ORDER BY _p, _r), _e) AS _e, _v{dimensions} FROM points"
        )
    chosen = "SELECT * FROM spells" + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
    return f"WITH spells AS ({spells}), chosen AS ({chosen})"


def cohort_cells(
    config: ProjectConfig, grain: str, first: dt.date, last: dt.date
) -> list[tuple[dt.date, int, dt.date]]:
    """``(cohort, age, day)``: for each period of ``grain`` from the one holding ``first`` to the
    one holding ``last`` (a cohort: the entities that started in it), each age it has reached
    by ``last`` (0: its own period) and the last day of that age's period."""
    cells = []
    cohort = period_containing(first, grain, config.calendar)
    while cohort.start <= last:
        age, period = 0, cohort
        while period.end <= last:
            cells.append((cohort.start, age, period.end))
            age, period = age + 1, period.shift(1)
        cohort = cohort.shift(1)
    return cells


def cohort_sql(
    config: ProjectConfig,
    source: Source,
    metric: Metric,
    grain: str,
    filters: Sequence[tuple[str, Sequence[str]]],
    cells: Sequence[tuple[dt.date, int, dt.date]],
) -> tuple[str, dict[str, Any]]:
    """Cohort retention: per cohort (the entities whose first spell started in a period of
    ``grain``, placed by that spell's dimensions and filtered by them) and age, ``size`` (the
    entities) and ``value``: the share still active on the age's last day, or with
    ``revenue_retention`` their value then over their first spells' values. ``cells`` (from
    :func:`cohort_cells`) are the ages each cohort has reached: no row for the others. An
    entity whose value is blank (first spell, or on the age's last day) weighs nothing in that
    cell."""
    params: dict[str, Any] = {
        "ck": [c for c, _, _ in cells],
        "ca": [a for _, a, _ in cells],
        "cd": [d for _, _, d in cells],
    }
    head = _spells(config, source, replace(metric, filters=()), (), params)
    # an entity's cohort, dimensions and starting value are those of its first spell; the
    # filters (the metric's and the request's) pick entities by that spell
    conditions = [
        f"CAST({quote_ident(column)} AS VARCHAR) IN (SELECT unnest($cf{i}))"
        for i, (column, _) in enumerate([*filters, *metric.filters])
    ]
    for i, (_, values) in enumerate([*filters, *metric.filters]):
        params[f"cf{i}"] = list(values)
    firsts = (
        "SELECT _id, min(_s) AS _first, first(_v ORDER BY _s) AS _v0"
        + "".join(
            f", first({quote_ident(d)} ORDER BY _s) AS {quote_ident(d)}" for d in source.dimensions
        )
        + " FROM spells GROUP BY _id"
    )
    bucket = bucket_sql(grain, "_first", config.calendar)
    members = f"SELECT *, {bucket} AS _cohort FROM firsts" + (
        f" WHERE {' AND '.join(conditions)}" if conditions else ""
    )
    # per cell and member: its active spells on the age's last day, and their value (blank
    # when one of them is: the member is then left out of that cell's value-weighted share,
    # as is a member whose first spell's value is blank)
    weighed = "_v0 IS NOT NULL AND _n = _valued"
    value = (
        f"sum(coalesce(_value, 0)) FILTER (WHERE {weighed}) "
        f"/ nullif(sum(_v0) FILTER (WHERE {weighed}), 0)"
        if metric.agg == "revenue_retention"
        else "CAST(count(*) FILTER (WHERE _n > 0) AS DOUBLE) / count(*)"
    )
    body = (
        f", firsts AS ({firsts}), members AS ({members}), "
        "cells AS (SELECT unnest($ck) AS _cohort, unnest($ca) AS _age, unnest($cd) AS _day), "
        "states AS (SELECT c._cohort, c._age, m._id, m._v0, count(a._id) AS _n, "
        "count(a._v) AS _valued, sum(a._v) AS _value FROM cells c "
        "JOIN members m ON m._cohort = c._cohort LEFT JOIN spells a ON a._id = m._id "
        "AND a._s <= c._day AND (a._e IS NULL OR a._e > c._day) GROUP BY ALL) "
        f"SELECT _cohort AS cohort, _age AS age, count(*) AS size, {value} AS value "
        "FROM states GROUP BY ALL ORDER BY cohort, age"
    )
    return head + body, params


def _active(metric: Metric, groups: Sequence[str], keys: str, name: str) -> str:
    """Entities active on the window's last day, or on its average day; every window (and
    group) has a row, 0 where none is."""
    grid = (
        f"(SELECT * FROM windows CROSS JOIN (SELECT DISTINCT {', '.join(groups)} FROM chosen))"
        if groups
        else "windows"
    )
    on = " AND ".join(["g._key = n._key", *(f"g.{c} IS NOT DISTINCT FROM n.{c}" for c in groups)])
    picked = ", ".join(["g._key", *(f"g.{c}" for c in groups)])
    if metric.at == "end":
        counted = (
            f"SELECT w._key{''.join(', c.' + g for g in groups)}, count(DISTINCT c._id) AS _n "
            "FROM windows w JOIN chosen c ON c._s <= w._we AND (c._e IS NULL OR c._e > w._we) "
            "GROUP BY ALL"
        )
    else:
        # an entity's overlapping or touching spells (in one group) merged into islands, so a
        # day counts once per entity; then the days each island covers inside the window
        part = ", ".join(["_id", *groups])
        far = "DATE '9999-12-31'"
        counted = (
            "SELECT w._key"
            + "".join(", i." + g for g in groups)
            + ", sum(date_diff('day', greatest(i._s, w._ws), least(coalesce(i._e, "
            f"{far}), w._we + 1)) / (date_diff('day', w._ws, w._we) + 1)) AS _n "
            "FROM windows w JOIN (SELECT min(_s) AS _s, nullif(max(coalesce(_e, "
            f"{far})), {far}) AS _e, {part} FROM (SELECT *, sum(CASE WHEN _reach IS NULL OR "
            f"_s > _reach THEN 1 ELSE 0 END) OVER (PARTITION BY {part} ORDER BY _s ROWS "
            "UNBOUNDED PRECEDING) AS _island FROM (SELECT *, max(coalesce(_e, "
            f"{far})) OVER (PARTITION BY {part} ORDER BY _s ROWS BETWEEN UNBOUNDED PRECEDING "
            f"AND 1 PRECEDING) AS _reach FROM chosen)) GROUP BY {part}, _island) i "
            "ON i._s <= w._we AND (i._e IS NULL OR i._e > w._ws) GROUP BY ALL"
        )
    return (
        f", counted AS ({counted}) "
        f"SELECT {picked}, CAST(coalesce(n._n, 0) AS DOUBLE) AS {name} "
        f"FROM {grid} g LEFT JOIN counted n ON {on} ORDER BY {keys}"
    )


def _lifecycle(source: Source) -> Lifecycle:
    if source.lifecycle is None:
        raise ValueError(f"source '{source.name}' has no lifecycle")
    return source.lifecycle
