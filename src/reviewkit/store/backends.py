"""Where the store keeps its event log: a SQLite file (the embedded default) or a PostgreSQL
database (one store shared by several hosts). :class:`reviewkit.store.core.Store` holds the event
model and speaks the SQL both understand; a backend gives it transactions and turns its
database's failures into a :class:`StoreError` that says what happened and what to do.

Both backends give the same guarantees: one writer at a time (SQLite's ``BEGIN IMMEDIATE``,
PostgreSQL's ``LOCK TABLE events``), so a transaction never fails halfway for lack of a lock;
readers see one consistent snapshot and never wait for writers; every commit is durable before
it is acknowledged; the events table refuses updates and deletes (triggers); text compares and
sorts bytewise (PostgreSQL's columns are ``COLLATE "C"``), so both list things in one order.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.urls import is_url, shown_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "MUST_EXIST_ENV",
    "SCHEMA_VERSION",
    "Database",
    "PostgresDatabase",
    "SqliteDatabase",
    "StoreError",
    "open_database",
]

#: Version of the tables (SQLite: ``PRAGMA user_version``; PostgreSQL: ``reviewkit.meta``).
SCHEMA_VERSION: Final = 2
#: ``PRAGMA application_id`` of reviewkit's SQLite stores ("RVKT"), so another file is recognised.
APPLICATION_ID: Final = 0x52564B54
#: Seconds a writer waits for another writer's transaction before giving up.
DEFAULT_TIMEOUT: Final = 30.0
#: Set to 1 (by `reviewkit serve`, for its pages' kernels) where a missing store can only mean
#: it was deleted or moved away while in use: the store then refuses to start an empty one in
#: its place, which would hide every link and check-in made so far.
MUST_EXIST_ENV: Final = "REVIEWKIT_STORE_MUST_EXIST"
#: The PostgreSQL schema (namespace) holding the store's tables, apart from anything else in
#: the database.
PG_SCHEMA: Final = "reviewkit"
#: Seconds to wait for a PostgreSQL server to answer a connection.
PG_CONNECT_TIMEOUT: Final = 5


class StoreError(ReviewkitError):
    """The store cannot be opened, read or written, or a value given to it is invalid."""


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the store runs its SQL on: ``?`` placeholders, values always bound."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> Any: ...


# --- the tables, written once for both --------------------------------------------------------

_TABLES: Final = (
    """CREATE TABLE events (
        id {id},
        at {text} NOT NULL,
        actor {text} NOT NULL,
        kind {text} NOT NULL,
        entity {text} NOT NULL,
        key {text} NOT NULL,
        before {text},
        after {text},
        undoes {integer} UNIQUE REFERENCES events (id)
    )""",
    "CREATE INDEX events_by_actor ON events (actor, id)",
    "CREATE INDEX events_by_key ON events (key, id)",
    "CREATE INDEX events_by_at ON events (at)",
    """CREATE TABLE links (
        output_id {text} NOT NULL,
        outcome_id {text} NOT NULL,
        hypothesis {text} NOT NULL,
        direction {text} NOT NULL CHECK (direction IN ('increase', 'decrease')),
        size {real},
        lag_days INTEGER CHECK (lag_days >= 0),
        confidence {text} NOT NULL CHECK (confidence IN ('low', 'medium', 'high')),
        author {text} NOT NULL,
        created_at {text} NOT NULL,
        updated_at {text} NOT NULL,
        PRIMARY KEY (output_id, outcome_id)
    ){rowid}""",
    "CREATE INDEX links_by_outcome ON links (outcome_id, output_id)",
    """CREATE TABLE checkins (
        outcome_id {text} NOT NULL,
        period {text} NOT NULL,
        status {text} NOT NULL CHECK (status IN ('on track', 'at risk', 'off track')),
        proposed_status {text} CHECK (proposed_status IN ('on track', 'at risk', 'off track')),
        confidence {text} NOT NULL CHECK (confidence IN ('low', 'medium', 'high')),
        note {text} NOT NULL,
        decisions {text} NOT NULL,
        author {text} NOT NULL,
        created_at {text} NOT NULL,
        updated_at {text} NOT NULL,
        PRIMARY KEY (outcome_id, period)
    ){rowid}""",
    """CREATE TABLE manual_outputs (
        output_id {text} NOT NULL PRIMARY KEY,
        title {text} NOT NULL,
        team {text} NOT NULL,
        delivered {text} NOT NULL,
        type {text} NOT NULL,
        effort {real},
        url {text},
        labels {text} NOT NULL,
        author {text} NOT NULL,
        created_at {text} NOT NULL,
        updated_at {text} NOT NULL
    ){rowid}""",
    """CREATE TABLE reviews (
        period {text} NOT NULL,
        team {text} NOT NULL,
        author {text} NOT NULL,
        completed_at {text} NOT NULL,
        PRIMARY KEY (period, team)
    ){rowid}""",
)
#: Schema 2: the people who may sign in to the live pages with a token of their own (only its
#: SHA-256 is kept); a removed person's row stays, so their name keeps meaning them.
_PEOPLE: Final = """CREATE TABLE people (
    name {text} NOT NULL PRIMARY KEY,
    email {text},
    role {text} NOT NULL CHECK (role IN ('viewer', 'contributor')),
    token_sha256 {text} NOT NULL UNIQUE,
    added_at {text} NOT NULL,
    added_by {text} NOT NULL,
    removed_at {text}
){rowid}"""
_APPEND_ONLY: Final = "reviewkit events are append-only"
_SQLITE_TYPES: Final = {
    "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "text": "TEXT",
    "integer": "INTEGER",
    "real": "REAL",
    "rowid": " WITHOUT ROWID",
}
_POSTGRES_TYPES: Final = {
    "id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    "text": 'TEXT COLLATE "C"',
    "integer": "BIGINT",
    "real": "DOUBLE PRECISION",
    "rowid": "",
}
#: ``MIGRATIONS[dialect][n]`` takes a store from schema version n to n + 1, statement by
#: statement, inside the transaction that also records the new version.
MIGRATIONS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "sqlite": (
        (
            f"PRAGMA application_id = {APPLICATION_ID}",
            *(table.format(**_SQLITE_TYPES) for table in _TABLES),
            f"""CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""",
            f"""CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""",
        ),
        (_PEOPLE.format(**_SQLITE_TYPES),),
    ),
    "postgresql": (
        (
            "CREATE TABLE meta (application TEXT NOT NULL, schema_version INTEGER NOT NULL)",
            "INSERT INTO meta VALUES ('reviewkit', 0)",
            *(table.format(**_POSTGRES_TYPES) for table in _TABLES),
            f"""CREATE FUNCTION refuse_event_changes() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$""",
            """CREATE TRIGGER events_are_append_only BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION refuse_event_changes()""",
            """CREATE TRIGGER events_are_not_truncated BEFORE TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_changes()""",
        ),
        (_PEOPLE.format(**_POSTGRES_TYPES),),
    ),
}


class Database:
    """A store's database: transactions and clear errors. ``shown`` names it in messages."""

    dialect: str
    shown: str

    def write(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        """One write transaction (``doing`` says what for, in errors); any error rolls it back."""
        raise NotImplementedError

    def read(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        """A read transaction: every query inside sees the same committed state."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def events_follow_ids(self, conn: Connection) -> None:
        """After events were inserted with their ids given: new events number after them."""

    def newer(self, version: int) -> StoreError:
        return StoreError(
            f"{self.shown}: the store was written by a newer reviewkit (schema {version}; this "
            f"one knows {SCHEMA_VERSION}); upgrade reviewkit"
        )


def open_database(location: str | Path, *, timeout: float, create: bool | None) -> Database:
    """The database at ``location``: a ``postgresql://`` URL or a SQLite file's path.
    ``create``: start a new store when there is none (default: yes, unless
    ``$REVIEWKIT_STORE_MUST_EXIST`` is 1)."""
    if create is None:
        create = os.environ.get(MUST_EXIST_ENV) != "1"
    if is_url(location):
        return PostgresDatabase(str(location), timeout=timeout, create=create)
    return SqliteDatabase(Path(location), timeout=timeout, create=create)


# --- SQLite -----------------------------------------------------------------------------------


def _sqlite_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteDatabase(Database):
    """A store in one SQLite file shared by processes, in WAL mode.

    Before every read and write the file is checked to still be the one opened: a store file
    deleted or moved away is an error (SQLite itself would keep writing into the unlinked file
    and report success), a file put back in its place (from a backup) is opened afresh, and a
    write to a file that became read-only is refused (an open connection could still write)."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, timeout: float, create: bool) -> None:
        self.path = path
        self.timeout = timeout
        self.shown = shown_path(path)
        self._conn: sqlite3.Connection | None = None
        #: (device, inode) of the file the connection has open, and whether it was writable
        self._identity: tuple[int, int] | None = None
        self._writable = True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{self.shown}: cannot create the store's folder ({exc.strerror}); create it "
                "yourself or choose a path where you may write"
            ) from None
        self._open(create=create)

    def _open(self, *, create: bool) -> None:
        """Connect (creating the file only when ``create``) and set the connection up."""
        self._identity = None  # not checked while setting up
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE/COMMIT ourselves (sqlite3's implicit
            # transactions start deferred, which can fail instead of waiting under contention).
            if create:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            else:  # mode=rw: never create the file
                uri = f"{self.path.resolve().as_uri()}?mode=rw"
                conn = sqlite3.connect(uri, timeout=self.timeout, isolation_level=None, uri=True)
        except sqlite3.Error as exc:
            if not create and not self.path.exists():
                raise self._gone("opening the store") from None
            raise self._failure(exc, "opening the store") from exc
        self._conn = conn
        try:
            self._setup(conn)
            self._identity = self._stat()
            self._writable = os.access(self.path, os.W_OK)
        except FileNotFoundError:
            self.close()
            raise self._gone("opening the store") from None
        except BaseException:
            self.close()
            raise

    def _setup(self, conn: sqlite3.Connection) -> None:
        """Per-connection settings, then the schema (created or migrated in one transaction)."""
        mode = self._retrying(
            "opening the store", lambda: conn.execute("PRAGMA journal_mode = WAL")
        )
        if mode.fetchone()[0] != "wal":
            raise StoreError(
                f"{self.shown}: SQLite could not put the store in WAL mode, which lets several "
                "processes use it at once; the file is probably read-only or on a network drive: "
                "keep it on a local disk where you may write"
            )
        # FULL, not NORMAL: in WAL mode NORMAL already keeps every committed transaction through
        # a killed process (the commit has reached the OS), but an OS crash or power loss can
        # drop the last commits; FULL syncs the WAL at every commit so an acknowledged save also
        # survives that. Saves come at human pace; measured here, FULL costs 0.2-1.7 ms per
        # commit (NORMAL ~0.08 ms), and 8 processes still save ~500-2000 times per second.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        version = self._retrying("opening the store", lambda: conn.execute("PRAGMA user_version"))
        if version.fetchone()[0] != SCHEMA_VERSION:
            self._migrate()
        app = self._retrying("opening the store", lambda: conn.execute("PRAGMA application_id"))
        if app.fetchone()[0] != APPLICATION_ID:
            raise self._not_a_store()

    def _migrate(self) -> None:
        with self.write("creating the store's tables") as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise self.newer(version)
            tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
            if version == 0 and tables:
                raise self._not_a_store()
            for step in MIGRATIONS[self.dialect][version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _connection(self, doing: str, *, write: bool) -> sqlite3.Connection:
        """The open connection, after checking that the file is still the one it has open."""
        if self._conn is None:
            raise StoreError(f"{self.shown}: the store is closed; open it again with Store(path)")
        if self._identity is None:  # being set up
            return self._conn
        try:
            identity = self._stat()
        except FileNotFoundError:
            raise self._gone(doing) from None
        except OSError:
            return self._conn  # e.g. a folder we may not search: SQLite's error says more
        writable = os.access(self.path, os.W_OK)
        if identity != self._identity or (writable and not self._writable):
            # Put back (a restored backup is another file) or writable again: open it afresh.
            # Closing the old connection is safe: SQLite neither checkpoints nor deletes a WAL
            # for a database file that moved since it was opened.
            self.close()
            self._open(create=False)
        if write and not writable:
            raise self._read_only(doing)
        assert self._conn is not None
        return self._conn

    def _stat(self) -> tuple[int, int]:
        status = self.path.stat()
        return (status.st_dev, status.st_ino)

    def _gone(self, doing: str) -> StoreError:
        return StoreError(
            f"{self.shown}: the store file is gone (deleted or moved away) while {doing}, so "
            "nothing was read or saved; put it back where it was (move it back, or restore your "
            "latest backup there) and try again. reviewkit does not start an empty store in its "
            "place: that would hide every link and check-in made so far"
        )

    def _read_only(self, doing: str) -> StoreError:
        return StoreError(
            f"{self.shown}: cannot write while {doing}: the store is read-only for this user, so "
            "nothing was saved; get write permission on the file and its folder (SQLite also "
            f"writes {self.path.name}-wal and {self.path.name}-shm beside it), or work on a "
            "writable copy"
        )

    def _not_a_store(self) -> StoreError:
        return StoreError(
            f"{self.shown}: a SQLite database, but not a reviewkit store; pass the store's path "
            "or move this file away"
        )

    def _failure(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """A user-facing error for a SQLite failure: what happened, where, what to do."""
        code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
        where = self.shown
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreError(
                f"{where}: the store stayed locked by another writer for more than "
                f"{self.timeout:g} s while {doing}; another process (a notebook kernel, a "
                "dashboard, a sqlite3 shell) holds a write transaction open: finish or close it, "
                "then try again"
            )
        if code == sqlite3.SQLITE_READONLY:
            return self._read_only(doing)
        if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
            return StoreError(
                f"{where}: cannot open the store while {doing}: the file or its folder is not "
                "accessible to this user; check the path and that you may read and write both"
            )
        if code == sqlite3.SQLITE_NOTADB:
            return StoreError(
                f"{where}: not a SQLite file, so not a reviewkit store; pass the store's path "
                "or move this file away"
            )
        if code == sqlite3.SQLITE_CORRUPT:
            return StoreError(
                f"{where}: the store file is damaged ({exc}); restore it from a backup, or "
                "import your last export into a new store"
            )
        if code == sqlite3.SQLITE_FULL:
            return StoreError(f"{where}: the disk is full while {doing}; free some space")
        return StoreError(
            f"{where}: SQLite failed while {doing}: {exc}; if it happens again, check the file "
            f"with `sqlite3 {where} 'PRAGMA integrity_check'`"
        )

    def _retrying(self, doing: str, attempt: Callable[[], sqlite3.Cursor]) -> sqlite3.Cursor:
        """Run ``attempt``, retrying while the file is locked until ``timeout`` has passed.

        The busy timeout already waits inside SQLite; this loop covers the cases where SQLite
        reports "database is locked" without waiting (switching to WAL, recovering a WAL left by
        a killed process), so both end at the same deadline with one clear error."""
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                return attempt()
            except sqlite3.Error as exc:
                if not _sqlite_busy(exc) or time.monotonic() >= deadline:
                    raise self._failure(exc, doing) from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    @contextlib.contextmanager
    def write(self, doing: str) -> Iterator[Connection]:
        """The write lock is taken first (``BEGIN IMMEDIATE``), so the transaction never fails
        halfway for lack of it."""
        conn = self._connection(doing, write=True)
        self._retrying(doing, lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._failure(exc, doing) from exc
            raise

    @contextlib.contextmanager
    def read(self, doing: str) -> Iterator[Connection]:
        conn = self._connection(doing, write=False)
        self._retrying(doing, lambda: conn.execute("BEGIN"))
        try:
            yield conn
        except sqlite3.Error as exc:
            raise self._failure(exc, doing) from exc
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (idempotent); the last one out checkpoints the WAL."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- PostgreSQL -------------------------------------------------------------------------------


class _PgConnection:
    """A psycopg connection taking the store's ``?`` placeholders."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        cursor: Cursor = self.conn.execute(sql.replace("?", "%s"), params)
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> Any:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)


class PostgresDatabase(Database):
    """A store in a PostgreSQL database, in the schema ``reviewkit``: every host and process
    that can reach the server shares it. The password comes from the environment
    (``PGPASSWORD``) or ``~/.pgpass``, as for any libpq client, or from ``$REVIEWKIT_STORE``.

    A connection found lost as an operation begins (the server restarted since the last one)
    is made again, once; a server that still does not answer, or a connection lost during an
    operation, is an error for that operation saying whether anything was saved, and the next
    operation connects again."""

    dialect = "postgresql"

    def __init__(self, url: str, *, timeout: float, create: bool) -> None:
        import psycopg  # noqa: PLC0415 (only for PostgreSQL stores)

        self.psycopg = psycopg
        self.url = url
        self.timeout = timeout
        self.create = create
        self.shown = shown_url(url)
        self._conn: Any = None
        self._closed = False
        self._setup()

    # -- connecting ---------------------------------------------------------------------------
    def _connect(self, doing: str) -> Any:
        if self._closed:
            raise StoreError(f"{self.shown}: the store is closed; open it again with Store(url)")
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._drop()
        try:
            conn = self.psycopg.connect(
                self.url,
                autocommit=True,  # we BEGIN and COMMIT ourselves
                connect_timeout=PG_CONNECT_TIMEOUT,
                application_name="reviewkit",
                options=f"-c lock_timeout={int(self.timeout * 1000)}",
            )
        except self.psycopg.Error as exc:
            raise self._failure(exc, doing) from None
        self._conn = conn
        return conn

    def _setup(self) -> None:
        """The schema, created or migrated in one transaction (processes starting at once
        take turns through an advisory lock)."""
        doing = "opening the store"
        conn = self._connect(doing)
        try:
            with conn.transaction():
                found = conn.execute(
                    "SELECT to_regclass(%s) IS NOT NULL", (f"{PG_SCHEMA}.meta",)
                ).fetchone()[0]
                version = (
                    conn.execute(f"SELECT schema_version FROM {PG_SCHEMA}.meta").fetchone()[0]
                    if found
                    else 0
                )
                if version == SCHEMA_VERSION:
                    pass
                elif version > SCHEMA_VERSION:
                    raise self.newer(version)
                elif not found and not self.create:
                    raise StoreError(
                        f"{self.shown}: this database has no reviewkit store (no schema "
                        f"'{PG_SCHEMA}'): it was dropped, or this is not the database the store "
                        "was in; restore it from a backup or point the project at the right "
                        "database. reviewkit does not start an empty store in its place: that "
                        "would hide every link and check-in made so far"
                    )
                else:
                    self._migrate(conn, found)
        except self.psycopg.Error as exc:
            raise self._failure(exc, doing) from None

    def _migrate(self, conn: Any, found: bool) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPLICATION_ID,))
        if not found:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
        conn.execute(f"SET LOCAL search_path TO {PG_SCHEMA}")
        found = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
        version = conn.execute("SELECT schema_version FROM meta").fetchone()[0] if found else 0
        for step in MIGRATIONS[self.dialect][version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute("UPDATE meta SET schema_version = %s", (SCHEMA_VERSION,))

    # -- errors -------------------------------------------------------------------------------
    def _failure(self, exc: Exception, doing: str, *, committing: bool = False) -> StoreError:
        errors = self.psycopg.errors
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = self.shown
        if isinstance(exc, errors.LockNotAvailable):
            return StoreError(
                f"{where}: the store stayed locked by another writer for more than "
                f"{self.timeout:g} s while {doing}; another process holds a write transaction "
                "open: finish or close it, then try again"
            )
        refused = isinstance(exc, errors.InvalidPassword | errors.InvalidAuthorizationSpecification)
        if refused or "authentication failed" in detail or "no password supplied" in detail:
            return StoreError(
                f"{where}: PostgreSQL refused the store's user while {doing} ({detail}); set "
                "the password in PGPASSWORD or ~/.pgpass (never in reviewkit.yaml), or fix the "
                "user in the address"
            )
        if isinstance(exc, errors.InsufficientPrivilege | errors.ReadOnlySqlTransaction):
            return StoreError(
                f"{where}: cannot write while {doing}: the store's PostgreSQL user may not "
                f"({detail}), so nothing was saved; grant it rights on schema {PG_SCHEMA}"
            )
        if isinstance(exc, errors.UndefinedTable):
            return StoreError(
                f"{where}: the store's tables are gone while {doing} ({detail}), so nothing was "
                "read or saved; restore the database from a backup"
            )
        if isinstance(exc, self.psycopg.OperationalError | self.psycopg.InterfaceError):
            if committing:
                return StoreError(
                    f"{where}: the connection to the store's PostgreSQL server was lost while "
                    f"{doing}, as it committed: the change may or may not be saved; reload "
                    "to see, and save again if it is missing"
                )
            return StoreError(
                f"{where}: the store's PostgreSQL server cannot be reached while {doing} "
                f"({detail}), so nothing was saved; check that it is running and reachable, "
                "then try again"
            )
        return StoreError(f"{where}: PostgreSQL failed while {doing}: {detail}")

    # -- transactions -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, doing: str, begin: Sequence[str]) -> Iterator[Connection]:
        conn = self._begin(doing, begin)
        try:
            yield _PgConnection(conn)
        except BaseException as exc:
            self._rollback(conn)
            if isinstance(exc, self.psycopg.Error):
                raise self._failure(exc, doing) from None
            raise
        try:
            conn.execute("COMMIT")
        except self.psycopg.Error as exc:
            self._rollback(conn)
            raise self._failure(exc, doing, committing=True) from None

    def _begin(self, doing: str, begin: Sequence[str]) -> Any:
        """A connection with a transaction begun. A kept connection that the server dropped
        (it restarted since) is only found out here, before anything was done: connect again,
        once, rather than fail the first operation after every restart."""
        kept = self._conn is not None
        conn = self._connect(doing)
        try:
            for statement in begin:
                conn.execute(statement)
        except self.psycopg.Error as exc:
            self._rollback(conn)
            lost = isinstance(exc, self.psycopg.OperationalError | self.psycopg.InterfaceError)
            if not (kept and lost):
                raise self._failure(exc, doing) from None
            self._drop()
            return self._begin(doing, begin)
        return conn

    def _drop(self) -> None:
        """Forget the connection (closing it if it still can be)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _rollback(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")

    def write(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        """Writers take turns on the events table's lock (readers are not blocked by it), so a
        transaction never fails halfway for lack of a lock or a serialisation conflict."""
        return self._transaction(
            doing,
            (
                "BEGIN",
                f"SET LOCAL search_path TO {PG_SCHEMA}",
                "LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE",
            ),
        )

    def read(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        return self._transaction(
            doing,
            (
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                f"SET LOCAL search_path TO {PG_SCHEMA}",
            ),
        )

    def events_follow_ids(self, conn: Connection) -> None:
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('events', 'id'), "
            "coalesce((SELECT max(id) FROM events), 0) + 1, false)"
        )

    def close(self) -> None:
        self._closed = True
        self._drop()
