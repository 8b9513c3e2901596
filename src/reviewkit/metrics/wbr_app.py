"""wbr-app compatibility: the numbers of the open-source Weekly Business Review app, plus flags.

Teams moving from wbr-app (github.com/working-backwards/wbr-app, "WBR App" by Working Backwards)
keep their YAML config and daily CSV. :func:`compute_wbr` returns, per metric, what wbr-app puts on
a 6-12 chart: the trailing six weeks and twelve months for this year and last, and the nine box
totals, computed exactly as wbr-app computes them. Each metric also gets ``flags``: the honesty
problems behind those numbers that wbr-app shows without comment (partial weeks, unequal prior-year
periods, a zero base shown as 0.0% ...). The numbers stay wbr-app's even where a flag applies.
reviewkit's own WBR view of a declared metric is :func:`reviewkit.metrics.compare.wbr`, not this
module.

Sources read (repository working-backwards/wbr-app): docs/user_manual.md, docs/yaml/setup.md,
docs/yaml/metrics.md, docs/yaml/overview.md, docs/API_DOCUMENTATION.md; src/wbr.py (the
``calculate_box_totals``/``recursive_function_calculator`` revision and the later
``_apply_function_to_all_series`` refactor, which compute the same numbers), src/wbr_utility.py,
src/constants.py, src/validator.py, src/data_loader.py, src/controller_utility.py; the tests
src/tests/test_wbr_scenarios.py, test_wbr_functions.py, test_wbr_methods.py and the golden cases
src/unit_test_case/scenario_1 and scenario_3 (config.yaml, testconfig.yml). Where the docs and the
code disagree the code wins; those places are marked (code).

Input
    The CSV has a ``Date`` column and metric columns, read with pandas (``thousands=','``). Rows of
    one date are first combined per metric with the metric's ``aggf`` (sum of the rows, mean of the
    rows...), giving one daily value per date in the file; a blank cell is a missing value. Days may
    be absent altogether ("It is perfectly ok to skip days").

    ``metrics``: ``column`` + ``aggf``; ``filter: {base_column, query}`` + ``aggf``, where ``query``
    compares a column with a value (``Country == 'US'``; ==, !=, >, <, >=, <=; reviewkit also takes
    and/or) and rows that do not match are missing, so with ``sum`` a day without a matching row
    makes its week missing; or ``function: {sum|difference|product|divide: [- metric: {name: M}]}``
    over other metrics, "aggregated first" and then combined, so divide is the ratio of the totals.
    ``sum`` takes any number of operands, the others two. ``aggf`` is sum, mean, min, max or last
    (code: also first). ``metric_comparison_method: bps`` compares by difference x 10,000 instead of
    percent change. Differences: the docs' filter example spells ``baseColumn``, the code reads
    ``base_column``; the docs list ``%`` as a comparison method, the validator rejects it (reviewkit
    takes it as the default it names); function metrics are evaluated in file order (code), so a
    function metric named as an operand must be defined above its user (inline ``function``
    operands are fine).

    ``setup.week_ending`` is DD-MON-YYYY (25-SEP-2021) and required; the report API's
    ``week_ending`` parameter overrides it, as ``--week-ending`` does here. Without either,
    reviewkit takes the latest date in the data and flags it. ``fiscal_year_end_month`` is
    JAN..DEC, default DEC (code: upper case only; pandas rejects 'Jun').

Aggregating a period's daily values
    ``sum`` is ``sum(skipna=False)``: one missing daily value makes the period missing, while absent
    days are simply not there, so a week with six rows is a six-day total. A week or month between
    the first and last dates of the file without any row sums to 0. mean, min, max, first and last
    skip missing values; a period without values is missing. (The code comment on ``build_agg``
    says "a week with missing days produces NaN"; that holds for blank cells only.)

Six weeks (``create_trailing_six_weeks``)
    Weeks end on the weekday of the week ending; the window is the 42 days ending with it. wbr-app
    bins the rows from the first to the last date present in the window and pads missing weeks
    *before* them, so when the data end before the week ending its six weeks shift earlier
    (flagged). Prior year: the same for the week ending minus 364 days (same weekday).

Twelve months (``create_trailing_twelve_months``)
    The twelve calendar months ending with the last full month: the week ending's own month if it
    is the month's last day, else the month before. The month in progress is not among them
    (wbr-app adds it only on fiscal-year axes; flagged). Binning and padding as for weeks. Prior
    year: the same rule applied to the week ending minus one calendar year (29 Feb -> 28 Feb), so
    when exactly one of the two dates is a month end (week ending 28-FEB-2025: 28-Feb-2024 is not;
    28-FEB-2024: 28-Feb-2023 is) the prior-year months are one month off (flagged).

Box totals (``calculate_box_totals``): last week, WoW, YoY, MTD, YoY, QTD, YoY, YTD, YoY
    Last week is the sixth current-year week; WoW compares it with the fifth, YoY with the sixth
    prior-year week. MTD, QTD and YTD run from the start of the month, fiscal quarter (quarters end
    in the fiscal year end month and every third month from it) and fiscal year to the week ending;
    their prior-year values from the same starts to the week ending minus one calendar year. A
    change is (current / base - 1) x 100, or (current - base) x 10,000 for bps.

    Column and filter metrics: every 0 is first taken as missing, then every missing box value
    (total or change) is shown as 0, so a zero or missing base gives 0.0, never null. Function
    metrics: the totals apply the function to the operands' box values (x / 0 is null); the changes
    apply it to the operands' period values, divide and product comparing f(current) with f(base),
    sum and difference counting a missing operand as 0 and a zero base giving null. A ``sum``
    metric's own period values, used when it is an operand of another function, are (code) the sum
    of every metric defined before it rather than of its operands (flagged where it matters). In
    the weekly and monthly series a ``sum`` adds the operands present (none present: 0); the other
    functions propagate missing values, and division by zero is null.

Deliberate differences
    With a filter metric and a CSV not in date order, wbr-app pairs the filtered values with the
    wrong dates (it re-attaches a date-sorted list by the original row labels); reviewkit uses the
    right dates and flags the metric. Rows of one date keep their file order for ``first`` and
    ``last`` (wbr-app's unstable sort may not). Dates with a time of day are refused (wbr-app
    compares them with midnight). A filter without ``query`` is refused: wbr-app then aggregates
    the whole base column, so a misspelt ``query`` would silently drop the filter. wbr-app itself
    fails for a December week ending when the fiscal year ends in another month
    (``date(year, 13, 1)``) and without ``setup.week_number``; reviewkit computes both.

Keys wbr-app does not read
    wbr-app looks keys up by name and never lists a mapping's keys (validator.py checks only
    ``setup.week_ending``, each metric's ``aggf`` with ``column`` or ``filter``, and
    ``metric_comparison_method``), so a key it does not read changes nothing: a deck setting such
    as ``graph_prior_year_flag`` put under a metric, the ``comment`` its own YAML generator
    (controller_utility.generate_custom_yaml) writes under every metric, a misspelt key. reviewkit
    ignores such keys too, at the top level, in ``setup``, in a metric, its ``filter`` and its
    function operands, and reports each in ``WbrConfig.warnings`` (with a did-you-mean hint for a
    misspelling). Under ``function`` wbr-app takes the first key for the function and ignores the
    others; a ``function`` metric's ``aggf`` is ignored (code: ``build_agg``); a ``metric`` key is
    ignored beside ``column`` and fails wbr-app without it (``create_dynamic_data_frame`` reads it
    as a column metric). Where wbr-app fails reviewkit refuses the config: a metric without
    ``aggf`` (a misspelt ``aggf`` is also listed as a warning, as the likely cause), a ``metric``
    key without ``column``, a first key under ``function`` that is no function. ``deck`` and
    ``data_sources`` are not read.

Annotations
    ``annotations:`` lists CSV files of business events (columns ``Date``, ``MetricName``,
    ``EventDescription``; a path relative to the config), which wbr-app shows as "Noteworthy
    Events" under a metric's charts. reviewkit reads them (never from a URL: it reads nothing
    over the network; download the file and list it) and gives each metric the events of its
    charted span, its first trailing month to the week ending; a bad date, an unknown metric or
    a missing column is refused with the file and line.
"""

from __future__ import annotations

import calendar
import datetime as dt
import operator
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from reviewkit.base.errors import ConfigError, DataError, Problem, shown_path, suggest
from reviewkit.base.yamlfile import Checker, KeyPath, Located, kind, load_yaml

__all__ = [
    "AGGFS",
    "FUNCTIONS",
    "Clause",
    "RowFilter",
    "WbrConfig",
    "WbrMetric",
    "compute_wbr",
    "load_wbr_config",
    "parse_filter_query",
    "parse_week_ending",
    "read_wbr_csv",
]

Floats = npt.NDArray[np.float64]
Days = npt.NDArray[np.datetime64]

#: Keys wbr-app reads; reviewkit uses ``setup`` and ``metrics`` and accepts the rest unread. Other
#: keys wbr-app ignores, so reviewkit ignores them too, with a warning.
TOP_KEYS: Final = ("setup", "data_sources", "csv_files", "annotations", "metrics", "deck")
SETUP_KEYS: Final = (
    "week_ending",
    "week_number",
    "title",
    "fiscal_year_end_month",
    "block_starting_number",
    "tooltip",
    "db_config_url",
    "x_axis_monthly_display",
)
#: ``metric`` is read only without ``column``, where it makes wbr-app fail.
METRIC_KEYS: Final = ("column", "aggf", "filter", "function", "metric_comparison_method", "metric")
#: Settings of a metric in a deck block; written under ``metrics`` they are the likely mix-up.
DECK_METRIC_KEYS: Final = ("line_style", "graph_prior_year_flag", "legend_name")
FILTER_KEYS: Final = ("base_column", "query")
OPERAND_KEYS: Final = ("name", "function")
AGGFS: Final = ("sum", "mean", "min", "max", "first", "last")
FUNCTIONS: Final = ("sum", "difference", "product", "divide")
COMPARISON_METHODS: Final = ("%", "bps")
MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DATE_COLUMN: Final = "Date"
#: The columns of an ``annotations:`` file, as wbr-app reads them.
ANNOTATION_COLUMNS: Final = ("Date", "MetricName", "EventDescription")
WEEK_ENDING_RE: Final = re.compile(r"^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4})\s*$")
WEEKS: Final = 6
MONTHS_SHOWN: Final = 12
PY_WEEK_OFFSET: Final = dt.timedelta(days=364)
PCT: Final = 100.0
BPS: Final = 10_000.0
#: wbr-app's period summary rows (constants.py YOY_IDX_*): CY week 6, CY week 5, PY week 6, PY
#: week 5, then CY and PY MTD, QTD and YTD. Each box change compares a (current, base) pair of rows.
COMPARED: Final = ((0, 1), (0, 2), (4, 5), (6, 7), (8, 9))
CHANGE_ROWS: Final = (1, 2, 4, 6, 8)
CHANGE_LABELS: Final = ("WoW", "last week YoY", "MTD YoY", "QTD YoY", "YTD YoY")
#: (box row, summary row, label) of the four totals.
TOTAL_ROWS: Final = ((0, 0, "last week"), (3, 4, "MTD"), (5, 6, "QTD"), (7, 8, "YTD"))
MAX_LISTED_ROWS: Final = 5
_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<name>`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)
      | (?P<text>'[^']*'|"[^"]*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<op>==|!=|>=|<=|>|<)
      | (?P<join>&|\|)
    )""",
    re.VERBOSE,
)
_QUERY_HELP: Final = (
    "wbr-app filters compare a column with a value, e.g. Country == 'US' "
    "(==, !=, >, <, >=, <=), joined by and/or"
)


# -- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Clause:
    """One comparison of a filter query: ``column op value``."""

    column: str
    op: str
    value: str | float | bool


@dataclass(frozen=True)
class RowFilter:
    """A filter query: rows match when any group matches all its clauses (``or`` of ``and``)."""

    query: str
    any_of: tuple[tuple[Clause, ...], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.column for group in self.any_of for c in group))


@dataclass(frozen=True)
class WbrMetric:
    """A metric of a wbr-app config: a column or filter with ``aggf``, or a function of others."""

    name: str
    line: int
    aggf: str | None = None
    column: str | None = None
    column_line: int | None = None
    row_filter: RowFilter | None = None
    query_line: int | None = None
    function: str | None = None
    operands: tuple[str, ...] = ()
    bps: bool = False
    #: False for a function metric defined inline as another function's operand (not reported).
    listed: bool = True


@dataclass(frozen=True)
class WbrAnnotation:
    """A business event from an ``annotations:`` file: its day, the metric it is shown under
    and what happened."""

    day: dt.date
    metric: str
    description: str


@dataclass(frozen=True)
class WbrConfig:
    """A validated wbr-app config; ``metrics`` in evaluation order (inline operands first)."""

    path: str
    metrics: tuple[WbrMetric, ...]
    week_ending: dt.date | None = None
    fiscal_year_end_month: int = 12
    #: One warning per key wbr-app ignores (so reviewkit ignores it too), in file order.
    warnings: tuple[Problem, ...] = ()
    #: The events of the ``annotations:`` files, by day.
    annotations: tuple[WbrAnnotation, ...] = ()


def parse_week_ending(text: str, where: str) -> dt.date:
    """Read a DD-MON-YYYY date (wbr-app's ``%d-%b-%Y``); ``where`` names its origin in errors."""
    day = _parse_day(text)
    if day is None:
        raise ConfigError(f"{where}: {text!r} is not a date like 25-SEP-2021 (DD-MON-YYYY)")
    return day


def _parse_day(text: str) -> dt.date | None:
    match = WEEK_ENDING_RE.match(text)
    if match is None or match.group(2).upper() not in MONTHS:
        return None
    try:
        month = MONTHS.index(match.group(2).upper()) + 1
        return dt.date(int(match.group(3)), month, int(match.group(1)))
    except ValueError:
        return None


def parse_filter_query(query: str) -> RowFilter:
    """Parse a wbr-app filter query without evaluating it; raise ValueError saying what is wrong."""
    tokens = _tokenize(query)
    groups: list[list[Clause]] = [[]]
    i = 0
    while True:
        if len(tokens) < i + 3:
            raise ValueError("expected a comparison like Country == 'US'")
        groups[-1].append(_clause(tokens[i : i + 3]))
        i += 3
        if i == len(tokens):
            return RowFilter(query, tuple(tuple(g) for g in groups))
        kind, text = tokens[i]
        joiner = text.lower() if kind == "name" else text
        if joiner in ("and", "&"):
            pass
        elif joiner in ("or", "|"):
            groups.append([])
        else:
            raise ValueError(f"expected 'and' or 'or' before {text!r}")
        i += 1


def _tokenize(query: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while query[pos:].strip():
        match = _TOKEN.match(query, pos)
        if match is None or match.lastgroup is None:
            raise ValueError(f"cannot read {query[pos:].strip()!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


def _clause(tokens: Sequence[tuple[str, str]]) -> Clause:
    (kind, column), (op_kind, op), (value_kind, raw) = tokens
    if kind != "name" or column.lower() in ("and", "or", "true", "false"):
        raise ValueError(f"expected a column name, got {column!r}")
    if op_kind != "op":
        raise ValueError(f"expected ==, !=, >, <, >= or <= after {column!r}, got {op!r}")
    value: str | float | bool
    if value_kind == "text":
        value = raw[1:-1]
    elif value_kind == "number":
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
    elif value_kind == "name" and raw in ("True", "False"):
        value = raw == "True"
    else:
        raise ValueError(f"expected a quoted text or a number after {op!r}, got {raw!r}")
    return Clause(column.strip("`"), op, value)


def load_wbr_config(path: Path | str) -> WbrConfig:
    """Read and validate a wbr-app YAML config, raising :class:`ConfigError` with every problem."""
    path = Path(path)
    shown = shown_path(path)
    if not path.is_file():
        raise ConfigError(f"{shown}: no such file; pass the wbr-app YAML config")
    try:
        located = load_yaml(path, shown)
    except ConfigError as exc:
        if not exc.problems:
            raise
        raise ConfigError.from_problems(f"{shown} cannot be parsed:", exc.problems) from None
    reader = _Reader(located)
    config = reader.config()
    if reader.problems or config is None:
        # The ignored keys are listed too: a misspelt required key is both ignored and missing.
        warned = f" and {len(reader.warnings)} warning(s)" if reader.warnings else ""
        raise ConfigError.from_problems(
            f"{shown} has {len(reader.problems)} problem(s){warned}:",
            sorted([*reader.problems, *reader.warnings], key=_position),
        )
    return config


def _position(problem: Problem) -> tuple[int, int]:
    return (problem.line or 0, problem.col or 0)


class _Reader(Checker):
    """Walks the YAML, building a :class:`WbrConfig` and collecting located problems; a key
    wbr-app does not read is a warning, not an error."""

    def __init__(self, located: Located) -> None:
        super().__init__(located)
        self.warnings: list[Problem] = []
        self.metrics: list[WbrMetric] = []
        #: Every metric name written, valid or not (so one bad metric is reported once).
        self.declared: set[str] = set()
        #: (user, operand name, key path of the operand) for every named operand.
        self.references: list[tuple[str, str, KeyPath]] = []

    def ignore(self, keypath: KeyPath, why: str) -> None:
        """Warn about a key wbr-app ignores; ``why`` is a hint in parentheses, or nothing."""
        line, col = self.located.where(keypath)
        dotted = ".".join(str(k) for k in keypath)
        message = f"wbr-app ignores this key{why}"
        self.warnings.append(Problem(self.located.path, message, line, col, dotted, "warning"))

    def unknown_keys(self, found: dict[Any, Any], keypath: KeyPath, allowed: Sequence[str]) -> None:
        # A misspelling is of a key not written (a 'comment' beside 'column' is no typo of it).
        absent = [k for k in allowed if k not in found]
        for key in found:
            if key in DECK_METRIC_KEYS:
                self.ignore((*keypath, key), " (it reads it only under a deck block's metrics)")
            elif key not in allowed:
                self.ignore((*keypath, key), suggest(str(key), absent))

    def config(self) -> WbrConfig | None:
        top = self.mapping(self.located.data, (), TOP_KEYS, ("setup", "metrics"))
        if top is None:
            return None
        week_ending, fiscal_end = None, 12
        setup = self.mapping(top.get("setup", {}), ("setup",), SETUP_KEYS, ())
        if setup is not None:
            week_ending = self.week_ending(setup)
            fiscal_end = self.fiscal_end(setup)
        metrics = self.mapping(top.get("metrics", {}), ("metrics",), None, ())
        if metrics is not None:
            if not metrics and "metrics" in top:
                self.error(("metrics",), "no metrics defined; wbr-app needs at least one")
            for name, spec in metrics.items():
                self.metric(name, spec)
            self.check_references()
        notes = self.annotations(top["annotations"]) if "annotations" in top else ()
        ignored = tuple(sorted(self.warnings, key=_position))
        return WbrConfig(
            self.located.path, tuple(self.metrics), week_ending, fiscal_end, ignored, notes
        )

    def annotations(self, raw: Any) -> tuple[WbrAnnotation, ...]:
        """``annotations:``: a list of CSV files (relative to the config) of Date, MetricName,
        EventDescription; every row checked, problems named by file and line."""
        keypath: KeyPath = ("annotations",)
        files = [raw] if isinstance(raw, str) else raw
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            self.error(keypath, f"expected a list of CSV files, got {kind(raw)}")
            return ()
        found: list[WbrAnnotation] = []
        for i, name in enumerate(files):
            if re.match(r"^[a-z][a-z0-9+.-]*://", name, re.IGNORECASE):
                self.error(
                    (*keypath, i),
                    f"'{name}' is a URL; reviewkit reads nothing over the network: download "
                    "the file and list its path",
                )
                continue
            found += self.annotation_file(Path(self.located.path).parent / name, (*keypath, i))
        return tuple(sorted(found, key=lambda a: (a.day, a.metric)))

    def annotation_file(self, path: Path, keypath: KeyPath) -> list[WbrAnnotation]:
        shown = shown_path(path)
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except FileNotFoundError:
            self.error(keypath, f"{shown}: no such file")
            return []
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            self.error(keypath, f"{shown}: cannot be read as UTF-8 CSV ({exc})")
            return []
        missing = [c for c in ANNOTATION_COLUMNS if c not in frame.columns]
        if missing:
            self.error(
                keypath,
                f"{shown}: no column {', '.join(missing)}; an annotations file has the columns "
                + ", ".join(ANNOTATION_COLUMNS),
            )
            return []
        found = []
        names = sorted(self.declared)
        for row, (day, metric, text) in enumerate(
            zip(*(frame[c] for c in ANNOTATION_COLUMNS), strict=True)
        ):
            line = row + 2  # the header is line 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stamp = pd.to_datetime(day, errors="coerce")
            if pd.isna(stamp):
                self.problems.append(
                    Problem(shown, f"Date {day!r} is not a date; write it as the data's", line)
                )
            elif metric not in self.declared:
                self.problems.append(
                    Problem(
                        shown,
                        f"MetricName {metric!r} is not a metric of the config"
                        f"{suggest(metric, names)}",
                        line,
                    )
                )
            else:
                found.append(WbrAnnotation(stamp.date(), metric, text.strip()))
        return found

    def week_ending(self, setup: dict[Any, Any]) -> dt.date | None:
        if "week_ending" not in setup:
            return None
        value = setup["week_ending"]
        day = _parse_day(value) if isinstance(value, str) else None
        if day is None:
            self.error(
                ("setup", "week_ending"),
                f"{value!s} is not a date like 25-SEP-2021 (DD-MON-YYYY); write it as wbr-app does",
            )
        return day

    def fiscal_end(self, setup: dict[Any, Any]) -> int:
        value = setup.get("fiscal_year_end_month", "DEC")
        if value in MONTHS:
            return MONTHS.index(value) + 1
        hint = f" (did you mean '{value.upper()}'?)" if str(value).upper() in MONTHS else ""
        self.error(
            ("setup", "fiscal_year_end_month"),
            f"{value!r} is not one of {', '.join(MONTHS)}{hint}; wbr-app needs the upper-case "
            "3-letter month",
        )
        return 12

    def metric(self, name: Any, spec: Any) -> None:
        keypath: KeyPath = ("metrics", name)
        if not isinstance(name, str):
            self.error(keypath, f"metric name {name!r} must be text")
            return
        self.declared.add(name)
        found = self.mapping(spec, keypath, METRIC_KEYS, ())
        if found is None:
            return
        method = found.get("metric_comparison_method", "%")
        if method not in COMPARISON_METHODS:
            self.error(
                (*keypath, "metric_comparison_method"),
                f"{method!r} is not one of: bps, % (percent change, the default)",
            )
        bps = method == "bps"
        if "metric" in found:
            if "column" in found:
                self.ignore((*keypath, "metric"), " (it reads the metric's 'column' first)")
            else:
                self.error(
                    (*keypath, "metric"),
                    "wbr-app reads 'metric' as a column metric and fails without 'column'; "
                    "remove it",
                )
        if "function" in found:
            extra = [k for k in ("column", "filter") if k in found]
            if extra:
                self.error(
                    (*keypath, extra[0]),
                    "a function metric takes no column or filter; remove " + ", ".join(extra),
                )
            if "aggf" in found:
                self.ignore((*keypath, "aggf"), " (a function metric is not aggregated)")
            parsed = self.function(found["function"], (*keypath, "function"), name)
            if parsed is not None:
                function, operands = parsed
                line = self.line(keypath)
                self.add(WbrMetric(name, line, function=function, operands=operands, bps=bps))
            return
        self.base_metric(name, found, keypath, bps)

    def base_metric(self, name: str, spec: dict[Any, Any], keypath: KeyPath, bps: bool) -> None:
        aggf = spec.get("aggf")
        if aggf is None:
            self.error(keypath, "missing required key 'aggf' (or define a function)")
        elif aggf not in AGGFS:
            self.error(
                (*keypath, "aggf"),
                f"{aggf!r} is not one of: {', '.join(AGGFS)}{suggest(str(aggf), AGGFS)}",
            )
            aggf = None
        if ("column" in spec) == ("filter" in spec):
            self.error(keypath, "needs exactly one of 'column', 'filter' or 'function'")
            return
        row_filter, query_line = None, None
        if "column" in spec:
            column, column_line = spec["column"], self.line((*keypath, "column"))
            if not isinstance(column, str) or not column:
                self.error((*keypath, "column"), f"expected a column name, got {kind(column)}")
                return
        else:
            parsed = self.row_filter(spec["filter"], (*keypath, "filter"))
            if parsed is None:
                return
            column, row_filter = parsed
            column_line = self.line((*keypath, "filter", "base_column"))
            query_line = self.line((*keypath, "filter", "query"))
        if aggf is not None:
            line = self.line(keypath)
            self.add(
                WbrMetric(name, line, aggf, column, column_line, row_filter, query_line, bps=bps)
            )

    def row_filter(self, value: Any, keypath: KeyPath) -> tuple[str, RowFilter] | None:
        found = self.mapping(value, keypath, FILTER_KEYS, FILTER_KEYS)
        if found is None or not all(k in found for k in FILTER_KEYS):
            return None
        column, query = found["base_column"], found["query"]
        if not isinstance(column, str) or not column:
            self.error((*keypath, "base_column"), f"expected a column name, got {kind(column)}")
            return None
        if not isinstance(query, str):
            self.error((*keypath, "query"), f"expected a query text, got {kind(query)}")
            return None
        try:
            return column, parse_filter_query(query)
        except ValueError as exc:
            self.error((*keypath, "query"), f"cannot read {query!r}: {exc}; {_QUERY_HELP}")
            return None

    def function(
        self, value: Any, keypath: KeyPath, user: str
    ) -> tuple[str, tuple[str, ...]] | None:
        found = self.mapping(value, keypath, None, ())
        if found is None:
            return None
        if not found:
            self.error(keypath, f"expected one of: {', '.join(FUNCTIONS)}")
            return None
        # wbr-app takes the first key for the function and never looks at the others.
        function, items = next(iter(found.items()))
        if function not in FUNCTIONS:
            self.error(
                (*keypath, function),
                f"{function!r} is not one of: {', '.join(FUNCTIONS)}"
                f"{suggest(str(function), FUNCTIONS)}; wbr-app takes the first key here for the "
                "function",
            )
            return None
        for key in list(found)[1:]:
            self.ignore((*keypath, key), f" (it reads only the first key here, {function!r})")
        if not isinstance(items, list) or not items:
            self.error((*keypath, function), "expected a list of '- metric: {name: ...}' operands")
            return None
        if function != "sum" and len(items) != 2:
            self.error(
                (*keypath, function),
                f"{function} takes exactly two operands, got {len(items)} (wbr-app ignores any "
                "beyond the second)",
            )
            return None
        names: list[str] = []
        for i, item in enumerate(items):
            item_path: KeyPath = (*keypath, function, i)
            wrapper = self.mapping(item, item_path, None, ("metric",))
            if wrapper is None or "metric" not in wrapper:
                continue
            # Only beside 'metric' are the other keys ignored: without it wbr-app reads the item
            # as a 'column' operand.
            self.unknown_keys(wrapper, item_path, ("metric",))
            ref_path: KeyPath = (*item_path, "metric")
            ref = self.mapping(wrapper["metric"], ref_path, OPERAND_KEYS, ("name",))
            if ref is None or "name" not in ref:
                continue
            name = ref["name"]
            if not isinstance(name, str) or not name:
                self.error((*ref_path, "name"), f"expected a metric name, got {kind(name)}")
                continue
            names.append(name)
            if "function" in ref:
                self.declared.add(name)
                inline = self.function(ref["function"], (*ref_path, "function"), name)
                if inline is not None:
                    line = self.line(ref_path)
                    function_name, operands = inline
                    self.add(
                        WbrMetric(
                            name, line, function=function_name, operands=operands, listed=False
                        )
                    )
            else:
                self.references.append((user, name, (*ref_path, "name")))
        return (function, tuple(names)) if len(names) == len(items) else None

    def add(self, metric: WbrMetric) -> None:
        if any(m.name == metric.name for m in self.metrics):
            self.problems.append(
                Problem(self.located.path, f"metric '{metric.name}' is defined twice", metric.line)
            )
            return
        self.metrics.append(metric)

    def check_references(self) -> None:
        position = {m.name: i for i, m in enumerate(self.metrics)}
        for user, name, keypath in self.references:
            if name not in self.declared:
                self.error(
                    keypath,
                    f"unknown metric '{name}'{suggest(name, sorted(self.declared))}; "
                    "define it in the metrics section",
                )
            elif (
                user in position
                and name in position
                and self.metrics[position[name]].function is not None
                and position[name] >= position[user]
            ):
                self.error(
                    keypath,
                    f"function metric '{name}' must be defined above '{user}' (wbr-app "
                    "evaluates function metrics in file order)",
                )


# -- data ------------------------------------------------------------------------------------
def read_wbr_csv(path: Path | str) -> pd.DataFrame:
    """Read a daily CSV as wbr-app does (pandas, ``thousands=','``); values are checked later."""
    path = Path(path)
    shown = shown_path(path)
    try:
        frame = pd.read_csv(path, thousands=",", encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{shown}: no such file; pass the daily CSV with --data") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{shown}: the file is empty; wbr-app needs a header row") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{shown}: cannot be read as CSV: {exc}") from None
    frame.attrs["source"] = shown
    return frame


@dataclass(frozen=True)
class _Table:
    """The daily values of every column and filter metric, one per distinct date of the data."""

    dates: Days
    daily: dict[str, Floats]
    in_date_order: bool


def _table(frame: pd.DataFrame, config: WbrConfig) -> _Table:
    shown = str(frame.attrs.get("source", "data"))
    from_file = "source" in frame.attrs
    frame = frame.reset_index(drop=True)
    columns = [str(c) for c in frame.columns]
    if DATE_COLUMN not in columns:
        raise DataError(
            f"{shown}: no '{DATE_COLUMN}' column; wbr-app needs the day in a column named Date "
            f"(the columns are: {', '.join(columns)})"
        )
    if frame.empty:
        raise DataError(f"{shown}: no rows of data")
    base = [m for m in config.metrics if m.function is None]
    _check_columns(config, base, columns, shown)

    def where(row: int) -> tuple[str, int | None, str]:
        return (shown, row + 2, "") if from_file else (shown, None, f"row {row}: ")

    problems: list[Problem] = []
    dates = _dates(frame[DATE_COLUMN], where, problems)
    numbers: dict[str, Any] = {}
    for column in dict.fromkeys(str(m.column) for m in base):
        numbers[column] = _numbers(frame[column], column, where, problems)
    if problems:
        raise DataError.from_problems(f"{shown} has {len(problems)} unreadable value(s):", problems)
    in_order = bool(dates.is_monotonic_increasing)
    order = np.argsort(dates.to_numpy(), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    dates = dates.iloc[order].reset_index(drop=True)
    days = pd.DatetimeIndex(dates.unique())
    daily: dict[str, Floats] = {}
    for metric in base:
        values = numbers[str(metric.column)].iloc[order].reset_index(drop=True)
        if metric.row_filter is not None:
            values = values.where(_matches(frame, metric, config.path))
        grouped = values.groupby(dates, sort=True)
        if metric.aggf == "sum":
            per_day = grouped.sum(min_count=1)
        else:
            per_day = getattr(grouped, str(metric.aggf))()
        daily[metric.name] = per_day.reindex(days).to_numpy(dtype=np.float64)
    return _Table(days.to_numpy().astype("datetime64[D]"), daily, in_order)


def _check_columns(
    config: WbrConfig, base: Sequence[WbrMetric], columns: Sequence[str], shown: str
) -> None:
    listed = ", ".join(columns)
    problems: list[Problem] = []
    for metric in base:
        key = "filter.base_column" if metric.row_filter else "column"
        if metric.column not in columns:
            problems.append(
                Problem(
                    config.path,
                    f"column '{metric.column}' is not in {shown}; its columns are: {listed}",
                    metric.column_line,
                    key=f"metrics.{metric.name}.{key}",
                )
            )
        usable = [c for c in columns if c != DATE_COLUMN]
        for column in metric.row_filter.columns if metric.row_filter else ():
            if column not in usable:
                problems.append(
                    Problem(
                        config.path,
                        f"the query uses column '{column}', which is not among the filterable "
                        f"columns of {shown}: {', '.join(usable)}",
                        metric.query_line,
                        key=f"metrics.{metric.name}.filter.query",
                    )
                )
    if problems:
        raise DataError.from_problems(
            f"{shown} lacks {len(problems)} column(s) that {config.path} uses:", problems
        )


def _dates(
    raw: pd.Series, where: Callable[[int], tuple[str, int | None, str]], problems: list[Problem]
) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(raw, errors="coerce")
    for row in np.flatnonzero(dates.isna().to_numpy())[:MAX_LISTED_ROWS]:
        path, line, prefix = where(int(row))
        shown = "an empty Date" if pd.isna(raw.iloc[row]) else f"Date {raw.iloc[row]!r}"
        problems.append(
            Problem(path, f"{prefix}{shown} is not a date like the file's others", line)
        )
    timed = dates.notna() & (dates != dates.dt.normalize())
    for row in np.flatnonzero(timed.to_numpy())[:MAX_LISTED_ROWS]:
        path, line, prefix = where(int(row))
        problems.append(
            Problem(path, f"{prefix}Date {raw.iloc[row]!r} has a time of day; give days", line)
        )
    return dates.dt.normalize()


def _numbers(
    raw: pd.Series,
    column: str,
    where: Callable[[int], tuple[str, int | None, str]],
    problems: list[Problem],
) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw) or pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64")
    numbers = pd.to_numeric(raw, errors="coerce")
    for row in np.flatnonzero((numbers.isna() & raw.notna()).to_numpy())[:MAX_LISTED_ROWS]:
        path, line, prefix = where(int(row))
        problems.append(
            Problem(path, f"{prefix}column '{column}': {raw.iloc[row]!r} is not a number", line)
        )
    return numbers.astype("float64")


def _matches(frame: pd.DataFrame, metric: WbrMetric, config_path: str) -> pd.Series:
    assert metric.row_filter is not None
    matched = pd.Series(False, index=frame.index)
    for group in metric.row_filter.any_of:
        part: pd.Series | None = None
        for clause in group:
            try:
                test = _OPS[clause.op](frame[clause.column], clause.value)
            except TypeError:
                raise ConfigError(
                    f"{config_path}:{metric.query_line}: metrics.{metric.name}.filter.query: "
                    f"cannot compare column '{clause.column}' with {clause.value!r} using "
                    f"{clause.op}; compare text with quoted text and numbers with numbers"
                ) from None
            part = test if part is None else part & test
        matched = matched | part
    return matched.fillna(False).astype(bool)


# -- calendar --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Bin:
    """A period wbr-app aggregates; ``has_rows`` False marks its padding (always missing)."""

    start: dt.date
    end: dt.date
    has_rows: bool

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def short(self) -> str:
        return str(self.end) if self.days == 7 else f"{self.start:%Y-%m}"

    @property
    def name(self) -> str:
        return f"week ending {self.end}" if self.days == 7 else self.short


@dataclass(frozen=True)
class _Calendar:
    """Every period of one report, positioned as wbr-app positions them."""

    week_ending: dt.date
    py_day: dt.date
    cy_weeks: tuple[_Bin, ...]
    py_weeks: tuple[_Bin, ...]
    cy_months: tuple[_Bin, ...]
    py_months: tuple[_Bin, ...]
    #: (CY, PY) month-, quarter- and year-to-date.
    to_date: tuple[tuple[_Bin, _Bin], ...]

    @property
    def summary(self) -> tuple[_Bin, ...]:
        """The ten period-summary periods, in wbr-app's row order (see COMPARED)."""
        (mtd, qtd, ytd) = self.to_date
        weeks = (self.cy_weeks[-1], self.cy_weeks[-2], self.py_weeks[-1], self.py_weeks[-2])
        return (*weeks, *mtd, *qtd, *ytd)


def _span(dates: Days, start: dt.date, end: dt.date) -> slice:
    low = int(np.searchsorted(dates, np.datetime64(start, "D"), "left"))
    return slice(low, int(np.searchsorted(dates, np.datetime64(end, "D"), "right")))


def _day(value: np.datetime64) -> dt.date:
    day: dt.date = value.astype("datetime64[D]").item()
    return day


def _is_month_end(day: dt.date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _year_earlier(day: dt.date) -> dt.date:
    """The same date a calendar year earlier, 29 Feb becoming 28 Feb (dateutil's relativedelta)."""
    if day.month == 2 and day.day == 29:
        return dt.date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_bin(index: int, has_rows: bool) -> _Bin:
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return _Bin(dt.date(year, month + 1, 1), dt.date(year, month + 1, last), has_rows)


def _week_bins(dates: Days, end: dt.date) -> tuple[_Bin, ...]:
    """``create_trailing_six_weeks``: weeks from the first to the last date with rows, padded
    with missing weeks before them up to six."""
    week = dt.timedelta(days=7)
    inside = dates[_span(dates, end - dt.timedelta(days=7 * WEEKS - 1), end)]
    if inside.size == 0:
        ends = [end - week * k for k in range(WEEKS - 1, -1, -1)]
        return tuple(_Bin(e - dt.timedelta(days=6), e, False) for e in ends)

    def week_end(day: dt.date) -> dt.date:
        return day + dt.timedelta(days=(end.weekday() - day.weekday()) % 7)

    first, last = week_end(_day(inside[0])), week_end(_day(inside[-1]))
    count = (last - first).days // 7 + 1
    padding = [first - week * k for k in range(WEEKS - count, 0, -1)]
    return tuple(_Bin(e - dt.timedelta(days=6), e, False) for e in padding) + tuple(
        _Bin(first + week * k - dt.timedelta(days=6), first + week * k, True) for k in range(count)
    )


def _month_bins(dates: Days, reference: dt.date) -> tuple[_Bin, ...]:
    """``create_trailing_twelve_months``: the twelve months ending with the last full month of
    ``reference``, data months padded with missing months before them."""
    last_full = _last_full_month(reference)
    first_shown = last_full - MONTHS_SHOWN + 1
    low = max(_month_index(_day(dates[0])), first_shown)
    high = min(_month_index(_day(dates[-1])), last_full)
    if low > high:
        return tuple(_month_bin(i, False) for i in range(first_shown, last_full + 1))
    padding = MONTHS_SHOWN - (high - low + 1)
    return tuple(_month_bin(i, False) for i in range(low - padding, low)) + tuple(
        _month_bin(i, True) for i in range(low, high + 1)
    )


def _quarter_start(day: dt.date, fiscal_end: int) -> dt.date:
    """First day of the fiscal quarter (pandas ``to_period('Q-<fiscal end>')``)."""
    start = _month_index(day) - (day.month - fiscal_end - 1) % 3
    return dt.date(start // 12, start % 12 + 1, 1)


def _year_start(day: dt.date, fiscal_end: int) -> dt.date:
    """First day of the fiscal year (pandas ``to_period('Y-<fiscal end>')``)."""
    start = _month_index(day) - (day.month - fiscal_end - 1) % 12
    return dt.date(start // 12, start % 12 + 1, 1)


def _calendar(dates: Days, week_ending: dt.date, fiscal_end: int) -> _Calendar:
    py_day = _year_earlier(week_ending)
    starts: tuple[Callable[[dt.date], dt.date], ...] = (
        lambda d: d.replace(day=1),
        lambda d: _quarter_start(d, fiscal_end),
        lambda d: _year_start(d, fiscal_end),
    )

    def to_date(start: dt.date, end: dt.date) -> _Bin:
        span = _span(dates, start, end)
        return _Bin(start, end, span.stop > span.start)

    return _Calendar(
        week_ending,
        py_day,
        _week_bins(dates, week_ending),
        _week_bins(dates, week_ending - PY_WEEK_OFFSET),
        _month_bins(dates, week_ending),
        _month_bins(dates, py_day),
        tuple((to_date(s(week_ending), week_ending), to_date(s(py_day), py_day)) for s in starts),
    )


# -- numbers ---------------------------------------------------------------------------------
def _aggregate(values: Floats, aggf: str) -> float:
    """One period's value from its daily values, as wbr-app's resample().agg(aggf) gives it."""
    if aggf == "sum":
        return float(np.sum(values))
    known = values[~np.isnan(values)]
    if known.size == 0:
        return float("nan")
    if aggf == "first":
        return float(known[0])
    if aggf == "last":
        return float(known[-1])
    if aggf == "mean":
        return float(np.mean(known))
    return float(np.min(known) if aggf == "min" else np.max(known))


def _combine(function: str, parts: Sequence[Floats]) -> Floats:
    """A function metric from its operands' values, element-wise (missing handled as pandas)."""
    if function == "sum":
        return _sum_present(parts)
    first, second = parts
    if function == "difference":
        result: Floats = first - second
    elif function == "product":
        result = first * second
    else:
        result = first / second
    return result


def _sum_present(parts: Sequence[Floats]) -> Floats:
    """Element-wise sum of the values present, 0 where none is (pandas ``sum(axis=1)``)."""
    total: Floats = np.nansum(np.vstack(parts), axis=0)
    return total


def _change(current: float, base: float, bps: bool) -> float:
    return (current - base) * BPS if bps else (current / base - 1) * PCT


def _nan_if_zero(value: float) -> float:
    return float("nan") if value == 0 else value


def _finite(value: float) -> bool:
    return bool(np.isfinite(value))


def _shown(value: float) -> str:
    if not _finite(value):
        return "null"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:.0f}"
    return f"{value:.6g}"


@dataclass(frozen=True)
class _Result:
    """One metric's series and box totals, as wbr-app holds them before display."""

    cy_weeks: Floats
    py_weeks: Floats
    cy_months: Floats
    py_months: Floats
    box: Floats
    #: The (current, base) values behind each of the five box changes, before wbr-app turns a
    #: zero into missing (column and filter metrics; sum and difference functions).
    changes: tuple[tuple[float, float], ...]
    #: Which days of the table have a value for the metric (all operands, for a function).
    present: npt.NDArray[np.bool_]
    #: Period values before wbr-app turns 0 into missing (column and filter metrics only).
    raw_summary: Floats | None = None


class _Engine:
    """Computes every metric of a config over one table and calendar, in wbr-app's order."""

    def __init__(self, config: WbrConfig, table: _Table, cal: _Calendar, notes: list[str]):
        self.config, self.table, self.cal = config, table, cal
        self.by_name = {m.name: m for m in config.metrics}
        self.notes = notes + _calendar_notes(cal, table.dates)
        self.results: dict[str, _Result] = {}
        #: wbr-app's period_summary columns, in the order it creates them.
        self.summary: dict[str, Floats] = {}
        #: The honest period values of ``sum`` function metrics (what wbr-app should have used).
        self.operand_sums: dict[str, Floats] = {}
        for metric in config.metrics:
            if metric.function is None:
                self.results[metric.name] = self.base(metric)
        for metric in config.metrics:
            if metric.function is not None:
                self.results[metric.name] = self.derived(metric)

    def series(self, bins: Sequence[_Bin], values: Floats, aggf: str) -> Floats:
        return np.array(
            [
                _aggregate(values[_span(self.table.dates, b.start, b.end)], aggf)
                if b.has_rows
                else np.nan
                for b in bins
            ],
            dtype=np.float64,
        )

    def base(self, metric: WbrMetric) -> _Result:
        values, aggf, cal = self.table.daily[metric.name], str(metric.aggf), self.cal
        raw = self.series(cal.summary, values, aggf)
        summary = np.where(raw == 0, np.nan, raw)
        self.summary[metric.name] = summary
        changes = [_change(summary[c], summary[b], metric.bps) for c, b in COMPARED]
        box = np.empty(9)
        box[[row for row, _, _ in TOTAL_ROWS]] = summary[[s for _, s, _ in TOTAL_ROWS]]
        box[list(CHANGE_ROWS)] = changes
        return _Result(
            self.series(cal.cy_weeks, values, aggf),
            self.series(cal.py_weeks, values, aggf),
            self.series(cal.cy_months, values, aggf),
            self.series(cal.py_months, values, aggf),
            np.where(np.isnan(box), 0.0, box),
            tuple((float(raw[c]), float(raw[b])) for c, b in COMPARED),
            ~np.isnan(values),
            raw,
        )

    def derived(self, metric: WbrMetric) -> _Result:
        function = str(metric.function)
        operands = [self.results[name] for name in metric.operands]
        periods = [self.summary[name] for name in metric.operands]
        if function in ("divide", "product"):
            combined = _combine(function, periods)
            self.summary[metric.name] = combined
            pairs = [(float(combined[c]), float(combined[b])) for c, b in COMPARED]
        else:
            if function == "sum":
                self.operand_sums[metric.name] = _sum_present(periods)
                self.summary[metric.name] = _sum_present(list(self.summary.values()))
            else:
                self.summary[metric.name] = periods[0] - periods[1]
            filled = _combine(function, [np.where(np.isnan(p), 0.0, p) for p in periods])
            pairs = [(float(filled[c]), float(filled[b])) for c, b in COMPARED]
        zero_is_missing = function in ("sum", "difference")
        box = _combine(function, [o.box for o in operands])
        box[list(CHANGE_ROWS)] = [
            _change(c, _nan_if_zero(b) if zero_is_missing else b, metric.bps) for c, b in pairs
        ]
        return _Result(
            _combine(function, [o.cy_weeks for o in operands]),
            _combine(function, [o.py_weeks for o in operands]),
            _combine(function, [o.cy_months for o in operands]),
            _combine(function, [o.py_months for o in operands]),
            box,
            tuple(pairs),
            np.logical_and.reduce([o.present for o in operands]),
        )

    def report(self, metric: WbrMetric) -> dict[str, Any]:
        result = self.results[metric.name]
        return {
            "metric": metric.name,
            "cy_6_weeks": _json_numbers(result.cy_weeks),
            "py_6_weeks": _json_numbers(result.py_weeks),
            "cy_monthly": _json_numbers(result.cy_months),
            "py_monthly": _json_numbers(result.py_months),
            "box_totals": _json_numbers(result.box),
            "flags": self.flags(metric, result),
            "annotations": [
                {"date": a.day.isoformat(), "description": a.description}
                for a in self.config.annotations
                if a.metric == metric.name
                and self.cal.cy_months[0].start <= a.day <= self.cal.week_ending
            ],
        }

    # -- flags -------------------------------------------------------------------------------
    def days_with_data(self, present: npt.NDArray[np.bool_], period: _Bin) -> int:
        return int(present[_span(self.table.dates, period.start, period.end)].sum())

    def flags(self, metric: WbrMetric, result: _Result) -> list[str]:
        cal, present = self.cal, result.present
        flags = list(self.notes)
        for label, bins, values in (
            ("CY weeks", cal.cy_weeks, result.cy_weeks),
            ("PY weeks", cal.py_weeks, result.py_weeks),
            ("CY months", cal.cy_months, result.cy_months),
            ("PY months", cal.py_months, result.py_months),
        ):
            flags.extend(self.coverage(label, bins, values, present))
        mtd, qtd, ytd = cal.to_date
        periods = (("last week", (cal.cy_weeks[-1], cal.py_weeks[-1])), ("MTD", mtd))
        for label, (cy, py) in (*periods, ("QTD", qtd), ("YTD", ytd)):
            cy_days, py_days = self.days_with_data(present, cy), self.days_with_data(present, py)
            if cy_days != py_days:
                flags.append(
                    f"{label}: PY {py.start}..{py.end} has {py_days} day(s) of data against "
                    f"{cy_days} in CY {cy.start}..{cy.end}, so its YoY compares unequal periods"
                )
        flags.extend(self.change_flags(metric, result))
        if metric.row_filter is not None and not self.table.in_date_order:
            flags.append(
                "the CSV is not in Date order: wbr-app then attaches this filter metric's values "
                "to the wrong dates (reviewkit uses the right ones); sort the file by Date"
            )
        for name in metric.operands:
            if name in self.operand_sums and not np.array_equal(
                self.operand_sums[name], self.summary[name], equal_nan=True
            ):
                flags.append(
                    f"the box changes use wbr-app's period values of '{name}', which add up "
                    f"every metric defined before it instead of its operands (a wbr-app bug)"
                )
        return flags

    def coverage(
        self, label: str, bins: Sequence[_Bin], values: Floats, present: npt.NDArray[np.bool_]
    ) -> list[str]:
        counted = [
            (b, self.days_with_data(present, b), v) for b, v in zip(bins, values, strict=True)
        ]
        if all(n == b.days for b, n, _ in counted):
            return []
        if all(n == 0 and not _finite(v) for _, n, v in counted):
            return [f"{label}: no data in any of them (wbr-app shows null)"]
        listed: list[str] = []
        empty: list[_Bin] = []  # the current run of periods without data, shown as null
        for b, n, v in counted:
            if n == 0 and not _finite(v):
                empty.append(b)
                continue
            listed.extend(_empty_run(empty))
            empty = []
            if n < b.days:
                listed.append(f"{b.name} has {n}/{b.days} days, wbr-app shows {_shown(v)}")
        listed.extend(_empty_run(empty))
        return [f"{label} with missing days: {'; '.join(listed)}"]

    def change_flags(self, metric: WbrMetric, result: _Result) -> list[str]:
        flags: list[str] = []
        column_metric = result.raw_summary is not None
        zero_is_missing = column_metric or metric.function in ("sum", "difference")
        for row, label, (current, base) in zip(
            CHANGE_ROWS, CHANGE_LABELS, result.changes, strict=True
        ):
            shown = _shown(result.box[row])
            why = ", which wbr-app treats as missing" if zero_is_missing else ""
            if not _finite(base):
                flags.append(f"{label}: no base value; wbr-app shows {shown}")
            elif base == 0 and (zero_is_missing or not metric.bps):
                flags.append(f"{label}: the base value is 0{why}; wbr-app shows {shown}")
            elif not _finite(current):
                flags.append(f"{label}: no current value; wbr-app shows {shown}")
            elif current == 0 and column_metric:
                flags.append(f"{label}: the current value is 0{why}; wbr-app shows {shown}")
        if result.raw_summary is not None:
            for _, summary_row, label in TOTAL_ROWS:
                if not _finite(result.raw_summary[summary_row]):
                    flags.append(f"{label}: no value; wbr-app shows 0")
            return flags
        # Column operands without a value are 0 in wbr-app's box totals, and in the sum and
        # difference changes, which also count a function operand without a value as 0.
        counted: list[tuple[tuple[int, ...], str]] = [
            ((row,), label) for _, row, label in TOTAL_ROWS
        ]
        if metric.function in ("sum", "difference"):
            counted += list(zip(COMPARED, CHANGE_LABELS, strict=True))
        for rows, label in counted:
            missing = [n for n in dict.fromkeys(metric.operands) if self.missing(n, rows)]
            if missing:
                names = ", ".join(f"'{n}'" for n in missing)
                flags.append(f"{label}: no value for {names}, which wbr-app counts as 0")
        return flags

    def missing(self, name: str, rows: tuple[int, ...]) -> bool:
        """Whether metric ``name`` has no period value in any of the period-summary ``rows``."""
        result = self.results[name]
        if result.raw_summary is not None:
            return bool(np.isnan(result.raw_summary[list(rows)]).any())
        if self.by_name[name].function in ("sum", "difference"):
            return False  # computed from operands counted as 0, never missing itself
        return bool(np.isnan(self.summary[name][list(rows)]).any())


def _last_full_month(day: dt.date) -> int:
    """wbr-app's last full month of ``day``: its own month on the last day, else the one before."""
    return _month_index(day) - (0 if _is_month_end(day) else 1)


def _empty_run(run: Sequence[_Bin]) -> list[str]:
    """A run of consecutive periods without data as one flag item (none for an empty run)."""
    if not run:
        return []
    if len(run) == 1:
        return [f"{run[0].name} has no data (null)"]
    return [f"{run[0].name}..{run[-1].short} have no data (null)"]


def _calendar_notes(cal: _Calendar, dates: Days) -> list[str]:
    """Flags about the report's periods, the same for every metric."""
    notes: list[str] = []
    end, last_day = cal.week_ending, _day(dates[-1])
    cy_due, py_due = _last_full_month(end), _last_full_month(cal.py_day)
    if not _is_month_end(end):
        days = calendar.monthrange(end.year, end.month)[1]
        notes.append(
            f"month in progress: {end:%Y-%m} runs only to {end} (MTD covers {end.day} of {days} "
            f"days); the trailing twelve months stop at {_month_bin(cy_due, False).start:%Y-%m}"
        )
    if py_due != cy_due - 12:
        notes.append(
            f"PY months end with {_month_bin(py_due, False).start:%Y-%m}, not "
            f"{_month_bin(cy_due - 12, False).start:%Y-%m}: wbr-app takes the prior year's last "
            f"full month from {cal.py_day}, which is{'' if _is_month_end(cal.py_day) else ' not'} "
            f"a month end while {end} is{'' if _is_month_end(end) else ' not'}"
        )
    for label, weeks, expected in (
        ("CY weeks", cal.cy_weeks, end),
        ("PY weeks", cal.py_weeks, end - PY_WEEK_OFFSET),
    ):
        if weeks[-1].has_rows and weeks[-1].end != expected:
            notes.append(
                f"{label}: the data end on {last_day}, so wbr-app's six weeks end with the week "
                f"ending {weeks[-1].end} instead of {expected}"
            )
    for label, months, due in (
        ("CY months", cal.cy_months, cy_due),
        ("PY months", cal.py_months, py_due),
    ):
        if months[-1].has_rows and _month_index(months[-1].start) != due:
            notes.append(
                f"{label}: the data end on {last_day}, so wbr-app's twelve months end with "
                f"{months[-1].start:%Y-%m} instead of {_month_bin(due, False).start:%Y-%m}"
            )
    return notes


def _json_numbers(values: Floats) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def compute_wbr(
    config: WbrConfig, data: pd.DataFrame | Path | str, week_ending: dt.date | None = None
) -> list[dict[str, Any]]:
    """wbr-app's six weeks, twelve months and box totals for every metric of ``config``, plus flags.

    ``data`` is the daily CSV (a path) or a DataFrame with a ``Date`` column. The week ending is
    ``week_ending``, else ``setup.week_ending``, else the latest date in the data (flagged).
    Returns one dict per metric defined at the top of ``metrics``, in file order."""
    frame = data if isinstance(data, pd.DataFrame) else read_wbr_csv(data)
    table = _table(frame, config)
    notes: list[str] = []
    day = week_ending or config.week_ending
    if day is None:
        day = _day(table.dates[-1])
        notes.append(
            f"no week ending given: used the latest date in the data, {day} (wbr-app requires "
            "setup.week_ending)"
        )
    cal = _calendar(table.dates, day, config.fiscal_year_end_month)
    with np.errstate(divide="ignore", invalid="ignore"):
        engine = _Engine(config, table, cal, notes)
        return [engine.report(m) for m in config.metrics if m.listed]
