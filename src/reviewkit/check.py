"""Checking a project: its config, each export, and each metric expression (``reviewkit check``).

>>> for problem in check_project("."):
...     print(problem)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Final

from reviewkit.base.errors import ConfigError, DataError, Problem, QueryError, ReviewkitError
from reviewkit.base.periods import Period
from reviewkit.base.sql import quote_ident
from reviewkit.config import CONFIG_FILE, ProjectConfig, load_config
from reviewkit.metrics.catalogue import (
    KpiRequest,
    monthly_rate,
    value_column,
    weekday_share,
)
from reviewkit.metrics.workspace import Workspace
from reviewkit.sources.quality import blank_rows

__all__ = ["WEEKLY_SEASONAL_SHARE", "check_project"]

#: From this share of a daily series' day-to-day variation explained by the weekday, one day's
#: value says more about its weekday than about the period: the weekday outweighs noise and
#: everything else together. The sample's daily series score 0.70 (NPS responses) to 0.95
#: (signups), active users 0.94; pure noise over 8 weeks scores above 0.40 once in 1,000 series.
WEEKLY_SEASONAL_SHARE: Final = 0.5


def check_project(path: str | Path = ".") -> list[Problem]:
    """Every problem with a project: its config, each export, and each metric expression."""
    try:
        config = load_config(Path(path))
    except ConfigError as exc:
        return list(exc.problems) or [Problem(str(Path(path) / CONFIG_FILE), str(exc))]
    problems: list[Problem] = []
    with Workspace(config) as workspace:
        for name in config.sources:
            try:
                loaded = workspace.source(name)
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
        problems.extend(_check_metrics(workspace))
        problems.extend(_check_outputs(workspace))
        problems.extend(_check_blank_runs(workspace))
        problems.extend(_check_rollups(config))
        problems.extend(_check_responses(workspace))
    return problems


def _check_responses(workspace: Workspace) -> list[Problem]:
    """A survey metric with ``min_responses``: the months with fewer answers (their values are
    noise), named, before a review shows them."""
    config = workspace.config
    problems = []
    for name, metric in config.metrics.items():
        if metric.min_responses is None or metric.source not in workspace.loaded:
            continue
        counted = replace(metric, name=f"_{name}_responses", agg="responses")
        frame = workspace.compute_with(
            {counted.name: counted}, KpiRequest(metrics=(counted.name,), grain="month")
        )
        short = [
            (row["period"], int(row["value"]))
            for row in frame.to_dict("records")
            if row["value"] == row["value"] and row["value"] < metric.min_responses
        ]
        if not short:
            continue
        shown = ", ".join(f"{period} ({count})" for period, count in short[:6])
        more = f" and {len(short) - 6} more" if len(short) > 6 else ""
        line, col = config.located.where(("metrics", name, "min_responses"))
        problems.append(
            Problem(
                config.located.path,
                f"metric '{name}' has fewer than {metric.min_responses:,} answers in "
                f"{len(short)} month(s): {shown}{more}; their values are noise (reviews flag "
                "them)",
                line,
                col,
                key=f"metrics.{name}.min_responses",
                severity="warning",
            )
        )
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


def _check_blank_runs(workspace: Workspace) -> list[Problem]:
    """A column that metrics aggregate and that is blank from some date on, over two days or
    more (an export that lists the days ahead, or whose last days are not filled in yet): those
    days are missing for its metrics, never zero, which the analyst should know before a review
    says so. (A last day alone is usually one not filled in yet: the review flags it as in
    progress.)"""
    config = workspace.config
    aggregated = {(m.source, value_column(m)) for m in config.metrics.values()}
    problems = []
    for name in workspace.loaded:
        source = config.sources[name]
        day = f"CAST({quote_ident(source.date.column)} AS DATE)"
        for column, _ in source.values:
            if (name, column) not in aggregated:
                continue
            valued = (
                f"(SELECT max({day}) FROM {quote_ident(name)} "
                f"WHERE {quote_ident(column)} IS NOT NULL)"
            )
            ((first, rows, days),) = workspace.source_rows(
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


def _check_outputs(workspace: Workspace) -> list[Problem]:
    """The outputs mapping names columns the export must really have (text columns such as the
    id and title are not declared under the source, so only the file can tell), and each
    output's id must be there (a title or team missing is a warning: the row still counts)."""
    spec = workspace.config.outputs
    if spec is None or spec.source not in workspace.loaded:
        return []
    columns = set(workspace.columns(spec.source))
    problems = []
    for key in ("id", "title", "team", "type", "effort", "url", "labels"):
        name = getattr(spec, key)
        if name is not None and name not in columns:
            line, col = workspace.config.located.where(("outputs", key))
            problems.append(
                Problem(
                    workspace.config.located.path,
                    f"source '{spec.source}' has no column '{name}'; its columns are: "
                    + ", ".join(sorted(columns)),
                    line,
                    col,
                    key=f"outputs.{key}",
                )
            )
    if problems:
        return problems
    loaded = workspace.loaded[spec.source]
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


def _check_metrics(workspace: Workspace) -> list[Problem]:
    """Bind every base metric against its loaded source, so a bad expression or column is named
    with its line in reviewkit.yaml instead of failing later in a report."""
    config = workspace.config
    problems = []
    for name, metric in config.metrics.items():
        if metric.derived or metric.source not in workspace.loaded:
            continue
        request = KpiRequest(metrics=(name,), grain="month")
        key = "expression" if metric.expression else "column"
        line, col = config.located.where(("metrics", name, key))
        try:
            columns = workspace.columns(metric.source or "")
            if metric.column and metric.column not in columns:
                raise QueryError(
                    f"source '{metric.source}' has no column '{metric.column}'; its columns are: "
                    + ", ".join(columns)
                )
            workspace.compute(request)
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
            problems.extend(_check_weekday_level(workspace, name))
    return problems


def _check_weekday_level(workspace: Workspace, name: str) -> list[Problem]:
    """A `first`/`last` level of a weekly-seasonal daily series compares one weekday with
    another from month to month (the sample's active users fell 66% in a month that ended on a
    Saturday): warn, with the days compared, unless the weekday barely moves the series."""
    config = workspace.config
    metric = config.metrics[name]
    share = weekday_share(workspace.source_rows, config, name)
    if share is None or share < WEEKLY_SEASONAL_SHARE:
        return []

    def boundary(period: Period) -> dt.date:
        return period.end if metric.agg == "last" else period.start

    # Reviews compare months (weeks, and their year ago 364 days back, keep weekdays aligned).
    # Months' last days share a weekday only across a 28-day February (first days: from one), so
    # of the latest month's MoM and the one before, at least one compares different weekdays.
    latest = workspace.period("latest", "month", [name])
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
