"""DuckDB as reviewkit uses it: connections that never reach the network, and names and texts
quoted for SQL (user values are always bound as parameters, never quoted in)."""

from __future__ import annotations

from typing import Final

import duckdb

__all__ = ["DUCKDB_CONFIG", "connect", "quote_ident", "quote_literal"]

DUCKDB_CONFIG: Final = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never tries to download an extension (we run offline)."""
    return duckdb.connect(database, config=dict(DUCKDB_CONFIG))


def quote_ident(name: str) -> str:
    """Quote a column or table name for SQL (names come from the validated config)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
