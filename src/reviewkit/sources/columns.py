"""What every reader shares: the columns a source declares and their types, how a staged
relation's columns become them (:func:`convert_staged`), each value that does not convert as a
:class:`Bad` value, and the error for a file that cannot be read at all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb

from reviewkit.base.errors import DataError, Problem
from reviewkit.base.sql import quote_ident, quote_literal
from reviewkit.config import Source

__all__ = [
    "MAX_WHOLE",
    "NATIVE_DATES",
    "NATIVE_NUMBERS",
    "NATIVE_WHOLE",
    "Bad",
    "Typing",
    "bad_values",
    "column_types",
    "column_typing",
    "convert_staged",
    "file_error",
    "staged_columns",
    "typed_columns",
]

MAX_WHOLE: Final = 9.2e18  # beyond BIGINT


def file_error(
    shown: str, message: str, line: int | None = None, col: int | None = None
) -> DataError:
    return DataError.from_problems("export cannot be read:", [Problem(shown, message, line, col)])


@dataclass(frozen=True)
class Bad:
    """A value (or a whole row) of an export that cannot be read as declared."""

    #: the row's line in the file (CSV), else its number among the rows or records
    where: int
    #: the problem as listed on its own
    problem: Problem
    #: the column ("" for a problem with the whole row) and what its value should be (or what
    #: is wrong with the row): the rows of a group share both
    column: str = ""
    cause: str = ""
    #: the value as written; None when empty
    value: str | None = None


def typed_columns(source: Source) -> dict[str, str]:
    """Columns reviewkit converts; a long source's value column is numeric, its keys are not."""
    has_time = source.date.has_time
    if source.shape == "long":
        assert source.long_key and source.long_value
        return {
            source.date.column: source.column_type(source.date.column, has_time=has_time),
            **dict.fromkeys(source.dimensions, "VARCHAR"),
            source.long_key: "VARCHAR",
            source.long_value: "DOUBLE",
        }
    return {c: source.column_type(c, has_time=has_time) for c in source.declared_columns()}


#: Staged column types read without a detour through text, with the same result: their text
#: form converts back exactly (TIMESTAMP_NS is not one: DuckDB rounds it to the microsecond).
NATIVE_DATES: Final = frozenset({"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS"})


NATIVE_WHOLE: Final = frozenset(
    {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"}
)


NATIVE_NUMBERS: Final = NATIVE_WHOLE | {"DOUBLE", "UBIGINT"}


def convert_staged(
    con: duckdb.DuckDBPyConnection, source: Source, shown: str, staged: str, out: Path, unit: str
) -> list[Bad]:
    """Type the relation ``staged`` (which has a ``_line`` column) into ``out``.

    Used for Excel, JSON and Parquet, whose readers cannot report bad values with a location:
    each value that does not convert becomes a problem naming its line/row and raw text. All
    checks are one scan, then one copy.
    """
    typing = column_typing(source, column_types(con, staged))
    bad, bad_lines = bad_values(con, typing, shown, staged, unit)
    keep = " WHERE _line NOT IN (SELECT unnest($bad))" if bad_lines else ""
    con.execute(
        f"COPY (SELECT {', '.join(typing.selects)} FROM {staged}{keep}) TO "
        f"{quote_literal(str(out))} (FORMAT parquet)",
        {"bad": bad_lines} if bad_lines else {},
    )
    return bad


@dataclass(frozen=True)
class Typing:
    """How a staged relation's columns become the declared types."""

    #: ``expression AS column``, in the staged order
    selects: list[str]
    #: (column, typed expression, what it should be, required): values that may not convert
    checks: list[tuple[str, str, str, bool]]
    #: whether some column is parsed from text (not only cast from a fitting type)
    parses: bool


def column_typing(source: Source, staged_types: dict[str, str]) -> Typing:
    """Text columns are parsed; columns already of a fitting type (a Parquet DATE, TIMESTAMP,
    DOUBLE or integer) are cast directly, and only checked where a value can fail (a missing
    date, a fraction where a whole number is declared)."""
    typed = typed_columns(source)
    selects, checks, parses = [], [], False
    for column, staged_type in staged_types.items():
        if column == "_line":
            continue
        q = quote_ident(column)
        kind = typed.get(column, "VARCHAR")
        raw = f"NULLIF(trim(CAST({q} AS VARCHAR)), '')"
        if kind in ("DATE", "TIMESTAMP"):
            if source.date.format:
                expr = f"try_strptime({raw}, {quote_literal(source.date.format)})"
                what = f"a date in format '{source.date.format}'"
                parses = True
            elif staged_type in NATIVE_DATES:
                expr = q
                what = "a date (YYYY-MM-DD)"
            else:
                expr = f"TRY_CAST({raw} AS TIMESTAMP)"
                what = "a date (YYYY-MM-DD)"
                parses = True
            expr = f"CAST({expr} AS {kind})"
            # a lifecycle's end may be blank (still active); the date column may not
            checks.append((column, expr, what, column == source.date.column))
        elif kind == "BIGINT" and staged_type in NATIVE_WHOLE:
            expr = f"CAST({q} AS BIGINT)"  # nothing can fail
        elif kind == "DOUBLE" and staged_type in NATIVE_NUMBERS:
            expr = f"CAST({q} AS DOUBLE)"  # nothing can fail
        elif kind in ("DOUBLE", "BIGINT"):
            if staged_type == "DOUBLE":
                number = q
            else:
                text = raw
                if source.thousands:
                    text = f"replace({text}, {quote_literal(source.thousands)}, '')"
                if source.decimal != ".":
                    text = f"replace({text}, {quote_literal(source.decimal)}, '.')"
                number = f"TRY_CAST({text} AS DOUBLE)"
                parses = True
            if kind == "BIGINT":
                expr = (
                    f"CASE WHEN {number} = round({number}) AND abs({number}) < {MAX_WHOLE} "
                    f"THEN CAST({number} AS BIGINT) END"
                )
                what = "a whole number"
            else:
                expr = number
                what = "a number"
            checks.append((column, expr, what, False))
        else:
            expr = raw if column not in source.dimensions else f"CAST({q} AS VARCHAR)"
        selects.append(f"{expr} AS {q}")
    return Typing(selects, checks, parses)


def bad_values(
    con: duckdb.DuckDBPyConnection, typing: Typing, shown: str, staged: str, unit: str
) -> tuple[list[Bad], list[int]]:
    """The values of ``staged`` that do not convert (one scan), in line or row order, and the
    lines (``_line``) that hold them."""
    found: list[Bad] = []
    bad_lines: list[int] = []
    if not typing.checks:
        return [], []
    tests, outputs = [], []
    for column, expr, _, required in typing.checks:
        raw_col = f"CAST({quote_ident(column)} AS VARCHAR)"
        bad_if = f"({expr}) IS NULL AND NULLIF(trim({raw_col}), '') IS NOT NULL"
        if required:
            bad_if = f"({expr}) IS NULL"
        tests.append(f"coalesce({bad_if}, false)")
        outputs += [tests[-1], raw_col]
    rows = con.execute(
        f"SELECT _line, {', '.join(outputs)} FROM {staged} WHERE {' OR '.join(tests)} "
        "ORDER BY _line"
    ).fetchall()
    for line, *values in rows:
        bad_lines.append(line)
        for order, (column, _, what, _) in enumerate(typing.checks):
            is_bad, raw = values[2 * order], values[2 * order + 1]
            if not is_bad:
                continue
            value = str(raw) if raw is not None and str(raw).strip() else None
            shown_raw = "(empty)" if value is None else repr(value)
            message = f"column '{column}': cannot read {shown_raw} as {what}"
            if unit == "line":
                problem = Problem(shown, message, line)
            else:  # Parquet rows and JSON records have no line in the file
                problem = Problem(shown, f"{unit} {line}: {message}")
            found.append(Bad(line, problem, column, what, value))
    return found, bad_lines


def staged_columns(con: duckdb.DuckDBPyConnection, staged: str) -> list[str]:
    return list(column_types(con, staged))


def column_types(con: duckdb.DuckDBPyConnection, staged: str) -> dict[str, str]:
    """Column name -> DuckDB type of the relation ``staged``, in order."""
    described = con.execute(f"DESCRIBE SELECT * FROM {staged}").fetchall()
    return {str(row[0]): str(row[1]) for row in described}
