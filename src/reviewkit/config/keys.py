"""Every key ``reviewkit.yaml`` takes, in one declarative table: where it is written, its type,
its default and what it does.

The checkers take each section's valid keys from here (an unknown key lists them in this order),
and ``docs/reference/config.md`` is generated from it (:mod:`reviewkit.config.reference`), so a key
cannot be accepted without being documented, nor documented without being accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reviewkit.base.periods import WEEKDAYS
from reviewkit.config.model import (
    ACTIVE_AT,
    AGGREGATIONS,
    ALERT_STATUSES,
    CHANGES,
    CHAT_FORMATS,
    DATE_GRAINS,
    DIRECTIONS,
    EMAIL_SECURITY,
    ENGINES,
    EXPANSION,
    FORMATS,
    FUTURE_DATES,
    GAPS,
    IMPACT_GRAINS,
    ON_ERROR,
    ROLLUPS,
    VALUE_FORMATS,
    VALUE_TYPES,
)

__all__ = ["ALLOWED", "KEYS", "LAYOUTS", "OPTION_KEYS", "SECTIONS", "Key", "Section", "allowed"]


@dataclass(frozen=True)
class Section:
    """A mapping of ``reviewkit.yaml`` that takes a fixed set of keys."""

    #: how the table names it: "" for the file's top level, "sources.date" for a source's date
    name: str
    #: where it is written, as YAML ("sources: NAME: date:")
    where: str
    #: what it holds
    help: str


@dataclass(frozen=True)
class Key:
    """One key of one section."""

    section: str
    name: str
    #: what its value is: "text", "true | false", or the choices ("csv | tsv | ...")
    type: str
    #: its default as written in YAML; "required" when it must be given, "" when it has none
    default: str
    help: str
    #: keys of a source's ``options:`` only: the file formats that take it
    formats: tuple[str, ...] = ()


def _choices(words: tuple[str, ...] | dict[str, str]) -> str:
    return " | ".join(words)


TEXT: Final = "text"
COLUMN: Final = "text (a column)"
COLUMNS: Final = "list of columns (or one)"
NUMBER: Final = "number"
BOOLEAN: Final = "true | false"
DATE: Final = "date (YYYY-MM-DD)"
MAPPING: Final = "mapping"
REQUIRED: Final = "required"
TEXT_FORMATS: Final = ("csv", "tsv")
NUMBER_FORMATS: Final = ("csv", "tsv", "xlsx", "json", "ndjson")

SECTIONS: Final = {
    section.name: section
    for section in (
        Section("", "reviewkit.yaml", "The project's own keys: the file's top level."),
        Section("calendar", "calendar:", "How weeks and fiscal years are counted."),
        Section(
            "sources",
            "sources: NAME:",
            "One entry per export; its name (lowercase letters, digits and _) becomes a DuckDB "
            "view. A source in a SQL engine (`engine:`) takes `table:` or `query:` instead of "
            "`path:`; `path`, `format`, `options`, `shape`, `long` and `on_error` are for files.",
        ),
        Section(
            "sources.date",
            "sources: NAME: date:",
            "The column that places each row in time. Shorthand: `date: created_at` (ISO dates).",
        ),
        Section(
            "sources.lifecycle",
            "sources: NAME: lifecycle:",
            "Entities with a lifetime: a spell is active from its start day until the day "
            "before its end; an entity is active while one of its spells is.",
        ),
        Section(
            "sources.options",
            "sources: NAME: options:",
            "How a file is read; all optional, each for the file formats named.",
        ),
        Section(
            "sources.long",
            "sources: NAME: long:",
            "With `shape: long`, the column naming each value and the column holding it; "
            "`values` then lists the key names.",
        ),
        Section("metrics", "metrics: NAME:", "The KPI catalogue: base and derived metrics."),
        Section(
            "status",
            "status:",
            "When a value is on track against its target to date (also a target's own `status:`).",
        ),
        Section(
            "targets",
            "targets: - ...",
            "Exactly one of `value` (with `by`), `series` or `source` (with `column`) per target.",
        ),
        Section(
            "targets.baseline",
            "targets: - baseline:",
            "Optional: the target to date then moves along a straight line from the baseline to "
            "the goal.",
        ),
        Section(
            "outputs",
            "outputs:",
            "Delivered work: an export declared under sources (its date column is the delivery "
            "date) and which of its columns say what.",
        ),
        Section(
            "outcomes",
            "outcomes: - ...",
            "What the organisation wants to change (here or in an included file).",
        ),
        Section(
            "outcomes.kpi",
            "outcomes: - kpi:",
            "The KPI that measures the outcome; or just `kpi: METRIC`.",
        ),
        Section("outcomes.baseline", "outcomes: - baseline:", "Where the outcome starts from."),
        Section(
            "outcomes.target",
            "outcomes: - target:",
            "Where the outcome should get: `value` with `by`, or `series`.",
        ),
        Section(
            "include",
            "an included file",
            "A file named in `include:` holds more outcomes (one per team, say).",
        ),
        Section("delivery", "delivery:", "Who receives each review (docs/guide/schedule.md)."),
        Section(
            "delivery.email",
            "delivery: email:",
            "Optional; the login comes from REVIEWKIT_SMTP_USER and REVIEWKIT_SMTP_PASSWORD.",
        ),
        Section("delivery.chat", "delivery: chat: - ...", "A chat webhook (Slack or Teams)."),
        Section(
            "alerts",
            "alerts: - ...",
            "Rules checked by `reviewkit alerts --check`; each fires once per change. An alert "
            "watches exactly one of: status (an outcome's), below or above (with metric), "
            "stale_days, verdicts.",
        ),
    )
}

KEYS: Final = (
    # the file's top level
    Key("", "name", TEXT, "the folder's name", "Shown in reports."),
    Key("", "calendar", MAPPING, "", "How weeks and fiscal years are counted (`calendar:`)."),
    Key("", "sources", MAPPING, REQUIRED, "The exports, by name (`sources: NAME:`)."),
    Key("", "metrics", MAPPING, REQUIRED, "The KPI catalogue, by name (`metrics: NAME:`)."),
    Key("", "targets", "list", "", "Targets on metrics (`targets:`)."),
    Key("", "status", MAPPING, "", "When a value is on track against its target (`status:`)."),
    Key("", "outputs", MAPPING, "", "Which export lists delivered work (`outputs:`)."),
    Key("", "outcomes", "list", "", "What the organisation wants to change (`outcomes:`)."),
    Key(
        "",
        "include",
        "list of files",
        "",
        "More files holding `outcomes:` (one per team, say), relative to the project.",
    ),
    Key(
        "",
        "store",
        "file or postgresql:// address",
        "reviewkit.db",
        "The store of links and check-ins: a SQLite file (relative to the project) or a "
        "PostgreSQL address, never with a password (PGPASSWORD or ~/.pgpass give it); "
        "$REVIEWKIT_STORE overrides it.",
    ),
    Key(
        "",
        "user",
        TEXT,
        "",
        "Who saves links and check-ins from this folder (Ana Lima, or Ana Lima "
        "<ana@example.com>) when REVIEWKIT_USER is unset; without it, JUPYTERHUB_USER, then git "
        "config user.name, then the OS user (never root). For a folder one person works in: a "
        "shared reviewkit.yaml would name everyone alike.",
    ),
    Key(
        "",
        "schedule",
        "cron",
        "",
        'Cron for `reviewkit schedule` (the monthly reports): "0 6 2 * *" is 06:00 on the 2nd.',
    ),
    Key(
        "",
        "live_url",
        "web address",
        "http://127.0.0.1:8866/",
        "Where `reviewkit serve` is reached: reports/index.html links each review to its live "
        "page.",
    ),
    Key("", "delivery", MAPPING, "", "Who receives each review, and how (`delivery:`)."),
    Key("", "alerts", "list", "", "Rules watched after each data refresh (`alerts:`)."),
    # calendar:
    Key(
        "calendar",
        "week_ends_on",
        _choices(WEEKDAYS),
        "sunday",
        "The last day of a reporting week.",
    ),
    Key(
        "calendar",
        "fiscal_year_start_month",
        "whole number 1 .. 12",
        "1",
        "The month the fiscal year starts (1: the fiscal year is the calendar year).",
    ),
    # sources: NAME:
    Key(
        "sources",
        "path",
        TEXT,
        REQUIRED,
        "The export, relative to the project; globs work: data/tickets_*.csv (files only).",
    ),
    Key(
        "sources",
        "format",
        _choices(FORMATS),
        "from the path's extension",
        "The file format; optional for .csv .tsv .tab .parquet .pq .xlsx .json .ndjson .jsonl.",
    ),
    Key(
        "sources",
        "engine",
        " | ".join(f"{scheme}://..." for scheme in ENGINES),
        "",
        "A source in a SQL engine instead of a file (postgresql:// | spark://local | "
        "spark://HOST:7077): its KPIs are computed there. Never a password (PGPASSWORD or "
        "~/.pgpass give it).",
    ),
    Key(
        "sources",
        "table",
        TEXT,
        "",
        "With `engine:`, a table or view (sales.orders); or instead `query:`.",
    ),
    Key(
        "sources",
        "query",
        "SQL",
        "",
        "With `engine:`, SQL in the engine's dialect "
        "(SELECT * FROM sales.orders WHERE region <> 'test'); or instead `table:`.",
    ),
    Key(
        "sources",
        "date",
        "column or mapping",
        REQUIRED,
        "The column that places each row in time (`date:` below); in an engine a date or "
        "timestamp column, with no format: it is typed. Not with `lifecycle:`.",
    ),
    Key(
        "sources",
        "lifecycle",
        MAPPING,
        "",
        "Entities with a lifetime (accounts, subscriptions), one row per entity or spell: "
        "`{id: COLUMN, start: COLUMN, end: COLUMN}` (`lifecycle:` below) instead of `date:`; "
        "for the metrics active, retention, churn and revenue_retention.",
    ),
    Key(
        "sources",
        "dimensions",
        COLUMNS,
        "",
        "Text columns you filter and break down by.",
    ),
    Key(
        "sources",
        "values",
        "mapping of column: " + _choices(VALUE_TYPES) + " (or a list: all number)",
        "",
        "The numeric columns and their types.",
    ),
    Key(
        "sources",
        "shape",
        "wide | long",
        "wide",
        "wide: a column per value; long: a row per value (with `long:`).",
    ),
    Key(
        "sources",
        "long",
        MAPPING,
        "",
        "With `shape: long`: `{key: COLUMN, value: COLUMN}`, the column naming each value and "
        "the column holding it.",
    ),
    Key("sources", "options", MAPPING, "", "How the file is read (`options:`); all optional."),
    Key(
        "sources",
        "on_error",
        _choices(ON_ERROR),
        "fail",
        "fail: a bad row stops everything; quarantine: bad rows are set aside, listed by "
        "`check`, and counted in every output that uses the source.",
    ),
    Key(
        "sources",
        "unique",
        COLUMNS,
        "",
        "Columns no two rows may share (a daily export with one row per team); a repeat is "
        "refused with both lines.",
    ),
    Key(
        "sources",
        "future_dates",
        _choices(FUTURE_DATES),
        "refuse",
        "refuse: a date after today is an error (a typo like 2062); allow: the export plans "
        "ahead (targets).",
    ),
    Key("sources", "description", TEXT, "", "Free text (Help-desk export)."),
    # sources: NAME: date:
    Key("sources.date", "column", COLUMN, REQUIRED, "The date or timestamp column."),
    Key(
        "sources.date",
        "format",
        "strptime format",
        "ISO dates",
        'strptime: "%Y-%m-%d", "%a, %d-%b-%Y" (Sun, 05-Jan-2020), "%m/%d/%y" (1/1/21); time '
        "directives make it a timestamp. Omit for Parquet/Excel columns that are real dates.",
    ),
    Key(
        "sources.date",
        "grain",
        _choices(DATE_GRAINS),
        "day",
        "What one row's date stands for (month: a month-end snapshot dated in its month).",
    ),
    Key(
        "sources.date",
        "gaps",
        _choices(GAPS),
        "flag",
        "Is a day without rows missing data (flag), or normal for this export (ignore: an "
        "issue tracker)?",
    ),
    # sources: NAME: lifecycle:
    Key(
        "sources.lifecycle",
        "id",
        COLUMN,
        REQUIRED,
        "The entity (account_id): its spells are one entity, counted once.",
    ),
    Key(
        "sources.lifecycle",
        "start",
        COLUMN,
        REQUIRED,
        "The first day the spell is active (signed_up); also the source's date column.",
    ),
    Key(
        "sources.lifecycle",
        "end",
        COLUMN,
        REQUIRED,
        "The day it stops being active (cancelled); blank: still active.",
    ),
    Key(
        "sources.lifecycle",
        "format",
        "strptime format",
        "ISO dates",
        "How `start` and `end` are written, as `date: format:`.",
    ),
    Key(
        "sources.lifecycle",
        "changes",
        "source name",
        "",
        "A source of value changes (mrr_changes: its `date:` the day a new value applies, the "
        "`id` column and the value column): a spell's value from that day on.",
    ),
    # sources: NAME: long:
    Key("sources.long", "key", COLUMN, REQUIRED, "The column naming each value."),
    Key("sources.long", "value", COLUMN, REQUIRED, "The column holding it."),
    # sources: NAME: options:
    Key(
        "sources.options",
        "delimiter",
        "one character",
        '","',
        "The field separator (tsv: a tab).",
        TEXT_FORMATS,
    ),
    Key(
        "sources.options",
        "encoding",
        "utf-8 | latin-1 | utf-16",
        "utf-8",
        "The text encoding (utf-8 with or without a BOM).",
        TEXT_FORMATS,
    ),
    Key(
        "sources.options",
        "sheet",
        TEXT,
        "",
        "The worksheet; required when the workbook has several sheets.",
        ("xlsx",),
    ),
    Key(
        "sources.options",
        "thousands",
        "one character",
        "",
        '"523,419" -> 523419 with ",".',
        NUMBER_FORMATS,
    ),
    Key(
        "sources.options",
        "decimal",
        "one character",
        '"."',
        '"," for decimal commas.',
        NUMBER_FORMATS,
    ),
    Key(
        "sources.options",
        "quote",
        "one character",
        "'\"'",
        "A literal quote inside a field is written twice.",
        TEXT_FORMATS,
    ),
    # metrics: NAME:
    Key("metrics", "label", TEXT, "the metric's name", "Display name (CSAT)."),
    Key("metrics", "description", TEXT, "", "Free text (Mean survey score, 1-5.)."),
    Key("metrics", "source", "source name", "", "The source a base metric aggregates."),
    Key(
        "metrics",
        "agg",
        _choices(AGGREGATIONS),
        "",
        "How a base metric aggregates `column` (count: rows). first, last and daily_mean are "
        "for levels (balances, active users). nps (0-10 scores: promoters 9-10 minus "
        "detractors 0-6, in points) and satisfaction (the share at or above `threshold`) carry "
        "their response count and a 95% interval. active, retention, churn and revenue_retention "
        "(with `column`) are for a lifecycle source: entities active at the period's end; of "
        "those active at its start, the share still active at its end (churn: the share "
        "lost); their value at the end over their value at the start.",
    ),
    Key("metrics", "column", COLUMN, "", "A value column; required except for count."),
    Key(
        "metrics",
        "expression",
        "SQL",
        "",
        'Any DuckDB aggregate over the source ("count(*) FILTER (WHERE score >= 9)") instead '
        "of `agg`; no `filters` with it: put conditions in FILTER (WHERE ...).",
    ),
    Key(
        "metrics",
        "filters",
        "mapping of dimension: value or list",
        "",
        "Rows counted: dimension -> value or list of values ({channel: [email, chat]}), bound, "
        "not pasted.",
    ),
    Key(
        "metrics",
        "format",
        _choices(VALUE_FORMATS),
        "number",
        "percent and bps values are fractions (0.45 is 45.0%, 4,500 bps); score is a number "
        "on its own scale (NPS, -100 to 100).",
    ),
    Key("metrics", "unit", TEXT, "", 'Suffix for number format ("/5").'),
    Key(
        "metrics",
        "currency",
        TEXT,
        "USD",
        "For currency format: USD, EUR, GBP, JPY or any code.",
    ),
    Key(
        "metrics",
        "decimals",
        "whole number 0 .. 6",
        "0 for >= 100, else 2 (percent: 1)",
        "Decimals shown; changes in points have these decimals too.",
    ),
    Key("metrics", "direction", _choices(DIRECTIONS), "higher", "Which way is better."),
    Key(
        "metrics",
        "change",
        _choices(CHANGES),
        "points for percent, bps and score; percent otherwise",
        "How changes are shown. percent: of the earlier value (100 -> 110 is +10.0%); points: "
        "the difference in the value's own unit: pp for percent (0.40 -> 0.45 is +5.0 pp), bps "
        "for bps, points for a score (2.1 -> 18.3 is +16.2 points), else in the unit or "
        "currency (+1.5 h, +$1,200, +12.5). pp and bps name the points of a percent or bps "
        "metric explicitly (change: bps on a percent metric shows +500 bps).",
    ),
    Key("metrics", "scale", NUMBER, "1", "Optional multiplier (100 makes a ratio a score)."),
    Key(
        "metrics",
        "rollup",
        _choices(ROLLUPS),
        "",
        "A ratio of a monthly snapshot's counts is a monthly rate: over a quarter or year it "
        'has no value unless it is the average of its months ("avg monthly" in its flags).',
    ),
    Key(
        "metrics",
        "at",
        _choices(ACTIVE_AT),
        "end",
        "`agg: active`: the entities active at the period's end, or on its average day.",
    ),
    Key(
        "metrics",
        "expansion",
        _choices(EXPANSION),
        "counted",
        "`agg: revenue_retention`: counted gives net revenue retention (NRR: upsells count), "
        "capped gross (GRR: each entity at most its value at the start).",
    ),
    Key(
        "metrics",
        "threshold",
        NUMBER,
        "",
        "`agg: satisfaction`: the lowest answer that counts as satisfied (4 for CSAT 4-5 of 5).",
    ),
    Key(
        "metrics",
        "min_responses",
        "whole number",
        "",
        "`agg: nps` or `satisfaction`: a period with fewer answers is flagged in reviews and by "
        "`reviewkit check`.",
    ),
    Key(
        "metrics",
        "comments",
        COLUMN,
        "",
        "`agg: nps` or `satisfaction`: the answers' comments; reviews quote a few detractors' "
        "comments of the period (escaped, shortened).",
    ),
    Key("metrics", "sum", "list of metrics", "", "Derived: 2 or more metrics, added."),
    Key("metrics", "difference", "list of metrics", "", "Derived: exactly 2 metrics, a - b."),
    Key("metrics", "product", "list of metrics", "", "Derived: 2 or more metrics, multiplied."),
    Key("metrics", "ratio", "list of metrics", "", "Derived: exactly 2 metrics, a / b."),
    # status:
    Key(
        "status",
        "on_track",
        "share >= 0",
        "0.0",
        "Behind the target to date by at most this share of it: on track.",
    ),
    Key(
        "status",
        "at_risk",
        "share >= on_track",
        "0.05",
        "Behind by at most this share, or the recent trend reaches the target by its date: at "
        "risk; else off track.",
    ),
    # targets: - ...
    Key("targets", "metric", "metric name", REQUIRED, "The metric the target is on."),
    Key(
        "targets",
        "filters",
        "mapping of dimension: value or list",
        "",
        "A target for one segment ({team: onboarding}: the scorecard with --team).",
    ),
    Key("targets", "value", NUMBER, "", "The goal..."),
    Key("targets", "by", DATE, "", "...due by this date (with `value`)."),
    Key(
        "targets",
        "baseline",
        MAPPING,
        "",
        "With `value`: {value: 0.03, date: 2026-01-31} (`baseline:`).",
    ),
    Key(
        "targets",
        "series",
        "mapping of period: value",
        "",
        "A value per period: {2026-09: 0.43, 2026-10: 0.44, FY2027-Q4: 0.45}.",
    ),
    Key("targets", "source", "source name", "", "A targets export declared under sources..."),
    Key(
        "targets",
        "column",
        COLUMN,
        "",
        "...and its value column (with `source`); its dimensions select segments.",
    ),
    Key(
        "targets",
        "status",
        MAPPING,
        "the project's `status:`",
        "This target's own tolerances: {on_track: 0.02, at_risk: 0.10}.",
    ),
    # targets: - baseline:
    Key("targets.baseline", "value", NUMBER, REQUIRED, "The value at the baseline date."),
    Key("targets.baseline", "date", DATE, REQUIRED, "The baseline date."),
    # outputs:
    Key("outputs", "source", "source name", REQUIRED, "The export listing delivered work."),
    Key("outputs", "id", COLUMN, REQUIRED, "Its identifier column (key)."),
    Key("outputs", "title", COLUMN, REQUIRED, "Its title column."),
    Key("outputs", "team", COLUMN, REQUIRED, "Its team column: one of the source's dimensions."),
    Key("outputs", "type", COLUMN, "", "Its type column."),
    Key("outputs", "effort", COLUMN, "", "A value column: story points, days."),
    Key("outputs", "url", COLUMN, "", "Its link column."),
    Key("outputs", "labels", COLUMN, "", 'Its labels column: "a; b" or "a, b".'),
    # outcomes: - ...
    Key(
        "outcomes", "id", "lowercase letters, digits, - and _", REQUIRED, "Unique (billing-churn)."
    ),
    Key("outcomes", "title", TEXT, REQUIRED, "Fewer billing-team customers churn."),
    Key("outcomes", "description", TEXT, "", "Free text."),
    Key("outcomes", "owner", TEXT, "", "Who owns the outcome (Luis Ortega)."),
    Key("outcomes", "team", TEXT, "", "The team whose outcome it is (billing)."),
    Key(
        "outcomes",
        "kpi",
        "metric name or mapping",
        REQUIRED,
        "{metric: churn_rate, filters: {team: billing}} or just `kpi: churn_rate` (`kpi:`).",
    ),
    Key("outcomes", "baseline", MAPPING, "", "{value: 0.035, period: 2025-06} (`baseline:`)."),
    Key(
        "outcomes",
        "target",
        MAPPING,
        "",
        "{value: 0.02, by: 2026-12-31} or {series: {2026-10: 0.025, ...}} (`target:`).",
    ),
    Key(
        "outcomes",
        "lag_days",
        "whole number 0 .. 3650",
        "0",
        "How long work takes to show up in the KPI.",
    ),
    Key(
        "outcomes",
        "parent",
        "outcome id",
        "",
        "A company goal this outcome rolls up to (retention).",
    ),
    Key(
        "outcomes",
        "impact_grain",
        _choices(IMPACT_GRAINS),
        "week (month for monthly snapshots)",
        "The grain impact is measured at (month for monthly snapshots or noisy weekly ratios).",
    ),
    Key(
        "outcomes",
        "explain_by",
        "dimension",
        "",
        "When the KPI moved notably, the review says which members of this dimension moved it "
        "(as `reviewkit explain --by`) and draws the waterfall; default: the first dimension of "
        "the KPI's source the outcome does not fix, in the summary only.",
    ),
    # outcomes: - kpi:
    Key("outcomes.kpi", "metric", "metric name", REQUIRED, "The KPI."),
    Key(
        "outcomes.kpi",
        "filters",
        "mapping of dimension: value or list",
        "",
        "Its segment ({team: billing}).",
    ),
    # outcomes: - baseline:
    Key("outcomes.baseline", "value", NUMBER, REQUIRED, "The KPI's value then."),
    Key("outcomes.baseline", "period", "period", REQUIRED, "When: 2025-06, 2025-Q2, FY2026..."),
    # outcomes: - target:
    Key("outcomes.target", "value", NUMBER, "", "The goal (with `by`)."),
    Key("outcomes.target", "by", DATE, "", "The date it is due (after the baseline period)."),
    Key(
        "outcomes.target",
        "series",
        "mapping of period: value",
        "",
        "A value per period instead: {2026-10: 0.025, ...}.",
    ),
    # an included file
    Key("include", "outcomes", "list", "", "More outcomes, as under `outcomes:`."),
    # delivery:
    Key("delivery", "email", MAPPING, "", "The SMTP server to send through (`email:`)."),
    Key(
        "delivery",
        "chat",
        "list of webhooks",
        "",
        "[{format: slack, url_from: REVIEWKIT_SLACK_WEBHOOK}] (`chat:`).",
    ),
    Key(
        "delivery",
        "recipients",
        "mapping of review: addresses",
        "",
        "Per team, or company: {billing: [luis@example.com], company: [dana@example.com]}.",
    ),
    Key(
        "delivery",
        "attempts",
        "whole number 1 .. 10",
        "3",
        "Tries per message before it is reported as not sent.",
    ),
    # delivery: email:
    Key("delivery.email", "server", TEXT, REQUIRED, "The SMTP server (smtp.example.com)."),
    Key(
        "delivery.email",
        "port",
        "whole number 1 .. 65535",
        "587",
        "465 is the usual port for ssl.",
    ),
    Key("delivery.email", "security", _choices(EMAIL_SECURITY), "starttls", "How to connect."),
    Key(
        "delivery.email",
        "from",
        "address",
        REQUIRED,
        'The sender: "Reviews <reviews@example.com>".',
    ),
    Key("delivery.email", "pdf", BOOLEAN, "false", "Also attach the review as PDF."),
    Key(
        "delivery.email",
        "allow_plaintext_auth",
        BOOLEAN,
        "false",
        "true: log in with security: none (a relay on loopback only).",
    ),
    # delivery: chat: - ...
    Key("delivery.chat", "format", _choices(CHAT_FORMATS), REQUIRED, "The chat service."),
    Key(
        "delivery.chat",
        "url_from",
        "environment variable name",
        REQUIRED,
        "The environment variable holding the webhook's address (a secret, never in the file).",
    ),
    # alerts: - ...
    Key("alerts", "name", TEXT, REQUIRED, "Unique (billing churn at risk)."),
    Key(
        "alerts",
        "status",
        _choices(ALERT_STATUSES),
        "",
        "An outcome's status turns this (or worse).",
    ),
    Key(
        "alerts",
        "outcome",
        "outcome id",
        "every outcome",
        "One outcome (billing-churn).",
    ),
    Key("alerts", "metric", "metric name", "", "The KPI that `below` or `above` watch."),
    Key(
        "alerts",
        "filters",
        "mapping of dimension: value or list",
        "",
        "With `below` or `above`: its segment ({team: mobile}).",
    ),
    Key(
        "alerts",
        "below",
        NUMBER,
        "",
        "The metric falls below this value in the latest complete month.",
    ),
    Key("alerts", "above", NUMBER, "", "Or rises above it."),
    Key("alerts", "stale_days", "whole number 1 .. 365", "", "No new rows for this many days."),
    Key("alerts", "verdicts", "true", "", "The evidence for a link changes verdict."),
    Key(
        "alerts",
        "to",
        "list of addresses",
        "",
        "Email recipients (through delivery: email:).",
    ),
    Key("alerts", "chat", BOOLEAN, "true", "Also post to delivery's webhooks."),
)


#: Each section's keys, in the table's order (an unknown key lists them so).
ALLOWED: Final = {
    section: tuple(key.name for key in KEYS if key.section == section) for section in SECTIONS
}


def allowed(section: str) -> tuple[str, ...]:
    """The keys ``section`` takes, in the table's order."""
    return ALLOWED[section]


#: The keys of a source's ``options:`` per file format.
OPTION_KEYS: Final = {
    fmt: tuple(key.name for key in KEYS if key.section == "sources.options" and fmt in key.formats)
    for fmt in FORMATS
}
#: Where the keys of a source, a metric and an outcome go: per section, each mapping of an entry
#: (by its key, () for the entry itself) and its keys. A key unknown where it is written but
#: valid at another level is pointed there: "`gaps` belongs under `date:`".
LAYOUTS: Final[dict[str, dict[tuple[str, ...], tuple[str, ...]]]] = {
    section: {
        tuple(name.split(".")[1:]): allowed(name)
        for name in SECTIONS
        if name.split(".")[0] == section
    }
    for section in ("sources", "metrics", "outcomes")
}
