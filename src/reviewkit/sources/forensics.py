"""Why an export is not as declared, said precisely: a header with empty, repeated or missing
columns; a CSV file's unterminated quote, mixed line endings, and the lines DuckDB's numbering
skips; bad rows listed one by one, or grouped when they flood, each group with its likely fix
(a thousands separator or decimal comma, a date's day and month swapped, the header repeated)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import duckdb
import numpy as np

from reviewkit.base.errors import DataError, Problem
from reviewkit.base.sql import quote_ident
from reviewkit.config import OPTION_KEYS, Source
from reviewkit.sources.columns import Bad, file_error, typed_columns

__all__ = [
    "LIKELY_DELIMITERS",
    "REPEATED_HEADER",
    "ROWS_PER_GROUP",
    "check_header",
    "check_quotes",
    "listed_problems",
    "physical_line",
    "quoted_newlines",
    "unparsable_csv",
]

LIKELY_DELIMITERS: Final = (",", ";", "\t", "|")


#: How many rows of a group of bad rows are listed before the rest are counted.
ROWS_PER_GROUP: Final = 3


#: The group of rows that repeat the header line (in place of a column, a cause, an emptiness).
REPEATED_HEADER: Final = ("", "the header repeated", False)


#: Characters exports put between thousands ("1,234", "1.234", "1 234", "1'234").
THOUSANDS_SEPARATORS: Final = (",", ".", " ", "'")


DECIMAL_COMMA: Final = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:\.\d{3})+),\d+")


DAY_OR_MONTH: Final = re.compile(r"%(-?)([dm])")


_GroupKey = tuple[str, str, bool]


def listed_problems(
    con: duckdb.DuckDBPyConnection, source: Source, bad: Sequence[Bad], kept: Path
) -> list[Problem]:
    """The problems of one file as users see them (``kept``: the Parquet file of its good rows).

    A few are listed one by one in line order (a row repeating the header once). When a group
    of them (one column and cause, or the rows repeating the header) has more than
    :data:`ROWS_PER_GROUP` rows, as when a whole column is written another way, one line per
    bad row would bury the cause: the file's problems are summarised (rows, groups) and listed
    by group instead, each group's first rows then a count of the rest. Either way a group
    whose values show a pattern reviewkit knows names its likely fix."""
    if not bad:
        return []
    path = bad[0].problem.path
    groups = _groups(bad)
    fixes = {key: _likely_fix(con, source, key, rows, kept) for key, rows in groups.items()}
    if all(len(rows) <= ROWS_PER_GROUP for rows in groups.values()):
        grouped = {b for rows in groups.values() for b in rows}
        listed = [b.problem for b in sorted(bad, key=lambda b: b.where) if b in grouped]
        return listed + [Problem(path, fix) for fix in fixes.values() if fix is not None]
    listed = [
        Problem(
            path,
            f"{len({b.where for b in bad})} bad row(s) in {len(groups)} group(s) by column and "
            f"cause; the first {ROWS_PER_GROUP} rows of each follow",
        )
    ]
    for key, rows in groups.items():
        listed += [b.problem for b in rows[:ROWS_PER_GROUP]]
        if len(rows) > ROWS_PER_GROUP:
            more = len(rows) - ROWS_PER_GROUP
            listed.append(Problem(path, f"... and {more} more row(s) like these"))
        fix = fixes[key]
        if fix is not None:
            listed.append(Problem(path, fix))
    return listed


def _groups(bad: Sequence[Bad]) -> dict[_GroupKey, list[Bad]]:
    """Bad rows by column, cause and whether the value is empty, each row once, in the order of
    their rows (the groups too, by their first row). A row whose every bad value is its own
    column's name repeats the header: such rows are one group."""
    by_row: dict[int, list[Bad]] = {}
    for b in bad:
        by_row.setdefault(b.where, []).append(b)
    groups: dict[_GroupKey, list[Bad]] = {}
    for where in sorted(by_row):
        found = by_row[where]
        if all(b.column and b.value == b.column for b in found):
            groups.setdefault(REPEATED_HEADER, []).append(found[0])
            continue
        for b in found:
            rows = groups.setdefault((b.column, b.cause, b.value is None), [])
            if not rows or rows[-1].where != where:
                rows.append(b)
    return groups


def _likely_fix(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    key: _GroupKey,
    rows: Sequence[Bad],
    kept: Path,
) -> str | None:
    """What a group of bad rows most likely needs, when every value in it shows the pattern:
    a thousands separator or a decimal comma in a number column, a date with day and month
    the other way round, or the header line repeated."""
    column, _, empty = key
    if key == REPEATED_HEADER:
        return (
            f"{len(rows)} row(s) repeat the header line (exports appended to one another?); "
            "likely fix: remove them from the export"
        )
    values = [b.value.strip() for b in rows if b.value is not None]
    if empty or not column or not values:
        return None
    if typed_columns(source).get(column) in ("DOUBLE", "BIGINT"):
        return _number_fix(source, column, values)
    if column == source.date.column and source.date.format:
        return _date_fix(con, source, column, values, kept)
    return None


def _number_fix(source: Source, column: str, values: Sequence[str]) -> str | None:
    """Numbers written with a thousands separator, or with a decimal comma, that the source's
    ``options`` do not declare."""
    if "thousands" not in OPTION_KEYS[source.format]:
        return None  # a Parquet export's text column: there is no option to set
    under = f"under sources.{source.name}.options"
    fraction = f"(?:{re.escape(source.decimal)}\\d+)?"
    for separator in THOUSANDS_SEPARATORS:
        grouped = re.compile(rf"[+-]?\d{{1,3}}(?:{re.escape(separator)}\d{{3}})+{fraction}")
        if separator != source.decimal and all(grouped.fullmatch(v) for v in values):
            return (
                f"column '{column}': values like {values[0]!r} use {separator!r} between "
                f"thousands; likely fix: set `thousands: {json.dumps(separator)}` {under}"
            )
    if source.decimal == "." and all(DECIMAL_COMMA.fullmatch(v) for v in values):
        dots = any("." in v for v in values) and source.thousands != "."
        return (
            f"column '{column}': values like {values[0]!r} use a decimal comma; likely fix: set "
            '`decimal: ","`' + (' and `thousands: "."`' if dots else "") + f" {under}"
        )
    return None


def _date_fix(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    column: str,
    values: Sequence[str],
    kept: Path,
) -> str | None:
    """Dates whose format has the day and month the other way round: every bad value fits the
    format with ``%d`` and ``%m`` swapped, and every date read (in ``kept``) has a day of 12 or
    less, so could be read that way too (a typo such as 2026-13-01 among ISO dates is not)."""
    declared = source.date.format
    assert declared is not None
    if sorted(m[2] for m in DAY_OR_MONTH.finditer(declared)) != ["d", "m"]:
        return None
    swapped = DAY_OR_MONTH.sub(lambda m: f"%{m[1]}{'m' if m[2] == 'd' else 'd'}", declared)
    fits, kept_fit = con.execute(
        "SELECT (SELECT bool_and(try_strptime(v, $format) IS NOT NULL) FROM unnest($values) AS "
        f"t(v)), (SELECT coalesce(max(day({quote_ident(column)})), 0) <= 12 FROM "
        "read_parquet($kept))",
        {"format": swapped, "values": list(values), "kept": str(kept)},
    ).fetchall()[0]
    if not (fits and kept_fit):
        return None
    return (
        f"column '{column}': the day and month look swapped: values like {values[0]!r} do not "
        f"fit {declared!r} but fit {swapped!r}; likely fix: set `format: {json.dumps(swapped)}` "
        f"under sources.{source.name}.date (until then, a date whose day is 12 or less is read "
        "with its day and month swapped)"
    )


def check_header(shown: str, source: Source, header: Sequence[str], line: int | None = 1) -> None:
    """Refuse a header with empty, duplicated or missing columns, naming each and the fix."""
    problems = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if not name.strip():
            problems.append(
                Problem(
                    shown,
                    f"column {i} of the header has no name (merged or blank header "
                    "cell?); give every column a name",
                    line,
                    i,
                )
            )
        elif name in seen:
            problems.append(
                Problem(
                    shown,
                    f"the header names column '{name}' twice (columns {seen[name]} "
                    f"and {i}); rename one so reviewkit knows which to read",
                    line,
                    i,
                )
            )
        else:
            seen[name] = i
    missing = [c for c in typed_columns(source) if c not in seen]
    if missing:
        hint = ""
        if len(header) == 1:
            found = [d for d in LIKELY_DELIMITERS if d != source.delimiter and d in header[0]]
            if found:
                hint = (
                    f"; the header looks {found[0]!r}-delimited: set options.delimiter: "
                    f"{found[0]!r}"
                )
        problems.append(
            Problem(
                shown,
                f"missing column(s) {', '.join(repr(m) for m in missing)} declared for source "
                f"'{source.name}'; the export has: {', '.join(repr(h) for h in header)}"
                + (hint or f"; rename it in the export, or under sources.{source.name}"),
                line,
            )
        )
    if problems:
        raise DataError.from_problems("export header is not as declared:", problems)


def unparsable_csv(source: Source, path: Path, shown: str, message: str) -> DataError:
    """DuckDB gave up on the whole file (strict mode): say why when we can tell."""
    first_crlf, line = None, 0
    with path.open("rb") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.endswith(b"\n"):
                break  # the last line may lack a line break
            crlf = text.endswith(b"\r\n")
            if first_crlf is None:
                first_crlf = crlf
            elif crlf != first_crlf:
                line = number
                break
    if line:
        kind = {True: "\\r\\n (Windows)", False: "\\n (Unix)"}
        return file_error(
            shown,
            f"mixes line endings: line {line} ends with {kind[not first_crlf]}, the lines "
            f"before it with {kind[bool(first_crlf)]}; save the export again with one kind of "
            "line ending",
            line,
        )
    detail = message.splitlines()[0].replace(str(path), shown)
    return file_error(
        shown, f"cannot be read as {source.delimiter!r}-delimited text ({detail}); export it again"
    )


def _quote_parity(source: Source, path: Path) -> Iterator[tuple[int, bool]]:
    """Stream the file's lines: (line number, whether a quoted field is open after it)."""
    quote, inside = source.quote.encode(), False
    if source.encoding == "utf-16":
        with path.open("rb") as handle:  # Python's stream decoder insists on a BOM
            codec = "utf-16" if handle.read(2) in (b"\xff\xfe", b"\xfe\xff") else "utf-16-le"
        with path.open(encoding=codec, newline="") as text:
            lines: Iterator[bytes] = (line.encode() for line in text)
            for number, line in enumerate(lines, start=1):
                inside ^= line.count(quote) % 2 == 1
                yield number, inside
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            inside ^= line.count(quote) % 2 == 1
            yield number, inside


def quoted_newlines(source: Source, path: Path) -> list[int]:
    """The lines whose line break lies inside a quoted field: DuckDB's line numbers skip them."""
    return [number for number, inside in _quote_parity(source, path) if inside]


def physical_line(line: int, quoted: Sequence[int]) -> int:
    """The file's line number of DuckDB's ``line``, which counts a multi-line record as one."""
    for number in quoted:  # ascending
        if number >= line:
            break
        line += 1
    return line


def check_quotes(source: Source, path: Path, shown: str) -> None:
    """DuckDB silently drops everything after an unterminated quote: refuse such files.

    A balanced file has an even number of quote characters; counting them in 1 MB chunks keeps
    memory flat for exports of any size. Only an odd count pays for a line-by-line pass."""
    if source.encoding != "utf-16":
        quote, count = source.quote.encode(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                count += _occurrences(chunk, quote)
        if count % 2 == 0:
            return
    opened_at, was_inside = 0, False
    for number, inside in _quote_parity(source, path):
        if inside and not was_inside:
            opened_at = number
        was_inside = inside
    if not was_inside:
        return
    raise file_error(
        shown,
        f"a quoted field opened on line {opened_at} is never closed, so every row after it "
        f"would be lost; close the quote (a literal {source.quote} inside a field is written "
        "twice)",
        opened_at,
    )


def _occurrences(chunk: bytes, quote: bytes) -> int:
    """How often ``quote`` occurs in ``chunk``. One byte is counted with a vectorised
    comparison, about 4x faster than ``bytes.count`` (with it, this pass over a 1 GB CSV took
    a sixth of the file's first read)."""
    if len(quote) != 1:
        return chunk.count(quote)
    return int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == quote[0]))
