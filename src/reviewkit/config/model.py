"""What a valid ``reviewkit.yaml`` becomes: the typed model (:class:`ProjectConfig` and its parts)
and the words the file may use (formats, aggregations, statuses...).

Nothing here reads or checks a file: :mod:`reviewkit.config.loader` does, with the section checkers,
and :mod:`reviewkit.config.keys` says which keys each section takes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from reviewkit.base.periods import Calendar
from reviewkit.base.urls import is_url
from reviewkit.base.yamlfile import Located

CONFIG_FILE: Final = "reviewkit.yaml"
NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")
FORMATS: Final = ("csv", "tsv", "parquet", "xlsx", "json", "ndjson")
EXTENSIONS: Final = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
ENCODINGS: Final = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "utf-16": "utf-16",
    "utf16": "utf-16",
}
VALUE_TYPES: Final = ("integer", "number")
AGGREGATIONS: Final = (
    "sum",
    "mean",
    "min",
    "max",
    "count",
    "count_distinct",
    "first",
    "last",
    "daily_mean",
    "nps",
    "satisfaction",
    "active",
    "retention",
    "churn",
    "revenue_retention",
)
#: Aggregations of a lifecycle source (``lifecycle:``): over each period, not over the rows
#: dated in it (see :mod:`reviewkit.metrics.lifecycle`).
LIFECYCLE_AGGREGATIONS: Final = AGGREGATIONS[-4:]
#: The lifecycle aggregations that are rates over a window (a cohort's retention too)
RETENTION_AGGREGATIONS: Final = LIFECYCLE_AGGREGATIONS[1:]
#: Aggregations of survey answers, carrying their response count and a 95% interval
#: (:mod:`reviewkit.metrics.surveys`): NPS from 0-10 scores, the share of satisfied answers.
SURVEY_AGGREGATIONS: Final = ("nps", "satisfaction")
#: ``agg: active``: entities active at the period's end, or on its average day
ACTIVE_AT: Final = ("end", "average")
#: ``agg: revenue_retention``: expansion of the kept entities counted (net) or capped (gross)
EXPANSION: Final = ("counted", "capped")
DERIVED_OPS: Final = ("sum", "difference", "product", "ratio")
VALUE_FORMATS: Final = ("number", "percent", "currency", "bps", "score")
#: formats whose values are fractions (0.45 is 45% or 4,500 bps): a difference of them is
#: written in percentage points or basis points
FRACTION_FORMATS: Final = ("percent", "bps")
DIRECTIONS: Final = ("higher", "lower")
ON_ERROR: Final = ("fail", "quarantine")
#: URL schemes of the SQL engines a source may live in (``engine:``), and their SQLGlot dialects.
ENGINES: Final = {"postgresql": "postgres", "postgres": "postgres", "spark": "spark"}
#: A source in an engine names the rows to read with one of these.
WAREHOUSE_KEYS: Final = ("table", "query")
#: ``Source.format`` of a source that lives in a SQL engine rather than in files.
WAREHOUSE: Final = "warehouse"
#: What a source does with rows dated after today: refuse them (a typo such as 2062 for 2026),
#: or allow them (an export that plans ahead, such as targets).
FUTURE_DATES: Final = ("refuse", "allow")
TIME_DIRECTIVES: Final = re.compile(r"%-?[HIMSpfzZX]")

#: Overrides `store:` (and may hold a password, unlike reviewkit.yaml): where the store is.
STORE_ENV: Final = "REVIEWKIT_STORE"
ALERT_KINDS: Final = ("status", "below", "above", "stale_days", "verdicts")
ALERT_STATUSES: Final = ("at risk", "off track")
EMAIL_SECURITY: Final = ("starttls", "ssl", "none")
CHAT_FORMATS: Final = ("slack", "teams")
#: the environment variable names a config may point at (secrets are never in the file)
ENV_NAME: Final = re.compile(r"^[A-Z_][A-Z0-9_]*$")
EMAIL: Final = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
IMPACT_GRAINS: Final = ("week", "month")
OUTCOME_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DATE_GRAINS: Final = ("day", "month")
GAPS: Final = ("flag", "ignore")
#: how a metric's changes are written: ``percent`` of the earlier value, or ``points``, the
#: difference in the value's own unit (pp for a percent, bps for bps, points for a score, the
#: currency or unit otherwise); ``pp`` and ``bps`` name the points of a fraction explicitly
CHANGES: Final = ("percent", "points", "pp", "bps")
#: How a rate of a monthly snapshot makes a longer period's value (``rollup:``): the average of
#: its months' rates ("avg monthly"). Without it such a rate has no value over a longer period.
ROLLUPS: Final = ("average_of_periods",)


@dataclass(frozen=True)
class DateColumn:
    """The column that places each row in time, and how its text is parsed."""

    column: str
    format: str | None = None
    #: what one row's date stands for: its day, or its whole month (a month-end snapshot)
    grain: str = "day"
    #: whether a day without rows is missing data ("flag") or normal for this export ("ignore")
    gaps: str = "flag"

    @property
    def has_time(self) -> bool:
        return bool(self.format and TIME_DIRECTIVES.search(self.format))


@dataclass(frozen=True)
class Lifecycle:
    """Entities with a lifetime (accounts, subscriptions): each row is one entity's spell, active
    from its ``start`` day until the day before its ``end`` (blank: still active). An entity
    (``id``) may have several spells: a new one where its value changed, or a comeback. A
    value may instead change inside a spell: ``changes`` names a source of dated value changes
    (a row per entity and day, its ``id`` column and the value column a metric reads)."""

    id: str
    start: str
    end: str
    changes: str | None = None


@dataclass(frozen=True)
class Source:
    """One declared KPI export (a file or a glob of files) and how to read it."""

    name: str
    path: str
    format: str
    date: DateColumn
    dimensions: tuple[str, ...] = ()
    values: tuple[tuple[str, str], ...] = ()
    shape: str = "wide"
    long_key: str | None = None
    long_value: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    thousands: str | None = None
    decimal: str = "."
    quote: str = '"'
    sheet: str | None = None
    on_error: str = "fail"
    unique: tuple[str, ...] = ()
    future_dates: str = "refuse"
    description: str = ""
    #: a source in a SQL engine: its URL, and the table or query holding its rows
    engine: str | None = None
    table: str | None = None
    query: str | None = None
    #: entities with a lifetime: ``date`` is then their start column
    lifecycle: Lifecycle | None = None

    @property
    def value_types(self) -> dict[str, str]:
        return dict(self.values)

    def declared_columns(self) -> tuple[str, ...]:
        """Columns of the loaded table that reviewkit types: date, dimensions, values (and a
        lifecycle's id and end)."""
        spell = (self.lifecycle.id, self.lifecycle.end) if self.lifecycle else ()
        return (self.date.column, *spell, *self.dimensions, *(name for name, _ in self.values))

    @property
    def date_columns(self) -> tuple[str, ...]:
        """The columns read as dates: the date column, and a lifecycle's end (may be blank)."""
        return (self.date.column, self.lifecycle.end) if self.lifecycle else (self.date.column,)

    def column_type(self, column: str, *, has_time: bool) -> str:
        """The DuckDB type reviewkit reads a column as: the date column a TIMESTAMP (``has_time``)
        or a DATE, an integer value BIGINT, a number DOUBLE, anything else VARCHAR."""
        if column in self.date_columns:
            return "TIMESTAMP" if has_time else "DATE"
        kind = self.value_types.get(column)
        if kind == "integer":
            return "BIGINT"
        if kind == "number":
            return "DOUBLE"
        return "VARCHAR"


@dataclass(frozen=True)
class Metric:
    """A KPI: an aggregate over one source, or a derived combination of other metrics."""

    name: str
    label: str
    description: str = ""
    source: str | None = None
    agg: str | None = None
    column: str | None = None
    expression: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    op: str | None = None
    inputs: tuple[str, ...] = ()
    scale: float = 1.0
    format: str = "number"
    unit: str = ""
    currency: str = "USD"
    decimals: int | None = None
    direction: str = "higher"
    change: str | None = None
    #: how a rate of a monthly snapshot rolls up to a quarter or year (:data:`ROLLUPS`)
    rollup: str | None = None
    #: ``agg: active``: counted at the period's end or on its average day (:data:`ACTIVE_AT`)
    at: str = "end"
    #: ``agg: revenue_retention``: kept entities' expansion counted or capped (:data:`EXPANSION`)
    expansion: str = "counted"
    #: ``agg: satisfaction``: the lowest answer that counts as satisfied (4 of a 1-5 CSAT)
    threshold: float | None = None
    #: a survey metric: fewer answers in a period than this are flagged (``check``, reviews)
    min_responses: int | None = None
    #: a survey metric: the column of the answers' comments, quoted from detractors in reviews
    comments: str | None = None

    @property
    def derived(self) -> bool:
        return self.op is not None

    @property
    def points_unit(self) -> str:
        """The unit of a difference of two values: ``pp`` for a percent, ``bps`` for bps,
        ``points`` (the value's own unit: a score's points, the currency, the ``unit``)
        otherwise."""
        return {"percent": "pp", "bps": "bps"}.get(self.format, "points")

    @property
    def change_unit(self) -> str:
        """How a change is written: ``percent`` of the earlier value, or a difference in
        ``pp``, ``bps`` or ``points`` (see :attr:`points_unit`). By default rates (percent,
        bps) and scores change in points, counts, amounts and other numbers in percent."""
        if self.change in (None, "points"):
            if self.change is None and self.format not in (*FRACTION_FORMATS, "score"):
                return "percent"
            return self.points_unit
        return self.change


@dataclass(frozen=True)
class StatusRules:
    """When a value is on track, at risk or off track against its target to date."""

    #: behind the target to date by at most this share of it: on track
    on_track: float = 0.0
    #: behind by at most this share (or projected to reach the target in time): at risk
    at_risk: float = 0.05


@dataclass(frozen=True)
class Target:
    """A target on a metric (optionally for a segment): a fixed value by a date, possibly from a
    baseline, or a value per period from YAML or from a source."""

    metric: str
    index: int
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    value: float | None = None
    by: dt.date | None = None
    baseline_value: float | None = None
    baseline_date: dt.date | None = None
    series: tuple[tuple[str, float], ...] = ()
    source: str | None = None
    column: str | None = None
    rules: StatusRules = StatusRules()


@dataclass(frozen=True)
class OutputsSpec:
    """Which export lists delivered work (the outputs), and which of its columns say what."""

    source: str
    id: str
    title: str
    team: str
    type: str | None = None
    effort: str | None = None
    url: str | None = None
    labels: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A strategic goal measured by a KPI (optionally for a segment), with its baseline,
    target, owner and the lag with which work shows up in it."""

    id: str
    title: str
    metric: str
    description: str = ""
    owner: str = ""
    team: str = ""
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    baseline_value: float | None = None
    baseline_period: str | None = None
    target: Target | None = None
    lag_days: int = 0
    parent: str | None = None
    #: the grain impact evidence is measured at (default: week, month for monthly snapshots)
    impact_grain: str | None = None
    #: the dimension the review splits a notable change of the KPI across (``explain_by``)
    explain_by: str | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class EmailDelivery:
    """How reviews are mailed: the SMTP server (user and password come from
    ``$REVIEWKIT_SMTP_USER`` and ``$REVIEWKIT_SMTP_PASSWORD``, never from the file)."""

    server: str
    sender: str
    port: int = 587
    security: str = "starttls"
    pdf: bool = False
    #: with ``security: none``, log in all the same: only to a relay on this machine (loopback)
    allow_plaintext_auth: bool = False


@dataclass(frozen=True)
class ChatDelivery:
    """A chat webhook (Slack or Microsoft Teams); its URL, a secret, is read from the
    environment variable ``url_from``."""

    format: str
    url_from: str


@dataclass(frozen=True)
class Delivery:
    """Who gets each published review, and how (`delivery:` in reviewkit.yaml)."""

    email: EmailDelivery | None = None
    chat: tuple[ChatDelivery, ...] = ()
    #: review (a team, or ``company``) -> email addresses
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: tries per message before it is reported as failed
    attempts: int = 3


@dataclass(frozen=True)
class Alert:
    """A rule watched after each data refresh (`reviewkit alerts --check`): an outcome's status
    at ``status`` or worse, a metric ``below``/``above`` a value in the latest complete month,
    no new data for ``stale_days`` days, or a link's verdict changing. It fires once per change,
    by email to ``to`` and, with ``chat``, to the delivery's webhooks."""

    name: str
    kind: str
    outcome: str | None = None
    metric: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    value: float | None = None
    status: str | None = None
    days: int | None = None
    to: tuple[str, ...] = ()
    chat: bool = True
    line: int = 0


@dataclass(frozen=True)
class ProjectConfig:
    """A validated ``reviewkit.yaml``."""

    root: Path
    name: str
    calendar: Calendar
    sources: Mapping[str, Source]
    metrics: Mapping[str, Metric]
    located: Located
    targets: tuple[Target, ...] = ()
    status: StatusRules = StatusRules()
    outputs: OutputsSpec | None = None
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)
    #: `store:`: a SQLite file (relative to the project) or a PostgreSQL address
    store: Path | str | None = None
    #: `user:`: who saves from this folder when $REVIEWKIT_USER is unset
    #: (:func:`reviewkit.base.authors.find_author`)
    user: str | None = None
    #: cron expression for `reviewkit schedule` (the monthly reports)
    schedule: str | None = None
    #: where `reviewkit serve` is reached: reports/index.html links each review to its live page
    live_url: str = "http://127.0.0.1:8866/"
    #: `delivery:`, or None: reviews are only published
    delivery: Delivery | None = None
    alerts: tuple[Alert, ...] = ()

    @property
    def store_location(self) -> Path | str:
        """Where the store of links and check-ins is: ``$REVIEWKIT_STORE`` (a PostgreSQL address,
        which may carry a password, or a SQLite file relative to the project), else `store:`,
        else reviewkit.db in the project."""
        chosen = os.environ.get(STORE_ENV, "")
        if chosen:
            return chosen if is_url(chosen) else self.root / chosen
        return self.store or self.root / "reviewkit.db"

    def line_of(self, *keypath: str | int) -> int:
        return self.located.where(keypath)[0]


def base_sources(
    name: str, metrics: Mapping[str, Metric], seen: set[str] | None = None
) -> set[str]:
    """The sources a metric reads, through its components (cycles are reported elsewhere)."""
    seen = set() if seen is None else seen
    metric = metrics.get(name)
    if metric is None or name in seen:
        return set()
    seen.add(name)
    if metric.source:
        return {metric.source}
    found: set[str] = set()
    for dep in metric.inputs:
        found |= base_sources(dep, metrics, seen)
    return found
