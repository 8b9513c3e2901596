"""Sources that live in a SQL engine (a warehouse) instead of in export files.

reviewkit writes its SQL once, for DuckDB. For a source declared with ``engine:``, that SQL is
compiled to the engine's dialect by SQLGlot: the source's name becomes the rows its ``table:``
or ``query:`` names, typed as declared; DuckDB's ``$name`` parameters become the engine's own
placeholders, still bound by its driver (never formatted into the SQL); and the query runs in
the engine, so only its result (a KPI roll-up's aggregates) crosses the network.

>>> table = Warehouse("postgresql://reviewkit@db/analytics").table(config, source)
>>> table.rows, table.max_date
>>> table.df("SELECT team, count(*) AS n FROM tickets GROUP BY team", {})

PostgreSQL runs through psycopg; Spark SQL through a ``pyspark`` session (optional: ``pip
install pyspark``; ``spark://local`` starts one in this process). Connections are opened on
first use; the password comes from the driver's own settings (``PGPASSWORD``, ``~/.pgpass``),
never from reviewkit.yaml.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import pandas as pd
import sqlglot
from sqlglot import exp

from reviewkit.base.errors import DataError, Problem, QueryError
from reviewkit.base.registry import Registry
from reviewkit.config import ENGINES, ProjectConfig, Source

__all__ = [
    "DRIVERS",
    "Driver",
    "Warehouse",
    "WarehouseError",
    "WarehouseTable",
    "compile_sql",
    "table_names",
]

#: Seconds to wait for an engine to accept a connection.
CONNECT_TIMEOUT: Final = 10
#: How many repeated keys or future dates a check lists before summarising.
LISTED: Final = 5
#: The dialect reviewkit's own SQL is written in.
OURS: Final = "duckdb"
#: How an engine's column types are told apart: (kind, type-name pattern).
KINDS: Final = (
    ("date", re.compile(r"^(date|timestamp.*|datetime.*)$", re.IGNORECASE)),
    (
        "number",
        re.compile(
            r"^(int.*|bigint|smallint|tinyint|long|short|byte|numeric.*|"
            r"decimal.*|float.*|double.*|real)$",
            re.IGNORECASE,
        ),
    ),
)


#: A query's result from a driver: column names, rows.
Result = tuple[list[str], list[tuple[Any, ...]]]


class WarehouseError(QueryError):
    """The engine refused a query or a connection (its message is kept)."""


def _kind(type_name: str) -> str:
    for kind, pattern in KINDS:
        if pattern.match(type_name):
            return kind
    return "text"


def _quoted(name: str) -> str:
    """An identifier in reviewkit's SQL, quoted (an engine's column may hold any character)."""
    return exp.to_identifier(name, quoted=True).sql(dialect=OURS)


def compile_sql(
    sql: str, dialect: str, relations: Mapping[str, str], *, pretty: bool = False
) -> tuple[str, list[str]]:
    """reviewkit's DuckDB ``sql`` in ``dialect``: each table named in ``relations`` (a source)
    replaced by that SQL (already in ``dialect``), and each ``$name`` parameter by the
    dialect's placeholder (``%(name)s`` for psycopg, ``:name`` for Spark; the n-th ``?`` is
    named ``pn``, as is ``$n``). Returns the SQL and the parameter names it uses."""
    try:
        tree = sqlglot.parse_one(sql, read=OURS)
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"SQL cannot be read: {str(exc).splitlines()[0]}") from None
    nonce = secrets.token_hex(6)
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    swapped: dict[str, str] = {}
    for table in list(tree.find_all(exp.Table)):
        name = table.name
        if name in relations and not table.db and name not in ctes:
            sentinel = f"rk{nonce}t{len(swapped)}x"
            swapped[sentinel] = relations[name]
            alias = table.alias or name
            table.replace(exp.Table(this=exp.to_identifier(sentinel)).as_(alias, quoted=True))
    driver = _driver_of(dialect)
    driver.adapt(tree)
    names: list[str] = []
    positional = 0
    for placeholder in list(tree.find_all(exp.Placeholder, bfs=False)):  # in the text's order
        if placeholder.this is None:  # ?: the next of a sequence of values, bound as p1, p2...
            positional += 1
            names.append(f"p{positional}")
        elif placeholder.name.isdigit():  # $1: the first of them
            names.append(f"p{placeholder.name}")
        else:
            names.append(placeholder.name)
        placeholder.replace(exp.column(f"rk{nonce}p{len(names) - 1}x"))
    text = tree.sql(dialect=dialect, pretty=pretty)
    for sentinel, relation in swapped.items():
        text = text.replace(sentinel, f"({relation})")
    text = driver.escape(text)
    for number, name in enumerate(names):
        text = text.replace(f"rk{nonce}p{number}x", driver.placeholder.format(name))
    return text, sorted(set(names))


def table_names(sql: str) -> set[str]:
    """The tables DuckDB-dialect ``sql`` reads (not its CTEs); none when SQLGlot cannot read
    it (DuckDB then runs it, and says what is wrong)."""
    try:
        tree = sqlglot.parse_one(sql, read=OURS)
    except sqlglot.errors.ParseError:
        return set()
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if not t.db and t.name not in ctes}


class Driver:
    """A SQL engine's driver: a connection from its URL, and what its dialect needs of SQL that
    SQLGlot compiled (placeholders, escapes, rewrites). Each is registered in :data:`DRIVERS`
    under its URL schemes."""

    #: the SQLGlot dialect reviewkit's SQL is compiled to
    dialect: ClassVar[str]
    #: a bound parameter in the compiled SQL, ``{}`` its name
    placeholder: ClassVar[str] = ":{}"

    def __init__(self, url: str) -> None:
        raise NotImplementedError

    @classmethod
    def adapt(cls, tree: exp.Expr) -> None:
        """Rewrite parsed SQL where SQLGlot's output in the dialect is not what the engine
        reads (in place)."""

    @classmethod
    def escape(cls, text: str) -> str:
        """The compiled SQL as the driver must be given it (before placeholders go in)."""
        return text

    def execute(self, sql: str, params: Mapping[str, Any]) -> Result:
        raise NotImplementedError

    def describe(self, relation: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _check_engine(scheme: str, driver: type[Driver]) -> None:
    """A driver's scheme must be one that config accepts in ``engine:`` URLs (its ENGINES, the
    one list of them), for the dialect the driver compiles to."""
    if ENGINES.get(scheme) != driver.dialect:
        raise ValueError(
            f"cannot register {driver.__name__} for {scheme}://: reviewkit.config.ENGINES must "
            f"map {scheme!r} to its dialect {driver.dialect!r} (the schemes config accepts)"
        )


#: The SQL engines' drivers by URL scheme: a new engine is a :class:`Driver` in a module of its
#: own, registered with ``@DRIVERS.register(scheme)`` (or named by an entry point of the group
#: ``reviewkit.engines``), its scheme and dialect added to :data:`reviewkit.config.ENGINES`.
DRIVERS: Final = Registry[type[Driver]]("reviewkit.engines", _check_engine)


def _driver_of(dialect: str) -> type[Driver]:
    """The driver compiling to ``dialect``."""
    for scheme in list(ENGINES):
        driver = DRIVERS.get(scheme)
        if driver is not None and driver.dialect == dialect:
            return driver
    raise QueryError(f"no SQL engine speaks the dialect {dialect!r}")


@DRIVERS.register("postgresql", "postgres")
class _Postgres(Driver):
    """psycopg, one autocommit connection in read-only transactions, dates in UTC."""

    dialect = "postgres"
    placeholder = "%({})s"

    def __init__(self, url: str) -> None:
        import psycopg  # noqa: PLC0415 (only for projects with such sources)
        import psycopg.types.numeric  # noqa: PLC0415
        import psycopg.types.string  # noqa: PLC0415

        self._psycopg = psycopg
        self._con = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        # text values bound as text, not "unknown" (which PostgreSQL cannot unnest)
        self._con.adapters.register_dumper(str, psycopg.types.string.StrDumper)
        # numeric results (an average of integers) as floats, as DuckDB gives them
        self._con.adapters.register_loader("numeric", psycopg.types.numeric.FloatLoader)
        self._con.execute("SET default_transaction_read_only = on")
        self._con.execute("SET TIME ZONE 'UTC'")

    @classmethod
    def escape(cls, text: str) -> str:
        return text.replace("%", "%%")  # psycopg's placeholders are %(name)s

    def execute(self, sql: str, params: Mapping[str, Any]) -> Result:
        try:
            with self._con.cursor() as cursor:
                cursor.execute(sql, dict(params))  # always parsed: "%%" is "%"
                names = [d.name for d in cursor.description or ()]
                return names, cursor.fetchall()
        except self._psycopg.Error as exc:
            raise WarehouseError(str(exc).strip().splitlines()[0]) from None

    def describe(self, relation: str) -> list[tuple[str, str]]:
        try:
            with self._con.cursor() as cursor:
                cursor.execute(f"SELECT * FROM {relation} AS _q LIMIT 0")
                types = self._con.adapters.types
                return [
                    (d.name, getattr(types.get(d.type_code), "name", "unknown"))
                    for d in cursor.description or ()
                ]
        except self._psycopg.Error as exc:
            raise WarehouseError(str(exc).strip().splitlines()[0]) from None

    def close(self) -> None:
        self._con.close()


@DRIVERS.register("spark")
class _Spark(Driver):
    """A pyspark session: ``spark://local`` runs Spark in this process (2 threads),
    ``spark://host:7077`` connects to a standalone cluster."""

    dialect = "spark"

    @classmethod
    def adapt(cls, tree: exp.Expr) -> None:
        for extract in tree.find_all(exp.Extract):  # SQLGlot keeps EXTRACT's field as written
            if extract.this.name.upper() == "ISODOW":  # and Spark names it so
                extract.set("this", exp.var("DAYOFWEEK_ISO"))

    def __init__(self, url: str) -> None:
        try:
            from pyspark.sql import SparkSession  # noqa: PLC0415 (optional)
        except ImportError:
            raise WarehouseError(
                "a spark:// engine needs pyspark: pip install pyspark (and Java 17)"
            ) from None
        parts = urllib.parse.urlsplit(url)
        master = "local[2]" if parts.hostname in (None, "local") else f"spark://{parts.netloc}"
        builder = SparkSession.builder.master(master).appName("reviewkit")
        builder = builder.config("spark.sql.session.timeZone", "UTC")
        builder = builder.config("spark.ui.enabled", "false")
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        self._spark = builder.getOrCreate()

    def execute(self, sql: str, params: Mapping[str, Any]) -> Result:
        from pyspark.errors import PySparkException  # noqa: PLC0415
        from pyspark.sql import functions as F  # noqa: PLC0415

        args = {
            name: F.array(*(F.lit(v) for v in value)) if isinstance(value, list) else value
            for name, value in params.items()
        }
        try:
            frame = self._spark.sql(sql, args=args or None)
            rows = frame.collect()
        except PySparkException as exc:
            raise WarehouseError(str(exc).strip().splitlines()[0]) from None
        return list(frame.columns), [tuple(row) for row in rows]

    def describe(self, relation: str) -> list[tuple[str, str]]:
        from pyspark.errors import PySparkException  # noqa: PLC0415

        try:
            schema = self._spark.sql(f"SELECT * FROM {relation} AS _q LIMIT 0").schema
        except PySparkException as exc:
            raise WarehouseError(str(exc).strip().splitlines()[0]) from None
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]

    def close(self) -> None:
        """The session is shared by the process (Spark allows one): it stays."""


class Warehouse:
    """One SQL engine, by URL; its connection is opened on first use and kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = urllib.parse.urlsplit(url).scheme
        kind = DRIVERS.get(scheme)
        if kind is None:  # config checked the scheme against ENGINES: a driver is missing
            raise QueryError(f"no driver is registered for {scheme}:// engines")
        self.kind = kind
        self.dialect = kind.dialect
        self._driver: Driver | None = None

    def driver(self, source: str) -> Driver:
        if self._driver is None:
            try:
                self._driver = self.kind(self.url)
            except WarehouseError as exc:
                raise DataError(f"source '{source}': {exc}") from None
            except Exception as exc:  # the driver's own connection errors
                detail = (str(exc).strip() or type(exc).__name__).splitlines()[0]
                raise DataError(
                    f"source '{source}': cannot connect to {self.url}: {detail}; check the "
                    "URL under sources."
                    f"{source}.engine, that the server runs, and the client's password "
                    "settings (PGPASSWORD or ~/.pgpass for PostgreSQL)"
                ) from None
        return self._driver

    def table(self, config: ProjectConfig, source: Source) -> WarehouseTable:
        """The source's rows in this engine, checked against its declaration."""
        return WarehouseTable(self, config, source)

    def query(
        self, source: str, sql: str, relations: Mapping[str, str], params: Mapping[str, Any]
    ) -> pd.DataFrame:
        """The result of reviewkit's DuckDB ``sql`` over ``relations`` (source name -> its
        typed SQL here), compiled to this engine's dialect and run here with ``params`` bound;
        ``source`` names the source a connection error is reported for."""
        text, names = compile_sql(sql, self.dialect, relations)
        missing = [name for name in names if name not in params]
        if missing:
            raise QueryError(f"no value given for parameter(s): {', '.join(missing)}")
        bound = {name: _bindable(params[name]) for name in names}
        columns, rows = self.driver(source).execute(text, bound)
        return pd.DataFrame.from_records(rows, columns=columns)

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None


class WarehouseTable:
    """A source's rows in a warehouse: its declared columns checked and typed, its extent
    counted, and DuckDB-dialect SQL over it compiled and run there."""

    def __init__(self, warehouse: Warehouse, config: ProjectConfig, source: Source) -> None:
        self.warehouse = warehouse
        self.config = config
        self.source = source
        driver = warehouse.driver(source.name)
        if source.table is not None:
            self.what = f"table {source.table}"
            try:
                base = exp.to_table(source.table, dialect=warehouse.dialect).sql(warehouse.dialect)
            except sqlglot.errors.ParseError:
                raise self._error("table", "is not a table name; write schema.table") from None
        else:
            self.what = "the query under sources." + source.name + ".query"
            base = f"({source.query})"
        try:
            found = driver.describe(base)
        except WarehouseError as exc:
            key = "table" if source.table is not None else "query"
            raise self._error(key, f"cannot be read in {warehouse.url}: {exc}") from None
        #: the engine's columns and their types, as it names them
        self.columns: dict[str, str] = dict(found)
        self.relation = self._typed(base)
        self.rows, self.min_date, self.max_date = self._extent()

    # -- checks -----------------------------------------------------------------------------
    def _error(self, key: str, message: str) -> DataError:
        config, name = self.config, self.source.name
        line, col = config.located.where(("sources", name, key))
        problem = Problem(
            config.located.path, f"{self.what} {message}", line, col, f"sources.{name}.{key}"
        )
        return DataError.from_problems(f"source '{name}' cannot be read as declared:", [problem])

    def _typed(self, base: str) -> str:
        """SQL (in the engine's dialect) for the rows as declared: the declared columns cast to
        reviewkit's types, the others as the engine has them."""
        source = self.source
        declared = source.declared_columns()
        missing = [c for c in declared if c not in self.columns]
        if missing:
            sections = {
                source.date.column: "date",
                **dict.fromkeys(source.dimensions, "dimensions"),
            }
            raise self._error(
                sections.get(missing[0], "values"),
                f"has no column {', '.join(map(repr, missing))} declared for source "
                f"'{source.name}'; its columns are: {', '.join(self.columns)}; rename it in the "
                f"{'query' if source.query else 'table'}, or under sources.{source.name}",
            )
        wanted = {source.date.column: ("date", "a date or timestamp", "DATE", "date")}
        wanted |= dict.fromkeys(
            source.value_types, ("number", "a number", "DOUBLE PRECISION", "values")
        )
        wrong = [
            (
                key,
                f"column '{column}' is {self.columns[column]}, not {what}; convert it in "
                f"`query:` (e.g. CAST({column} AS {cast}))",
            )
            for column, (kind, what, cast, key) in wanted.items()
            if _kind(self.columns[column]) != kind
        ]
        if wrong:
            raise self._error(wrong[0][0], "; ".join(message for _, message in wrong))
        # as an export's columns are read; the date column keeps the engine's precision
        has_time = self.columns[source.date.column].lower() != "date"
        selects = [
            f"CAST({_quoted(c)} AS {source.column_type(c, has_time=has_time)}) AS {_quoted(c)}"
            if c in declared
            else _quoted(c)
            for c in self.columns
        ]
        sentinel = f"rk{secrets.token_hex(6)}base"  # no column can be named so
        typed = f"SELECT {', '.join(selects)} FROM {sentinel} AS _q"
        text = sqlglot.parse_one(typed, read=OURS).sql(dialect=self.warehouse.dialect)
        return text.replace(sentinel, base)

    def _extent(self) -> tuple[int, dt.date | None, dt.date | None]:
        """Rows, first and last date, counted in the engine; a table without rows is refused."""
        source = self.source
        date = _quoted(source.date.column)
        frame = self.df(
            f"SELECT count(*) AS n, CAST(min({date}) AS DATE) AS first, "
            f"CAST(max({date}) AS DATE) AS last FROM {_quoted(source.name)}",
            {},
        )
        rows, first, last = frame.iloc[0]
        if int(rows) == 0:
            raise self._error(
                "table" if source.table else "query",
                "has no rows; check the table is loaded (or the query's filters)",
            )
        return int(rows), _day(first), _day(last)

    def forbidden(self, today: dt.date, late: dt.date) -> list[Problem]:
        """Repeats of the ``unique`` key and rows dated after ``late`` (a day past ``today``),
        counted in the engine; a few are listed with their values."""
        source, config = self.source, self.config
        name = _quoted(source.name)
        problems = []
        path = config.located.path
        if source.unique:
            missing = [c for c in source.unique if c not in self.columns]
            if missing:
                raise self._error(
                    "unique",
                    f"has no column {', '.join(map(repr, missing))} named under sources."
                    f"{source.name}.unique; its columns are: {', '.join(self.columns)}",
                )
            keys = ", ".join(_quoted(c) for c in source.unique)
            repeats = self.df(
                f"SELECT {keys}, count(*) AS n, count(*) OVER () AS groups FROM {name} "
                f"GROUP BY {keys} HAVING count(*) > 1 ORDER BY n DESC, {keys} LIMIT {LISTED}",
                {},
            )
            line, col = config.located.where(("sources", source.name, "unique"))
            for row in repeats.itertuples(index=False):
                values = ", ".join(str(v) for v in row[: len(source.unique)])
                problems.append(
                    Problem(
                        path,
                        f"{self.what}: {row.n} rows have the same {', '.join(source.unique)} "
                        f"({values}); remove the duplicates in the warehouse, or correct "
                        f"`unique:` under sources.{source.name}",
                        line,
                        col,
                        f"sources.{source.name}.unique",
                    )
                )
            if len(repeats) and int(repeats["groups"].iloc[0]) > LISTED:
                more = int(repeats["groups"].iloc[0]) - LISTED
                problems.append(Problem(path, f"... {more} more repeated keys", line, col))
        if source.future_dates == "refuse" and self.max_date is not None and self.max_date > late:
            day = f"CAST({_quoted(source.date.column)} AS DATE)"
            future = self.df(
                f"SELECT {day} AS day, count(*) AS n FROM {name} WHERE {day} > $late "
                f"GROUP BY {day} ORDER BY {day} LIMIT {LISTED}",
                {"late": late},
            )
            line, col = config.located.where(("sources", source.name, "date"))
            for row in future.itertuples(index=False):
                problems.append(
                    Problem(
                        path,
                        f"{self.what}: {row.n} row(s) dated {_day(row.day)}, after today "
                        f"({today.isoformat()}); correct the dates in the warehouse, or set "
                        f"`future_dates: allow` under sources.{source.name} if it plans ahead",
                        line,
                        col,
                        f"sources.{source.name}.date",
                    )
                )
        return problems

    # -- queries ----------------------------------------------------------------------------
    def df(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """The result of reviewkit's DuckDB ``sql`` over this source, run in the engine."""
        name = self.source.name
        return self.warehouse.query(name, sql, {name: self.relation}, params)


def _bindable(value: Any) -> Any:
    """A parameter as the engine's driver binds it (lists of values as arrays)."""
    if isinstance(value, tuple):
        return list(value)
    return value


def _day(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
