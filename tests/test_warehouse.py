"""The KPI catalogue on a warehouse engine: the sample company's sources as PostgreSQL tables
(a real server, started by the tests) give every KPI, comparison and scorecard value the DuckDB
files give, and a warehouse source's bad input is refused as precisely as an export's."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from reviewkit.base.errors import ReviewkitError
from reviewkit.base.periods import GRAINS, Window
from reviewkit.check import check_project
from reviewkit.cli import main
from reviewkit.config import load_config
from reviewkit.metrics.catalogue import KpiRequest, source_sql
from reviewkit.present.narrative import data_quality
from reviewkit.project import Project, open_project
from reviewkit.sources.warehouse import compile_sql
from tests.support.postgres import (
    QUERIED,
    PostgresServer,
    copy_to_postgres,
    free_port,
    kept_files,
    warehouse_config,
)


@pytest.fixture(scope="module")
def both(
    sample_dir: Path, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Project, Project, str]]:
    """The sample company read from its files (DuckDB) and from PostgreSQL, open side by side."""
    url = postgres.new_database()
    root = tmp_path_factory.mktemp("warehouse")
    shutil.copytree(
        sample_dir, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".reviewkit", "*.db*")
    )
    with open_project(sample_dir) as files:
        copy_to_postgres(files, url)
    config = root / "reviewkit.yaml"
    config.write_text(warehouse_config(config.read_text(encoding="utf-8"), url), encoding="utf-8")
    kept = kept_files(config)
    for export in (root / "data").iterdir():
        if export.suffix != ".yaml" and export.name not in kept:
            export.unlink()  # nothing else is read from files any more
    with open_project(sample_dir) as files, open_project(root) as warehouse:
        yield files, warehouse, url


def same(left: Any, right: Any) -> bool:
    """Equal, floats within 1e-9 relative (an engine may sum in another order)."""
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(left, pd.Timestamp) or isinstance(right, pd.Timestamp):
        return pd.Timestamp(left) == pd.Timestamp(right)
    return bool(left == right) or (pd.isna(left) and pd.isna(right))


def assert_same_frame(files: pd.DataFrame, warehouse: pd.DataFrame, what: str) -> None:
    assert list(files.columns) == list(warehouse.columns), what
    assert len(files) == len(warehouse), what
    left = files.to_dict("records")
    right = warehouse.to_dict("records")
    for row, (a, b) in enumerate(zip(left, right, strict=True)):
        for column in files.columns:
            assert same(a[column], b[column]), (
                f"{what}: row {row} {column}: {a[column]!r} != {b[column]!r}"
            )


def test_the_whole_catalogue_at_every_grain_equals_duckdb(both) -> None:
    files, warehouse, _ = both
    for grain in GRAINS:
        assert_same_frame(files.kpis(grain=grain), warehouse.kpis(grain=grain), grain)


def test_every_breakdown_and_filter_equals_duckdb(both) -> None:
    files, warehouse, _ = both
    config = files.config
    for name, source in config.sources.items():
        metrics = [m for m, d in config.metrics.items() if d.source == name]
        if not metrics:
            continue
        for dimension in source.dimensions:
            what = f"{name} by {dimension}"
            assert_same_frame(
                files.kpis(metrics, by=dimension), warehouse.kpis(metrics, by=dimension), what
            )
            value = files.workspace.query(f'SELECT min("{dimension}") FROM "{name}"')[0][0]
            assert_same_frame(
                files.kpis(metrics, filters={dimension: value}, start="2025-07-01"),
                warehouse.kpis(metrics, filters={dimension: value}, start="2025-07-01"),
                f"{name} where {dimension} = {value}",
            )


def test_comparisons_scorecards_and_outputs_equal_duckdb(both) -> None:
    files, warehouse, _ = both
    for metric in files.config.metrics:
        assert_same_frame(files.compare(metric), warehouse.compare(metric), f"compare {metric}")
        assert_same_frame(files.to_date(metric), warehouse.to_date(metric), f"to-date {metric}")
        assert_same_frame(
            files.trailing(metric, count=6, grain="week"),
            warehouse.trailing(metric, count=6, grain="week"),
            f"trailing weeks {metric}",
        )
    teams = sorted({o.team for o in files.config.outcomes.values() if o.team})
    for team in [None, *teams]:
        assert_same_frame(
            files.scorecard("2026-10", team=team),
            warehouse.scorecard("2026-10", team=team),
            f"scorecard {team or 'company'}",
        )
    assert_same_frame(
        files.outputs().drop(columns=["origin"]),
        warehouse.outputs().drop(columns=["origin"]),
        "outputs",
    )
    assert files.data_through() == warehouse.data_through()
    assert files.period("latest") == warehouse.period("latest")


def test_check_finds_the_same_warnings_in_either_engine(both) -> None:
    files, warehouse, _ = both
    found = [p.message for p in check_project(files.root)]
    assert [p.message for p in check_project(warehouse.root)] == found


def test_sql_over_warehouse_sources_runs_there_with_bound_values(both) -> None:
    files, warehouse, url = both
    sql = (
        "SELECT team, count(*) AS n, avg(csat) AS csat FROM tickets "
        "WHERE channel = $channel GROUP BY team ORDER BY team"
    )
    for channel in ("email", "x'; DROP TABLE analytics.tickets; --"):
        params = {"channel": channel}
        assert_same_frame(files.sql(sql, params), warehouse.sql(sql, params), channel)
    with psycopg.connect(url) as conn:  # the value was bound, never run
        assert conn.execute("SELECT count(*) FROM analytics.tickets").fetchone()[0] > 0


# -- bad input: refused as precisely as an export's ------------------------------------------------

SMALL = """\
name: Small
sources:
  tickets:
    engine: {url}
    {what}
    date: {{column: created_at, gaps: ignore}}
    dimensions: [team]
    values: {{csat: integer}}
    {extra}
  local:
    path: data/local.csv
    date: {{column: day, format: "%Y-%m-%d", gaps: ignore}}
    dimensions: [team]
metrics:
  tickets: {{source: tickets, agg: count}}
  csat: {{source: tickets, agg: mean, column: csat}}
"""


@pytest.fixture(scope="module")
def small_db(postgres: PostgresServer) -> str:
    """Tables to declare sources over: good, without a column, with text numbers, with a
    repeated key, with a date after today."""
    url = postgres.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        for name, csat in (("good", "integer"), ("texty", "text")):
            conn.execute(f"CREATE TABLE {name} (id int, created_at date, team text, csat {csat})")
            conn.execute(
                f"INSERT INTO {name} VALUES (1, '2026-10-01', 'a', '4'), (2, '2026-10-02', 'b', '5')"
            )
        conn.execute("CREATE TABLE nocsat AS SELECT id, created_at, team FROM good")
        conn.execute("CREATE TABLE repeated AS SELECT * FROM good UNION ALL SELECT * FROM good")
        conn.execute("CREATE TABLE ahead AS SELECT * FROM good")
        conn.execute("INSERT INTO ahead VALUES (3, '2027-02-01', 'a', 3)")
        conn.execute("CREATE TABLE empty AS SELECT * FROM good WHERE false")
    return url


def small_project(tmp_path: Path, url: str, what: str = "table: good", extra: str = "") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "local.csv").write_text("day,team\n2026-10-01,a\n", encoding="utf-8")
    text = SMALL.format(url=url, what=what, extra=extra)
    (tmp_path / "reviewkit.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def refusal(root: Path) -> str:
    with pytest.raises(ReviewkitError) as caught, open_project(root) as project:
        project.kpis()
    return str(caught.value)


def test_a_missing_column_names_the_table_and_the_column(tmp_path: Path, small_db: str) -> None:
    message = refusal(small_project(tmp_path, small_db, "table: nocsat"))
    assert (
        "reviewkit.yaml:8:5: sources.tickets.values: table nocsat has no column 'csat' declared "
        "for source 'tickets'; its columns are: id, created_at, team" in message
    )


def test_text_where_a_number_is_declared_is_refused(tmp_path: Path, small_db: str) -> None:
    message = refusal(small_project(tmp_path, small_db, "table: texty"))
    assert "table texty column 'csat' is text, not a number; convert it in `query:`" in message


def test_a_missing_table_and_a_bad_query_say_what_the_engine_said(
    tmp_path: Path, small_db: str
) -> None:
    message = refusal(small_project(tmp_path, small_db, "table: analytics.nope"))
    assert "sources.tickets.table: table analytics.nope cannot be read in " in message
    assert 'relation "analytics.nope" does not exist' in message
    message = refusal(small_project(tmp_path, small_db, "query: SELECT * FROM good WHERE"))
    assert "sources.tickets.query: the query under sources.tickets.query cannot be read" in message
    message = refusal(small_project(tmp_path, small_db, "table: empty"))
    assert "table empty has no rows" in message


def test_repeated_keys_and_future_dates_are_counted_in_the_engine(
    tmp_path: Path, small_db: str
) -> None:
    message = refusal(small_project(tmp_path, small_db, "table: repeated", "unique: [id]"))
    assert "sources.tickets.unique: table repeated: 2 rows have the same id (1)" in message
    assert "table repeated: 2 rows have the same id (2)" in message
    message = refusal(small_project(tmp_path, small_db, "table: ahead"))
    assert (
        "sources.tickets.date: table ahead: 1 row(s) dated 2027-02-01, after today (2026-11-25)"
        in message
    )
    with open_project(
        small_project(tmp_path, small_db, "table: ahead", "future_dates: allow")
    ) as p:
        assert p.source("tickets").max_date == dt.date(2027, 2, 1)


def test_an_engine_that_does_not_answer_is_named(tmp_path: Path) -> None:
    url = f"postgresql://reviewkit@127.0.0.1:{free_port()}/none"
    message = refusal(small_project(tmp_path, url))
    assert f"source 'tickets': cannot connect to {url}: " in message
    assert "check the URL under sources.tickets.engine, that the server runs" in message


def test_the_config_refuses_passwords_and_file_keys(tmp_path: Path) -> None:
    root = small_project(tmp_path, "postgresql://me:secret@db/x", extra="options: {delimiter: ';'}")
    found = [str(p) for p in check_project(root)]
    assert any("sources.tickets.engine: the engine URL holds a password" in p for p in found)
    assert any("sources.tickets.options: `options:` is for exports in files" in p for p in found)
    root = small_project(tmp_path, "mysql://db/x", what="")
    found = [str(p) for p in check_project(root)]
    assert any(
        "unknown engine 'mysql'; use a URL starting with one of: postgresql://" in p for p in found
    )
    assert any("needs exactly one of `table:`" in p for p in found)


def test_sql_may_not_mix_an_engine_with_files(tmp_path: Path, small_db: str) -> None:
    with open_project(small_project(tmp_path, small_db)) as project:
        assert project.sql("SELECT count(*) AS n FROM tickets").iloc[0, 0] == 2
        assert project.sql("SELECT count(*) AS n FROM local").iloc[0, 0] == 1
        with pytest.raises(
            ReviewkitError,
            match=r"live in different places: local \(files\), tickets \(postgresql:",
        ):
            project.sql("SELECT * FROM tickets JOIN local USING (team)")


# -- Spark SQL: golden SQL, and the catalogue on a local pyspark session ---------------------------

GOLDEN = Path(__file__).parent / "golden" / "warehouse"
#: Set to rewrite the golden files from the compiler's output (then review the diff).
UPDATE_GOLDEN = "REVIEWKIT_UPDATE_GOLDEN"
#: What the golden files pin: tickets' KPIs as a review asks for them.
GOLDEN_REQUESTS = {
    "month_by_team_filtered": KpiRequest(
        metrics=("tickets", "csat", "resolution_hours"),
        grain="month",
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 10, 31),
        filters=(("channel", ("email", "chat")),),
        by=("team",),
    ),
    "fiscal_quarter": KpiRequest(metrics=("tickets",), grain="fiscal_quarter"),
    "week": KpiRequest(metrics=("tickets", "csat"), grain="week"),
    "windows": KpiRequest(
        metrics=("tickets",),
        windows=(
            Window("current", dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
            Window("previous", dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
        ),
    ),
}


@pytest.mark.parametrize("dialect", ["spark", "postgres"])
@pytest.mark.parametrize("case", sorted(GOLDEN_REQUESTS))
def test_compiled_sql_matches_the_golden_files(sample_dir: Path, case: str, dialect: str) -> None:
    config = load_config(sample_dir)
    request = GOLDEN_REQUESTS[case]
    metrics = [config.metrics[m] for m in request.metrics]
    sql, params = source_sql(config, config.sources["tickets"], metrics, request)
    relations = {"tickets": "SELECT * FROM analytics.tickets"}
    compiled, names = compile_sql(sql, dialect, relations, pretty=True)
    assert sorted(params) == names  # every value is bound, none is left out
    text = compiled + "\n"
    golden = GOLDEN / f"{case}.{dialect}.sql"
    if os.environ.get(UPDATE_GOLDEN):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        f"{golden.name} differs; if the change is meant, run with {UPDATE_GOLDEN}=1 and review "
        "the diff"
    )


@pytest.fixture(scope="module")
def spark_sample(
    sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Project, Project]]:
    """The sample company from its files, and from Spark tables (Parquet files written from the
    loaded sources) read by a local pyspark session."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 (starts a JVM: only here)

    root = tmp_path_factory.mktemp("spark")
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sql("CREATE DATABASE analytics")
    with open_project(sample_dir) as files:
        for name in files.config.sources:
            files.source(name)
            table = root / f"{name}.parquet"
            files.workspace.query(f"COPY (SELECT * FROM \"{name}\") TO '{table}' (FORMAT parquet)")
            spark.sql(f"CREATE TABLE analytics.{name} USING parquet LOCATION '{table}'")
    project = root / "project"
    shutil.copytree(sample_dir, project, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    config = project / "reviewkit.yaml"
    text = warehouse_config(config.read_text(encoding="utf-8"), "spark://local")
    config.write_text(
        text.replace(f'analytics."{QUERIED}"', f"analytics.{QUERIED}"), encoding="utf-8"
    )
    kept = kept_files(config)
    for export in (project / "data").iterdir():
        if export.suffix in (".csv", ".xlsx", ".parquet") and export.name not in kept:
            export.unlink()
    try:
        with open_project(sample_dir) as files, open_project(project) as warehouse:
            yield files, warehouse
    finally:
        spark.stop()


def test_the_catalogue_on_spark_equals_duckdb(spark_sample) -> None:
    files, spark = spark_sample
    assert_same_frame(files.kpis(), spark.kpis(), "every KPI by month")
    assert_same_frame(files.scorecard("2026-10"), spark.scorecard("2026-10"), "scorecard")
    root = spark.root.parent / "bad"
    root.mkdir()
    (root / "reviewkit.yaml").write_text(
        SMALL.format(url="spark://local", what="table: analytics.tickets", extra="")
        .replace("csat: integer", "nope: number")
        .replace("column: csat", "column: nope")
        .split("  local:")[0]
        + "metrics:\n  tickets: {source: tickets, agg: count}\n",
        encoding="utf-8",
    )
    assert (
        "sources.tickets.values: table analytics.tickets has no column 'nope' declared for "
        "source 'tickets'; its columns are: ticket_id, created_at" in refusal(root)
    )


@pytest.mark.usefixtures("jupyter_dirs")
def test_a_review_of_warehouse_sources_is_published(both) -> None:
    """`reviewkit report` on the PostgreSQL project: the kernel computes there too, the page's
    data quality names the tables it read, the snapshot records them, and a reproduction is
    refused (the tables are not copied)."""
    _, warehouse, url = both
    result = CliRunner().invoke(
        main,
        ["report", "--project", str(warehouse.root), "--period", "2026-10", "--team", "growth"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    page = (warehouse.root / "reports" / "2026-10" / "growth.html").read_text(encoding="utf-8")
    assert f"table analytics.tickets in {url}" in page
    snapshot = warehouse.root / "reports" / "2026-10" / "growth.snapshot.json"
    recorded = json.loads(snapshot.read_text(encoding="utf-8"))["warehouse"]["tickets"]
    assert recorded["engine"] == url and recorded["table"] == "analytics.tickets"
    assert recorded["rows"] == warehouse.source("tickets").rows
    refused = CliRunner().invoke(
        main, ["report", "--project", str(warehouse.root), "--reproduce", str(snapshot)]
    )
    assert refused.exit_code != 0
    assert f"it read sources in a SQL engine (tickets ({url})" in refused.output
    assert "whose tables reviewkit does not copy" in refused.output
    quality = data_quality(warehouse, "2026-10")
    assert quality.set_index("source")["rows"].to_dict() == {
        name: warehouse.source(name).rows for name in warehouse.config.sources
    }
