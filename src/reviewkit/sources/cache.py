"""The caches of the exports: each parsed file as Parquet keyed on its content
(:class:`SourceCache`), so repeated queries over unchanged exports never re-parse them, and each
query's result (:class:`ResultCache`), so a query asked again over unchanged exports is read
back instead of run."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import duckdb

from reviewkit.base.files import replacing
from reviewkit.base.sql import quote_literal
from reviewkit.config import Source
from reviewkit.sources.loaded import LoadedSource

__all__ = ["CACHE_FORMAT", "RESULTS_KEPT", "ResultCache", "SourceCache"]

CACHE_FORMAT: Final = 4  # bump when a reader changes what it loads (4: bad rows grouped)


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
        self.write_json(self._index_path, index)
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
    def write_json(path: Path, data: Any) -> None:
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
