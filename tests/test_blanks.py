"""A blank value is missing, never zero (issue 26): an export whose rows run on past its last
actual with empty value cells, as daily KPI sheets that list the days ahead do. Every number is
checked against plain DuckDB over the raw file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.cli import main

CONFIG = """\
name: Traffic
sources:
  traffic:
    path: data/traffic.csv
    date: {column: day, format: "%Y-%m-%d"}
    values: {views: integer, signups: integer}
metrics:
  views: {source: traffic, agg: sum, column: views, label: Page views}
  signups: {source: traffic, agg: sum, column: signups}
  days: {source: traffic, agg: count}
  daily_views: {source: traffic, agg: daily_mean, column: views}
  last_views: {source: traffic, agg: last, column: views}
  signup_rate: {ratio: [signups, views], format: percent}
"""
#: views are filled through 2026-09-19, then blank for the 42 days to 2026-10-31; signups are
#: filled to the end
LAST_VIEWS = dt.date(2026, 9, 19)


def write(folder: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    lines = ["day,views,signups"]
    day = dt.date(2026, 7, 1)
    while day <= dt.date(2026, 10, 31):
        views = str(100 + day.day * 3) if day <= LAST_VIEWS else ""
        lines.append(f"{day},{views},{day.day % 7}")
        day += dt.timedelta(days=1)
    (folder / "data" / "traffic.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "reviewkit.yaml").write_text(CONFIG, encoding="utf-8")
    return folder


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return write(tmp_path / "traffic")


def raw(folder: Path, sql: str) -> list[tuple]:
    """``sql`` over the raw file as table ``t`` (plain DuckDB, blanks as NULL)."""
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW t AS SELECT * FROM read_csv('{folder / 'data' / 'traffic.csv'}', "
        "header=true, columns={'day': 'DATE', 'views': 'BIGINT', 'signups': 'BIGINT'})"
    )
    return con.execute(sql).fetchall()


def test_blank_values_are_missing_not_zero(project_dir: Path) -> None:
    """October's views are all blank: n/a, not 0; September's 19 days of views are a partial
    month; counts still count every row; the latest month for views is August."""
    with open_project(project_dir) as project:
        assert project.data_through(["views"]) == LAST_VIEWS
        assert project.data_through(["signups"]) == dt.date(2026, 10, 31)
        assert project.data_through(["signup_rate"]) == LAST_VIEWS  # its parts together
        assert project.period("latest", "month", ["views"]).label == "2026-08"
        assert project.period("latest", "month", ["signups"]).label == "2026-10"
        frame = project.kpis(["views", "days", "daily_views", "last_views", "signup_rate"])
        value = {(r.metric, r.period): r.value for r in frame.itertuples()}
        expected = dict(
            raw(
                project_dir,
                "SELECT strftime(day, '%Y-%m'), sum(views) FROM t GROUP BY 1 ORDER BY 1",
            )
        )
        assert expected["2026-10"] is None
        for month in ("2026-07", "2026-08", "2026-09"):
            assert value["views", month] == expected[month]
        assert value["views", "2026-10"] != value["views", "2026-10"]  # NaN, never 0
        assert value["days", "2026-10"] == 31  # a row is a row
        assert value["daily_views", "2026-09"] == pytest.approx(expected["2026-09"] / 19)
        assert value["daily_views", "2026-10"] != value["daily_views", "2026-10"]
        ((last,),) = raw(project_dir, f"SELECT views FROM t WHERE day = DATE '{LAST_VIEWS}'")
        assert value["last_views", "2026-09"] == last  # the last day with a value
        assert value["signup_rate", "2026-10"] != value["signup_rate", "2026-10"]

        october = project.compare("views", "2026-10").iloc[0]
        assert october["value"] != october["value"] and "2026-10 has no data" in october["flags"]
        september = project.compare("views", "2026-09").iloc[0]
        assert september["coverage"] == "19 of 30 days"
        assert (
            "2026-09 is in progress: data through 2026-09-19 (19 of 30 days)"
            in (september["flags"])
        )


def test_kpis_latest_and_check_say_what_is_blank(project_dir: Path) -> None:
    """`kpis --period latest` shows the last month with values (never "0, MoM -100.0%"), and
    `check` warns about the trailing run of blank values."""
    result = CliRunner().invoke(
        main, ["kpis", "--project", str(project_dir), "--period", "latest", "--metric", "views"]
    )
    assert result.exit_code == 0, result.output
    assert "2026-08" in result.output and "-100.0%" not in result.output
    ((august,),) = raw(project_dir, "SELECT sum(views) FROM t WHERE month(day) = 8")
    assert f"{august:,}" in result.output
    result = CliRunner().invoke(main, ["check", "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    assert (
        "source 'traffic': views is blank from 2026-09-20 on: 42 row(s); reviews will treat "
        "those days as missing (not zero) until it is filled in"
    ) in result.output
    assert "signups is blank" not in result.output
