"""The corpus of bad inputs: small projects that `reviewkit check` must refuse, each with the
exact lines it must print (``path:line[:col]: [key: ]message``, every one naming what to do).

Every case starts from one good project (:data:`CONFIG` and :data:`TICKETS`: two teams'
daily tickets and CSAT, one outcome) and breaks one thing: an export's bytes, or the config.
``python -m tests.support.bad_inputs DIR`` writes every case out as a project to try by hand.
"""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import TODAY

SOURCE = """\
tickets:
  path: data/tickets.csv
  date: {column: day, format: "%Y-%m-%d"}
  dimensions: [team]
  values: {tickets: integer, csat: number}
"""

REST = """\
metrics:
  tickets: {source: tickets, agg: sum, column: tickets}
  csat: {source: tickets, agg: mean, column: csat, direction: higher}
outcomes:
  - id: happier
    title: Customers are happier
    owner: Ann Lee
    team: support
    kpi: csat
    baseline: {value: 4.0, period: 2026-01}
    target: {value: 4.5, by: 2026-12-31}
store: reviewkit.db
"""

CONFIG = "name: Corpus\nsources:\n" + textwrap.indent(SOURCE, "  ") + REST

TICKETS = b"""\
day,team,tickets,csat
2026-01-05,support,12,4.1
2026-01-05,billing,7,3.9
2026-01-06,support,15,4.3
2026-01-06,billing,6,4.0
2026-01-07,support,11,4.2
2026-01-07,billing,9,3.8
"""


def with_source(source: str) -> str:
    """The good config with the ``tickets`` source declared as ``source`` instead."""
    return CONFIG.replace(textwrap.indent(SOURCE, "  "), textwrap.indent(source, "  "))


def with_option(*lines: str) -> str:
    """The good config with extra lines under ``sources.tickets``."""
    return with_source(SOURCE + "".join(f"{line}\n" for line in lines))


def xlsx(*sheets: tuple[str, list[list[object]]], merge: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if merge:
            sheet.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def parquet(columns: Mapping[str, list[object]]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(dict(columns)), out)
    return out.getvalue()


def late_bad_date() -> bytes:
    """30,000 good rows, then a date DuckDB's 20,480-row type-sniffing sample never sees."""
    lines = [b"day,team,tickets,csat"]
    lines += [b"2026-01-%02d,support,%d,4.0" % (1 + i % 28, i % 50) for i in range(30_000)]
    lines.insert(25_001, b"2026-13-01,support,3,4.0")
    return b"\n".join(lines) + b"\n"


XLSX_SOURCE = SOURCE.replace("data/tickets.csv", "data/tickets.xlsx")
PARQUET_SOURCE = SOURCE.replace("data/tickets.csv", "data/tickets.parquet").replace(
    ', format: "%Y-%m-%d"', ""
)
ROWS: list[list[object]] = [
    ["day", "team", "tickets", "csat"],
    ["2026-01-05", "support", 12, 4.1],
    ["2026-01-06", "billing", 7, 3.9],
]
GOOD_COLUMNS: dict[str, list[object]] = {
    "day": ["2026-01-05", "2026-01-06"],
    "team": ["support", "billing"],
    "tickets": [12, 7],
    "csat": [4.1, 3.9],
}

#: The last line of `reviewkit check` for a source that fails: what it means, where, what to do.
UNREADABLE = "reviewkit.yaml:3: sources.tickets: source 'tickets' cannot be read as declared"
BAD_ROW = (
    "reviewkit.yaml:3: sources.tickets: source 'tickets' has 1 bad row(s); fix them in the "
    "export, or set `on_error: quarantine` under sources.tickets to set them aside (they are "
    "then counted in every output)"
)
FORBIDDEN = "reviewkit.yaml:3: sources.tickets: source 'tickets' has rows its declaration forbids"


@dataclass(frozen=True)
class Case:
    """A broken project: the good one with ``files`` written over it and ``config`` as its
    reviewkit.yaml; ``expected`` is the exact output of ``reviewkit check``."""

    name: str
    expected: tuple[str, ...]
    config: str = CONFIG
    files: Mapping[str, bytes | Callable[[], bytes]] = field(default_factory=dict)

    def write(self, root: Path) -> None:
        files: dict[str, bytes | Callable[[], bytes]] = {"data/tickets.csv": TICKETS}
        files.update(self.files)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content() if callable(content) else content)
        (root / "reviewkit.yaml").write_text(self.config, encoding="utf-8")


def tickets(text: str) -> dict[str, bytes]:
    return {"data/tickets.csv": textwrap.dedent(text).encode()}


CASES: tuple[Case, ...] = (
    # -- CSV exports ----------------------------------------------------------------------------
    Case(
        "wrong_header",
        (
            "data/tickets.csv:1: missing column(s) 'csat' declared for source 'tickets'; the export has: 'day', 'team', 'tickets', 'satisfaction'; rename it in the export, or under sources.tickets",
            UNREADABLE,
        ),
        files=tickets("""\
        day,team,tickets,satisfaction
        2026-01-05,support,12,4.1
        """),
    ),
    Case(
        "duplicated_header",
        (
            "data/tickets.csv:1:5: the header names column 'team' twice (columns 2 and 5); rename one so reviewkit knows which to read",
            UNREADABLE,
        ),
        files=tickets("""\
        day,team,tickets,csat,team
        2026-01-05,support,12,4.1,billing
        """),
    ),
    Case(
        "missing_date_column",
        (
            "data/tickets.csv:1: missing column(s) 'day' declared for source 'tickets'; the export has: 'team', 'tickets', 'csat'; rename it in the export, or under sources.tickets",
            UNREADABLE,
        ),
        files=tickets("""\
        team,tickets,csat
        support,12,4.1
        """),
    ),
    Case(
        "bad_date_after_the_sniffing_sample",
        (
            "data/tickets.csv:25002: column 'day': cannot read '2026-13-01' as a date in format '%Y-%m-%d'; row: 2026-13-01,support,3,4.0",
            BAD_ROW,
        ),
        files={"data/tickets.csv": late_bad_date},
    ),
    Case(
        "date_in_another_format",
        (
            "data/tickets.csv:3: column 'day': cannot read '01/06/2026' as a date in format '%Y-%m-%d'; row: 01/06/2026,billing,7,3.9",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,4.1
        01/06/2026,billing,7,3.9
        """),
    ),
    Case(
        "day_and_month_swapped",
        (
            "data/tickets.csv:3: column 'day': cannot read '13/01/2026' as a date in format '%m/%d/%Y'; row: 13/01/2026,billing,7,3.9",
            "data/tickets.csv: column 'day': the day and month look swapped: values like '13/01/2026' do not fit '%m/%d/%Y' but fit '%d/%m/%Y'; likely fix: set `format: \"%d/%m/%Y\"` under sources.tickets.date (until then, a date whose day is 12 or less is read with its day and month swapped)",
            BAD_ROW,
        ),
        config=with_source(SOURCE.replace("%Y-%m-%d", "%m/%d/%Y")),
        files=tickets("""\
        day,team,tickets,csat
        05/01/2026,support,12,4.1
        13/01/2026,billing,7,3.9
        """),
    ),
    Case(
        "header_repeated_mid_file",
        (
            "data/tickets.csv:4: column 'day': cannot read 'day' as a date in format '%Y-%m-%d'; row: day,team,tickets,csat",
            "data/tickets.csv: 1 row(s) repeat the header line (exports appended to one another?); likely fix: remove them from the export",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,4.1
        2026-01-05,billing,7,3.9
        day,team,tickets,csat
        2026-01-06,support,15,4.3
        """),
    ),
    Case(
        "empty_date",
        (
            "data/tickets.csv:3: column 'day': cannot read (empty) as a date in format '%Y-%m-%d'; row: ,billing,7,3.9",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,4.1
        ,billing,7,3.9
        """),
    ),
    Case(
        "text_in_a_number_column",
        (
            "data/tickets.csv:2: column 'csat': cannot read 'n/a' as a number; row: 2026-01-05,support,12,n/a",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,n/a
        2026-01-06,billing,7,3.9
        """),
    ),
    Case(
        "fraction_in_an_integer_column",
        (
            "data/tickets.csv:2: column 'tickets': cannot read '12.5' as a whole number; row: 2026-01-05,support,12.5,4.1",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12.5,4.1
        """),
    ),
    Case(
        "thousands_separator_undeclared",
        (
            "data/tickets.csv:2: column 'tickets': cannot read '1,234' as a whole number; row: 2026-01-05,support,\"1,234\",4.1",
            "data/tickets.csv: column 'tickets': values like '1,234' use ',' between thousands; likely fix: set `thousands: \",\"` under sources.tickets.options",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,"1,234",4.1
        """),
    ),
    Case(
        "decimal_comma_undeclared",
        (
            "data/tickets.csv:2: column 'csat': cannot read '4,1' as a number; row: 2026-01-05,support,12,\"4,1\"",
            "data/tickets.csv: column 'csat': values like '4,1' use a decimal comma; likely fix: set `decimal: \",\"` under sources.tickets.options",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,"4,1"
        """),
    ),
    Case(
        "invalid_utf8",
        (
            "data/tickets.csv:8: not valid utf-8 text; set options.encoding (latin-1, utf-16) to match the export; row: 2026-01-08,supp\\xff\\xfert,3,4.0",
            BAD_ROW,
        ),
        files={"data/tickets.csv": TICKETS + b"2026-01-08,supp\xff\xfert,3,4.0\n"},
    ),
    Case(
        "latin1_declared_as_utf8",
        (
            "data/tickets.csv:8: not valid utf-8 text; set options.encoding (latin-1, utf-16) to match the export; row: 2026-01-08,Zo\\xeb's team,3,4.0",
            BAD_ROW,
        ),
        files={"data/tickets.csv": TICKETS + "2026-01-08,Zoë's team,3,4.0\n".encode("latin-1")},
    ),
    Case(
        "utf16_declared_as_utf8",
        (
            "data/tickets.csv:1: the header is not valid utf-8 (byte 1); set options.encoding to the export's encoding (utf-8, latin-1 or utf-16)",
            UNREADABLE,
        ),
        files={"data/tickets.csv": TICKETS.decode().encode("utf-16")},
    ),
    Case(
        "semicolons_declared_as_commas",
        (
            "data/tickets.csv:1: missing column(s) 'day', 'team', 'tickets', 'csat' declared for source 'tickets'; the export has: 'day;team;tickets;csat'; the header looks ';'-delimited: set options.delimiter: ';'",
            UNREADABLE,
        ),
        files={"data/tickets.csv": TICKETS.replace(b",", b";")},
    ),
    Case(
        "row_with_an_extra_field",
        (
            "data/tickets.csv:3: expected 4 columns, found 5; row: 2026-01-06,billing,7,3.9,oops",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,4.1
        2026-01-06,billing,7,3.9,oops
        """),
    ),
    Case(
        "row_with_a_missing_field",
        (
            "data/tickets.csv:3: expected 4 columns, found 3; row: 2026-01-06,billing,7",
            BAD_ROW,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,4.1
        2026-01-06,billing,7
        """),
    ),
    Case(
        "unterminated_quote",
        (
            'data/tickets.csv:2: a quoted field opened on line 2 is never closed, so every row after it would be lost; close the quote (a literal " inside a field is written twice)',
            UNREADABLE,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,"support,12,4.1
        2026-01-06,billing,7,3.9
        """),
    ),
    Case(
        "empty_file",
        (
            "data/tickets.csv:1: is empty; expected a header line naming the columns: day, team, tickets, csat",
            UNREADABLE,
        ),
        files={"data/tickets.csv": b""},
    ),
    Case(
        "header_only",
        (
            "data/tickets.csv:2: has a header but no data rows; export it again or remove the file",
            UNREADABLE,
        ),
        files={"data/tickets.csv": b"day,team,tickets,csat\n"},
    ),
    Case(
        "duplicate_rows",
        (
            "data/tickets.csv:4: repeats line 2 with the same day, team (2026-01-05, support); remove the duplicate row from the export, or correct `unique:` under sources.tickets",
            FORBIDDEN,
        ),
        config=with_option("  unique: [day, team]"),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,4.1
        2026-01-05,billing,7,3.9
        2026-01-05,support,12,4.1
        """),
    ),
    Case(
        "future_dates",
        (
            f"data/tickets.csv:3: column 'day': 2062-01-06 is after today ({TODAY}); correct the date in the export, or set `future_dates: allow` under sources.tickets if it plans ahead",
            FORBIDDEN,
        ),
        files=tickets("""\
        day,team,tickets,csat
        2026-01-05,support,12,4.1
        2062-01-06,billing,7,3.9
        """),
    ),
    Case(
        "export_missing",
        (
            "reviewkit.yaml:4: sources.tickets.path: no file matches 'data/ticket.csv' (looked in .); check the path, or run `reviewkit sample` for the sample data",
            "reviewkit.yaml:3: sources.tickets: source 'tickets' has no file",
        ),
        files={},
        config=with_source(SOURCE.replace("tickets.csv", "ticket.csv")),
    ),
    # -- Excel, Parquet, JSON -------------------------------------------------------------------
    Case(
        "xlsx_with_several_sheets",
        (
            "data/tickets.xlsx: has 2 sheets (notes, tickets); say which to read with options.sheet under sources.tickets",
            UNREADABLE,
        ),
        config=with_source(XLSX_SOURCE),
        files={"data/tickets.xlsx": xlsx(("notes", [["read me"]]), ("tickets", ROWS))},
    ),
    Case(
        "xlsx_merged_header_cells",
        (
            "data/tickets.xlsx[tickets]:1:4: column 4 of the header has no name (merged or blank header cell?); give every column a name",
            UNREADABLE,
        ),
        config=with_source(XLSX_SOURCE),
        files={
            "data/tickets.xlsx": xlsx(
                ("tickets", [["day", "team", "tickets", None, "csat"], *ROWS[1:]]), merge="C1:D1"
            )
        },
    ),
    Case(
        "xlsx_text_in_a_number_cell",
        (
            "data/tickets.xlsx[tickets]: row 4: column 'tickets': cannot read 'many' as a whole number",
            BAD_ROW,
        ),
        config=with_source(XLSX_SOURCE),
        files={
            "data/tickets.xlsx": xlsx(("tickets", [*ROWS, ["2026-01-07", "support", "many", 4.0]]))
        },
    ),
    Case(
        "xlsx_that_is_a_csv",
        (
            "data/tickets.xlsx: is not a readable .xlsx workbook (invalid Zip archive: Could not find EOCD); export it again",
            UNREADABLE,
        ),
        config=with_source(XLSX_SOURCE),
        files={"data/tickets.xlsx": TICKETS},
    ),
    Case(
        "parquet_with_the_wrong_schema",
        (
            "data/tickets.parquet: missing column(s) 'csat' declared for source 'tickets'; the export has: 'day', 'team', 'tickets', 'score'; rename it in the export, or under sources.tickets",
            UNREADABLE,
        ),
        config=with_source(PARQUET_SOURCE),
        files={
            "data/tickets.parquet": parquet(
                {k: v for k, v in GOOD_COLUMNS.items() if k != "csat"} | {"score": [4.1, 3.9]}
            )
        },
    ),
    Case(
        "parquet_with_text_for_numbers",
        (
            "data/tickets.parquet: row 2: column 'tickets': cannot read 'seven' as a whole number",
            BAD_ROW,
        ),
        config=with_source(PARQUET_SOURCE),
        files={"data/tickets.parquet": parquet(GOOD_COLUMNS | {"tickets": ["12", "seven"]})},
    ),
    Case(
        "parquet_truncated",
        (
            "data/tickets.parquet: is not a readable Parquet file (Invalid Input Error: No magic bytes found at end of file 'data/tickets.parquet'); export it again (truncated?)",
            UNREADABLE,
        ),
        config=with_source(PARQUET_SOURCE),
        files={"data/tickets.parquet": parquet(GOOD_COLUMNS)[:300]},
    ),
    Case(
        "json_syntax_error",
        (
            "data/tickets.json:2:42: is not valid JSON: Expecting ',' delimiter; fix it or export it again",
            UNREADABLE,
        ),
        config=with_source(SOURCE.replace("tickets.csv", "tickets.json")),
        files={
            "data/tickets.json": b'[{"day": "2026-01-05", "team": "support", "tickets": 12, "csat": 4.1},\n {"day": "2026-01-06", "team": "billing" "tickets": 7}]\n'
        },
    ),
    # -- reviewkit.yaml -------------------------------------------------------------------------
    Case(
        "yaml_syntax_error",
        (
            "reviewkit.yaml:7:11: YAML syntax error: expected ',' or ']', but got ':'; check the brackets, quotes and indentation",
        ),
        config=CONFIG.replace("  dimensions: [team]", "  dimensions: [team"),
    ),
    Case(
        "yaml_tab_indentation",
        (
            "reviewkit.yaml:6:1: YAML syntax error: found character '\\t' that cannot start any token; indent with spaces, not tabs",
        ),
        config=CONFIG.replace("    dimensions:", "\tdimensions:"),
    ),
    Case(
        "yaml_duplicate_key",
        ("reviewkit.yaml:20:1: store: duplicate key (first defined on line 19); keep one of them",),
        config=CONFIG.replace("store: reviewkit.db", "store: reviewkit.db\nstore: other.db"),
    ),
    Case(
        "unknown_top_level_key",
        (
            "reviewkit.yaml:19:1: stroe: unknown key (did you mean 'store'?); valid keys are: name, calendar, sources, metrics, targets, status, outputs, outcomes, include, store, user, schedule, live_url, delivery, alerts",
        ),
        config=CONFIG.replace("store:", "stroe:"),
    ),
    Case(
        "unknown_source_key",
        (
            "reviewkit.yaml:8:5: sources.tickets.dimension: unknown key (did you mean 'dimensions'?); valid keys are: path, format, engine, table, query, date, lifecycle, dimensions, values, shape, long, options, on_error, unique, future_dates, description",
        ),
        config=with_option("  dimension: [team]"),
    ),
    Case(
        "key_at_the_wrong_level",
        (
            "reviewkit.yaml:8:5: sources.tickets.gaps: unknown key here; `gaps` belongs under `date:` (sources: tickets: date: gaps:); valid keys are: path, format, engine, table, query, date, lifecycle, dimensions, values, shape, long, options, on_error, unique, future_dates, description",
        ),
        config=with_option("  gaps: ignore"),
    ),
    Case(
        "wrong_value_type",
        (
            "reviewkit.yaml:7:32: sources.tickets.values.csat: 'float' is not one of: integer, number",
        ),
        config=with_source(SOURCE.replace("csat: number", "csat: float")),
    ),
    Case(
        "wrong_type_for_a_list",
        (
            "reviewkit.yaml:6:5: sources.tickets.dimensions: expected a list of column names, got a mapping",
        ),
        config=with_source(SOURCE.replace("[team]", "{team: text}")),
    ),
    Case(
        "metric_of_an_unknown_source",
        (
            "reviewkit.yaml:9:13: metrics.tickets.source: unknown source 'ticket' (did you mean 'tickets'?); declared sources: tickets",
        ),
        config=CONFIG.replace("{source: tickets, agg: sum", "{source: ticket, agg: sum"),
    ),
    Case(
        "metric_of_an_undeclared_column",
        (
            "reviewkit.yaml:9:40: metrics.tickets.column: 'ticket' is not a value column of source 'tickets' (did you mean 'tickets'?); its values are: tickets, csat (declare it under sources.tickets.values)",
        ),
        config=CONFIG.replace("agg: sum, column: tickets", "agg: sum, column: ticket"),
    ),
    Case(
        "metric_cycle",
        (
            "reviewkit.yaml:9:3: metrics.tickets: derived metrics form a cycle: tickets -> per_day -> tickets; break it by computing one of them from a source",
        ),
        config=CONFIG.replace(
            "  tickets: {source: tickets, agg: sum, column: tickets}",
            "  tickets: {ratio: [per_day, csat]}\n  per_day: {ratio: [tickets, csat]}",
        ),
    ),
    Case(
        "outcome_of_an_unknown_kpi",
        (
            "reviewkit.yaml:16:5: outcomes.0.kpi.metric: unknown metric 'cast' (did you mean 'csat'?)",
        ),
        config=CONFIG.replace("kpi: csat", "kpi: cast"),
    ),
    Case(
        "target_date_before_the_baseline",
        (
            "reviewkit.yaml:18:26: outcomes.0.target.by: the target date 2025-12-31 is not after the baseline period's end 2026-01-31; move the target date later or the baseline earlier",
        ),
        config=CONFIG.replace("by: 2026-12-31", "by: 2025-12-31"),
    ),
    Case(
        "baseline_period_not_a_period",
        (
            "reviewkit.yaml:17:28: outcomes.0.baseline.period: cannot read period 'January'; write latest, YYYY-MM-DD, YYYY-Www, YYYY-MM, YYYY-Qn, YYYY, FYyyyy-Qn, FYyyyy, this-month or last-month (also -week, -quarter, -year, -fiscal-quarter, -fiscal-year)",
        ),
        config=CONFIG.replace("period: 2026-01", "period: January"),
    ),
    Case(
        "schedule_not_cron",
        (
            "reviewkit.yaml:20:1: schedule: cron expression 'every month' has 2 field(s); it needs 5: minute hour day-of-month month day-of-week (e.g. '0 6 1 * *')",
        ),
        config=CONFIG + 'schedule: "every month"\n',
    ),
    Case(
        "duplicate_outcome_ids",
        (
            "reviewkit.yaml:19:6: outcomes.1.id: outcome id 'happier' is already used (reviewkit.yaml:12); ids must be unique",
        ),
        config=CONFIG.replace(
            "store:",
            "  - {id: happier, title: Again, owner: Bo Chen, kpi: csat,\n"
            "     baseline: {value: 4, period: 2026-01}, target: {value: 5, by: 2026-12-31}}\n"
            "store:",
        ),
    ),
    Case(
        "column_declared_twice",
        (
            "reviewkit.yaml:7:5: sources.tickets.values: column 'csat' is declared twice (also under dimensions)",
        ),
        config=with_source(SOURCE.replace("[team]", "[team, csat]")),
    ),
    Case(
        "unique_names_an_absent_column",
        (
            "data/tickets.csv: has no column 'ticket_id' named under sources.tickets.unique; its columns are: day, team, tickets, csat",
            UNREADABLE,
        ),
        config=with_option("  unique: [ticket_id]"),
    ),
)


def main(directory: str) -> None:
    for case in CASES:
        case.write(Path(directory) / case.name)
    print(f"wrote {len(CASES)} projects under {directory}")


if __name__ == "__main__":
    main(sys.argv[1])
