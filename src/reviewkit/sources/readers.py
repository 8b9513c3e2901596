"""A reader per export format (:data:`READERS`): CSV and TSV, Excel, JSON and NDJSON, Parquet,
each writing the file's good rows, typed as declared, to Parquet and returning its bad values;
and a long export pivoted to one column per value (:func:`pivot_long`).

Every file is parsed with explicit types (never DuckDB's auto-detection, which silently turns a
ragged CSV into one text column), and every bad row is reported with its file, line, column and
raw text."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

from reviewkit.base.errors import DataError, Problem
from reviewkit.base.sql import quote_ident, quote_literal
from reviewkit.config import Source
from reviewkit.sources.columns import (
    MAX_WHOLE,
    Bad,
    bad_values,
    column_types,
    column_typing,
    convert_staged,
    file_error,
    staged_columns,
    typed_columns,
)
from reviewkit.sources.forensics import (
    check_header,
    check_quotes,
    physical_line,
    quoted_newlines,
    unparsable_csv,
)

__all__ = ["READERS", "parquet_in_place", "pivot_long"]

RAW_PREVIEW: Final = 80


CAST_VALUE = re.compile(r'Could not convert string "(.*)" to', re.DOTALL)


def _read_csv(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str, out: Path
) -> list[Bad]:
    header = _csv_header(source, path, shown)
    check_header(shown, source, header)
    check_quotes(source, path, shown)
    typed = typed_columns(source)
    # DuckDB rounds "1.5" read as BIGINT without a word: read whole numbers as DOUBLE, check below
    whole = [name for name in header if typed.get(name) == "BIGINT"]
    columns = {name: "DOUBLE" if name in whole else typed.get(name, "VARCHAR") for name in header}
    options: dict[str, Any] = {
        "p": str(path),
        "columns": columns,
        "delim": source.delimiter,
        "quote": source.quote,
        "encoding": source.encoding,
        "decimal": source.decimal,
        "notnull": [source.date.column],
    }
    fmt_option = ""
    if source.date.format:
        options["datefmt"] = source.date.format
        fmt_option = (
            ", timestampformat=$datefmt" if source.date.has_time else ", dateformat=$datefmt"
        )
    thousands = ""
    if source.thousands:
        options["thousands"] = source.thousands
        thousands = ", thousands=$thousands"
    reader = (
        "read_csv($p, auto_detect=false, header=true, columns=$columns, delim=$delim, "
        "quote=$quote, escape=$quote, encoding=$encoding, decimal_separator=$decimal, "
        "force_not_null=$notnull, strict_mode=true, null_padding=false, "
        f"store_rejects=true{fmt_option}{thousands})"
    )
    # One pass in the usual case: the whole-number columns are checked and typed as BIGINT on
    # the way to Parquet, and a fraction stops the pass; only then is the file read as DOUBLE
    # and the rows with fractions located and left out (a second pass over the Parquet).
    fractions = False
    if whole:
        casts = ", ".join(
            f"CASE WHEN {_fraction(c)} THEN error({quote_literal(FRACTION_FOUND)}) "
            f"ELSE CAST({quote_ident(c)} AS BIGINT) END AS {quote_ident(c)}"
            for c in whole
        )
        try:
            _copy(con, f"SELECT * REPLACE ({casts}) FROM {reader}", out, options)
        except duckdb.Error as exc:
            if FRACTION_FOUND not in str(exc):
                raise unparsable_csv(source, path, shown, str(exc)) from None
            fractions = True
    if fractions or not whole:
        try:
            _copy(con, f"SELECT * FROM {reader}", out, options)
        except duckdb.Error as exc:
            raise unparsable_csv(source, path, shown, str(exc)) from None
    rejects = con.execute(
        "SELECT line, column_name, error_type, csv_line, error_message FROM reject_errors "
        "ORDER BY line, column_idx"
    ).fetchall()
    quoted = quoted_newlines(source, path) if rejects else []
    bad = []
    counted: dict[int, tuple[str, str, str]] = {}  # line -> its column-count error
    lines: list[bytes] = []
    for duck_line, column, kind, duck_raw, message in rejects:
        line, raw_line = physical_line(duck_line, quoted), duck_raw
        if kind == "INVALID ENCODING" and source.encoding == "utf-8":
            # DuckDB's copy of the row has lost the bad bytes and a neighbour: show the file's
            lines = lines or path.read_bytes().split(b"\n")
            raw_line = lines[line - 1].rstrip(b"\r").decode("utf-8", errors="backslashreplace")
        if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            # DuckDB reports each missing or extra field with a running count: keep the true one
            if line not in counted or kind == "TOO MANY COLUMNS":
                counted[line] = (kind, raw_line, message)
            continue
        bad.append(_reject(source, shown, line, column, kind, raw_line, message))
    for line, (kind, raw_line, message) in counted.items():
        bad.append(_reject(source, shown, line, "", kind, raw_line, message))
    if fractions:
        bad += _whole_numbers(con, source, path, shown, header, whole, out)
    return bad


#: The message that stops the one-pass read of a CSV at a fraction in a whole-number column.
FRACTION_FOUND: Final = "reviewkit: a whole-number column holds a fraction"


def _fraction(column: str) -> str:
    """SQL: the DOUBLE ``column`` is not a whole number that fits in a BIGINT."""
    q = quote_ident(column)
    return f"{q} <> round({q}) OR abs({q}) >= {MAX_WHOLE}"


def _copy(con: duckdb.DuckDBPyConnection, select: str, out: Path, params: dict[str, Any]) -> None:
    """Write the rows of ``select`` to the Parquet file ``out`` (replacing it)."""
    con.execute(f"COPY ({select}) TO {quote_literal(str(out))} (FORMAT parquet)", params)


def _whole_numbers(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    path: Path,
    shown: str,
    header: Sequence[str],
    whole: Sequence[str],
    out: Path,
) -> list[Bad]:
    """Type the whole-number columns (read as DOUBLE) as BIGINT, leaving out rows with fractions."""
    fractions = " OR ".join(_fraction(c) for c in whole)
    found = f"SELECT count(*) FROM read_parquet($p) WHERE {fractions}"
    bad = []
    if con.execute(found, {"p": str(out)}).fetchall()[0][0]:
        bad = _fractional_rows(source, path, shown, header, whole)
    casts = ", ".join(f"CAST({quote_ident(c)} AS BIGINT) AS {quote_ident(c)}" for c in whole)
    typed = out.with_name(out.name + ".typed.parquet")
    con.execute(
        f"COPY (SELECT * REPLACE ({casts}) FROM read_parquet($p) WHERE NOT "
        f"coalesce({fractions}, false)) TO {quote_literal(str(typed))} (FORMAT parquet)",
        {"p": str(out)},
    )
    typed.replace(out)
    return bad


def _fractional_rows(
    source: Source, path: Path, shown: str, header: Sequence[str], whole: Sequence[str]
) -> list[Bad]:
    """Locate the rows whose whole-number columns hold a fraction (rare: only then re-read)."""
    bad = []
    codec = {"utf-8": "utf-8-sig", "utf-16": "utf-16"}.get(source.encoding, source.encoding)
    with path.open(encoding=codec, errors="replace", newline="") as handle:
        taken: list[str] = []  # the physical lines of the record just read

        def lines() -> Iterator[str]:
            for text in handle:
                taken.append(text)
                yield text

        records = csv.reader(lines(), delimiter=source.delimiter, quotechar=source.quote)
        next(records, None)
        line, taken[:] = len(taken), []
        for row in records:
            first, line = line + 1, line + len(taken)
            raw, taken[:] = "".join(taken).rstrip("\r\n"), []
            if len(row) != len(header):
                continue  # DuckDB reported it
            for column in whole:
                value = row[header.index(column)]
                text = value.strip()
                if source.thousands:
                    text = text.replace(source.thousands, "")
                try:
                    number = float(text.replace(source.decimal, "."))
                except ValueError:
                    continue
                if not number.is_integer() or abs(number) >= MAX_WHOLE:
                    what = "a whole number"
                    shown_row = raw if len(raw) <= RAW_PREVIEW else raw[:RAW_PREVIEW] + "..."
                    message = (
                        f"column '{column}': cannot read {value!r} as {what}; row: {shown_row}"
                    )
                    bad.append(Bad(first, Problem(shown, message, first), column, what, value))
    return bad


def _reject(
    source: Source, shown: str, line: int, column: str, kind: str, raw_line: str, message: str
) -> Bad:
    """A row DuckDB's CSV reader rejected (``reject_errors``), as users see it."""
    raw_line = raw_line.strip("\r\n")  # DuckDB prefixes the blank lines before the record
    row = raw_line if len(raw_line) <= RAW_PREVIEW else raw_line[:RAW_PREVIEW] + "..."
    if kind == "CAST":
        found = CAST_VALUE.search(message)
        value = found.group(1) if found else None
        if column in source.date_columns:
            fmt = source.date.format or "%Y-%m-%d"
            what = f"a date in format '{fmt}'"
        else:
            what = "a whole number" if source.value_types.get(column) == "integer" else "a number"
            if source.shape == "long":
                what = "a number"
        shown_value = "(empty)" if value is None else repr(value)
        text = f"column '{column}': cannot read {shown_value} as {what}; row: {row}"
        return Bad(line, Problem(shown, text, line), column, what, value)
    if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        detail = message.replace("Expected Number of Columns: ", "expected ").replace(
            " Found: ", " columns, found "
        )
        text = f"{detail}; row: {row}"
    elif kind == "INVALID ENCODING":
        text = (
            f"not valid {source.encoding} text; set options.encoding (latin-1, utf-16) to match "
            f"the export; row: {row}"
        )
    else:
        text = f"{kind.lower()}: {message}; row: {row}"
    return Bad(line, Problem(shown, text, line), cause=kind.lower())


def _csv_header(source: Source, path: Path, shown: str) -> list[str]:
    codec = {"utf-8": "utf-8-sig", "utf-16": "utf-16"}.get(source.encoding, source.encoding)
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise file_error(
            shown,
            "is empty; expected a header line naming the columns: "
            + ", ".join(typed_columns(source)),
            1,
        )
    try:
        text = head.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the buffer
            line = head[: exc.start].count(b"\n") + 1
            if line == 1:
                raise file_error(
                    shown,
                    f"the header is not valid {source.encoding} (byte {exc.start + 1}); set "
                    "options.encoding to the export's encoding (utf-8, latin-1 or utf-16)",
                    1,
                ) from None
        text = head[: exc.start].decode(codec, errors="ignore")
    first = text.splitlines()[0] if text.splitlines() else ""
    if "\x00" in first:
        raise file_error(
            shown,
            "the header contains NUL bytes: the file looks UTF-16; set options.encoding: utf-16",
            1,
        )
    return next(csv.reader([first], delimiter=source.delimiter, quotechar=source.quote))


def _read_xlsx(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str, out: Path
) -> list[Bad]:
    from python_calamine import CalamineError, CalamineWorkbook  # noqa: PLC0415 (heavy, optional)

    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise file_error(
            shown, f"is not a readable .xlsx workbook ({exc}); export it again"
        ) from None
    sheets = list(book.sheet_names)
    if source.sheet is None and len(sheets) > 1:
        raise file_error(
            shown,
            f"has {len(sheets)} sheets ({', '.join(sheets)}); say which to read with "
            f"options.sheet under sources.{source.name}",
        )
    name = source.sheet or sheets[0]
    if name not in sheets:
        raise file_error(shown, f"has no sheet '{name}'; its sheets are: {', '.join(sheets)}")
    rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    first = next((i for i, r in enumerate(rows) if any(str(c).strip() for c in r)), None)
    if first is None:
        raise file_error(shown, f"sheet '{name}' is empty; expected a header row", 1)
    header = [str(c).strip() for c in rows[first]]
    while header and not header[-1]:
        header.pop()
    check_header(f"{shown}[{name}]", source, header, first + 1)
    date_fmt = source.date.format or "%Y-%m-%d"
    columns: dict[str, list[str | None]] = {h: [] for h in header}
    lines: list[int] = []
    for index in range(first + 1, len(rows)):
        row = rows[index]
        if not any(str(c).strip() for c in row):
            continue
        lines.append(index + 1)
        for h, cell in zip(header, row, strict=False):
            columns[h].append(_cell_text(cell, date_fmt))
    table = pa.table({**columns, "_line": pa.array(lines, pa.int64())})
    con.register("staged_xlsx", table)
    return convert_staged(con, source, f"{shown}[{name}]", "staged_xlsx", out, "row")


def _cell_text(cell: Any, date_fmt: str) -> str | None:
    if isinstance(cell, dt.datetime | dt.date):
        return cell.strftime(date_fmt)
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, dt.time | dt.timedelta):
        return str(cell)
    text = str(cell)
    return text if text.strip() else None


def _read_json(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str, out: Path
) -> list[Bad]:
    layout = "newline_delimited" if source.format == "ndjson" else "array"
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if len(head) < 1 << 16 and not head.strip(b"\xef\xbb\xbf \t\r\n[]"):
        shape = "one object per line" if source.format == "ndjson" else "an array of objects"
        raise file_error(
            shown,
            f"has no records; expected {shape} with keys: " + ", ".join(typed_columns(source)),
            1,
        )
    if layout == "array":  # DuckDB reads an array cut off after a record without a word
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 64))
            if not handle.read().rstrip().endswith(b"]"):
                raise _json_error(shown, "the array is never closed (truncated?)", path, layout)
    try:
        keys = [
            r[0]
            for r in con.execute(
                "DESCRIBE SELECT * FROM read_json($p, format=$f, sample_size=-1)",
                {"p": str(path), "f": layout},
            ).fetchall()
        ]
        columns = dict.fromkeys(keys, "VARCHAR")
        con.execute(
            "CREATE TABLE staged_json AS SELECT *, row_number() OVER () AS _line FROM "
            "read_json($p, format=$f, columns=$c)",
            {"p": str(path), "f": layout, "c": columns},
        )
    except duckdb.Error as exc:
        raise _json_error(shown, str(exc), path, layout) from None
    check_header(shown, source, keys, None)
    return convert_staged(con, source, shown, "staged_json", out, "record")


def _json_error(shown: str, message: str, path: Path, layout: str) -> DataError:
    """Where the JSON breaks, found with Python's parser (DuckDB's byte offsets are per record)."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    if layout == "array" and text.lstrip().startswith("{"):
        return file_error(
            shown,
            "is not a JSON array of records (it starts with '{'); for one object per line, "
            "name it .ndjson or set `format: ndjson`",
            1,
        )
    docs = [(1, text)] if layout == "array" else enumerate(text.splitlines(), start=1)
    for first, doc in docs:
        if doc.strip():
            try:
                json.loads(doc)
            except json.JSONDecodeError as exc:
                line = first + exc.lineno - 1
                return file_error(
                    shown,
                    f"is not valid JSON: {exc.msg}; fix it or export it again",
                    line,
                    exc.colno,
                )
    detail = message.splitlines()[0].split(": ", 1)[-1].replace(str(path), shown)
    return file_error(shown, f"is not valid JSON: {detail.strip()}; fix it or export it again")


def _read_parquet(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str, out: Path
) -> list[Bad]:
    _stage_parquet(con, source, path, shown)
    return convert_staged(con, source, shown, "staged_parquet", out, "row")


def parquet_in_place(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str
) -> str | None:
    """The select list that reads a Parquet export as declared where it lies, when none of its
    columns needs parsing and one scan finds every value converts; else None (it is copied,
    and its bad values reported, as other formats are)."""
    _stage_parquet(con, source, path, shown)
    typing = column_typing(source, column_types(con, "staged_parquet"))
    if typing.parses:
        return None
    _, bad_lines = bad_values(con, typing, shown, "staged_parquet", "row")
    return None if bad_lines else ", ".join(typing.selects)


def _stage_parquet(con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str) -> None:
    """The view ``staged_parquet``: the export's rows, numbered in ``_line``, its header
    checked against the declaration."""
    try:
        con.execute(
            "CREATE OR REPLACE VIEW staged_parquet AS SELECT * EXCLUDE (file_row_number), "
            "file_row_number + 1 AS _line FROM read_parquet("
            f"{quote_literal(str(path))}, file_row_number=true)"
        )
        header = [c for c in staged_columns(con, "staged_parquet") if c != "_line"]
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0].replace(str(path), shown)
        raise file_error(
            shown, f"is not a readable Parquet file ({first}); export it again (truncated?)"
        ) from None
    check_header(shown, source, header, None)  # a Parquet file has no lines


READERS: Final = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "xlsx": _read_xlsx,
    "json": _read_json,
    "ndjson": _read_json,
    "parquet": _read_parquet,
}


def pivot_long(con: duckdb.DuckDBPyConnection, source: Source, shown: str, table: Path) -> None:
    """Turn a long export (one row per date, dimensions and key) into one column per value."""
    assert source.long_key and source.long_value
    keep = [source.date.column, *source.dimensions]
    group = ", ".join(quote_ident(c) for c in keep)
    key, value = quote_ident(source.long_key), quote_ident(source.long_value)
    src = f"read_parquet({quote_literal(str(table))})"
    duplicates = con.execute(
        f"SELECT {group}, {key}, count(*) FROM {src} GROUP BY ALL HAVING count(*) > 1 "
        "ORDER BY ALL LIMIT 20"
    ).fetchall()
    problems = [
        Problem(
            shown,
            f"key '{row[-2]}' appears {row[-1]} times for "
            + ", ".join(f"{c}={v}" for c, v in zip(keep, row[:-2], strict=True))
            + "; a long export needs one row per date, dimensions and key",
        )
        for row in duplicates
    ]
    whole = [name for name, kind in source.values if kind == "integer"]
    fractions = con.execute(
        f"SELECT {group}, {key}, {value} FROM {src} WHERE {key} IN (SELECT unnest($whole)) "
        f"AND ({value} <> round({value}) OR abs({value}) >= {MAX_WHOLE}) ORDER BY ALL LIMIT 20",
        {"whole": whole},
    ).fetchall()
    problems += [
        Problem(
            shown,
            f"key '{row[-2]}' has {row[-1]:g}, not a whole number (declared integer under "
            "values), for " + ", ".join(f"{c}={v}" for c, v in zip(keep, row[:-2], strict=True)),
        )
        for row in fractions
    ]
    present = {r[0] for r in con.execute(f"SELECT DISTINCT {key} FROM {src}").fetchall()}
    problems += [
        Problem(shown, f"no rows have {source.long_key} = '{name}' (declared under values)")
        for name, _ in source.values
        if name not in present
    ]
    if problems:
        raise DataError.from_problems("long export cannot be pivoted:", problems)
    pivots = ", ".join(
        f"CAST(any_value({value}) FILTER (WHERE {key} = {quote_literal(name)}) AS "
        f"{'BIGINT' if kind == 'integer' else 'DOUBLE'}) AS {quote_ident(name)}"
        for name, kind in source.values
    )
    wide = table.with_suffix(".wide.parquet")
    con.execute(
        f"COPY (SELECT {group}, {pivots} FROM {src} GROUP BY ALL) TO "
        f"{quote_literal(str(wide))} (FORMAT parquet)"
    )
    wide.replace(table)
