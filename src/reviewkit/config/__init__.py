"""The project file, ``reviewkit.yaml``: sources, the metric catalogue and the calendar.

Validation collects every problem with its file, line and key path before raising once, so a user
editing YAML by hand fixes everything in one pass. Unknown keys list the valid ones. Only the file
itself is checked here; checks that need the exports (columns present, expressions that bind) live
in :mod:`reviewkit.sources.loading` and :mod:`reviewkit.metrics.catalogue`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from reviewkit.base.cron import parse_cron
from reviewkit.base.errors import ConfigError, Problem, ReviewkitError, shown_path, suggest
from reviewkit.base.periods import WEEKDAYS, Calendar, parse_period
from reviewkit.base.urls import has_password, is_url
from reviewkit.base.yamlfile import Checker, KeyPath, Located, kind, load_yaml

__all__ = [
    "AGGREGATIONS",
    "CONFIG_FILE",
    "DERIVED_OPS",
    "FORMATS",
    "DateColumn",
    "Metric",
    "ProjectConfig",
    "Source",
    "is_loopback",
    "load_config",
]

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
)
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
TOP_KEYS: Final = (
    "name",
    "calendar",
    "sources",
    "metrics",
    "targets",
    "status",
    "outputs",
    "outcomes",
    "include",
    "store",
    "schedule",
    "live_url",
    "delivery",
    "alerts",
)
ALERT_KEYS: Final = (
    "name",
    "status",
    "outcome",
    "metric",
    "filters",
    "below",
    "above",
    "stale_days",
    "verdicts",
    "to",
    "chat",
)
#: what an alert watches: exactly one of these keys says which kind it is
ALERT_KINDS: Final = ("status", "below", "above", "stale_days", "verdicts")
ALERT_STATUSES: Final = ("at risk", "off track")
DELIVERY_KEYS: Final = ("email", "chat", "recipients", "attempts")
EMAIL_KEYS: Final = ("server", "port", "security", "from", "pdf", "allow_plaintext_auth")
EMAIL_SECURITY: Final = ("starttls", "ssl", "none")
CHAT_KEYS: Final = ("format", "url_from")
CHAT_FORMATS: Final = ("slack", "teams")
#: the environment variable names a config may point at (secrets are never in the file)
ENV_NAME: Final = re.compile(r"^[A-Z_][A-Z0-9_]*$")
EMAIL: Final = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
INCLUDE_KEYS: Final = ("outcomes",)
OUTPUT_KEYS: Final = ("source", "id", "title", "team", "type", "effort", "url", "labels")
OUTCOME_KEYS: Final = (
    "id",
    "title",
    "description",
    "owner",
    "team",
    "kpi",
    "baseline",
    "target",
    "lag_days",
    "parent",
    "impact_grain",
)
IMPACT_GRAINS: Final = ("week", "month")
KPI_KEYS: Final = ("metric", "filters")
OUTCOME_BASELINE_KEYS: Final = ("value", "period")
OUTCOME_TARGET_KEYS: Final = ("value", "by", "series")
OUTCOME_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
CALENDAR_KEYS: Final = ("week_ends_on", "fiscal_year_start_month")
SOURCE_KEYS: Final = (
    "path",
    "format",
    "engine",
    "table",
    "query",
    "date",
    "dimensions",
    "values",
    "shape",
    "long",
    "options",
    "on_error",
    "unique",
    "future_dates",
    "description",
)
DATE_KEYS: Final = ("column", "format", "grain", "gaps")
DATE_GRAINS: Final = ("day", "month")
GAPS: Final = ("flag", "ignore")
#: how a metric's changes are written: ``percent`` of the earlier value, or ``points``, the
#: difference in the value's own unit (pp for a percent, bps for bps, points for a score, the
#: currency or unit otherwise); ``pp`` and ``bps`` name the points of a fraction explicitly
CHANGES: Final = ("percent", "points", "pp", "bps")
TARGET_KEYS: Final = (
    "metric",
    "filters",
    "value",
    "by",
    "baseline",
    "series",
    "source",
    "column",
    "status",
)
BASELINE_KEYS: Final = ("value", "date")
STATUS_KEYS: Final = ("on_track", "at_risk")
LONG_KEYS: Final = ("key", "value")
TEXT_OPTIONS: Final = ("delimiter", "encoding", "thousands", "decimal", "quote")
OPTION_KEYS: Final = {
    "csv": TEXT_OPTIONS,
    "tsv": TEXT_OPTIONS,
    "xlsx": ("sheet", "thousands", "decimal"),
    "json": ("thousands", "decimal"),
    "ndjson": ("thousands", "decimal"),
    "parquet": (),
}
METRIC_KEYS: Final = (
    "label",
    "description",
    "source",
    "agg",
    "column",
    "expression",
    "filters",
    "format",
    "unit",
    "currency",
    "decimals",
    "direction",
    "change",
    "scale",
    "rollup",
    *DERIVED_OPS,
)
#: How a rate of a monthly snapshot makes a longer period's value (``rollup:``): the average of
#: its months' rates ("avg monthly"). Without it such a rate has no value over a longer period.
ROLLUPS: Final = ("average_of_periods",)
#: Where the keys of a source, a metric and an outcome go: per section, each mapping of an entry
#: (by its key, () for the entry itself) and its keys. A key unknown where it is written but
#: valid at another level is pointed there: "`gaps` belongs under `date:`".
LAYOUTS: Final[dict[str, dict[tuple[str, ...], tuple[str, ...]]]] = {
    "sources": {
        (): SOURCE_KEYS,
        ("date",): DATE_KEYS,
        ("options",): tuple(dict.fromkeys(k for keys in OPTION_KEYS.values() for k in keys)),
        ("long",): LONG_KEYS,
    },
    "metrics": {(): METRIC_KEYS},
    "outcomes": {
        (): OUTCOME_KEYS,
        ("kpi",): KPI_KEYS,
        ("baseline",): OUTCOME_BASELINE_KEYS,
        ("target",): OUTCOME_TARGET_KEYS,
    },
}
#: What an entry of each section is called in a message.
ENTRY_NAMES: Final = {"sources": "source", "metrics": "metric", "outcomes": "outcome"}
#: Mappings that may be written as one text instead, and the key that text stands for.
SHORTHANDS: Final = {"date": "column", "kpi": "metric"}
#: A YAML value that needs no quotes in a message's example.
PLAIN_VALUE: Final = re.compile(r"[A-Za-z0-9_./-]+")


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

    @property
    def value_types(self) -> dict[str, str]:
        return dict(self.values)

    def declared_columns(self) -> tuple[str, ...]:
        """Columns of the loaded table that reviewkit types: date, dimensions, values."""
        return (self.date.column, *self.dimensions, *(name for name, _ in self.values))

    def column_type(self, column: str, *, has_time: bool) -> str:
        """The DuckDB type reviewkit reads a column as: the date column a TIMESTAMP (``has_time``)
        or a DATE, an integer value BIGINT, a number DOUBLE, anything else VARCHAR."""
        if column == self.date.column:
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


def load_config(project_dir: Path) -> ProjectConfig:
    """Read and validate ``project_dir/reviewkit.yaml``, raising :class:`ConfigError` with every
    problem found."""
    root = project_dir.resolve()
    located = load_yaml(root / CONFIG_FILE, shown_as=shown_path(root / CONFIG_FILE))
    checker = _Checker(located)
    config = checker.project(root)
    if checker.problems or config is None:
        main = located.path
        checker.problems.sort(key=lambda p: (p.path != main, p.path, p.line or 0, p.col or 0))
        raise ConfigError.from_problems(
            f"{located.path} has {len(checker.problems)} problem(s):", checker.problems
        )
    return config


def _is_date_format(value: Any) -> bool:
    """Whether ``value`` is a strptime format (a date's ``format:``, not a file's)."""
    return isinstance(value, str) and "%" in value


def _inline(value: Any) -> str:
    """``value`` as written in a YAML flow mapping, for an example in a message."""
    if isinstance(value, str) and PLAIN_VALUE.fullmatch(value):
        return value
    if isinstance(value, str | int | float | bool):
        return json.dumps(value)
    return "..."


class _Fields(Checker):
    """The value checks every section uses."""

    def __init__(self, located: Located) -> None:
        super().__init__(located)
        #: Periods in targets and outcomes are read in the project's calendar.
        self.project_calendar = Calendar()

    def text(
        self,
        value: Any,
        keypath: KeyPath,
        choices: Sequence[str] = (),
        *,
        allow_empty: bool = False,
    ) -> str | None:
        if not isinstance(value, str) or (not value and not allow_empty):
            self.error(keypath, f"expected text, got {kind(value)}")
            return None
        if choices and value not in choices:
            self.error(
                keypath,
                f"'{value}' is not one of: {', '.join(choices)}{suggest(value, choices)}",
            )
            return None
        return value

    def name(self, value: Any, keypath: KeyPath, what: str) -> str | None:
        if not isinstance(value, str) or not NAME_RE.match(value):
            self.error(
                keypath,
                f"{what} name {value!r} must be lowercase letters, digits and _, starting "
                "with a letter",
            )
            return None
        return value

    def integer(self, value: Any, keypath: KeyPath, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(keypath, f"expected a whole number from {low} to {high}, got {value!r}")
            return None
        return value

    def number(self, value: Any, keypath: KeyPath) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(keypath, f"expected a number, got {kind(value)}")
            return None
        return float(value)

    def text_list(self, value: Any, keypath: KeyPath) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(keypath, f"expected a list of column names, got {kind(value)}")
            return []
        items = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                items.append(item)
            else:
                self.error((*keypath, i), f"expected a column name, got {kind(item)}")
        return items

    def date(self, value: Any, kp: KeyPath) -> dt.date | None:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.error(kp, f"expected a date (YYYY-MM-DD), got {kind(value)}")
            return None

    def period_text(self, raw: Any, kp: KeyPath) -> Any:
        try:
            return parse_period(str(raw), None, self.project_calendar)
        except ReviewkitError as exc:
            self.error(kp, str(exc))
            return None

    def filters(self, raw: Any, kp: KeyPath) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
        spec = self.mapping(raw, kp)
        if spec is None:
            return None
        out = []
        for column, wanted in spec.items():
            items = wanted if isinstance(wanted, list) else [wanted]
            if not items or not all(isinstance(v, str | int | float) for v in items):
                self.error((*kp, column), "expected a value or a list of values")
                return None
            out.append((str(column), tuple(str(v) for v in items)))
        return tuple(out)

    def belongs(self, keypath: KeyPath, key: str, value: Any) -> str | None:
        """Where a key unknown in a source, a metric or an outcome belongs: at another level of
        the same entry (a date's ``format`` is told from the file's by its % directives), else
        in another kind of entry. "`gaps` belongs under `date:` (sources: orders: date: gaps:)"."""
        if len(keypath) < 2 or keypath[0] not in LAYOUTS:
            return None
        section, entry, inside = str(keypath[0]), keypath[1], keypath[2:]
        own = [sub for sub, keys in LAYOUTS[section].items() if key in keys and sub != inside]
        if section == "sources" and key == "format":
            own = [sub for sub in own if (sub == ("date",)) == _is_date_format(value)]
        places: list[tuple[str, str | int | None, tuple[str, ...]]]
        places = [(section, entry, sub) for sub in own] or [
            (other, None, sub)
            for other, layout in LAYOUTS.items()
            if other != section
            for sub, keys in layout.items()
            if key in keys
        ]
        if not places:
            return None
        return f"`{key}` belongs " + " or ".join(
            self.under(place, name, sub, key, value) for place, name, sub in places
        )

    def under(
        self, section: str, entry: str | int | None, sub: tuple[str, ...], key: str, value: Any
    ) -> str:
        """Where ``key`` goes in the mapping ``sub`` of ``entry`` (None: any entry of the
        section), spelt as YAML: "under `date:` (sources: orders: date: gaps:)"; a mapping
        written as its shorthand (``date: day``) is spelt out with the key added."""
        noun = ENTRY_NAMES[section]
        if entry is None:
            article = "an" if noun[0] in "aeiou" else "a"
            where = f"under {article} {noun}" + (f"'s `{sub[0]}:`" if sub else "")
            head = "- " if section == "outcomes" else f"{noun.upper()}: "
        else:
            where = f"under `{sub[0]}:`" if sub else f"directly under the {noun}"
            head = "- " if isinstance(entry, int) else f"{entry}: "
        written = self._written(section, entry, *sub) if entry is not None and sub else None
        if sub and isinstance(written, str) and SHORTHANDS.get(sub[0]) not in (None, key):
            body = (
                f"{sub[0]}: {{{SHORTHANDS[sub[0]]}: {_inline(written)}, {key}: {_inline(value)}}}"
            )
        else:
            body = " ".join(f"{k}:" for k in (*sub, key))
        return f"{where} ({section}: {head}{body})"

    def _written(self, *keypath: str | int) -> Any:
        """What the file holds at ``keypath`` (None when nothing)."""
        value: Any = self.located.data
        for step in keypath:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def _declared(self, keypath: KeyPath) -> bool:
        return keypath in self.located.lines

    def _declared_names(self, section: str) -> list[str | int]:
        """Names written under a top-level section, valid or not."""
        return [k[1] for k in self.located.lines if len(k) == 2 and k[0] == section]


class _SourceChecks(_Fields):
    """``sources:``: the exports, their columns and how to read them."""

    def source(self, key: Any, raw: Any) -> Source | None:
        kp: KeyPath = ("sources", key)
        name = self.name(key, kp, "source")
        if isinstance(raw, dict) and "engine" in raw:
            return self.warehouse_source(name, raw, kp)
        spec = self.mapping(raw, kp, SOURCE_KEYS, required=("path", "date"))
        if name is None or spec is None:
            return None
        for only in WAREHOUSE_KEYS:
            if only in spec:
                self.error((*kp, only), "only used with `engine:` (a source in a SQL engine)")
        ok = True
        path = self.text(spec.get("path"), (*kp, "path")) if "path" in spec else None
        fmt = spec.get("format")
        if fmt is None and path is None:
            pass  # the path's own problem is reported
        elif fmt is None and path is not None:
            fmt = EXTENSIONS.get(Path(path).suffix.lower())
            if fmt is None:
                self.error(
                    (*kp, "path"),
                    f"cannot tell the format from '{Path(path).suffix or path}'; add "
                    f"`format:` ({', '.join(FORMATS)})",
                )
        elif _is_date_format(fmt):
            self.error(
                (*kp, "format"),
                f"{fmt!r} is a date format, not a file format ({', '.join(FORMATS)}); it "
                "belongs " + self.under("sources", key, ("date",), "format", fmt),
            )
            fmt = None
        else:
            fmt = self.text(fmt, (*kp, "format"), FORMATS)
        date = self.date_column(spec.get("date"), (*kp, "date")) if "date" in spec else None
        dims = self.text_list(spec.get("dimensions", []), (*kp, "dimensions"))
        values = self.values(spec.get("values", {}), (*kp, "values"))
        shape = self.text(spec.get("shape", "wide"), (*kp, "shape"), ("wide", "long")) or "wide"
        long_key = long_value = None
        if shape == "long" and "long" not in spec:
            self.error(
                (*kp, "shape"),
                "`shape: long` needs `long: {key: COLUMN, value: COLUMN}`: the column naming "
                "each value and the column holding it",
            )
            ok = False
        elif shape == "long":
            long = self.mapping(spec.get("long"), (*kp, "long"), LONG_KEYS, LONG_KEYS)
            if long:
                long_key = self.text(long.get("key"), (*kp, "long", "key"))
                long_value = self.text(long.get("value"), (*kp, "long", "value"))
            ok = ok and long_key is not None and long_value is not None
        elif "long" in spec:
            self.error((*kp, "long"), "only used with `shape: long`; remove it or set the shape")
        on_error = self.text(spec.get("on_error", "fail"), (*kp, "on_error"), ON_ERROR)
        unique = self.text_list(spec.get("unique", []), (*kp, "unique"))
        future = self.text(spec.get("future_dates", "refuse"), (*kp, "future_dates"), FUTURE_DATES)
        options = self.options(spec.get("options", {}), (*kp, "options"), fmt)
        seen: dict[str, str] = {}
        declared = [
            ("date", date.column if date else None),
            *(("dimensions", d) for d in dims),
            *(("values", v) for v, _ in values),
        ]
        if shape == "long":
            declared = declared[: 1 + len(dims)]  # value names are keys, not columns
        for section, column in declared:
            if column is None:
                continue
            if column in seen:
                self.error(
                    (*kp, section),
                    f"column '{column}' is declared twice (also under {seen[column]})",
                )
            seen[column] = section
        if None in (path, fmt, date, on_error, future) or options is None or not ok:
            return None
        assert path is not None and fmt is not None and date is not None and on_error is not None
        assert future is not None
        if fmt == "tsv" and "delimiter" not in options:
            options["delimiter"] = "\t"
        return Source(
            name=name,
            path=path,
            format=fmt,
            date=date,
            dimensions=tuple(dims),
            values=tuple(values),
            shape=shape,
            long_key=long_key,
            long_value=long_value,
            on_error=on_error,
            unique=tuple(unique),
            future_dates=future,
            description=str(spec.get("description", "")),
            **options,
        )

    def warehouse_source(self, name: str | None, raw: dict[Any, Any], kp: KeyPath) -> Source | None:
        """A source that lives in a SQL engine: ``engine: postgresql://...`` with ``table:`` or
        ``query:``; its KPIs are computed there and only aggregates come back."""
        allowed = tuple(k for k in SOURCE_KEYS if k not in ("path", "format", "options"))
        for key in ("path", "format", "options", "shape", "long"):
            if key in raw:
                self.error(
                    (*kp, key),
                    f"`{key}:` is for exports in files; a source with `engine:` reads the rows "
                    "its `table:` or `query:` names (reshape them in the query)",
                )
        spec = self.mapping(raw, kp, tuple(k for k in allowed if k not in ("shape", "long")))
        if spec is None:
            return None
        engine = self.engine_url(spec.get("engine"), (*kp, "engine"))
        given = [k for k in WAREHOUSE_KEYS if k in spec]
        if len(given) != 1:
            self.error(
                kp,
                "a source with `engine:` needs exactly one of `table:` (a table or view, e.g. "
                "analytics.tickets) or `query:` (SQL in the engine's dialect)"
                + (f"; it has {' and '.join(given)}" if given else ""),
            )
        what = self.text(spec[given[0]], (*kp, given[0])) if len(given) == 1 else None
        if "date" not in spec:
            self.error(kp, "missing required key 'date'")
        date = self.date_column(spec.get("date"), (*kp, "date")) if "date" in spec else None
        if date is not None and date.format is not None:
            self.error(
                (*kp, "date", "format"),
                "a source in an engine has typed dates; remove `format:` (or convert the "
                "column in `query:`)",
            )
        dims = self.text_list(spec.get("dimensions", []), (*kp, "dimensions"))
        values = self.values(spec.get("values", {}), (*kp, "values"))
        on_error = self.text(spec.get("on_error", "fail"), (*kp, "on_error"), ("fail",))
        unique = self.text_list(spec.get("unique", []), (*kp, "unique"))
        future = self.text(spec.get("future_dates", "refuse"), (*kp, "future_dates"), FUTURE_DATES)
        if None in (name, engine, what, date, on_error, future):
            return None
        assert name is not None and what is not None and date is not None
        assert future is not None
        return Source(
            name=name,
            path="",
            format=WAREHOUSE,
            date=date,
            dimensions=tuple(dims),
            values=tuple(values),
            unique=tuple(unique),
            future_dates=future,
            description=str(spec.get("description", "")),
            engine=engine,
            table=what if given == ["table"] else None,
            query=what if given == ["query"] else None,
        )

    def engine_url(self, raw: Any, kp: KeyPath) -> str | None:
        """An engine URL whose scheme reviewkit knows, without a password in it."""
        url = self.text(raw, kp)
        if url is None:
            return None
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ENGINES:
            self.error(
                kp,
                f"unknown engine {parts.scheme or url!r}; use a URL starting with one of: "
                + ", ".join(f"{scheme}://" for scheme in ENGINES),
            )
            return None
        if parts.password:
            self.error(
                kp,
                "the engine URL holds a password, which reviewkit.yaml must not: remove it and "
                "give it to the engine's client instead (PGPASSWORD or ~/.pgpass for PostgreSQL)",
            )
            return None
        return url

    def date_column(self, raw: Any, kp: KeyPath) -> DateColumn | None:
        if isinstance(raw, str):
            return DateColumn(raw)
        spec = self.mapping(raw, kp, DATE_KEYS, required=("column",))
        if spec is None or "column" not in spec:
            return None
        column = self.text(spec["column"], (*kp, "column"))
        grain = self.text(spec.get("grain", "day"), (*kp, "grain"), DATE_GRAINS) or "day"
        gaps = self.text(spec.get("gaps", "flag"), (*kp, "gaps"), GAPS) or "flag"
        fmt = self.text(spec["format"], (*kp, "format")) if "format" in spec else None
        if fmt is not None and "%" not in fmt:
            self.error(
                (*kp, "format"),
                f"'{fmt}' has no % directives; write a strptime format such as '%Y-%m-%d' or "
                "'%a, %d-%b-%Y'",
            )
            return None
        return DateColumn(column, fmt, grain, gaps) if column else None

    def values(self, raw: Any, kp: KeyPath) -> list[tuple[str, str]]:
        if isinstance(raw, list):
            return [(c, "number") for c in self.text_list(raw, kp)]
        spec = self.mapping(raw, kp)
        if spec is None:
            return []
        out = []
        for column, type_name in spec.items():
            checked = self.text(type_name, (*kp, column), VALUE_TYPES)
            # a value of an unknown type is still declared: metrics may name it without a 2nd error
            out.append((str(column), checked or "number"))
        return out

    def options(self, raw: Any, kp: KeyPath, fmt: str | None) -> dict[str, Any] | None:
        allowed = OPTION_KEYS.get(fmt or "csv", TEXT_OPTIONS)
        spec = self.mapping(raw, kp, allowed)
        if spec is None:
            return None
        out: dict[str, Any] = {}
        for key in ("delimiter", "thousands", "decimal", "quote"):
            if key in spec:
                value = self.text(spec[key], (*kp, key))
                if value is not None and len(value) != 1:
                    self.error((*kp, key), f"expected a single character, got {value!r}")
                elif value is not None:
                    out[key] = value
        if "encoding" in spec:
            enc = self.text(spec["encoding"], (*kp, "encoding"))
            if enc is not None and enc.lower() not in ENCODINGS:
                self.error(
                    (*kp, "encoding"),
                    f"unsupported encoding '{enc}'; use utf-8 (with or without BOM), latin-1 "
                    "or utf-16",
                )
            elif enc is not None:
                out["encoding"] = ENCODINGS[enc.lower()]
        if "sheet" in spec:
            out["sheet"] = self.text(spec["sheet"], (*kp, "sheet"))
        if out.get("thousands") is not None and out.get("thousands") == out.get("decimal", "."):
            self.error((*kp, "thousands"), "the thousands and decimal separators must differ")
        return out


class _MetricChecks(_SourceChecks):
    """``metrics:``: base and derived KPIs, and what they refer to."""

    def metric(self, key: Any, raw: Any) -> Metric | None:
        kp: KeyPath = ("metrics", key)
        name = self.name(key, kp, "metric")
        spec = self.mapping(raw, kp, METRIC_KEYS)
        if name is None or spec is None:
            return None
        common = self.presentation(spec, kp, name)
        ops = [op for op in DERIVED_OPS if op in spec]
        if ops:
            return self.derived(name, spec, kp, ops, common)
        if "source" not in spec:
            self.error(
                kp,
                "a metric needs `source` with `agg` (and `column`) or `expression`, or one of: "
                + ", ".join(DERIVED_OPS),
            )
            return None
        source = self.text(spec["source"], (*kp, "source"))
        agg = column = expression = None
        if "expression" in spec:
            expression = self.text(spec["expression"], (*kp, "expression"))
            for extra in ("agg", "column"):
                if extra in spec:
                    self.error((*kp, extra), "use either `expression` or `agg`/`column`, not both")
            if "filters" in spec:
                self.error(
                    (*kp, "filters"),
                    "an expression takes no `filters`; write the condition inside it, e.g. "
                    "count(*) FILTER (WHERE channel = 'chat')",
                )
        elif "agg" in spec:
            agg = self.text(spec["agg"], (*kp, "agg"), AGGREGATIONS)
            if "column" in spec:
                column = self.text(spec["column"], (*kp, "column"))
            elif agg not in (None, "count"):
                self.error(kp, f"missing required key 'column' (agg '{agg}' needs a column)")
                agg = None
        else:
            self.error(kp, "missing required key 'agg' (or 'expression')")
        filters = self.filters(spec.get("filters", {}), (*kp, "filters"))
        if source is None or (agg is None and expression is None) or filters is None:
            return None
        return Metric(
            name=name,
            source=source,
            agg=agg,
            column=column,
            expression=expression,
            filters=filters,
            **common,
        )

    def derived(
        self,
        name: str,
        spec: dict[str, Any],
        kp: KeyPath,
        ops: Sequence[str],
        common: dict[str, Any],
    ) -> Metric | None:
        if len(ops) > 1:
            self.error(kp, f"choose one of {', '.join(ops)}, not several")
            return None
        for extra in ("source", "agg", "column", "expression", "filters"):
            if extra in spec:
                self.error(
                    (*kp, extra),
                    f"a derived metric ({ops[0]}) is computed from other metrics; remove "
                    f"`{extra}` or make it a base metric",
                )
        op = ops[0]
        inputs = self.text_list(spec[op], (*kp, op))
        arity = {"difference": 2, "ratio": 2}.get(op)
        if arity and len(inputs) != arity:
            self.error((*kp, op), f"{op} takes exactly 2 metrics, got {len(inputs)}")
            return None
        if len(inputs) < 2:
            self.error((*kp, op), f"{op} needs at least 2 metrics, got {len(inputs)}")
            return None
        return Metric(name=name, op=op, inputs=tuple(inputs), **common)

    def presentation(self, spec: dict[str, Any], kp: KeyPath, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.text(spec.get("label", name), (*kp, "label")) or name,
            "description": self.text(
                spec.get("description", ""), (*kp, "description"), allow_empty=True
            )
            or "",
        }
        checks: dict[str, Callable[[Any, KeyPath], Any]] = {
            "format": lambda v, k: self.text(v, k, VALUE_FORMATS),
            "unit": lambda v, k: self.text(v, k, allow_empty=True),
            "currency": self.text,
            "decimals": lambda v, k: self.integer(v, k, 0, 6),
            "direction": lambda v, k: self.text(v, k, DIRECTIONS),
            "change": lambda v, k: self.text(v, k, CHANGES),
            "scale": self.number,
            "rollup": lambda v, k: self.text(v, k, ROLLUPS),
        }
        for key, check in checks.items():
            if key in spec:
                value = check(spec[key], (*kp, key))
                if value is not None:
                    out[key] = value
        fmt = out.get("format", "number")
        if out.get("change") in ("pp", "bps") and fmt not in FRACTION_FORMATS:
            example = "5.0 pp" if out["change"] == "pp" else "500 bps"
            self.error(
                (*kp, "change"),
                f"'{out.pop('change')}' is a difference of fractions (0.45 - 0.40 = {example}), "
                f"for a metric shown as a percent or in bps; {name} is format: {fmt}, so its "
                "changes are `change: percent` or `change: points` (a difference in its own unit)",
            )
        return out

    def references(self, sources: Mapping[str, Source], metrics: Mapping[str, Metric]) -> None:
        for metric in metrics.values():
            kp: KeyPath = ("metrics", metric.name)
            if metric.rollup and metric.op != "ratio":
                self.error(
                    (*kp, "rollup"),
                    "only a ratio (a rate of a monthly snapshot, such as retention) rolls up "
                    "as the average of its months; remove `rollup`",
                )
            if metric.derived:
                for i, dep in enumerate(metric.inputs):
                    if dep not in metrics and self._declared(("metrics", dep)):
                        continue  # declared but invalid: already reported
                    if dep not in metrics:
                        self.error(
                            (*kp, metric.op or "", i),
                            f"unknown metric '{dep}'{suggest(dep, list(metrics))}",
                        )
                continue
            source = sources.get(metric.source or "")
            if source is None:
                declared = [str(k) for k in self._declared_names("sources")]
                if metric.source not in declared:
                    self.error(
                        (*kp, "source"),
                        f"unknown source '{metric.source}'"
                        f"{suggest(metric.source or '', declared)}; declared sources: "
                        f"{', '.join(declared) or '(none)'}",
                    )
                continue  # declared but invalid: already reported
            value_names = [v for v, _ in source.values]
            counted = metric.agg in ("count", "count_distinct")
            if metric.column and not counted and metric.column not in value_names:
                self.error(
                    (*kp, "column"),
                    f"'{metric.column}' is not a value column of source '{source.name}'"
                    f"{suggest(metric.column, value_names)}; its values are: "
                    f"{', '.join(value_names) or '(none)'} (declare it under "
                    f"sources.{source.name}.values)",
                )
            for column, _ in metric.filters:
                if column not in source.dimensions:
                    self.error(
                        (*kp, "filters", column),
                        f"'{column}' is not a dimension of source '{source.name}'"
                        f"{suggest(column, source.dimensions)}; its dimensions are: "
                        f"{', '.join(source.dimensions) or '(none)'}",
                    )
        self.cycles(metrics)

    def cycles(self, metrics: Mapping[str, Metric]) -> None:
        state: dict[str, int] = {}  # 1 = visiting, 2 = done
        reported: set[frozenset[str]] = set()

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            for dep in metrics[name].inputs:
                if dep not in metrics:
                    continue
                if state.get(dep) == 1:
                    cycle = [*trail[trail.index(dep) :], dep]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.error(
                            ("metrics", dep),
                            "derived metrics form a cycle: "
                            + " -> ".join(cycle)
                            + "; break it by computing one of them from a source",
                        )
                elif dep not in state:
                    visit(dep, [*trail, dep])
            state[name] = 2

        for name in metrics:
            if name not in state:
                visit(name, [name])


class _TargetChecks(_MetricChecks):
    """``status:`` and ``targets:``: what good looks like, by when."""

    def rules(self, raw: Any, kp: KeyPath, default: StatusRules) -> StatusRules:
        spec = self.mapping(raw, kp, STATUS_KEYS)
        if not spec:
            return default
        values = {key: self.number(spec[key], (*kp, key)) for key in STATUS_KEYS if key in spec}
        rules = StatusRules(**{k: v for k, v in values.items() if v is not None and v >= 0})
        for key, value in values.items():
            if value is not None and value < 0:
                self.error((*kp, key), f"expected a share of the target >= 0, got {value}")
        if rules.at_risk < rules.on_track:
            self.error(
                (*kp, "at_risk"),
                f"at_risk ({rules.at_risk}) must be at least on_track ({rules.on_track}): "
                "it is the wider tolerance",
            )
        return rules

    def targets(
        self,
        raw: Any,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
    ) -> tuple[Target, ...]:
        if not isinstance(raw, list):
            self.error(("targets",), f"expected a list of targets, got {kind(raw)}")
            return ()
        out = []
        for index, item in enumerate(raw):
            target = self.target(index, item, sources, metrics, rules)
            if target is not None:
                out.append(target)
        return tuple(out)

    def target(
        self,
        index: int,
        raw: Any,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
    ) -> Target | None:
        kp: KeyPath = ("targets", index)
        spec = self.mapping(raw, kp, TARGET_KEYS, required=("metric",))
        if spec is None or "metric" not in spec:
            return None
        metric = self.text(spec["metric"], (*kp, "metric"))
        if metric is not None and metric not in metrics:
            if not self._declared(("metrics", metric)):
                self.error(
                    (*kp, "metric"),
                    f"unknown metric '{metric}'{suggest(metric, list(metrics))}",
                )
            return None
        kinds = [k for k in ("value", "series", "source") if k in spec]
        if len(kinds) != 1:
            self.error(
                kp,
                "a target needs exactly one of `value` (with `by`), `series` or `source` (with "
                f"`column`); found {', '.join(kinds) or 'none'}",
            )
            return None
        filters = self.filters(spec.get("filters", {}), (*kp, "filters")) or ()
        fields: dict[str, Any] = {
            "rules": self.rules(spec.get("status", {}), (*kp, "status"), rules)
        }
        if kinds == ["value"]:
            fields["value"] = self.number(spec["value"], (*kp, "value"))
            if "by" not in spec:
                self.error(kp, "missing required key 'by': the date the value is due")
                return None
            fields["by"] = self.date(spec["by"], (*kp, "by"))
            if "baseline" in spec:
                base = self.mapping(
                    spec["baseline"], (*kp, "baseline"), BASELINE_KEYS, BASELINE_KEYS
                )
                if base and all(key in base for key in BASELINE_KEYS):
                    fields["baseline_value"] = self.number(
                        base["value"], (*kp, "baseline", "value")
                    )
                    fields["baseline_date"] = self.date(base["date"], (*kp, "baseline", "date"))
            start, end = fields.get("baseline_date"), fields["by"]
            if start and end and end <= start:
                self.error(
                    (*kp, "by"),
                    f"the target date {end} is not after the baseline date {start}; move the "
                    "target date later or the baseline earlier",
                )
                return None
        elif kinds == ["series"]:
            fields["series"] = self.series(spec["series"], (*kp, "series"))
        else:
            fields["source"] = self.text(spec["source"], (*kp, "source"))
            fields["column"] = self.target_column(spec, kp, fields["source"], sources)
        if any(fields.get(k) is None for k in ("value", "by", "source", "column") if k in fields):
            return None
        assert metric is not None
        base_sources = _base_sources(metric, metrics)
        if fields.get("source"):
            base_sources.add(fields["source"])
        for column, _ in filters:
            lacking = [
                s
                for s in sorted(base_sources)
                if s in sources and column not in sources[s].dimensions
            ]
            if lacking:
                self.error(
                    (*kp, "filters", column),
                    f"'{column}' is not a dimension of source {', '.join(lacking)}, so this "
                    "target cannot be matched to a segment",
                )
                return None
        return Target(metric=metric, index=index, filters=filters, **fields)

    def target_column(
        self,
        spec: dict[str, Any],
        kp: KeyPath,
        source: str | None,
        sources: Mapping[str, Source],
    ) -> str | None:
        if source is None:
            return None
        if source not in sources:
            if not self._declared(("sources", source)):
                self.error(
                    (*kp, "source"), f"unknown source '{source}'{suggest(source, list(sources))}"
                )
            return None
        if "column" not in spec:
            self.error(kp, "missing required key 'column': the target values' column")
            return None
        column = self.text(spec["column"], (*kp, "column"))
        names = [v for v, _ in sources[source].values]
        if column is not None and column not in names:
            self.error(
                (*kp, "column"),
                f"'{column}' is not a value column of source '{source}'; its values are: "
                f"{', '.join(names) or '(none)'}",
            )
            return None
        return column

    def series(self, raw: Any, kp: KeyPath) -> tuple[tuple[str, float], ...]:
        spec = self.mapping(raw, kp)
        out = []
        for label, value in (spec or {}).items():
            number = self.number(value, (*kp, label))
            period = self.period_text(label, (*kp, label))
            if period is not None and number is not None:
                out.append((period.label, number))
        if spec is not None and not spec:
            self.error(kp, "no periods: write `PERIOD: VALUE` lines, e.g. 2026-10: 0.02")
        return tuple(out)


class _OutcomeChecks(_TargetChecks):
    """``outputs:`` and ``outcomes:`` (here and in included files)."""

    def outputs(self, raw: Any, sources: Mapping[str, Source]) -> OutputsSpec | None:
        kp: KeyPath = ("outputs",)
        spec = self.mapping(raw, kp, OUTPUT_KEYS, required=("source", "id", "title", "team"))
        if spec is None or not all(k in spec for k in ("source", "id", "title", "team")):
            return None
        columns = {k: self.text(spec[k], (*kp, k)) for k in OUTPUT_KEYS if k in spec}
        name = columns.get("source")
        source = sources.get(name or "")
        if source is None:
            if name is not None and not self._declared(("sources", name)):
                self.error(
                    (*kp, "source"),
                    f"unknown source '{name}'"
                    f"{suggest(name, list(sources))}; declare the export under sources",
                )
            return None
        if columns.get("team") and columns["team"] not in source.dimensions:
            self.error(
                (*kp, "team"),
                f"'{columns['team']}' is not a dimension of source "
                f"'{name}'; add it to sources.{name}.dimensions",
            )
            return None
        values = [v for v, _ in source.values]
        if columns.get("effort") and columns["effort"] not in values:
            self.error(
                (*kp, "effort"),
                f"'{columns['effort']}' is not a value column of source "
                f"'{name}'; its values are: {', '.join(values) or '(none)'}",
            )
            return None
        if any(v is None for v in columns.values()):
            return None
        return OutputsSpec(**{k: v for k, v in columns.items() if v is not None})

    def outcomes(
        self,
        raw: Any,
        kp: KeyPath,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
        out: dict[str, Outcome],
    ) -> None:
        if not isinstance(raw, list):
            self.error(kp, f"expected a list of outcomes, got {kind(raw)}")
            return
        for index, item in enumerate(raw):
            outcome = self.outcome(item, (*kp, index), sources, metrics, rules)
            if outcome is None:
                continue
            if outcome.id in out:
                first = out[outcome.id]
                self.error(
                    (*kp, index, "id"),
                    f"outcome id '{outcome.id}' is already used "
                    f"({first.file}:{first.line}); ids must be unique",
                )
                continue
            out[outcome.id] = outcome

    def outcome(
        self,
        raw: Any,
        kp: KeyPath,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
    ) -> Outcome | None:
        spec = self.mapping(raw, kp, OUTCOME_KEYS, required=("id", "title", "kpi"))
        if spec is None or not all(k in spec for k in ("id", "title", "kpi")):
            return None
        ident = spec["id"]
        if not isinstance(ident, str) or not OUTCOME_ID_RE.match(ident):
            self.error(
                (*kp, "id"), f"outcome id {ident!r} must be lowercase letters, digits, - and _"
            )
            return None
        kpi = spec["kpi"]
        kpi_spec = (
            {"metric": kpi}
            if isinstance(kpi, str)
            else self.mapping(kpi, (*kp, "kpi"), KPI_KEYS, required=("metric",))
        )
        if not kpi_spec or "metric" not in kpi_spec:
            return None
        metric = self.text(kpi_spec["metric"], (*kp, "kpi", "metric"))
        if metric is None or metric not in metrics:
            if metric is not None and not self._declared(("metrics", metric)):
                self.error(
                    (*kp, "kpi", "metric"),
                    f"unknown metric '{metric}'{suggest(metric, list(metrics))}",
                )
            return None
        filters = self.filters(kpi_spec.get("filters", {}), (*kp, "kpi", "filters")) or ()
        for column, _ in filters:
            lacking = [
                s
                for s in sorted(_base_sources(metric, metrics))
                if s in sources and column not in sources[s].dimensions
            ]
            if lacking:
                self.error(
                    (*kp, "kpi", "filters", column),
                    f"'{column}' is not a dimension of "
                    f"source {', '.join(lacking)} (behind metric '{metric}')",
                )
                return None
        fields: dict[str, Any] = {
            key: self.text(spec.get(key, ""), (*kp, key), allow_empty=True) or ""
            for key in ("description", "owner", "team")
        }
        fields["title"] = self.text(spec["title"], (*kp, "title")) or ident
        fields["lag_days"] = self.integer(spec.get("lag_days", 0), (*kp, "lag_days"), 0, 3650) or 0
        if "parent" in spec:
            fields["parent"] = self.text(spec["parent"], (*kp, "parent"))
        if "impact_grain" in spec:
            fields["impact_grain"] = self.text(
                spec["impact_grain"], (*kp, "impact_grain"), IMPACT_GRAINS
            )
        baseline_end = None
        if "baseline" in spec:
            base = self.mapping(
                spec["baseline"], (*kp, "baseline"), OUTCOME_BASELINE_KEYS, OUTCOME_BASELINE_KEYS
            )
            if base and all(key in base for key in OUTCOME_BASELINE_KEYS):
                fields["baseline_value"] = self.number(base["value"], (*kp, "baseline", "value"))
                period = self.period_text(base["period"], (*kp, "baseline", "period"))
                if period is not None:
                    fields["baseline_period"], baseline_end = period.label, period.end
        if "target" in spec:
            fields["target"] = self.outcome_target(
                spec["target"], (*kp, "target"), metric, filters, fields, baseline_end, rules
            )
        line = self.located.where(kp)[0]
        return Outcome(
            id=ident, metric=metric, filters=filters, file=self.located.path, line=line, **fields
        )

    def outcome_target(
        self,
        raw: Any,
        kp: KeyPath,
        metric: str,
        filters: tuple[tuple[str, tuple[str, ...]], ...],
        fields: dict[str, Any],
        baseline_end: dt.date | None,
        rules: StatusRules,
    ) -> Target | None:
        spec = self.mapping(raw, kp, OUTCOME_TARGET_KEYS)
        if spec is None:
            return None
        if "series" in spec:
            if "value" in spec or "by" in spec:
                self.error(kp, "give either `value` with `by`, or `series`, not both")
                return None
            series = self.series(spec["series"], (*kp, "series"))
            return Target(metric, -1, filters, series=series, rules=rules)
        if "value" not in spec or "by" not in spec:
            self.error(kp, "a target needs `value` and `by` (the date it is due), or `series`")
            return None
        value = self.number(spec["value"], (*kp, "value"))
        by = self.date(spec["by"], (*kp, "by"))
        if value is None or by is None:
            return None
        if baseline_end is not None and by <= baseline_end:
            self.error(
                (*kp, "by"),
                f"the target date {by} is not after the baseline period's "
                f"end {baseline_end}; move the target date later or the baseline earlier",
            )
            return None
        base_value = fields.get("baseline_value")
        return Target(
            metric,
            -1,
            filters,
            value=value,
            by=by,
            baseline_value=base_value,
            baseline_date=baseline_end if base_value is not None else None,
            rules=rules,
        )

    def outcome_tree(self, outcomes: Mapping[str, Outcome]) -> None:
        """Parents must exist and must not loop back (company goal -> team outcomes)."""
        for outcome in outcomes.values():
            if outcome.parent is not None and outcome.parent not in outcomes:
                self.problems.append(
                    Problem(
                        outcome.file,
                        f"unknown parent outcome '{outcome.parent}'"
                        f"{suggest(outcome.parent, list(outcomes))}",
                        outcome.line,
                        key=f"outcomes.{outcome.id}.parent",
                    )
                )
                continue
            seen, current = [outcome.id], outcome.parent
            while current is not None and current in outcomes:
                if current in seen:
                    self.problems.append(
                        Problem(
                            outcome.file,
                            "outcome parents form a cycle: " + " -> ".join([*seen, current]),
                            outcome.line,
                            key=f"outcomes.{outcome.id}.parent",
                        )
                    )
                    break
                seen.append(current)
                current = outcomes[current].parent


class _Checker(_OutcomeChecks):
    """The whole file: the project's own keys, then each section in the order they depend on
    each other; builds the typed config and collects every problem."""

    def project(self, root: Path) -> ProjectConfig | None:
        top = self.mapping(self.located.data, (), TOP_KEYS, required=("sources", "metrics"))
        if top is None:
            return None
        name = self.text(top.get("name", root.name), ("name",)) or root.name
        calendar = self.project_calendar = self.calendar(top.get("calendar", {}))
        sources: dict[str, Source] = {}
        for key, raw in (self.mapping(top.get("sources", {}), ("sources",)) or {}).items():
            source = self.source(key, raw)
            if source is not None:
                sources[source.name] = source
        metrics: dict[str, Metric] = {}
        for key, raw in (self.mapping(top.get("metrics", {}), ("metrics",)) or {}).items():
            metric = self.metric(key, raw)
            if metric is not None:
                metrics[metric.name] = metric
        self.references(sources, metrics)
        rules = self.rules(top.get("status", {}), ("status",), StatusRules())
        targets = self.targets(top.get("targets", []), sources, metrics, rules)
        outputs = self.outputs(top["outputs"], sources) if "outputs" in top else None
        outcomes: dict[str, Outcome] = {}
        self.outcomes(top.get("outcomes", []), ("outcomes",), sources, metrics, rules, outcomes)
        for included in self.includes(top.get("include", []), root):
            child = _Checker(included)
            child.project_calendar = self.project_calendar
            spec = child.mapping(included.data, (), INCLUDE_KEYS)
            if spec is not None:
                child.outcomes(
                    spec.get("outcomes", []), ("outcomes",), sources, metrics, rules, outcomes
                )
            self.problems += child.problems
        self.outcome_tree(outcomes)
        store = None
        if "store" in top:
            store = self.store(top["store"], root)
        schedule = self.cron(top["schedule"]) if "schedule" in top else None
        live_url = self.live_url(top["live_url"]) if "live_url" in top else None
        delivery = self.delivery(top["delivery"]) if "delivery" in top else None
        alerts = self.alerts(top.get("alerts", []), metrics, outcomes, delivery)
        return ProjectConfig(
            root,
            name,
            calendar,
            sources,
            metrics,
            self.located,
            targets,
            rules,
            outputs,
            outcomes,
            store,
            schedule,
            live_url or ProjectConfig.live_url,
            delivery,
            alerts,
        )

    def alerts(
        self,
        raw: Any,
        metrics: Mapping[str, Metric],
        outcomes: Mapping[str, Outcome],
        delivery: Delivery | None,
    ) -> tuple[Alert, ...]:
        if not isinstance(raw, list):
            self.error(("alerts",), f"expected a list of alert rules, got {kind(raw)}")
            return ()
        found = []
        for i, item in enumerate(raw):
            kp: KeyPath = ("alerts", i)
            spec = self.mapping(item, kp, ALERT_KEYS, required=("name",))
            if spec is None or "name" not in spec:
                continue
            kinds = [k for k in ALERT_KINDS if k in spec]
            if len(kinds) != 1:
                self.error(
                    kp,
                    "an alert watches exactly one of: status (an outcome's), below or above "
                    f"(with metric), stale_days, verdicts; found {', '.join(kinds) or 'none'}",
                )
                continue
            which = kinds[0]
            name = self.text(spec["name"], (*kp, "name"))
            fields: dict[str, Any] = {}
            if "outcome" in spec:
                fields["outcome"] = self.text(spec["outcome"], (*kp, "outcome"))
                if fields["outcome"] is not None and fields["outcome"] not in outcomes:
                    self.error(
                        (*kp, "outcome"),
                        f"unknown outcome '{fields['outcome']}'"
                        f"{suggest(fields['outcome'], list(outcomes))}",
                    )
                    continue
            if "metric" in spec:
                fields["metric"] = self.text(spec["metric"], (*kp, "metric"))
                if fields["metric"] is not None and fields["metric"] not in metrics:
                    self.error(
                        (*kp, "metric"),
                        f"unknown metric '{fields['metric']}'"
                        f"{suggest(fields['metric'], list(metrics))}",
                    )
                    continue
            if which in ("below", "above"):
                fields["value"] = self.number(spec[which], (*kp, which))
                if "metric" not in spec:
                    self.error(kp, f"`{which}:` needs `metric:`: the KPI to watch")
                    continue
                fields["filters"] = self.filters(spec.get("filters", {}), (*kp, "filters")) or ()
            elif which == "status":
                fields["status"] = self.text(spec["status"], (*kp, "status"), ALERT_STATUSES)
            elif which == "stale_days":
                fields["days"] = self.integer(spec["stale_days"], (*kp, "stale_days"), 1, 365)
            elif spec["verdicts"] is not True:
                self.error((*kp, "verdicts"), "write `verdicts: true` to watch link verdicts")
                continue
            to = spec.get("to", [])
            listed = [to] if isinstance(to, str) else to
            if not isinstance(listed, list) or not all(
                isinstance(a, str) and EMAIL.fullmatch(a) for a in listed
            ):
                self.error((*kp, "to"), "expected a list of email addresses (name@example.com)")
                continue
            if listed and (delivery is None or delivery.email is None):
                self.error(
                    (*kp, "to"), "alerts by email need `delivery: email:` (the server to use)"
                )
            chat = spec.get("chat", True)
            if not isinstance(chat, bool):
                self.error((*kp, "chat"), f"expected true or false, got {kind(chat)}")
                continue
            if name is None or any(fields.get(k, "") is None for k in ("value", "status", "days")):
                continue  # reported
            found.append(
                Alert(
                    str(name),
                    which,
                    to=tuple(listed),
                    chat=chat,
                    line=self.line(kp),
                    **fields,
                )
            )
        return tuple(found)

    def delivery(self, raw: Any) -> Delivery | None:
        kp: KeyPath = ("delivery",)
        spec = self.mapping(raw, kp, DELIVERY_KEYS)
        if spec is None:
            return None
        email = self.email(spec["email"]) if "email" in spec else None
        chat = []
        items = spec.get("chat", [])
        if not isinstance(items, list):
            self.error((*kp, "chat"), f"expected a list of webhooks, got {kind(items)}")
            items = []
        for i, item in enumerate(items):
            hook = self.mapping(item, (*kp, "chat", i), CHAT_KEYS, required=CHAT_KEYS)
            if hook is None or not all(k in hook for k in CHAT_KEYS):
                continue
            form = self.text(hook["format"], (*kp, "chat", i, "format"), CHAT_FORMATS)
            variable = self.env_name(hook["url_from"], (*kp, "chat", i, "url_from"))
            if form and variable:
                chat.append(ChatDelivery(form, variable))
        recipients: dict[str, tuple[str, ...]] = {}
        given = self.mapping(spec.get("recipients", {}), (*kp, "recipients")) or {}
        for review, addresses in given.items():
            where = (*kp, "recipients", review)
            listed = [addresses] if isinstance(addresses, str) else addresses
            if not isinstance(listed, list):
                self.error(where, f"expected a list of email addresses, got {kind(addresses)}")
                continue
            for j, address in enumerate(listed):
                if not isinstance(address, str) or not EMAIL.fullmatch(address):
                    self.error(
                        (*where, j), f"{address!r} is not an email address (name@example.com)"
                    )
            recipients[str(review)] = tuple(a for a in listed if isinstance(a, str))
        if recipients and email is None and "email" not in spec:
            self.error(kp, "recipients are given but no `email:` server to send through")
        attempts = self.integer(spec.get("attempts", 3), (*kp, "attempts"), 1, 10) or 3
        return Delivery(email, tuple(chat), recipients, attempts)

    def email(self, raw: Any) -> EmailDelivery | None:
        kp: KeyPath = ("delivery", "email")
        spec = self.mapping(raw, kp, EMAIL_KEYS, required=("server", "from"))
        if spec is None or not all(k in spec for k in ("server", "from")):
            return None
        server = self.text(spec["server"], (*kp, "server"))
        sender = self.text(spec["from"], (*kp, "from"))
        port = self.integer(spec.get("port", 587), (*kp, "port"), 1, 65535)
        security = self.text(spec.get("security", "starttls"), (*kp, "security"), EMAIL_SECURITY)
        pdf = spec.get("pdf", False)
        if not isinstance(pdf, bool):
            self.error((*kp, "pdf"), f"expected true or false, got {kind(pdf)}")
            pdf = False
        plaintext = spec.get("allow_plaintext_auth", False)
        if not isinstance(plaintext, bool):
            self.error(
                (*kp, "allow_plaintext_auth"), f"expected true or false, got {kind(plaintext)}"
            )
            plaintext = False
        if plaintext and server and not is_loopback(server):
            self.error(
                (*kp, "allow_plaintext_auth"),
                "only for a mail relay on this machine (server: localhost or 127.0.0.1): the "
                f"SMTP login and password would cross the network to {server} in clear text, "
                "where anyone on the way can read them; remove it and set `security: starttls` "
                "(or ssl)",
            )
            plaintext = False
        if not (server and sender and port and security):
            return None
        return EmailDelivery(server, sender, port, security, pdf, plaintext)

    def env_name(self, raw: Any, kp: KeyPath) -> str | None:
        """The name of an environment variable holding a secret (never the secret itself)."""
        text = self.text(raw, kp)
        if text is not None and not ENV_NAME.match(text):
            self.error(
                kp,
                "give the name of the environment variable that holds the webhook's URL (e.g. "
                "REVIEWKIT_SLACK_WEBHOOK), not the URL: it is a secret and reviewkit.yaml is not",
            )
            return None
        return text

    def calendar(self, raw: Any) -> Calendar:
        cal = self.mapping(raw, ("calendar",), CALENDAR_KEYS)
        if not cal:
            return Calendar()
        week = self.text(cal.get("week_ends_on", "sunday"), ("calendar", "week_ends_on"), WEEKDAYS)
        month = self.integer(
            cal.get("fiscal_year_start_month", 1), ("calendar", "fiscal_year_start_month"), 1, 12
        )
        return Calendar(week or "sunday", month or 1)

    def store(self, raw: Any, root: Path) -> Path | str | None:
        text = self.text(raw, ("store",))
        if text is None or not is_url(text):
            return (root / text) if text else None
        if has_password(text):
            self.error(
                ("store",),
                "the address has a password, which reviewkit.yaml must not hold (it is shared "
                "and kept in git); remove it and set PGPASSWORD or ~/.pgpass, or give the "
                f"whole address in ${STORE_ENV}",
            )
            return None
        return text

    def live_url(self, raw: Any) -> str | None:
        text = self.text(raw, ("live_url",))
        if text is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
            self.error(
                ("live_url",),
                f"{text!r} is not a web address; write where `reviewkit serve` is reached, "
                "e.g. http://reviews.example.com:8866/",
            )
            return None
        return text if text.endswith("/") else text + "/"

    def cron(self, raw: Any) -> str | None:
        text = self.text(raw, ("schedule",))
        if text is None:
            return None
        try:
            return parse_cron(text).text
        except ReviewkitError as exc:
            self.error(("schedule",), str(exc))
            return None

    def includes(self, raw: Any, root: Path) -> list[Located]:
        files = self.text_list(raw, ("include",))
        out = []
        for i, name in enumerate(files):
            path = root / name
            if not path.is_file():
                self.error(("include", i), f"no such file '{name}' (looked in {shown_path(root)})")
                continue
            try:
                included = load_yaml(path, shown_as=shown_path(path))
            except ConfigError as exc:
                self.problems += exc.problems
                continue
            self.problems += included.duplicates
            out.append(included)
        return out


def _base_sources(
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
        found |= _base_sources(dep, metrics, seen)
    return found


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only: a mail relay, or where
    `reviewkit serve` listens."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
