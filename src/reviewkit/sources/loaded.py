"""A source ready to query: its export files as loaded (:class:`LoadedFile`), or its table in
a SQL engine, and what was set aside (:class:`LoadedSource`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from reviewkit.base.errors import Problem
from reviewkit.base.sql import quote_literal
from reviewkit.config import Source
from reviewkit.sources.warehouse import WarehouseTable

__all__ = ["LoadedFile", "LoadedSource"]


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
