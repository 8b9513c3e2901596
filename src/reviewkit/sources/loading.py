"""KPI exports into DuckDB: read each declared file exactly as declared, or say precisely why not.

A file is parsed by the reader of its format (:mod:`.readers`) and cached as Parquet keyed on
its content (:mod:`.cache`); a Parquet export that needs no parsing is read where it lies.
Every load then checks the rows the declaration forbids (:mod:`.quality`).

A source in a SQL engine (``engine:``) is not read here: :func:`load_remote` checks it where
it lives (:mod:`reviewkit.sources.warehouse`), and its queries run there.

Per source, ``on_error: fail`` (the default) refuses a file with bad rows; ``quarantine`` keeps the
good rows, sets the bad ones aside and counts them in every output that uses the source."""

from __future__ import annotations

import datetime as dt
import glob
import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import duckdb

from reviewkit.base import clock
from reviewkit.base.errors import DataError, Problem, shown_path
from reviewkit.base.files import replacing
from reviewkit.base.sql import connect, quote_ident
from reviewkit.config import ProjectConfig, Source
from reviewkit.sources.cache import SourceCache
from reviewkit.sources.columns import file_error
from reviewkit.sources.forensics import listed_problems
from reviewkit.sources.loaded import LoadedFile, LoadedSource
from reviewkit.sources.quality import FUTURE_SLACK, forbidden_rows
from reviewkit.sources.readers import READERS, parquet_in_place, pivot_long
from reviewkit.sources.warehouse import Warehouse

__all__ = ["load_remote", "load_source", "source_files"]


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
    forbidden = forbidden_rows(source, loaded, clock.today())
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
            select = parquet_in_place(con, source, path, shown)
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
                bad = READERS[source.format](con, source, path, shown, tmp)
                rejected, bad_rows = (
                    listed_problems(con, source, bad, tmp),
                    len({b.where for b in bad}),
                )
                if source.shape == "long":
                    pivot_long(con, source, shown, tmp)
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
        SourceCache.write_json(meta, record)
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
        raise file_error(
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
