"""Reading KPI exports: real files, a real reviewkit.yaml and real DuckDB for every case.

Every error case asserts the exact messages a user sees (``path:line[:col]: message``); the
project directory is the cwd, so exports show as ``data/...``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reviewkit.base import clock
from reviewkit.base.errors import DataError, ReviewkitError
from reviewkit.check import check_project
from reviewkit.project import open_project
from reviewkit.sources import readers
from reviewkit.sources.loaded import LoadedSource

MakeProject = Callable[[str, dict[str, bytes]], Path]
QUARANTINE_HEADLINE = (
    "source '{name}' has {n} bad row(s); fix them in the export, or set `on_error: quarantine` "
    "under sources.{name} to set them aside (they are then counted in every output):"
)


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeProject:
    """Write reviewkit.yaml (the given ``sources:`` body and no metrics) and the export files."""
    monkeypatch.chdir(tmp_path)

    def make(sources_yaml: str, files: dict[str, bytes]) -> Path:
        body = textwrap.indent(textwrap.dedent(sources_yaml).strip("\n"), "  ")
        (tmp_path / "reviewkit.yaml").write_text(
            f"sources:\n{body}\nmetrics: {{}}\n", encoding="utf-8"
        )
        for name, data in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
        return tmp_path

    return make


def kpis_source(path: str, *extra: str, date: str = '{column: day, format: "%Y-%m-%d"}') -> str:
    """The usual source under test: ``kpis`` with a date, a team and two value columns."""
    lines = [
        "kpis:",
        f"  path: {path}",
        f"  date: {date}",
        "  dimensions: [team]",
        "  values: {tickets: integer, csat: number}",
        *(f"  {line}" for line in extra),
    ]
    return "\n".join(lines)


def load(name: str = "kpis") -> LoadedSource:
    with open_project(".") as project:
        return project.source(name)


def fetch(query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` run through ``Project.sql`` (dates cast to text in the query)."""
    with open_project(".") as project:
        frame = project.sql(query)
    return [tuple(_plain(v) for v in row) for row in frame.itertuples(index=False, name=None)]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def types(table: str = "kpis") -> dict[str, str]:
    return dict(fetch(f"SELECT column_name, column_type FROM (DESCRIBE {table})"))


def read_error(name: str = "kpis") -> list[str]:
    """The problems (as users see them) of loading source ``name``, which must fail."""
    with pytest.raises(DataError) as caught:
        load(name)
    return [str(p) for p in caught.value.problems]


def text(*lines: str, encoding: str = "utf-8", end: str = "\n") -> bytes:
    return "".join(line + end for line in lines).encode(encoding)


def xlsx(sheets: dict[str, list[list[Any]]], merge: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if merge:
            sheet.merge_cells(merge)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


GOOD_CSV = text(
    "day,team,tickets,csat",
    "2024-01-01,north,12,4.5",
    "2024-01-02,south,7,",
    "2024-01-03,north,0,3.25",
)
GOOD_ROWS = [
    ("2024-01-01", "north", 12, 4.5),
    ("2024-01-02", "south", 7, None),
    ("2024-01-03", "north", 0, 3.25),
]
SELECT_ALL = "SELECT CAST(day AS VARCHAR), team, tickets, csat FROM kpis ORDER BY day, team"
TYPES = {"day": "DATE", "team": "VARCHAR", "tickets": "BIGINT", "csat": "DOUBLE"}


# -- 1. every format, typed ---------------------------------------------------------------------


def test_csv_reads_typed_values(make_project: MakeProject) -> None:
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV})
    loaded = load()
    assert (loaded.rows, loaded.quarantined, loaded.rejected) == (3, 0, [])
    assert (loaded.min_date, loaded.max_date) == (dt.date(2024, 1, 1), dt.date(2024, 1, 3))
    assert types() == TYPES
    assert fetch(SELECT_ALL) == GOOD_ROWS


def test_tsv_format_is_inferred_from_the_extension(make_project: MakeProject) -> None:
    tsv = GOOD_CSV.replace(b",", b"\t")
    make_project(kpis_source("data/kpis.tsv"), {"data/kpis.tsv": tsv})
    assert types() == TYPES
    assert fetch(SELECT_ALL) == GOOD_ROWS


PARQUET_TABLE = pa.table(
    {
        "d": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2)], pa.date32()),
        "ts": pa.array([dt.datetime(2024, 1, 1, 9, 30), dt.datetime(2024, 1, 2, 23, 59, 59)]),
        "s": ["2024-01-01", "2024-01-02"],
        "team": ["north", "south"],
        "tickets": pa.array([12, 7], pa.int64()),
        "csat": [4.5, None],
    }
)


@pytest.mark.parametrize(
    ("date", "kind", "days"),
    [
        ("d", "DATE", ["2024-01-01", "2024-01-02"]),
        (
            '{column: ts, format: "%Y-%m-%d %H:%M:%S"}',
            "TIMESTAMP",
            ["2024-01-01 09:30:00", "2024-01-02 23:59:59"],
        ),
        ("ts", "DATE", ["2024-01-01", "2024-01-02"]),  # no time in the format: the day
        ("s", "DATE", ["2024-01-01", "2024-01-02"]),
        ('{column: s, format: "%Y-%m-%d"}', "DATE", ["2024-01-01", "2024-01-02"]),
    ],
    ids=["date", "timestamp", "timestamp-as-day", "string-date", "string-date-format"],
)
def test_parquet_date_timestamp_and_string_date_columns(
    make_project: MakeProject, date: str, kind: str, days: list[str]
) -> None:
    make_project(
        kpis_source("data/kpis.parquet", date=date), {"data/kpis.parquet": parquet(PARQUET_TABLE)}
    )
    column = date.split(",", maxsplit=1)[0].removeprefix("{column: ")
    assert types()[column] == kind
    assert {k: types()[k] for k in ("team", "tickets", "csat")} == {
        "team": "VARCHAR",
        "tickets": "BIGINT",
        "csat": "DOUBLE",
    }
    assert fetch(f"SELECT CAST({column} AS VARCHAR), team, tickets, csat FROM kpis ORDER BY 1") == [
        (days[0], "north", 12, 4.5),
        (days[1], "south", 7, None),
    ]


XLSX_ROWS: list[list[Any]] = [
    ["day", "team", "tickets", "csat"],
    [dt.date(2024, 1, 1), "north", 12, 4.5],
    [dt.datetime(2024, 1, 2), "south", 7, None],
    [dt.date(2024, 1, 3), "north", 0, 3.25],
]


def test_xlsx_reads_real_date_cells(make_project: MakeProject) -> None:
    make_project(
        kpis_source("data/kpis.xlsx", date="day"), {"data/kpis.xlsx": xlsx({"KPIs": XLSX_ROWS})}
    )
    assert types() == TYPES
    assert fetch(SELECT_ALL) == GOOD_ROWS


def test_xlsx_with_two_sheets_requires_options_sheet(make_project: MakeProject) -> None:
    book = xlsx({"KPIs": XLSX_ROWS, "Notes": [["made by hand"]]})
    make_project(kpis_source("data/kpis.xlsx", date="day"), {"data/kpis.xlsx": book})
    assert read_error() == [
        "data/kpis.xlsx: has 2 sheets (KPIs, Notes); say which to read with options.sheet "
        "under sources.kpis"
    ]


def test_xlsx_options_sheet_picks_the_sheet(make_project: MakeProject) -> None:
    book = xlsx({"Notes": [["made by hand"]], "KPIs": XLSX_ROWS})
    make_project(
        kpis_source("data/kpis.xlsx", "options: {sheet: KPIs}", date="day"),
        {"data/kpis.xlsx": book},
    )
    assert fetch(SELECT_ALL) == GOOD_ROWS


def test_xlsx_unknown_sheet_lists_the_sheets(make_project: MakeProject) -> None:
    book = xlsx({"Notes": [["made by hand"]], "KPIs": XLSX_ROWS})
    make_project(
        kpis_source("data/kpis.xlsx", "options: {sheet: Kpis}", date="day"),
        {"data/kpis.xlsx": book},
    )
    assert read_error() == ["data/kpis.xlsx: has no sheet 'Kpis'; its sheets are: Notes, KPIs"]


RECORDS = [
    {"day": "2024-01-01", "team": "north", "tickets": 12, "csat": 4.5},
    {"day": "2024-01-02", "team": "south", "tickets": "7", "csat": None},
    {"day": "2024-01-03", "team": "north", "tickets": 0, "csat": "3.25"},
]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("kpis.json", json.dumps(RECORDS, indent=2).encode()),
        ("kpis.ndjson", "".join(json.dumps(r) + "\n" for r in RECORDS).encode()),
        ("kpis.jsonl", "".join(json.dumps(r) + "\n" for r in RECORDS).encode()),
    ],
)
def test_json_array_and_ndjson(make_project: MakeProject, name: str, data: bytes) -> None:
    make_project(kpis_source(f"data/{name}"), {f"data/{name}": data})
    assert types() == TYPES
    assert fetch(SELECT_ALL) == GOOD_ROWS


def test_glob_source_reads_every_matching_file(make_project: MakeProject) -> None:
    make_project(
        kpis_source('"data/kpis_*.csv"'),
        {
            "data/kpis_01.csv": text("day,team,tickets,csat", "2024-01-01,north,12,4.5"),
            "data/kpis_02.csv": text("day,team,tickets,csat", "2024-02-01,south,7,"),
            "data/other.csv": b"not,matched\n",
        },
    )
    loaded = load()
    assert [f.path.name for f in loaded.files] == ["kpis_01.csv", "kpis_02.csv"]
    assert (loaded.rows, loaded.min_date, loaded.max_date) == (
        2,
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    )
    assert fetch(SELECT_ALL) == [
        ("2024-01-01", "north", 12, 4.5),
        ("2024-02-01", "south", 7, None),
    ]


def test_glob_matching_nothing_says_where_it_looked(make_project: MakeProject) -> None:
    make_project(kpis_source('"data/kpis_*.csv"'), {})
    with pytest.raises(DataError) as caught:
        load()
    assert [str(p) for p in caught.value.problems] == [
        "reviewkit.yaml:3: sources.kpis.path: no file matches 'data/kpis_*.csv' (looked in "
        ".); check the path, or run `reviewkit sample` for the sample data"
    ]


LONG_SOURCE = """
    kpis:
      path: data/long.csv
      shape: long
      long: {key: kpi, value: value}
      date: day
      dimensions: [team]
      values: {tickets: integer, csat: number}
"""


def test_long_shape_is_pivoted_to_wide(make_project: MakeProject) -> None:
    make_project(
        LONG_SOURCE,
        {
            "data/long.csv": text(
                "day,team,kpi,value",
                "2024-01-01,north,tickets,12",
                "2024-01-01,north,csat,4.5",
                "2024-01-02,south,tickets,7",
                "2024-01-03,north,csat,3.25",
                "2024-01-03,north,tickets,0",
            )
        },
    )
    loaded = load()
    assert (loaded.rows, loaded.quarantined) == (3, 0)
    assert types() == TYPES
    assert fetch(SELECT_ALL) == GOOD_ROWS


def test_long_shape_duplicate_key_is_refused(make_project: MakeProject) -> None:
    make_project(
        LONG_SOURCE,
        {
            "data/long.csv": text(
                "day,team,kpi,value",
                "2024-01-01,north,tickets,12",
                "2024-01-01,north,csat,4.5",
                "2024-01-01,north,tickets,13",
                "2024-01-02,south,csat,4",
                "2024-01-02,south,csat,4",
            )
        },
    )
    assert read_error() == [
        "data/long.csv: key 'tickets' appears 2 times for day=2024-01-01, team=north; "
        "a long export needs one row per date, dimensions and key",
        "data/long.csv: key 'csat' appears 2 times for day=2024-01-02, team=south; "
        "a long export needs one row per date, dimensions and key",
    ]


def test_long_shape_fraction_under_an_integer_key_is_refused(make_project: MakeProject) -> None:
    make_project(
        LONG_SOURCE,
        {
            "data/long.csv": text(
                "day,team,kpi,value", "2024-01-01,north,tickets,12.5", "2024-01-01,north,csat,4.5"
            )
        },
    )
    assert read_error() == [
        "data/long.csv: key 'tickets' has 12.5, not a whole number (declared integer under "
        "values), for day=2024-01-01, team=north"
    ]


def test_long_shape_key_never_present_is_named(make_project: MakeProject) -> None:
    make_project(LONG_SOURCE, {"data/long.csv": text("day,team,kpi,value", "2024-01-01,n,csat,4")})
    assert read_error() == ["data/long.csv: no rows have kpi = 'tickets' (declared under values)"]


# -- 2. encodings -------------------------------------------------------------------------------

ACCENTED = ("day,team,tickets,csat", "2024-01-01,Montréal,12,4.5", "2024-01-02,Zürich,7,")


@pytest.mark.parametrize(
    ("options", "data"),
    [
        ("", "\ufeff".encode() + text(*ACCENTED)),
        ("options: {encoding: latin-1}", text(*ACCENTED, encoding="latin-1")),
        ("options: {encoding: utf-16}", text(*ACCENTED, encoding="utf-16")),
        ("options: {encoding: utf-16}", text(*ACCENTED, encoding="utf-16-le")),  # no BOM
        ("options: {encoding: utf-8-sig}", "\ufeff".encode() + text(*ACCENTED, end="\r\n")),
    ],
    ids=["utf-8-bom", "latin-1", "utf-16", "utf-16-le-no-bom", "utf-8-bom-crlf"],
)
def test_encodings_read_accented_text(make_project: MakeProject, options: str, data: bytes) -> None:
    make_project(kpis_source("data/kpis.csv", options), {"data/kpis.csv": data})
    assert types() == TYPES
    assert fetch(SELECT_ALL) == [
        ("2024-01-01", "Montréal", 12, 4.5),
        ("2024-01-02", "Zürich", 7, None),
    ]


def test_latin1_declared_as_utf8_is_reported_on_its_line(make_project: MakeProject) -> None:
    data = text(
        "day,team,tickets,csat",
        "2024-01-01,north,1,",
        "2024-01-02,Montréal,2,",
        "2024-01-03,south,3,",
        "2024-01-04,é,4,",
        encoding="latin-1",
    )
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:3: not valid utf-8 text; set options.encoding (latin-1, utf-16) to "
        "match the export; row: 2024-01-02,Montr\\xe9al,2,",
        "data/kpis.csv:5: not valid utf-8 text; set options.encoding (latin-1, utf-16) to "
        "match the export; row: 2024-01-04,\\xe9,4,",
    ]


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        (
            "utf-16",  # with a byte-order mark
            "data/kpis.csv:1: the header is not valid utf-8 (byte 1); set options.encoding to "
            "the export's encoding (utf-8, latin-1 or utf-16)",
        ),
        (
            "utf-16-le",
            "data/kpis.csv:1: the header contains NUL bytes: the file looks UTF-16; set "
            "options.encoding: utf-16",
        ),
    ],
)
def test_utf16_declared_as_utf8_is_refused_at_the_header(
    make_project: MakeProject, encoding: str, message: str
) -> None:
    make_project(
        kpis_source("data/kpis.csv"), {"data/kpis.csv": text(*ACCENTED, encoding=encoding)}
    )
    assert read_error() == [message]


# -- 3. numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "lines", "expected"),
    [
        (
            'options: {thousands: ","}',
            ['2024-01-01,north,"523,419","1,234.5"', "2024-01-02,south,7,0.5"],
            [(523419, 1234.5), (7, 0.5)],
        ),
        (
            'options: {delimiter: ";", decimal: ",", thousands: "."}',
            ["2024-01-01;north;523.419;1.234,5", "2024-01-02;south;7;0,5"],
            [(523419, 1234.5), (7, 0.5)],
        ),
        ("", ["2024-01-01,north,12.0,4", "2024-01-02,south,-3,-0.25"], [(12, 4.0), (-3, -0.25)]),
    ],
    ids=["thousands-comma", "decimal-comma", "plain"],
)
def test_number_separators(
    make_project: MakeProject, options: str, lines: list[str], expected: list[tuple[Any, ...]]
) -> None:
    delimiter = ";" if "delimiter" in options else ","
    data = text(delimiter.join(["day", "team", "tickets", "csat"]), *lines)
    make_project(kpis_source("data/kpis.csv", options), {"data/kpis.csv": data})
    assert types() == TYPES
    assert fetch("SELECT tickets, csat FROM kpis ORDER BY day") == expected


def test_thousands_separator_without_the_option_is_a_bad_row(make_project: MakeProject) -> None:
    data = text("day,team,tickets,csat", "2024-01-01,north,7,", '2024-01-02,south,3,"1,234"')
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:3: column 'csat': cannot read '1,234' as a number; "
        'row: 2024-01-02,south,3,"1,234"',
        "data/kpis.csv: column 'csat': values like '1,234' use ',' between thousands; likely "
        'fix: set `thousands: ","` under sources.kpis.options',
    ]


def test_fraction_in_an_integer_column_is_a_bad_row_not_rounded(make_project: MakeProject) -> None:
    data = text(
        "day,team,tickets,csat",
        "2024-01-01,north,1.5,",
        "2024-01-02,south,2.0,",
        '2024-01-03,north,"7.25",1',
        "2024-01-04,north,1e30,1",
    )
    make_project(kpis_source("data/kpis.csv", "on_error: quarantine"), {"data/kpis.csv": data})
    loaded = load()
    assert [str(p) for p in loaded.rejected] == [
        "data/kpis.csv:2: column 'tickets': cannot read '1.5' as a whole number; "
        "row: 2024-01-01,north,1.5,",
        "data/kpis.csv:4: column 'tickets': cannot read '7.25' as a whole number; "
        'row: 2024-01-03,north,"7.25",1',
        "data/kpis.csv:5: column 'tickets': cannot read '1e30' as a whole number; "
        "row: 2024-01-04,north,1e30,1",
    ]
    assert (loaded.rows, loaded.quarantined) == (1, 3)
    assert fetch("SELECT CAST(day AS VARCHAR), tickets FROM kpis") == [("2024-01-02", 2)]


def test_fraction_in_an_integer_cell_of_a_workbook_is_a_bad_row(make_project: MakeProject) -> None:
    rows = [*XLSX_ROWS, [dt.date(2024, 1, 4), "south", 2.5, 1]]
    make_project(
        kpis_source("data/kpis.xlsx", date="day"), {"data/kpis.xlsx": xlsx({"KPIs": rows})}
    )
    assert read_error() == [
        "data/kpis.xlsx[KPIs]: row 5: column 'tickets': cannot read '2.5' as a whole number"
    ]


# -- 4. dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "cells", "kind", "expected"),
    [
        (
            "%a, %d-%b-%Y",
            ['"Sun, 05-Jan-2020"', '"Mon, 06-Jan-2020"'],
            "DATE",
            ["2020-01-05", "2020-01-06"],
        ),
        ("%Y-%m-%d", ["2020-01-05", "2020-12-31"], "DATE", ["2020-01-05", "2020-12-31"]),
        ("%m/%d/%y", ["1/1/21", "12/31/21"], "DATE", ["2021-01-01", "2021-12-31"]),
        ("%d.%m.%Y", ["05.01.2020", "31.12.2020"], "DATE", ["2020-01-05", "2020-12-31"]),
        (
            "%Y-%m-%d %H:%M:%S",
            ["2020-01-05 13:45:00", "2020-01-06 00:00:01"],
            "TIMESTAMP",
            ["2020-01-05 13:45:00", "2020-01-06 00:00:01"],
        ),
        (None, ["2020-01-05", "2020-01-06"], "DATE", ["2020-01-05", "2020-01-06"]),
    ],
    ids=["weekday-name", "iso", "us-short", "dotted", "timestamp", "no-format"],
)
def test_date_formats(
    make_project: MakeProject, fmt: str | None, cells: list[str], kind: str, expected: list[str]
) -> None:
    date = f'{{column: day, format: "{fmt}"}}' if fmt else "day"
    data = text("day,team,tickets,csat", *(f"{c},north,1,1" for c in cells))
    make_project(kpis_source("data/kpis.csv", date=date), {"data/kpis.csv": data})
    assert types()["day"] == kind
    assert [day for (day,) in fetch("SELECT CAST(day AS VARCHAR) FROM kpis ORDER BY day")] == (
        expected
    )


def big_csv(rows: int, bad: dict[int, str] | None = None) -> bytes:
    """``rows`` data rows, the i-th (from 1) replaced by ``bad[i]`` when given."""
    lines = [f"2024-01-{1 + i % 28:02d},north,{i},1.5" for i in range(1, rows + 1)]
    for number, line in (bad or {}).items():
        lines[number - 1] = line
    return ("day,team,tickets,csat\n" + "\n".join(lines) + "\n").encode()


def test_bad_date_after_the_sniffing_sample_is_reported_with_its_line(
    make_project: MakeProject,
) -> None:
    data = big_csv(40_000, {30_001: "2024-13-45,north,1,1.5"})
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:30002: column 'day': cannot read '2024-13-45' as a date in format "
        "'%Y-%m-%d'; row: 2024-13-45,north,1,1.5"
    ]


def test_date_in_another_format_is_a_bad_row(make_project: MakeProject) -> None:
    data = text("day,team,tickets,csat", "2024-01-01,north,1,", "01/02/2024,north,1,")
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:3: column 'day': cannot read '01/02/2024' as a date in format "
        "'%Y-%m-%d'; row: 01/02/2024,north,1,"
    ]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "kpis.csv",
            text("day,team,tickets,csat", "2024-01-01,north,1,", ",south,2,"),
            "data/kpis.csv:3: column 'day': cannot read (empty) as a date in format "
            "'%Y-%m-%d'; row: ,south,2,",
        ),
        (
            "kpis.xlsx",
            xlsx({"KPIs": [*XLSX_ROWS, [None, "south", 2, None]]}),
            "data/kpis.xlsx[KPIs]: row 5: column 'day': cannot read (empty) as a date in format "
            "'%Y-%m-%d'",
        ),
        (
            "kpis.ndjson",
            b'{"day": "2024-01-01", "team": "n", "tickets": 1, "csat": 1}\n'
            b'{"day": null, "team": "s", "tickets": 2, "csat": 1}\n',
            "data/kpis.ndjson: record 2: column 'day': cannot read (empty) as a date in format "
            "'%Y-%m-%d'",
        ),
    ],
    ids=["csv", "xlsx", "ndjson"],
)
def test_empty_date_is_a_bad_row(
    make_project: MakeProject, name: str, data: bytes, message: str
) -> None:
    make_project(kpis_source(f"data/{name}"), {f"data/{name}": data})
    assert read_error() == [message]


# -- 5. messy files -----------------------------------------------------------------------------


def test_ragged_rows_are_reported_with_line_and_raw_row(make_project: MakeProject) -> None:
    data = text(
        "day,team,tickets,csat",
        "2024-01-01,north,1,4.5,extra,more",
        "2024-01-02,south",
        "2024-01-03,north,3,4",
        "2024-01-04",
        "2024-01-05,north,5,4,x",
        "2024-01-06,north,6,4,,",  # empty trailing fields lose nothing: DuckDB reads the row
    )
    make_project(kpis_source("data/kpis.csv", "on_error: quarantine"), {"data/kpis.csv": data})
    loaded = load()
    assert [str(p) for p in loaded.rejected] == [
        "data/kpis.csv:2: expected 4 columns, found 6; row: 2024-01-01,north,1,4.5,extra,more",
        "data/kpis.csv:3: expected 4 columns, found 2; row: 2024-01-02,south",
        "data/kpis.csv:5: expected 4 columns, found 1; row: 2024-01-04",
        "data/kpis.csv:6: expected 4 columns, found 5; row: 2024-01-05,north,5,4,x",
    ]
    assert (loaded.rows, loaded.quarantined) == (2, 4)
    assert fetch("SELECT tickets FROM kpis ORDER BY day") == [(3,), (6,)]


def test_semicolon_file_declared_as_comma_suggests_the_delimiter(
    make_project: MakeProject,
) -> None:
    data = GOOD_CSV.replace(b",", b";")
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:1: missing column(s) 'day', 'team', 'tickets', 'csat' declared for "
        "source 'kpis'; the export has: 'day;team;tickets;csat'; the header looks "
        "';'-delimited: set options.delimiter: ';'"
    ]


def test_unterminated_quote_is_refused_at_the_line_it_opens(make_project: MakeProject) -> None:
    data = text(
        "day,team,tickets,csat",
        "2024-01-01,north,1,4",
        '2024-01-02,"south,2,4',
        "2024-01-03,north,3,4",
        "2024-01-04,north,4,4",
    )
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:3: a quoted field opened on line 3 is never closed, so every row after "
        'it would be lost; close the quote (a literal " inside a field is written twice)'
    ]


def test_quoted_fields_with_newlines_and_doubled_quotes_are_read(
    make_project: MakeProject,
) -> None:
    data = text(
        "day,team,tickets,csat",
        '2024-01-01,"north\nwest",1,4',
        '2024-01-02,"the ""A"" team",2,',
    )
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert fetch("SELECT team FROM kpis ORDER BY day") == [("north\nwest",), ('the "A" team',)]


def test_bad_rows_after_multiline_fields_keep_their_file_line(make_project: MakeProject) -> None:
    data = text(
        "day,team,tickets,csat",  # 1
        '2024-01-01,"north',  # 2
        'west",1,4',  # 3
        "",  # 4: blank
        "2024-01-02,south,many,4",  # 5
        '2024-01-03,"a',  # 6
        "",  # 7: blank inside the quotes
        'b",x,4',  # 8
        "2024-01-04,north,4.5,4",  # 9
    )
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:5: column 'tickets': cannot read 'many' as a whole number; "
        "row: 2024-01-02,south,many,4",
        "data/kpis.csv:6: column 'tickets': cannot read 'x' as a whole number; "
        'row: 2024-01-03,"a\n\nb",x,4',
        "data/kpis.csv:9: column 'tickets': cannot read '4.5' as a whole number; "
        "row: 2024-01-04,north,4.5,4",
    ]


def test_mixed_line_endings_are_refused_with_the_line(make_project: MakeProject) -> None:
    data = b"day,team,tickets,csat\r\n2024-01-01,north,1,4\r\n2024-01-02,south,2,4\n"
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [
        "data/kpis.csv:3: mixes line endings: line 3 ends with \\n (Unix), the lines before it "
        "with \\r\\n (Windows); save the export again with one kind of line ending"
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"",
            "data/kpis.csv:1: is empty; expected a header line naming the columns: "
            "day, team, tickets, csat",
        ),
        (
            b"\n\n",
            "data/kpis.csv:1: is empty; expected a header line naming the columns: "
            "day, team, tickets, csat",
        ),
        (
            b"day,team,tickets,csat\n",
            "data/kpis.csv:2: has a header but no data rows; export it again or remove the file",
        ),
        (
            b"day,team,tickets,csat,tickets\n2024-01-01,north,1,4,2\n",
            "data/kpis.csv:1:5: the header names column 'tickets' twice (columns 3 and 5); "
            "rename one so reviewkit knows which to read",
        ),
        (
            b"day,group,tickets,csat\n2024-01-01,north,1,4\n",
            "data/kpis.csv:1: missing column(s) 'team' declared for source 'kpis'; the export "
            "has: 'day', 'group', 'tickets', 'csat'; rename it in the export, or under sources.kpis",
        ),
        (
            b"day,,team,tickets,csat\n2024-01-01,x,north,1,4\n",
            "data/kpis.csv:1:2: column 2 of the header has no name (merged or blank header "
            "cell?); give every column a name",
        ),
    ],
    ids=["empty", "blank-lines", "header-only", "duplicate-header", "missing-column", "no-name"],
)
def test_unusable_csv_is_refused(make_project: MakeProject, data: bytes, message: str) -> None:
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": data})
    assert read_error() == [message]


@pytest.mark.parametrize(
    ("header", "merge"),
    [
        (["day", "team", None, "tickets", "csat"], None),
        (["day", "team", None, "tickets", "csat"], "B1:C1"),
    ],
    ids=["blank-cell", "merged-cells"],
)
def test_xlsx_header_cell_without_a_name_is_refused(
    make_project: MakeProject, header: list[Any], merge: str | None
) -> None:
    rows = [header, [dt.date(2024, 1, 1), "north", "x", 1, 4.5]]
    make_project(
        kpis_source("data/kpis.xlsx", date="day"), {"data/kpis.xlsx": xlsx({"KPIs": rows}, merge)}
    )
    assert read_error() == [
        "data/kpis.xlsx[KPIs]:1:3: column 3 of the header has no name (merged or blank header "
        "cell?); give every column a name"
    ]


def test_xlsx_that_is_not_a_workbook_is_refused(make_project: MakeProject) -> None:
    make_project(kpis_source("data/kpis.xlsx", date="day"), {"data/kpis.xlsx": b"day,team\n"})
    assert read_error() == [
        "data/kpis.xlsx: is not a readable .xlsx workbook (invalid Zip archive: Could not find "
        "EOCD); export it again"
    ]


def test_a_parquet_export_that_needs_no_parsing_is_read_in_place(
    make_project: MakeProject,
) -> None:
    """Its columns are cast where they lie once one scan has checked them: nothing but the
    metadata goes into the cache, and the rows are those a copy gives. A column that needs
    parsing (a date written as text) makes it a copy again."""
    root = make_project(
        kpis_source("data/kpis.parquet", date="ts"), {"data/kpis.parquet": parquet(PARQUET_TABLE)}
    )
    (read,) = load().files
    assert read.table.samefile(root / "data" / "kpis.parquet") and read.select is not None
    assert [name for name in cache_entries(root) if name.endswith(".parquet")] == []
    rows = "SELECT CAST(ts AS VARCHAR), team, tickets, csat, s FROM kpis ORDER BY 1"
    assert fetch(rows) == [
        ("2024-01-01", "north", 12, 4.5, "2024-01-01"),
        ("2024-01-02", "south", 7, None, "2024-01-02"),
    ]
    assert types()["ts"] == "DATE" and types()["s"] == "VARCHAR"
    assert load().files[0].select == read.select  # from the cache's metadata next time

    make_project(
        kpis_source("data/kpis.parquet", date="s"), {"data/kpis.parquet": parquet(PARQUET_TABLE)}
    )
    (copied,) = load().files
    assert copied.select is None and copied.table.suffix == ".parquet"
    assert copied.table.parent == root / ".reviewkit" / "cache" / "kpis"


def test_a_parquet_export_rewritten_where_it_lies_is_read_again(
    make_project: MakeProject,
) -> None:
    """An export read in place is keyed on its identity (inode, size, modification time), not a
    hash of its bytes: a new export under the same name gives the new rows."""
    root = make_project(
        kpis_source("data/kpis.parquet", date="ts"), {"data/kpis.parquet": parquet(PARQUET_TABLE)}
    )
    assert fetch("SELECT tickets FROM kpis ORDER BY ts") == [(12,), (7,)]
    changed = PARQUET_TABLE.set_column(4, "tickets", pa.array([13, 8], pa.int64()))
    (root / "data" / "kpis.parquet").write_bytes(parquet(changed))
    assert fetch("SELECT tickets FROM kpis ORDER BY ts") == [(13,), (8,)]


def test_truncated_parquet_is_refused(make_project: MakeProject) -> None:
    data = parquet(PARQUET_TABLE)
    make_project(kpis_source("data/kpis.parquet", date="d"), {"data/kpis.parquet": data[:300]})
    assert read_error() == [
        "data/kpis.parquet: is not a readable Parquet file (Invalid Input Error: No magic bytes "
        "found at end of file 'data/kpis.parquet'); export it again (truncated?)"
    ]


def test_parquet_without_a_declared_column_lists_its_columns(make_project: MakeProject) -> None:
    data = parquet(PARQUET_TABLE.drop_columns(["team"]))
    make_project(kpis_source("data/kpis.parquet", date="day"), {"data/kpis.parquet": data})
    assert read_error() == [
        "data/kpis.parquet: missing column(s) 'day', 'team' declared for source 'kpis'; the "
        "export has: 'd', 'ts', 's', 'tickets', 'csat'; rename it in the export, or under "
        "sources.kpis"
    ]


def test_parquet_with_text_in_a_numeric_column_lists_each_row(make_project: MakeProject) -> None:
    table = PARQUET_TABLE.set_column(4, "tickets", pa.array(["12", "n/a"])).set_column(
        5, "csat", pa.array(["4.5", "high"])
    )
    make_project(kpis_source("data/kpis.parquet", date="d"), {"data/kpis.parquet": parquet(table)})
    assert read_error() == [
        "data/kpis.parquet: row 2: column 'tickets': cannot read 'n/a' as a whole number",
        "data/kpis.parquet: row 2: column 'csat': cannot read 'high' as a number",
    ]


def test_parquet_typed_columns_are_still_checked(make_project: MakeProject) -> None:
    """Typed Parquet columns skip the text detour, not the checks: a fraction declared integer
    and a missing date are bad rows, as they are in text."""
    table = pa.table(
        {
            "d": pa.array([dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)], pa.date32()),
            "team": ["north", "south", "north"],
            "tickets": pa.array([12.0, 7.0, 2.5], pa.float64()),
            "csat": pa.array([4, None, 5], pa.int32()),
        }
    )
    make_project(kpis_source("data/kpis.parquet", date="d"), {"data/kpis.parquet": parquet(table)})
    assert read_error() == [
        "data/kpis.parquet: row 2: column 'd': cannot read (empty) as a date (YYYY-MM-DD)",
        "data/kpis.parquet: row 3: column 'tickets': cannot read '2.5' as a whole number",
    ]


def test_parquet_integers_load_exactly(make_project: MakeProject) -> None:
    """An int64 column is cast, not sent through a double: 2**53 + 1 stays itself."""
    table = PARQUET_TABLE.set_column(4, "tickets", pa.array([2**53 + 1, -7], pa.int64()))
    make_project(kpis_source("data/kpis.parquet", date="d"), {"data/kpis.parquet": parquet(table)})
    assert fetch("SELECT tickets FROM kpis ORDER BY d") == [(2**53 + 1,), (-7,)]


def test_parquet_nanosecond_timestamps_keep_their_day(make_project: MakeProject) -> None:
    """DuckDB rounds TIMESTAMP_NS to the microsecond when casting: the last instant of a day
    must stay on that day (pandas writes nanoseconds)."""
    table = pa.table(
        {
            "ts": pa.array(
                [1_704_153_599_999_999_999], pa.timestamp("ns")
            ),  # 2024-01-01 23:59:59.999999999
            "team": ["north"],
            "tickets": pa.array([1], pa.int64()),
            "csat": pa.array([4.5]),
        }
    )
    make_project(kpis_source("data/kpis.parquet", date="ts"), {"data/kpis.parquet": parquet(table)})
    assert fetch("SELECT CAST(ts AS VARCHAR), tickets, csat FROM kpis") == [("2024-01-01", 1, 4.5)]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "kpis.json",
            b'[\n  {"day": "2024-01-01", "team": "n", "tickets": 1, "csat": 1},\n'
            b'  {"day": "2024-01-02", "team": "s" "tickets": 2, "csat": 1}\n]\n',
            "data/kpis.json:3:37: is not valid JSON: Expecting ',' delimiter; fix it or export it "
            "again",
        ),
        (
            "kpis.json",
            b'[\n  {"day": "2024-01-01", "team": "n", "tickets": 1, "csat": 1},\n',
            "data/kpis.json:3:1: is not valid JSON: Expecting value; fix it or export it again",
        ),
        (
            "kpis.ndjson",
            b'{"day": "2024-01-01", "team": "n", "tickets": 1, "csat": 1}\n'
            b'{"day": "2024-01-02", "team": "s", "tickets": 2, "csat": 1\n'
            b'{"day": "2024-01-03", "team": "s", "tickets": 3, "csat": 1}\n',
            "data/kpis.ndjson:2:59: is not valid JSON: Expecting ',' delimiter; fix it or export "
            "it again",
        ),
        (
            "kpis.json",
            b'{"day": "2024-01-01", "team": "n", "tickets": 1, "csat": 1}\n',
            "data/kpis.json:1: is not a JSON array of records (it starts with '{'); for one "
            "object per line, name it .ndjson or set `format: ndjson`",
        ),
        (
            "kpis.json",
            b"[]\n",
            "data/kpis.json:1: has no records; expected an array of objects with keys: "
            "day, team, tickets, csat",
        ),
        (
            "kpis.ndjson",
            b"",
            "data/kpis.ndjson:1: has no records; expected one object per line with keys: "
            "day, team, tickets, csat",
        ),
        (
            "kpis.ndjson",
            b'{"day": "2024-01-01", "tickets": 1, "csat": 1}\n',
            "data/kpis.ndjson: missing column(s) 'team' declared for source 'kpis'; the export "
            "has: 'day', 'tickets', 'csat'; rename it in the export, or under sources.kpis",
        ),
    ],
    ids=[
        "bad-delimiter",
        "unclosed-array",
        "ndjson-line",
        "object",
        "empty-array",
        "empty",
        "missing-key",
    ],
)
def test_invalid_json_is_refused_with_its_line(
    make_project: MakeProject, name: str, data: bytes, message: str
) -> None:
    make_project(kpis_source(f"data/{name}"), {f"data/{name}": data})
    assert read_error() == [message]


MIXED_CSV = text(
    "day,team,tickets,csat",
    "2024-01-01,north,12,4.5",
    "2024-01-02,south,N/A,4",
    "2024-01-03,north,0,3.25",
    "2024-01-04,south,-,high",
    "2024-01-05,north,five,1",
    "2024-01-06,south,7,",
)
MIXED_PROBLEMS = [
    "data/kpis.csv:3: column 'tickets': cannot read 'N/A' as a whole number; "
    "row: 2024-01-02,south,N/A,4",
    "data/kpis.csv:5: column 'tickets': cannot read '-' as a whole number; "
    "row: 2024-01-04,south,-,high",
    "data/kpis.csv:5: column 'csat': cannot read 'high' as a number; row: 2024-01-04,south,-,high",
    "data/kpis.csv:6: column 'tickets': cannot read 'five' as a whole number; "
    "row: 2024-01-05,north,five,1",
]


def test_text_in_numeric_columns_lists_every_bad_row_in_line_order(
    make_project: MakeProject,
) -> None:
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": MIXED_CSV})
    assert read_error() == MIXED_PROBLEMS


def test_text_in_numeric_cells_of_a_workbook_lists_every_bad_row_in_row_order(
    make_project: MakeProject,
) -> None:
    rows = [
        *XLSX_ROWS,
        [dt.date(2024, 1, 4), "south", "N/A", 4],
        [None, "north", 1, 4],
        [dt.date(2024, 1, 6), "north", "five", "high"],
    ]
    make_project(
        kpis_source("data/kpis.xlsx", date="day"), {"data/kpis.xlsx": xlsx({"KPIs": rows})}
    )
    assert read_error() == [
        "data/kpis.xlsx[KPIs]: row 5: column 'tickets': cannot read 'N/A' as a whole number",
        "data/kpis.xlsx[KPIs]: row 6: column 'day': cannot read (empty) as a date (YYYY-MM-DD)",
        "data/kpis.xlsx[KPIs]: row 7: column 'tickets': cannot read 'five' as a whole number",
        "data/kpis.xlsx[KPIs]: row 7: column 'csat': cannot read 'high' as a number",
    ]


# -- error floods: a systematic problem is one group, its first rows and its likely fix ----------

FLOOD_DAYS = [dt.date(2022, 1, 1) + dt.timedelta(days=i) for i in range(1_100)]
HEADER = "day,team,tickets,csat"
GROUPED = "bad row(s) in {groups} group(s) by column and cause; the first 3 rows of each follow"


def thousands_flood() -> tuple[list[str], dict[int, str]]:
    """Tickets written with ',' between thousands (and quoted, as spreadsheets export them)."""
    counts = [(i * 7919) % 20_000 for i in range(len(FLOOD_DAYS))]
    lines = [HEADER, *(f'{d},north,"{v:,}",4' for d, v in zip(FLOOD_DAYS, counts, strict=True))]
    return lines, {n: f"{v:,}" for n, v in enumerate(counts, start=2) if v >= 1000}


def day_first_flood() -> tuple[list[str], dict[int, str]]:
    """Dates written day first; declared month first, so every day after the 12th fails."""
    lines = [HEADER, *(f"{d:%d/%m/%Y},north,1,4" for d in FLOOD_DAYS)]
    return lines, {n: f"{d:%d/%m/%Y}" for n, d in enumerate(FLOOD_DAYS, start=2) if d.day > 12}


def decimal_comma_flood() -> tuple[list[str], dict[int, str]]:
    """CSAT written with a decimal comma (a whole score has none)."""
    scores = [(i % 5, i % 10) for i in range(len(FLOOD_DAYS))]
    cells = [f'"{a},{b}"' if b else str(a) for a, b in scores]
    lines = [HEADER, *(f"{d},north,1,{c}" for d, c in zip(FLOOD_DAYS, cells, strict=True))]
    return lines, {n: c.strip('"') for n, c in enumerate(cells, start=2) if "," in c}


def repeated_header_flood() -> tuple[list[str], dict[int, str]]:
    """Two-day exports appended to one another, each with its header."""
    lines = [HEADER]
    for i, day in enumerate(FLOOD_DAYS):
        if i and i % 2 == 0:
            lines.append(HEADER)
        lines.append(f"{day},north,1,4")
    return lines, {n: "day" for n, line in enumerate(lines, start=1) if n > 1 and line == HEADER}


@pytest.mark.parametrize(
    ("flood", "date", "column", "what", "hint"),
    [
        (
            thousands_flood,
            '{column: day, format: "%Y-%m-%d"}',
            "tickets",
            "a whole number",
            "column 'tickets': values like '7,919' use ',' between thousands; likely fix: set "
            '`thousands: ","` under sources.kpis.options',
        ),
        (
            day_first_flood,
            '{column: day, format: "%m/%d/%Y"}',
            "day",
            "a date in format '%m/%d/%Y'",
            "column 'day': the day and month look swapped: values like '13/01/2022' do not fit "
            "'%m/%d/%Y' but fit '%d/%m/%Y'; likely fix: set `format: \"%d/%m/%Y\"` under "
            "sources.kpis.date (until then, a date whose day is 12 or less is read with its "
            "day and month swapped)",
        ),
        (
            decimal_comma_flood,
            '{column: day, format: "%Y-%m-%d"}',
            "csat",
            "a number",
            "column 'csat': values like '1,1' use a decimal comma; likely fix: set "
            '`decimal: ","` under sources.kpis.options',
        ),
        (
            repeated_header_flood,
            '{column: day, format: "%Y-%m-%d"}',
            "day",
            "a date in format '%Y-%m-%d'",
            "{n} row(s) repeat the header line (exports appended to one another?); likely fix: "
            "remove them from the export",
        ),
    ],
    ids=["quoted-thousands", "day-month-order", "decimal-comma", "repeated-header"],
)
def test_a_flood_of_bad_rows_is_one_group_with_its_first_rows_and_likely_fix(
    make_project: MakeProject,
    flood: Callable[[], tuple[list[str], dict[int, str]]],
    date: str,
    column: str,
    what: str,
    hint: str,
) -> None:
    lines, bad = flood()
    assert 400 < len(bad) < len(lines)  # a flood, counted here from the rows written
    make_project(kpis_source("data/kpis.csv", date=date), {"data/kpis.csv": text(*lines)})
    first = sorted(bad)[:3]
    listed = read_error()
    assert listed == [
        f"data/kpis.csv: {len(bad)} {GROUPED.format(groups=1)}",
        *(
            f"data/kpis.csv:{n}: column '{column}': cannot read '{bad[n]}' as {what}; "
            f"row: {lines[n - 1]}"
            for n in first
        ),
        f"data/kpis.csv: ... and {len(bad) - 3} more row(s) like these",
        f"data/kpis.csv: {hint.format(n=len(bad))}",
    ]
    assert len(listed) < 25


def test_a_flood_in_two_columns_is_two_groups_and_quarantine_counts_every_row(
    make_project: MakeProject,
) -> None:
    lines, bad_dates = day_first_flood()
    counts = [(i * 7919) % 20_000 for i in range(len(FLOOD_DAYS))]
    lines[1:] = [
        line.replace(",1,4", f',"{v:,}",4') for line, v in zip(lines[1:], counts, strict=True)
    ]
    bad_counts = {n: f"{v:,}" for n, v in enumerate(counts, start=2) if v >= 1000}
    date = '{column: day, format: "%m/%d/%Y"}'
    make_project(
        kpis_source("data/kpis.csv", "on_error: quarantine", date=date),
        {"data/kpis.csv": text(*lines)},
    )
    loaded = load()
    listed = [str(p) for p in loaded.rejected]
    rows = len(bad_dates.keys() | bad_counts.keys())
    assert loaded.quarantined == rows
    assert loaded.rows == len(FLOOD_DAYS) - rows
    assert listed[0] == f"data/kpis.csv: {rows} {GROUPED.format(groups=2)}"
    assert [line.split(": ")[0] for line in listed[1:4]] == [
        f"data/kpis.csv:{n}" for n in sorted(bad_counts)[:3]
    ]
    assert listed[4] == f"data/kpis.csv: ... and {len(bad_counts) - 3} more row(s) like these"
    assert listed[5].startswith("data/kpis.csv: column 'tickets': values like '7,919' use ','")
    assert [line.split(": ")[0] for line in listed[6:9]] == [
        f"data/kpis.csv:{n}" for n in sorted(bad_dates)[:3]
    ]
    assert listed[9] == f"data/kpis.csv: ... and {len(bad_dates) - 3} more row(s) like these"
    assert listed[10].startswith("data/kpis.csv: column 'day': the day and month look swapped")
    assert len(listed) == 11


def test_a_flood_in_a_json_export_is_grouped_by_record(make_project: MakeProject) -> None:
    counts = [(i * 7919) % 20_000 for i in range(len(FLOOD_DAYS))]
    records = [
        json.dumps({"day": str(d), "team": "north", "tickets": f"{v:,}", "csat": 4})
        for d, v in zip(FLOOD_DAYS, counts, strict=True)
    ]
    bad = [n for n, v in enumerate(counts, start=1) if v >= 1000]
    make_project(kpis_source("data/kpis.ndjson"), {"data/kpis.ndjson": text(*records)})
    assert read_error() == [
        f"data/kpis.ndjson: {len(bad)} {GROUPED.format(groups=1)}",
        *(
            f"data/kpis.ndjson: record {n}: column 'tickets': cannot read "
            f"'{counts[n - 1]:,}' as a whole number"
            for n in bad[:3]
        ),
        f"data/kpis.ndjson: ... and {len(bad) - 3} more row(s) like these",
        "data/kpis.ndjson: column 'tickets': values like '7,919' use ',' between thousands; "
        'likely fix: set `thousands: ","` under sources.kpis.options',
    ]


# -- 6. policy ----------------------------------------------------------------------------------


def test_on_error_fail_raises_listing_every_bad_row(make_project: MakeProject) -> None:
    make_project(kpis_source("data/kpis.csv", "on_error: fail"), {"data/kpis.csv": MIXED_CSV})
    with pytest.raises(DataError) as caught:
        load()
    assert str(caught.value) == "\n".join(
        [QUARANTINE_HEADLINE.format(name="kpis", n=3), *MIXED_PROBLEMS]
    )


def test_on_error_quarantine_keeps_the_good_rows_and_counts_the_bad(
    make_project: MakeProject,
) -> None:
    make_project(kpis_source("data/kpis.csv", "on_error: quarantine"), {"data/kpis.csv": MIXED_CSV})
    loaded = load()
    assert (loaded.rows, loaded.quarantined) == (3, 3)
    assert [str(p) for p in loaded.rejected] == MIXED_PROBLEMS
    assert fetch(SELECT_ALL) == [
        ("2024-01-01", "north", 12, 4.5),
        ("2024-01-03", "north", 0, 3.25),
        ("2024-01-06", "south", 7, None),
    ]


def test_check_project_reports_quarantined_rows_as_warnings(make_project: MakeProject) -> None:
    make_project(kpis_source("data/kpis.csv", "on_error: quarantine"), {"data/kpis.csv": MIXED_CSV})
    problems = check_project(".")
    assert {p.severity for p in problems} == {"warning"}
    assert [str(p) for p in problems] == [
        *(p.replace(": column", ": warning: column", 1) for p in MIXED_PROBLEMS),
        "reviewkit.yaml:7: warning: sources.kpis.on_error: 3 row(s) of source 'kpis' are "
        "quarantined (on_error: quarantine); they are left out of every KPI and counted in its "
        "output",
    ]


def test_check_project_reports_a_failing_source_as_errors(make_project: MakeProject) -> None:
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": MIXED_CSV})
    problems = check_project(".")
    assert {p.severity for p in problems} == {"error"}
    assert [str(p) for p in problems] == [
        *MIXED_PROBLEMS,
        "reviewkit.yaml:2: sources.kpis: source 'kpis' has 3 bad row(s); fix them in the export, "
        "or set `on_error: quarantine` under sources.kpis to set them aside (they are then "
        "counted in every output)",
    ]


def test_future_dates_are_allowed_when_declared_and_tomorrow_always(
    make_project: MakeProject,
) -> None:
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    rows = text("day,team,tickets,csat", f"{tomorrow},north,1,4", "2099-01-01,north,1,4")
    make_project(kpis_source("data/kpis.csv", "future_dates: allow"), {"data/kpis.csv": rows})
    assert load().max_date == dt.date(2099, 1, 1)
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": rows[: rows.index(b"2099")]})
    assert load().rows == 1


def test_a_repeated_key_after_quarantined_rows_is_located_among_the_kept_rows(
    make_project: MakeProject,
) -> None:
    rows = text(
        "day,team,tickets,csat",
        "2024-01-01,north,x,1",
        "2024-01-01,north,1,4",
        "2024-01-02,north,2,4",
        "2024-01-01,north,3,4",
    )
    make_project(
        kpis_source("data/kpis.csv", "on_error: quarantine", "unique: [day, team]"),
        {"data/kpis.csv": rows},
    )
    with pytest.raises(DataError) as caught:
        load()
    assert [str(p) for p in caught.value.problems] == [
        "data/kpis.csv: kept row 3: repeats kept row 1 with the same day, team (2024-01-01, "
        "north); remove the duplicate row from the export, or correct `unique:` under "
        "sources.kpis"
    ]


def test_a_repeated_key_across_a_multiline_field_names_the_file_lines(
    make_project: MakeProject,
) -> None:
    rows = text(
        "day,team,tickets,csat",
        '2024-01-01,"north',
        'east",1,4',
        '2024-01-01,"north',
        'east",2,4',
    )
    make_project(kpis_source("data/kpis.csv", "unique: [day, team]"), {"data/kpis.csv": rows})
    with pytest.raises(DataError) as caught:
        load()
    assert [(p.line, p.message.split(" with")[0]) for p in caught.value.problems] == [
        (4, "repeats line 2")
    ]


def test_quarantine_of_a_file_with_only_bad_rows_loads_nothing(make_project: MakeProject) -> None:
    data = text("day,team,tickets,csat", "2024-01-01,north,x,1", "2024-01-02,south,y,1")
    make_project(kpis_source("data/kpis.csv", "on_error: quarantine"), {"data/kpis.csv": data})
    loaded = load()
    assert (loaded.rows, loaded.quarantined, loaded.max_date) == (0, 2, None)
    assert fetch("SELECT count(*) FROM kpis") == [(0,)]


# -- 7. cache -----------------------------------------------------------------------------------


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files actually parsed (not served from the cache)."""
    seen: list[str] = []
    real = readers.READERS["csv"]

    def counting(con: Any, source: Any, path: Path, shown: str, out: Path) -> Any:
        seen.append(path.name)
        return real(con, source, path, shown, out)

    monkeypatch.setitem(readers.READERS, "csv", counting)
    return seen


def cache_entries(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".reviewkit" / "cache" / "kpis").iterdir())


def test_unchanged_file_is_not_parsed_again(make_project: MakeProject, parses: list[str]) -> None:
    root = make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV})
    first = load().files[0].table
    stat = first.stat()
    again = load().files[0].table
    assert parses == ["kpis.csv"]
    assert again == first
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert len(cache_entries(root)) == 2  # the parquet and its metadata
    assert fetch(SELECT_ALL) == GOOD_ROWS


def test_changed_content_is_parsed_again(make_project: MakeProject, parses: list[str]) -> None:
    root = make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV})
    assert load().rows == 3
    (root / "data/kpis.csv").write_bytes(GOOD_CSV + b"2024-01-04,south,9,5\n")
    loaded = load()
    assert parses == ["kpis.csv", "kpis.csv"]
    assert (loaded.rows, loaded.max_date) == (4, dt.date(2024, 1, 4))
    assert fetch("SELECT tickets FROM kpis WHERE day = '2024-01-04'") == [(9,)]


def test_same_size_edit_in_the_same_second_is_parsed_again(
    make_project: MakeProject, parses: list[str]
) -> None:
    root = make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV})
    export = root / "data/kpis.csv"
    stat = export.stat()
    load()
    export.write_bytes(GOOD_CSV.replace(b",12,", b",13,"))
    os.utime(export, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert fetch("SELECT tickets FROM kpis WHERE day = '2024-01-01'") == [(13,)]
    assert parses == ["kpis.csv", "kpis.csv"]


def test_touch_without_a_content_change_reuses_the_cache(
    make_project: MakeProject, parses: list[str]
) -> None:
    root = make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV})
    load()
    before = cache_entries(root)
    export = root / "data/kpis.csv"
    later = export.stat().st_mtime_ns + 5_000_000_000
    os.utime(export, ns=(later, later))
    assert load().rows == 3
    assert parses == ["kpis.csv"]
    assert cache_entries(root) == before


def test_half_written_cache_entries_are_never_used(
    make_project: MakeProject, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV})
    loaded = load()
    table = loaded.files[0].table
    # a crash mid-write: a temp file of garbage beside the entry, and an entry whose
    # metadata was never written (its Parquet garbled here to prove it is not read)
    table.with_suffix(".json").unlink()
    stray = table.parent / f".{table.name}.abc123.tmp"
    stray.write_bytes(b"PAR1 half a parquet file")
    table.write_bytes(b"PAR1 truncated")
    assert fetch(SELECT_ALL) == GOOD_ROWS
    assert parses == ["kpis.csv", "kpis.csv"]

    # a reader that dies half-way leaves no entry behind: the next load parses again
    (root / "data/kpis.csv").write_bytes(GOOD_CSV + b"2024-01-04,south,9,5\n")
    real = readers.READERS["csv"]

    def dies(con: Any, source: Any, path: Path, shown: str, out: Path) -> Any:
        out.write_bytes(b"PAR1 half")
        raise RuntimeError("killed")

    monkeypatch.setitem(readers.READERS, "csv", dies)
    before = cache_entries(root)
    with pytest.raises(RuntimeError, match="killed"):
        load()
    assert cache_entries(root) == before
    monkeypatch.setitem(readers.READERS, "csv", real)
    assert load().rows == 4


def test_cached_problems_name_the_file_as_seen_from_the_current_directory(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    root = make_project(
        kpis_source("data/kpis.csv", "on_error: quarantine"), {"data/kpis.csv": MIXED_CSV}
    )
    assert str(load().rejected[0]).startswith("data/kpis.csv:3: ")
    monkeypatch.chdir(root / "data")
    with open_project(root) as project:
        assert str(project.source("kpis").rejected[0]).startswith("kpis.csv:3: ")
    assert parses == ["kpis.csv"]


def test_identical_files_of_a_glob_each_name_their_own_problems(make_project: MakeProject) -> None:
    make_project(
        kpis_source('"data/kpis_*.csv"', "on_error: quarantine"),
        {"data/kpis_a.csv": MIXED_CSV, "data/kpis_b.csv": MIXED_CSV},
    )
    loaded = load()
    assert (loaded.rows, loaded.quarantined) == (6, 6)
    assert [p.location() for p in loaded.rejected] == [
        "data/kpis_a.csv:3",
        "data/kpis_a.csv:5",
        "data/kpis_a.csv:5",
        "data/kpis_a.csv:6",
        "data/kpis_b.csv:3",
        "data/kpis_b.csv:5",
        "data/kpis_b.csv:5",
        "data/kpis_b.csv:6",
    ]


# -- 8. nothing silently dropped ----------------------------------------------------------------

GOOD_FIXTURES: dict[str, tuple[str, dict[str, bytes], int, int]] = {
    "csv": (kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV}, 3, 0),
    "csv-quarantine": (
        kpis_source("data/kpis.csv", "on_error: quarantine"),
        {"data/kpis.csv": MIXED_CSV},
        6,
        3,
    ),
    "csv-ragged-quarantine": (
        kpis_source("data/kpis.csv", "on_error: quarantine"),
        {
            "data/kpis.csv": text(
                "day,team,tickets,csat",
                "2024-01-01,n,1,2,3",
                "2024-01-02,s,1,2",
                "2024-01-03",
                "2024-01-04,s,1.5,2",
            )
        },
        4,
        3,
    ),
    "csv-multiline-blank": (
        kpis_source("data/kpis.csv", "on_error: quarantine"),
        {
            "data/kpis.csv": text(
                "day,team,tickets,csat",
                '2024-01-01,"a\nb",1,',
                "",
                "2024-01-02,s,x,",
                "2024-01-03,s,3,",
            )
        },
        3,
        1,
    ),
    "csv-crlf": (
        kpis_source("data/kpis.csv"),
        {"data/kpis.csv": GOOD_CSV.replace(b"\n", b"\r\n")},
        3,
        0,
    ),
    "csv-no-final-newline": (kpis_source("data/kpis.csv"), {"data/kpis.csv": GOOD_CSV[:-1]}, 3, 0),
    "csv-big": (kpis_source("data/kpis.csv"), {"data/kpis.csv": big_csv(40_000)}, 40_000, 0),
    "csv-big-quarantine": (
        kpis_source("data/kpis.csv", "on_error: quarantine"),
        {
            "data/kpis.csv": big_csv(
                40_000, {5: ",n,1,1", 30_001: "2024-13-45,n,1,1", 39_999: "2024-01-01,n,1"}
            )
        },
        40_000,
        3,
    ),
    "tsv": (kpis_source("data/kpis.tsv"), {"data/kpis.tsv": GOOD_CSV.replace(b",", b"\t")}, 3, 0),
    "latin-1": (
        kpis_source("data/kpis.csv", "options: {encoding: latin-1}"),
        {"data/kpis.csv": text(*ACCENTED, encoding="latin-1")},
        2,
        0,
    ),
    "utf-16": (
        kpis_source("data/kpis.csv", "options: {encoding: utf-16}"),
        {"data/kpis.csv": text(*ACCENTED, encoding="utf-16")},
        2,
        0,
    ),
    "xlsx": (
        kpis_source("data/kpis.xlsx", date="day"),
        {"data/kpis.xlsx": xlsx({"S": XLSX_ROWS})},
        3,
        0,
    ),
    "xlsx-quarantine": (
        kpis_source("data/kpis.xlsx", "on_error: quarantine", date="day"),
        {
            "data/kpis.xlsx": xlsx(
                {"S": [*XLSX_ROWS, [], [None, "n", "x", 1], ["2024-01-09", "s", 2, 1]]}
            )
        },
        5,
        1,
    ),
    "parquet": (
        kpis_source("data/kpis.parquet", date="d"),
        {"data/kpis.parquet": parquet(PARQUET_TABLE)},
        2,
        0,
    ),
    "json": (kpis_source("data/kpis.json"), {"data/kpis.json": json.dumps(RECORDS).encode()}, 3, 0),
    "ndjson-quarantine": (
        kpis_source("data/kpis.ndjson", "on_error: quarantine"),
        {
            "data/kpis.ndjson": b"".join(
                json.dumps({**r, "tickets": "x" if i == 1 else r["tickets"]}).encode() + b"\n"
                for i, r in enumerate(RECORDS)
            )
        },
        3,
        1,
    ),
}


@pytest.mark.parametrize("case", list(GOOD_FIXTURES))
def test_every_data_row_is_loaded_or_quarantined(make_project: MakeProject, case: str) -> None:
    sources_yaml, files, data_rows, bad_rows = GOOD_FIXTURES[case]
    make_project(sources_yaml, files)
    loaded = load()
    assert (loaded.rows, loaded.quarantined) == (data_rows - bad_rows, bad_rows)
    assert loaded.rows + loaded.quarantined == data_rows
    assert fetch("SELECT count(*) FROM kpis") == [(loaded.rows,)]


def test_a_reviewkit_error_is_what_callers_catch(make_project: MakeProject) -> None:
    make_project(kpis_source("data/kpis.csv"), {"data/kpis.csv": b""})
    with pytest.raises(ReviewkitError, match=r"^source 'kpis' cannot be read as declared:\n"):
        load()
