"""Rows a source's declaration forbids, checked on every load since the answer depends on the
day: a repeat of its ``unique`` key, a date after today (unless ``future_dates: allow``); and
rows whose column is blank (:func:`blank_rows`), each named by its file and line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import duckdb

from reviewkit.base.errors import DataError, Problem, shown_path
from reviewkit.base.sql import connect, quote_ident, quote_literal
from reviewkit.config import Source
from reviewkit.sources.columns import staged_columns
from reviewkit.sources.forensics import physical_line, quoted_newlines
from reviewkit.sources.loaded import LoadedFile, LoadedSource

__all__ = ["FUTURE_SLACK", "LISTED_ROWS", "blank_rows", "forbidden_rows"]

#: Rows dated more than this after today are refused (a day of slack for time zones).
FUTURE_SLACK: Final = dt.timedelta(days=1)


#: How many rows a row check lists per file before summarising the rest.
LISTED_ROWS: Final = 5


def forbidden_rows(source: Source, files: Sequence[LoadedFile], today: dt.date) -> list[Problem]:
    """Rows the source's declaration forbids: a repeat of its ``unique`` key, or (unless
    ``future_dates: allow``) a date after ``today``. Checked on every load, not cached, since
    the answer depends on the day; a file whose dates all lie in the past costs nothing."""
    late = today + FUTURE_SLACK
    future = [
        f
        for f in files
        if source.future_dates == "refuse" and f.max_date is not None and f.max_date > late
    ]
    if not source.unique and not future:
        return []  # the usual case: no connection, no scan
    problems: list[Problem] = []
    con = connect()
    try:
        for loaded in files:
            if source.unique:
                problems += _repeated_keys(con, source, loaded)
            if loaded in future:
                problems += _future_rows(con, source, loaded, today, late)
    finally:
        con.close()
    return problems


def _repeated_keys(
    con: duckdb.DuckDBPyConnection, source: Source, loaded: LoadedFile
) -> list[Problem]:
    shown = shown_path(loaded.path)
    columns = staged_columns(con, f"read_parquet({quote_literal(str(loaded.table))})")
    missing = [c for c in source.unique if c not in columns]
    if missing:
        raise DataError.from_problems(
            f"source '{source.name}' cannot be read as declared:",
            [
                Problem(
                    shown,
                    f"has no column {', '.join(map(repr, missing))} named under sources."
                    f"{source.name}.unique; its columns are: {', '.join(columns)}",
                )
            ],
        )
    keys = ", ".join(quote_ident(c) for c in source.unique)
    repeats = con.execute(
        f"SELECT list(file_row_number ORDER BY file_row_number), {keys} "
        "FROM read_parquet($p, file_row_number=true) "
        f"GROUP BY {keys} HAVING count(*) > 1 ORDER BY min(file_row_number)",
        {"p": str(loaded.table)},
    ).fetchall()
    found = [(rows[0], row, values) for rows, *values in repeats for row in rows[1:]]
    found.sort(key=lambda item: item[1])
    where = _row_locator(source, loaded, [n for first, row, _ in found for n in (first, row)])
    names = ", ".join(source.unique)
    problems = [
        where[row].problem(
            shown,
            f"repeats {where[first].text} with the same {names} "
            f"({', '.join(_shown_value(v) for v in values)}); remove the duplicate row from "
            f"the export, or correct `unique:` under sources.{source.name}",
        )
        for first, row, values in found[:LISTED_ROWS]
    ]
    return problems + _more(shown, len(found), "row(s) repeat a unique key")


def blank_rows(
    loaded: LoadedSource, column: str, message: str, *, key: str, severity: str = "error"
) -> list[Problem]:
    """A problem (``message``, under ``key``) for each row of ``loaded``'s export files whose
    ``column`` is blank, with its file and line: the first few of each file, then how many more.
    A source in a SQL engine has no lines to name and is not checked here."""
    problems: list[Problem] = []
    con = connect()
    try:
        for file in loaded.files:
            rows = [
                row
                for (row,) in con.execute(
                    "SELECT file_row_number FROM read_parquet($p, file_row_number = true) "
                    f"WHERE {quote_ident(column)} IS NULL ORDER BY 1",
                    {"p": str(file.table)},
                ).fetchall()
            ]
            shown = shown_path(file.path)
            where = _row_locator(loaded.source, file, rows[:LISTED_ROWS])
            problems += [
                replace(where[row].problem(shown, message), key=key, severity=severity)
                for row in rows[:LISTED_ROWS]
            ]
            problems += [
                replace(more, key=key, severity=severity)
                for more in _more(shown, len(rows), f"row(s) like these, with '{column}' blank")
            ]
    finally:
        con.close()
    return problems


def _future_rows(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    loaded: LoadedFile,
    today: dt.date,
    late: dt.date,
) -> list[Problem]:
    shown = shown_path(loaded.path)
    column = quote_ident(source.date.column)
    rows = con.execute(
        f"SELECT file_row_number, CAST({column} AS DATE) FROM read_parquet($p, "
        f"file_row_number=true) WHERE CAST({column} AS DATE) > $late ORDER BY file_row_number",
        {"p": str(loaded.table), "late": late},
    ).fetchall()
    where = _row_locator(source, loaded, [row for row, _ in rows[:LISTED_ROWS]])
    problems = [
        where[row].problem(
            shown,
            f"column '{source.date.column}': {day.isoformat()} is after today "
            f"({today.isoformat()}); correct the date in the export, or set "
            f"`future_dates: allow` under sources.{source.name} if it plans ahead",
        )
        for row, day in rows[:LISTED_ROWS]
    ]
    return problems + _more(shown, len(rows), "row(s) are dated after today")


def _more(shown: str, count: int, what: str) -> list[Problem]:
    """The summary after the listed rows of a row check, when there are more."""
    if count <= LISTED_ROWS:
        return []
    return [Problem(shown, f"... {count - LISTED_ROWS} more {what}; {count} in all")]


@dataclass(frozen=True)
class _DataRow:
    """Where a row of a source's table is in its export: a line of a CSV file, else a label."""

    line: int | None
    label: str

    @property
    def text(self) -> str:
        return f"line {self.line}" if self.line is not None else self.label

    def problem(self, shown: str, message: str) -> Problem:
        if self.line is not None:
            return Problem(shown, message, self.line)
        return Problem(shown, f"{self.label}: {message}")


def _row_locator(source: Source, loaded: LoadedFile, rows: Sequence[int]) -> dict[int, _DataRow]:
    """Where each of the cached table's ``rows`` (0-based) is in the export. A CSV row has a
    line; other formats number their data rows from 1. Once bad rows are set aside
    (quarantine), a row is numbered among the rows kept."""
    if loaded.bad_rows:
        return {row: _DataRow(None, f"kept row {row + 1}") for row in rows}
    if source.format not in ("csv", "tsv"):
        return {row: _DataRow(None, f"data row {row + 1}") for row in rows}
    quoted = quoted_newlines(source, loaded.path) if rows else []
    return {row: _DataRow(physical_line(row + 2, quoted), "") for row in rows}


def _shown_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
