"""Where the store keeps its event log: a SQLite file (the embedded default) or a PostgreSQL
database (one store shared by several hosts). :class:`reviewkit.store.core.Store` holds the event
model and speaks the SQL both understand; a backend gives it transactions and turns its
database's failures into a :class:`StoreError` that says what happened and what to do.

Both backends give the same guarantees: one writer at a time (SQLite's ``BEGIN IMMEDIATE``,
PostgreSQL's ``LOCK TABLE events``), so a transaction never fails halfway for lack of a lock;
readers see one consistent snapshot and never wait for writers; every commit is durable before
it is acknowledged; the events table refuses updates and deletes (triggers); text compares and
sorts bytewise (PostgreSQL's columns are ``COLLATE "C"``), so both list things in one order.

Any thread of the process may use a store, several at once (a JupyterLab kernel delivers widget
messages on subshell threads, a Dask worker runs tasks on a pool of threads). Each transaction
has a connection to itself: it takes an idle one, or opens one when none is idle, and gives it
back when it ends, for the next transaction of any thread. So threads share a store as
processes do, with the same guarantees: SQLite readers in WAL mode read side by side while
writers take turns on the file's lock; in PostgreSQL each transaction has its own server
connection, so no thread's statements can land in another thread's transaction. Not one
connection behind a lock: a thread's read would then wait for another thread's write, even
while that write waits up to the timeout for another process. Not a connection per thread: the
threads of a pool come and go, and each would leave its connection open. A store keeps as many
connections as it ran transactions at once; :meth:`Database.close` closes them all, the idle
ones at once and one in a transaction when that transaction ends (as it would have), and no new
transaction starts.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
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
SCHEMA_VERSION: Final = 3
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
#: Schema 3: business events (a price change, an outage, a campaign), which may move KPIs
#: whatever the outputs: on ``start``, or from ``start`` through ``end``; ``metrics`` (the KPIs it
#: concerns) and ``scope`` (its segment, [dimension, value] pairs) as JSON lists, empty for every
#: KPI and the whole company. Ids come from the log, so a removed event's id is never reused.
_BUSINESS_EVENTS: Final = """CREATE TABLE business_events (
    "id" {integer} NOT NULL PRIMARY KEY CHECK ("id" > 0),
    "title" {text} NOT NULL,
    "start" {text} NOT NULL,
    "end" {text} CHECK ("end" >= "start"),
    "metrics" {text} NOT NULL,
    "scope" {text} NOT NULL,
    "author" {text} NOT NULL,
    "created_at" {text} NOT NULL
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
        (_BUSINESS_EVENTS.format(**_SQLITE_TYPES),),
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
        (_BUSINESS_EVENTS.format(**_POSTGRES_TYPES),),
    ),
}


class Database:
    """A store's database: transactions and clear errors. ``shown`` names it in messages.
    Its connections are pooled, so that any thread may use it (the module's docstring)."""

    dialect: str
    shown: str
    #: how to open the store again, for the message of a closed one
    reopen: str

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: connections no transaction is using
        self._idle: list[Any] = []
        self._closed = False

    def write(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        """One write transaction (``doing`` says what for, in errors); any error rolls it back."""
        raise NotImplementedError

    def read(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        """A read transaction: every query inside sees the same committed state."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the idle connections now and the others as their transaction ends; refuse
        new transactions (idempotent)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)

    def _idle_connection(self) -> Any:
        """An idle connection for a transaction to take, or None (then it opens one)."""
        with self._lock:
            if self._closed:
                raise StoreError(
                    f"{self.shown}: the store is closed; open it again with {self.reopen}"
                )
            return self._idle.pop() if self._idle else None

    def _give_back(self, conn: Any) -> None:
        """``conn``'s transaction has ended: keep it for the next one, or close it when the
        store was closed meanwhile or it cannot serve again (broken, or still in a
        transaction that could not be rolled back)."""
        with self._lock:
            if not self._closed and self._reusable(conn):
                self._idle.append(conn)
                return
        self._discard(conn)

    def _reusable(self, conn: Any) -> bool:
        raise NotImplementedError

    @staticmethod
    def _discard(conn: Any) -> None:
        with contextlib.suppress(Exception):  # a connection the server dropped is gone anyway
            conn.close()

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


class _SqliteConnection(sqlite3.Connection):
    """A connection that knows which file it opened, and whether that file was writable."""

    #: (device, inode) of the file
    identity: tuple[int, int]
    writable: bool


class SqliteDatabase(Database):
    """A store in one SQLite file shared by processes, in WAL mode.

    Before every read and write the file is checked to still be the one the connection opened:
    a store file deleted or moved away is an error (SQLite itself would keep writing into the
    unlinked file and report success), a file put back in its place (from a backup) is opened
    afresh, and a write to a file that became read-only is refused (an open connection could
    still write)."""

    dialect = "sqlite"
    reopen = "Store(path)"

    def __init__(self, path: Path, *, timeout: float, create: bool) -> None:
        super().__init__()
        self.path = path
        self.timeout = timeout
        self.shown = shown_path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{self.shown}: cannot create the store's folder ({exc.strerror}); create it "
                "yourself or choose a path where you may write"
            ) from None
        self._give_back(self._open(create=create))

    def _open(self, *, create: bool) -> _SqliteConnection:
        """A new connection (creating the file only when ``create``), set up."""
        # mode=rw: never create the file
        target = str(self.path) if create else f"{self.path.resolve().as_uri()}?mode=rw"
        try:
            conn = sqlite3.connect(
                target,
                timeout=self.timeout,
                # we issue BEGIN IMMEDIATE/COMMIT ourselves (sqlite3's implicit transactions
                # start deferred, which can fail instead of waiting under contention)
                isolation_level=None,
                # any thread may use it, one transaction at a time (the module's docstring)
                check_same_thread=False,
                factory=_SqliteConnection,
                uri=not create,
            )
        except sqlite3.Error as exc:
            if not create and not self.path.exists():
                raise self._gone("opening the store") from None
            raise self._failure(exc, "opening the store") from exc
        try:
            self._setup(conn)
            conn.identity = self._stat()
            conn.writable = os.access(self.path, os.W_OK)
        except FileNotFoundError:
            conn.close()
            raise self._gone("opening the store") from None
        except BaseException:
            conn.close()
            raise
        return conn

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
            self._migrate(conn)
        app = self._retrying("opening the store", lambda: conn.execute("PRAGMA application_id"))
        if app.fetchone()[0] != APPLICATION_ID:
            raise self._not_a_store()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._begun(conn, "creating the store's tables", "BEGIN IMMEDIATE"):
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

    @contextlib.contextmanager
    def _connection(self, doing: str, *, write: bool) -> Iterator[_SqliteConnection]:
        """A connection for one transaction, checked to have the store's file open (else a
        new one), given back when the transaction ends."""
        conn: _SqliteConnection | None = self._idle_connection()
        try:
            try:
                identity = self._stat()
            except FileNotFoundError:
                raise self._gone(doing) from None
            except OSError:  # e.g. a folder we may not search: SQLite's error says more
                identity = None
            if identity is not None:
                writable = os.access(self.path, os.W_OK)
                if conn is not None and (
                    conn.identity != identity or (writable and not conn.writable)
                ):
                    # Put back (a restored backup is another file) or writable again: open it
                    # afresh. Closing the old connection is safe: SQLite neither checkpoints nor
                    # deletes a WAL for a database file that moved since it was opened.
                    conn.close()
                    conn = None
                if write and not writable:
                    raise self._read_only(doing)
            if conn is None:
                conn = self._open(create=False)
            yield conn
        finally:
            if conn is not None:
                self._give_back(conn)

    def _reusable(self, conn: _SqliteConnection) -> bool:
        return not conn.in_transaction

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

    def write(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        """The write lock is taken first (``BEGIN IMMEDIATE``), so the transaction never fails
        halfway for lack of it."""
        return self._transaction(doing, "BEGIN IMMEDIATE", write=True)

    def read(self, doing: str) -> contextlib.AbstractContextManager[Connection]:
        return self._transaction(doing, "BEGIN", write=False)

    @contextlib.contextmanager
    def _transaction(self, doing: str, begin: str, *, write: bool) -> Iterator[Connection]:
        with self._connection(doing, write=write) as conn, self._begun(conn, doing, begin):
            yield conn

    @contextlib.contextmanager
    def _begun(self, conn: sqlite3.Connection, doing: str, begin: str) -> Iterator[None]:
        """A transaction on ``conn``, begun with ``begin`` and committed at the end; any error
        rolls it back."""
        self._retrying(doing, lambda: conn.execute(begin))
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._failure(exc, doing) from exc
            raise


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
    reopen = "Store(url)"

    def __init__(self, url: str, *, timeout: float, create: bool) -> None:
        import psycopg  # noqa: PLC0415 (only for PostgreSQL stores)

        super().__init__()
        self.psycopg = psycopg
        self.url = url
        self.timeout = timeout
        self.create = create
        self.shown = shown_url(url)
        conn = self._connect("opening the store")
        try:
            self._setup(conn)
        except BaseException:
            self._discard(conn)
            raise
        self._give_back(conn)

    # -- connecting ---------------------------------------------------------------------------
    def _connect(self, doing: str) -> Any:
        """A new connection."""
        try:
            return self.psycopg.connect(
                self.url,
                autocommit=True,  # we BEGIN and COMMIT ourselves
                connect_timeout=PG_CONNECT_TIMEOUT,
                application_name="reviewkit",
                options=f"-c lock_timeout={int(self.timeout * 1000)}",
            )
        except self.psycopg.Error as exc:
            raise self._failure(exc, doing) from None

    def _reusable(self, conn: Any) -> bool:
        idle = conn.info.transaction_status == self.psycopg.pq.TransactionStatus.IDLE
        return not conn.closed and not conn.broken and idle

    def _setup(self, conn: Any) -> None:
        """The schema, created or migrated in one transaction (processes starting at once
        take turns through an advisory lock)."""
        doing = "opening the store"
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
        finally:
            self._give_back(conn)

    def _begin(self, doing: str, begin: Sequence[str]) -> Any:
        """A connection for one transaction, the transaction begun. An idle connection that
        the server dropped (it restarted since) is only found out here, before anything was
        done: connect again, once, rather than fail the first operation after every restart."""
        conn = self._idle_connection()
        kept = conn is not None
        while True:
            if conn is None:
                conn = self._connect(doing)
            try:
                for statement in begin:
                    conn.execute(statement)
            except self.psycopg.Error as exc:
                self._rollback(conn)
                self._give_back(conn)
                lost = isinstance(exc, self.psycopg.OperationalError | self.psycopg.InterfaceError)
                if not (kept and lost):
                    raise self._failure(exc, doing) from None
                conn, kept = None, False
            else:
                return conn

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
