"""KPI exports into DuckDB: read each declared file exactly as declared, or say precisely why not.

Every file is parsed with explicit types (never DuckDB's auto-detection, which silently turns a
ragged CSV into one text column), every bad row is reported with its file, line, column and raw
text, and a parsed file is cached as Parquet keyed on its content, so repeated queries over
unchanged exports never re-parse them (a Parquet export that needs no parsing is read where it
lies); a query's result is kept too (:class:`ResultCache`), so a query asked again over
unchanged exports is read back instead of run.

A source in a SQL engine (``engine:``) is not read here: :func:`load_remote` checks it where
it lives (:mod:`reviewkit.sources.warehouse`), and its queries run there.

Per source, ``on_error: fail`` (the default) refuses a file with bad rows; ``quarantine`` keeps the
good rows, sets the bad ones aside and counts them in every output that uses the source.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import glob
import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa

from reviewkit.base import clock
from reviewkit.base.errors import DataError, Problem, shown_path
from reviewkit.base.files import replacing
from reviewkit.base.sql import connect, quote_ident, quote_literal
from reviewkit.config import OPTION_KEYS, ProjectConfig, Source
from reviewkit.sources.warehouse import Warehouse, WarehouseTable

__all__ = [
    "LoadedSource",
    "ResultCache",
    "SourceCache",
    "blank_rows",
    "load_remote",
    "load_source",
]

CACHE_FORMAT: Final = 4  # bump when a reader changes what it loads (4: bad rows grouped)
LIKELY_DELIMITERS: Final = (",", ";", "\t", "|")
RAW_PREVIEW: Final = 80
MAX_WHOLE: Final = 9.2e18  # beyond BIGINT


@dataclass
class LoadedFile:
    """One export file of a source: parsed and cached as Parquet (``table``), or a Parquet
    export whose columns need no parsing, read in place (``table`` is the export itself, typed
    by the casts in ``select``)."""

    path: Path
    table: Path
    rows: int
    rejected: list[Problem] = field(default_factory=list)
    bad_rows: int = 0
    min_date: dt.date | None = None
    max_date: dt.date | None = None
    #: read in place: the select list that types the export's columns as declared
    select: str | None = None
    #: the cache entry's name, which changes whenever the rows as declared may: keys results
    key: str = ""

    @property
    def relation(self) -> str:
        """SQL for the file's rows as declared, to select from."""
        table = f"read_parquet({quote_literal(str(self.table))})"
        return table if self.select is None else f"(SELECT {self.select} FROM {table})"


@dataclass
class LoadedSource:
    """A source ready to query: its cached Parquet files and what was set aside."""

    source: Source
    files: list[LoadedFile]
    #: a source in a SQL engine (``engine:``): its rows there, queried there; no files
    remote: WarehouseTable | None = None

    @property
    def rows(self) -> int:
        if self.remote is not None:
            return self.remote.rows
        return sum(f.rows for f in self.files)

    @property
    def rejected(self) -> list[Problem]:
        return [p for f in self.files for p in f.rejected]

    @property
    def quarantined(self) -> int:
        """Rows set aside under ``on_error: quarantine`` (a row may have several problems)."""
        return sum(f.bad_rows for f in self.files)

    @property
    def key(self) -> str:
        """What the source's rows are: changes whenever any of its files' rows may."""
        return "|".join(f.key for f in self.files)

    @property
    def max_date(self) -> dt.date | None:
        if self.remote is not None:
            return self.remote.max_date
        dates = [f.max_date for f in self.files if f.max_date is not None]
        return max(dates) if dates else None

    @property
    def min_date(self) -> dt.date | None:
        if self.remote is not None:
            return self.remote.min_date
        dates = [f.min_date for f in self.files if f.min_date is not None]
        return min(dates) if dates else None


class SourceCache:
    """Parsed exports as Parquet under ``<project>/.reviewkit/cache``, keyed on file content.

    Hashing a large export costs about a second per GB, so the digest of a file is remembered
    against its size and modification time; any change to either re-hashes it. A Parquet
    export, usually read where it lies rather than copied, is keyed on its identity instead
    (device, inode, size and modification time, which hard links share): hashing it would cost
    a first run more than its query.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index_path = directory / "digests.json"

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        index = self._read_index()
        memo = index.get(key)
        if memo and memo[0] == stat.st_size and memo[1] == stat.st_mtime_ns:
            return str(memo[2])
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        index[key] = [stat.st_size, stat.st_mtime_ns, digest]
        self._write_json(self._index_path, index)
        return digest

    def entry(self, source: Source, path: Path) -> Path:
        """Base path (without suffix) of the cache entry for this file read this way."""
        spec = {
            k: v
            for k, v in asdict(source).items()
            if k not in ("on_error", "unique", "future_dates", "description")
        }
        spec["_format"] = CACHE_FORMAT
        spec["_duckdb"] = duckdb.__version__
        spec_hash = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        if source.format == "parquet":
            stat = path.stat()
            identity = f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
            content = "f" + hashlib.sha256(identity.encode()).hexdigest()[:31]
        else:
            content = self.digest(path)[:32]
        return self.directory / source.name / f"{content}-{spec_hash}"

    def _read_index(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self._index_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _write_json(path: Path, data: Any) -> None:
        with replacing(path) as tmp:
            tmp.write_text(json.dumps(data), encoding="utf-8")


#: How many query results :class:`ResultCache` keeps (the least recently used go first).
RESULTS_KEPT: Final = 512


class ResultCache:
    """Query results over loaded sources, as small Parquet files under
    ``<project>/.reviewkit/cache/results``: a query asked again over unchanged exports, from any
    process, is read back instead of run (a KPI roll-up over a 1 GB export: about 1 s to run,
    10 ms to read back).

    A result is keyed on its SQL, its parameters, and the :attr:`LoadedSource.key` of every
    source it reads, which changes with any change to the rows as declared; reviewkit's cache
    format and DuckDB's version are in the key too. So only SQL that reads nothing else may be
    kept (not a user's expression, which may read the clock or another source). The newest
    ``keep`` results are kept; one that cannot be written is answered all the same.
    """

    def __init__(self, directory: Path, keep: int = RESULTS_KEPT) -> None:
        self.directory = directory
        self.keep = keep

    def df(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        params: dict[str, Any],
        sources: Sequence[LoadedSource],
    ) -> Any:
        """The result of ``sql`` as a pandas DataFrame (``con.execute(sql, params).df()``)."""
        spec = [sql, params, [s.key for s in sources], CACHE_FORMAT, duckdb.__version__]
        key = hashlib.sha256(json.dumps(spec, default=str).encode()).hexdigest()[:32]
        path = self.directory / f"{key}.parquet"
        if not path.exists():
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with replacing(path) as tmp:
                    copy = f"COPY ({sql}) TO {quote_literal(str(tmp))} (FORMAT parquet)"
                    con.execute(copy, params)
            except (OSError, duckdb.IOException):  # a full disk or a read-only cache
                return con.execute(sql, params).df()  # answered, not kept
            self._prune(path)
        else:
            with contextlib.suppress(FileNotFoundError):  # pruned meanwhile: read below fails
                os.utime(path)  # recently used
        try:
            return con.execute("SELECT * FROM read_parquet($p)", {"p": str(path)}).df()
        except duckdb.IOException:  # pruned meanwhile by another process's newer results
            return con.execute(sql, params).df()

    def _prune(self, newest: Path) -> None:
        """Keep ``newest`` and the most recently used others, ``keep`` in all (modification
        times may tie within a clock tick, so the newest is named rather than sorted)."""
        others = [p for p in self.directory.glob("*.parquet") if p != newest]
        for old in sorted(others, key=_modified, reverse=True)[self.keep - 1 :]:
            old.unlink(missing_ok=True)


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # pruned by another process meanwhile
        return 0


def source_files(config: ProjectConfig, source: Source) -> list[Path]:
    """The files a source's path or glob matches, sorted; a clear error when none do (and
    none for a source in a SQL engine)."""
    if source.engine is not None:
        return []
    pattern = str(config.root / source.path)
    # glob.glob, unlike Path.glob, also takes absolute patterns (exports outside the project)
    found = glob.glob(pattern, recursive=True)  # noqa: PTH207
    matches = sorted(Path(p) for p in found if Path(p).is_file())
    if not matches:
        raise DataError.from_problems(
            f"source '{source.name}' has no file:",
            [
                Problem(
                    config.located.path,
                    f"no file matches '{source.path}' (looked in {shown_path(config.root)}); "
                    "check the path, or run `reviewkit sample` for the sample data",
                    config.line_of("sources", source.name, "path"),
                    key=f"sources.{source.name}.path",
                )
            ],
        )
    return matches


def load_source(config: ProjectConfig, source: Source, cache: SourceCache) -> LoadedSource:
    """Parse (or fetch from the cache) every file of ``source``.

    Raises :class:`DataError` listing every problem of every file when a file cannot be read as
    declared, or when rows are bad and the source's policy is ``fail``.
    """
    fatal: list[Problem] = []
    loaded: list[LoadedFile] = []
    for path in source_files(config, source):
        try:
            loaded.append(_load_file(source, path, cache))
        except DataError as exc:
            fatal.extend(exc.problems)
    if fatal:
        raise DataError.from_problems(f"source '{source.name}' cannot be read as declared:", fatal)
    result = LoadedSource(source, loaded)
    if result.rejected and source.on_error == "fail":
        raise DataError.from_problems(
            f"source '{source.name}' has {result.quarantined} bad row(s); fix them in the export, "
            f"or set `on_error: quarantine` under sources.{source.name} to set them aside "
            "(they are then counted in every output):",
            result.rejected,
        )
    forbidden = _forbidden_rows(source, loaded, clock.today())
    if forbidden:
        raise DataError.from_problems(
            f"source '{source.name}' has rows its declaration forbids:", forbidden
        )
    return result


def load_remote(config: ProjectConfig, source: Source, warehouse: Warehouse) -> LoadedSource:
    """A source in a SQL engine, checked as an export is: its declared columns and their types,
    at least one row, and (counted in the engine) the rows its declaration forbids."""
    table = warehouse.table(config, source)
    today = clock.today()
    forbidden = table.forbidden(today, today + FUTURE_SLACK)
    if forbidden:
        raise DataError.from_problems(
            f"source '{source.name}' has rows its declaration forbids:", forbidden
        )
    return LoadedSource(source, [], table)


#: Rows dated more than this after today are refused (a day of slack for time zones).
FUTURE_SLACK: Final = dt.timedelta(days=1)
#: How many rows a row check lists per file before summarising the rest.
LISTED_ROWS: Final = 5


def _forbidden_rows(source: Source, files: Sequence[LoadedFile], today: dt.date) -> list[Problem]:
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
    columns = _staged_columns(con, f"read_parquet({quote_literal(str(loaded.table))})")
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
    quoted = _quoted_newlines(source, loaded.path) if rows else []
    return {row: _DataRow(_physical_line(row + 2, quoted), "") for row in rows}


def _shown_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _load_file(source: Source, path: Path, cache: SourceCache) -> LoadedFile:
    base = cache.entry(source, path)
    table, meta = base.with_suffix(".parquet"), base.with_suffix(".json")
    if meta.exists():
        record = json.loads(meta.read_text(encoding="utf-8"))
        if record.get("select") or table.exists():
            return _from_meta(path, table, record, base.name)
    shown = shown_path(path)
    con = connect()
    try:
        select = None
        if source.format == "parquet" and source.shape == "wide":
            select = _parquet_in_place(con, source, path, shown)
        if select is not None:  # nothing is written: the export is the table
            rejected: list[Problem] = []
            bad_rows = 0
            # counted on the export's own columns, which DuckDB answers from the footer's
            # statistics: its date column is a native date or timestamp, and casting one to a
            # date keeps the order, so the first and last dates are the same
            rows, min_date, max_date = _extent(
                con, source, LoadedFile(path, path, 0), shown, rejected
            )
        else:
            with replacing(table) as tmp:
                bad = _READERS[source.format](con, source, path, shown, tmp)
                rejected, bad_rows = _listed(con, source, bad, tmp), len({b.where for b in bad})
                if source.shape == "long":
                    _pivot_long(con, source, shown, tmp)
                rows, min_date, max_date = _extent(
                    con, source, LoadedFile(path, tmp, 0), shown, rejected
                )
        record = {
            "rows": rows,
            "min_date": min_date.isoformat() if min_date else None,
            "max_date": max_date.isoformat() if max_date else None,
            "rejected": [asdict(p) for p in rejected],
            "bad_rows": bad_rows,
            "shown": shown,
            "select": select,
        }
        SourceCache._write_json(meta, record)
    finally:
        con.close()
    return _from_meta(path, table, record, base.name)


def _extent(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    loaded: LoadedFile,
    shown: str,
    rejected: Sequence[Problem],
) -> tuple[int, dt.date | None, dt.date | None]:
    """How many rows a loaded file has, and its first and last date; a file with no rows (none
    set aside either) is an error."""
    date = quote_ident(source.date.column)
    rows, first, last = con.execute(
        f"SELECT count(*), min({date})::DATE, max({date})::DATE FROM {loaded.relation}"
    ).fetchall()[0]
    if rows == 0 and not rejected:
        raise _file_error(
            shown, "has a header but no data rows; export it again or remove the file", 2
        )
    return rows, first, last


def _from_meta(path: Path, table: Path, meta: dict[str, Any], key: str) -> LoadedFile:
    def day(value: str | None) -> dt.date | None:
        return dt.date.fromisoformat(value) if value else None

    # the entry may have been written from another directory, or for a copy of this file
    old, new = str(meta.get("shown", "")), shown_path(path)
    rejected = [Problem(**p) for p in meta["rejected"]]
    rejected = [
        replace(p, path=new + p.path[len(old) :]) if old and p.path.startswith(old) else p
        for p in rejected
    ]
    select = meta.get("select")
    return LoadedFile(
        path,
        path if select else table,
        int(meta["rows"]),
        rejected,
        int(meta["bad_rows"]),
        day(meta["min_date"]),
        day(meta["max_date"]),
        select,
        key,
    )


def _file_error(
    shown: str, message: str, line: int | None = None, col: int | None = None
) -> DataError:
    return DataError.from_problems("export cannot be read:", [Problem(shown, message, line, col)])


# -- bad rows: listed one by one, or grouped when they flood ------------------------------------

#: How many rows of a group of bad rows are listed before the rest are counted.
ROWS_PER_GROUP: Final = 3
#: The group of rows that repeat the header line (in place of a column, a cause, an emptiness).
REPEATED_HEADER: Final = ("", "the header repeated", False)
#: Characters exports put between thousands ("1,234", "1.234", "1 234", "1'234").
THOUSANDS_SEPARATORS: Final = (",", ".", " ", "'")
DECIMAL_COMMA: Final = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:\.\d{3})+),\d+")
DAY_OR_MONTH: Final = re.compile(r"%(-?)([dm])")


@dataclass(frozen=True)
class _Bad:
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


_GroupKey = tuple[str, str, bool]


def _listed(
    con: duckdb.DuckDBPyConnection, source: Source, bad: Sequence[_Bad], kept: Path
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


def _groups(bad: Sequence[_Bad]) -> dict[_GroupKey, list[_Bad]]:
    """Bad rows by column, cause and whether the value is empty, each row once, in the order of
    their rows (the groups too, by their first row). A row whose every bad value is its own
    column's name repeats the header: such rows are one group."""
    by_row: dict[int, list[_Bad]] = {}
    for b in bad:
        by_row.setdefault(b.where, []).append(b)
    groups: dict[_GroupKey, list[_Bad]] = {}
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
    rows: Sequence[_Bad],
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
    if _typed_columns(source).get(column) in ("DOUBLE", "BIGINT"):
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


# -- column typing shared by every reader -------------------------------------------------------


def _typed_columns(source: Source) -> dict[str, str]:
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


def _check_header(shown: str, source: Source, header: Sequence[str], line: int | None = 1) -> None:
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
    missing = [c for c in _typed_columns(source) if c not in seen]
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


#: Staged column types read without a detour through text, with the same result: their text
#: form converts back exactly (TIMESTAMP_NS is not one: DuckDB rounds it to the microsecond).
NATIVE_DATES: Final = frozenset({"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS"})
NATIVE_WHOLE: Final = frozenset(
    {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"}
)
NATIVE_NUMBERS: Final = NATIVE_WHOLE | {"DOUBLE", "UBIGINT"}


def _convert_staged(
    con: duckdb.DuckDBPyConnection, source: Source, shown: str, staged: str, out: Path, unit: str
) -> list[_Bad]:
    """Type the relation ``staged`` (which has a ``_line`` column) into ``out``.

    Used for Excel, JSON and Parquet, whose readers cannot report bad values with a location:
    each value that does not convert becomes a problem naming its line/row and raw text. All
    checks are one scan, then one copy.
    """
    typing = _typing(source, _staged_types(con, staged))
    bad, bad_lines = _bad_values(con, typing, shown, staged, unit)
    keep = " WHERE _line NOT IN (SELECT unnest($bad))" if bad_lines else ""
    con.execute(
        f"COPY (SELECT {', '.join(typing.selects)} FROM {staged}{keep}) TO "
        f"{quote_literal(str(out))} (FORMAT parquet)",
        {"bad": bad_lines} if bad_lines else {},
    )
    return bad


@dataclass(frozen=True)
class _Typing:
    """How a staged relation's columns become the declared types."""

    #: ``expression AS column``, in the staged order
    selects: list[str]
    #: (column, typed expression, what it should be, required): values that may not convert
    checks: list[tuple[str, str, str, bool]]
    #: whether some column is parsed from text (not only cast from a fitting type)
    parses: bool


def _typing(source: Source, staged_types: dict[str, str]) -> _Typing:
    """Text columns are parsed; columns already of a fitting type (a Parquet DATE, TIMESTAMP,
    DOUBLE or integer) are cast directly, and only checked where a value can fail (a missing
    date, a fraction where a whole number is declared)."""
    typed = _typed_columns(source)
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
            checks.append((column, expr, what, True))
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
    return _Typing(selects, checks, parses)


def _bad_values(
    con: duckdb.DuckDBPyConnection, typing: _Typing, shown: str, staged: str, unit: str
) -> tuple[list[_Bad], list[int]]:
    """The values of ``staged`` that do not convert (one scan), in line or row order, and the
    lines (``_line``) that hold them."""
    found: list[_Bad] = []
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
            found.append(_Bad(line, problem, column, what, value))
    return found, bad_lines


def _staged_columns(con: duckdb.DuckDBPyConnection, staged: str) -> list[str]:
    return list(_staged_types(con, staged))


def _staged_types(con: duckdb.DuckDBPyConnection, staged: str) -> dict[str, str]:
    """Column name -> DuckDB type of the relation ``staged``, in order."""
    described = con.execute(f"DESCRIBE SELECT * FROM {staged}").fetchall()
    return {str(row[0]): str(row[1]) for row in described}


# -- readers ------------------------------------------------------------------------------------

CAST_VALUE = re.compile(r'Could not convert string "(.*)" to', re.DOTALL)


def _read_csv(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str, out: Path
) -> list[_Bad]:
    header = _csv_header(source, path, shown)
    _check_header(shown, source, header)
    _check_quotes(source, path, shown)
    typed = _typed_columns(source)
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
                raise _unparsable_csv(source, path, shown, str(exc)) from None
            fractions = True
    if fractions or not whole:
        try:
            _copy(con, f"SELECT * FROM {reader}", out, options)
        except duckdb.Error as exc:
            raise _unparsable_csv(source, path, shown, str(exc)) from None
    rejects = con.execute(
        "SELECT line, column_name, error_type, csv_line, error_message FROM reject_errors "
        "ORDER BY line, column_idx"
    ).fetchall()
    quoted = _quoted_newlines(source, path) if rejects else []
    bad = []
    counted: dict[int, tuple[str, str, str]] = {}  # line -> its column-count error
    lines: list[bytes] = []
    for duck_line, column, kind, duck_raw, message in rejects:
        line, raw_line = _physical_line(duck_line, quoted), duck_raw
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


def _unparsable_csv(source: Source, path: Path, shown: str, message: str) -> DataError:
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
        return _file_error(
            shown,
            f"mixes line endings: line {line} ends with {kind[not first_crlf]}, the lines "
            f"before it with {kind[bool(first_crlf)]}; save the export again with one kind of "
            "line ending",
            line,
        )
    detail = message.splitlines()[0].replace(str(path), shown)
    return _file_error(
        shown, f"cannot be read as {source.delimiter!r}-delimited text ({detail}); export it again"
    )


def _whole_numbers(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    path: Path,
    shown: str,
    header: Sequence[str],
    whole: Sequence[str],
    out: Path,
) -> list[_Bad]:
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
) -> list[_Bad]:
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
                    bad.append(_Bad(first, Problem(shown, message, first), column, what, value))
    return bad


def _reject(
    source: Source, shown: str, line: int, column: str, kind: str, raw_line: str, message: str
) -> _Bad:
    """A row DuckDB's CSV reader rejected (``reject_errors``), as users see it."""
    raw_line = raw_line.strip("\r\n")  # DuckDB prefixes the blank lines before the record
    row = raw_line if len(raw_line) <= RAW_PREVIEW else raw_line[:RAW_PREVIEW] + "..."
    if kind == "CAST":
        found = CAST_VALUE.search(message)
        value = found.group(1) if found else None
        if column == source.date.column:
            fmt = source.date.format or "%Y-%m-%d"
            what = f"a date in format '{fmt}'"
        else:
            what = "a whole number" if source.value_types.get(column) == "integer" else "a number"
            if source.shape == "long":
                what = "a number"
        shown_value = "(empty)" if value is None else repr(value)
        text = f"column '{column}': cannot read {shown_value} as {what}; row: {row}"
        return _Bad(line, Problem(shown, text, line), column, what, value)
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
    return _Bad(line, Problem(shown, text, line), cause=kind.lower())


def _csv_header(source: Source, path: Path, shown: str) -> list[str]:
    codec = {"utf-8": "utf-8-sig", "utf-16": "utf-16"}.get(source.encoding, source.encoding)
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise _file_error(
            shown,
            "is empty; expected a header line naming the columns: "
            + ", ".join(_typed_columns(source)),
            1,
        )
    try:
        text = head.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the buffer
            line = head[: exc.start].count(b"\n") + 1
            if line == 1:
                raise _file_error(
                    shown,
                    f"the header is not valid {source.encoding} (byte {exc.start + 1}); set "
                    "options.encoding to the export's encoding (utf-8, latin-1 or utf-16)",
                    1,
                ) from None
        text = head[: exc.start].decode(codec, errors="ignore")
    first = text.splitlines()[0] if text.splitlines() else ""
    if "\x00" in first:
        raise _file_error(
            shown,
            "the header contains NUL bytes: the file looks UTF-16; set options.encoding: utf-16",
            1,
        )
    return next(csv.reader([first], delimiter=source.delimiter, quotechar=source.quote))


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


def _quoted_newlines(source: Source, path: Path) -> list[int]:
    """The lines whose line break lies inside a quoted field: DuckDB's line numbers skip them."""
    return [number for number, inside in _quote_parity(source, path) if inside]


def _physical_line(line: int, quoted: Sequence[int]) -> int:
    """The file's line number of DuckDB's ``line``, which counts a multi-line record as one."""
    for number in quoted:  # ascending
        if number >= line:
            break
        line += 1
    return line


def _check_quotes(source: Source, path: Path, shown: str) -> None:
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
    raise _file_error(
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


def _read_xlsx(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str, out: Path
) -> list[_Bad]:
    from python_calamine import CalamineError, CalamineWorkbook  # noqa: PLC0415 (heavy, optional)

    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise _file_error(
            shown, f"is not a readable .xlsx workbook ({exc}); export it again"
        ) from None
    sheets = list(book.sheet_names)
    if source.sheet is None and len(sheets) > 1:
        raise _file_error(
            shown,
            f"has {len(sheets)} sheets ({', '.join(sheets)}); say which to read with "
            f"options.sheet under sources.{source.name}",
        )
    name = source.sheet or sheets[0]
    if name not in sheets:
        raise _file_error(shown, f"has no sheet '{name}'; its sheets are: {', '.join(sheets)}")
    rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    first = next((i for i, r in enumerate(rows) if any(str(c).strip() for c in r)), None)
    if first is None:
        raise _file_error(shown, f"sheet '{name}' is empty; expected a header row", 1)
    header = [str(c).strip() for c in rows[first]]
    while header and not header[-1]:
        header.pop()
    _check_header(f"{shown}[{name}]", source, header, first + 1)
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
    return _convert_staged(con, source, f"{shown}[{name}]", "staged_xlsx", out, "row")


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
) -> list[_Bad]:
    layout = "newline_delimited" if source.format == "ndjson" else "array"
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if len(head) < 1 << 16 and not head.strip(b"\xef\xbb\xbf \t\r\n[]"):
        shape = "one object per line" if source.format == "ndjson" else "an array of objects"
        raise _file_error(
            shown,
            f"has no records; expected {shape} with keys: " + ", ".join(_typed_columns(source)),
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
    _check_header(shown, source, keys, None)
    return _convert_staged(con, source, shown, "staged_json", out, "record")


def _json_error(shown: str, message: str, path: Path, layout: str) -> DataError:
    """Where the JSON breaks, found with Python's parser (DuckDB's byte offsets are per record)."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    if layout == "array" and text.lstrip().startswith("{"):
        return _file_error(
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
                return _file_error(
                    shown,
                    f"is not valid JSON: {exc.msg}; fix it or export it again",
                    line,
                    exc.colno,
                )
    detail = message.splitlines()[0].split(": ", 1)[-1].replace(str(path), shown)
    return _file_error(shown, f"is not valid JSON: {detail.strip()}; fix it or export it again")


def _read_parquet(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str, out: Path
) -> list[_Bad]:
    _stage_parquet(con, source, path, shown)
    return _convert_staged(con, source, shown, "staged_parquet", out, "row")


def _parquet_in_place(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, shown: str
) -> str | None:
    """The select list that reads a Parquet export as declared where it lies, when none of its
    columns needs parsing and one scan finds every value converts; else None (it is copied,
    and its bad values reported, as other formats are)."""
    _stage_parquet(con, source, path, shown)
    typing = _typing(source, _staged_types(con, "staged_parquet"))
    if typing.parses:
        return None
    _, bad_lines = _bad_values(con, typing, shown, "staged_parquet", "row")
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
        header = [c for c in _staged_columns(con, "staged_parquet") if c != "_line"]
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0].replace(str(path), shown)
        raise _file_error(
            shown, f"is not a readable Parquet file ({first}); export it again (truncated?)"
        ) from None
    _check_header(shown, source, header, None)  # a Parquet file has no lines


_READERS: Final = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "xlsx": _read_xlsx,
    "json": _read_json,
    "ndjson": _read_json,
    "parquet": _read_parquet,
}


def _pivot_long(con: duckdb.DuckDBPyConnection, source: Source, shown: str, table: Path) -> None:
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
