"""A new company's daily KPI export of the wbr-app kind (issue 26), built here with the shape of
wbr-app's public sample (its `unit_test_case/scenario_1/original.csv`): a UTF-8 BOM, dates like
"Sun, 05-Jan-2020", thousands in quotes ("523,419"), actuals that stop while the rows run on
with blank cells, and a target column that runs ahead of the actuals. Every number the review
puts in front of a leader is checked against plain DuckDB over the raw file."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.cli import main
from reviewkit.present import narrative

CONFIG = """\
name: Daily reader
sources:
  daily:
    path: data/daily.csv
    date: {column: Date, format: "%a, %d-%b-%Y"}
    values: {Impressions: integer, Clicks: integer, PageViews: integer, PageViews__Target: integer}
    options: {thousands: ","}
    future_dates: allow               # the targets run ahead of today
metrics:
  page_views: {source: daily, agg: sum, column: PageViews, label: Page views}
  clicks: {source: daily, agg: sum, column: Clicks}
  impressions: {source: daily, agg: sum, column: Impressions}
  ctr: {ratio: [clicks, impressions], format: percent, label: Click-through}
targets:
  - metric: page_views
    source: daily
    column: PageViews__Target
outcomes:
  - id: reach
    title: More people read us
    owner: Ana
    kpi: page_views
  - id: relevance
    title: Readers click what we show them
    owner: Ana
    kpi: ctr
"""
FIRST, LAST_ACTUAL, LAST_ROW = dt.date(2025, 7, 1), dt.date(2026, 10, 19), dt.date(2026, 12, 31)


def build(folder: Path) -> Path:
    rng = random.Random(20200105)
    lines = ["Date,Impressions,Clicks,PageViews,PageViews__Target"]
    day = FIRST
    while day <= LAST_ROW:
        target = int(5_000_000 * (1 + 0.002 * (day - FIRST).days / 7))
        if day <= LAST_ACTUAL:
            impressions = rng.randint(440_000, 690_000)
            clicks = int(impressions * rng.uniform(0.075, 0.085))
            views = int(target * rng.uniform(0.9, 1.1))
            actuals = f'"{impressions:,}","{clicks:,}",{views}'
        else:
            actuals = ",,"
        lines.append(f'"{day:%a, %d-%b-%Y}",{actuals},{target}')
        day += dt.timedelta(days=1)
    (folder / "data").mkdir(parents=True)
    text = "\ufeff" + "\r\n".join(lines) + "\r\n"  # with a BOM and CRLF, as exported
    (folder / "data" / "daily.csv").write_bytes(text.encode("utf-8"))
    (folder / "reviewkit.yaml").write_text(CONFIG, encoding="utf-8")
    return folder


@pytest.fixture
def daily(tmp_path: Path) -> Path:
    return build(tmp_path / "daily")


def monthly(folder: Path) -> dict[str, tuple]:
    """Per month from the raw file, by plain DuckDB: page views, target, clicks, impressions,
    and the days with page views."""
    con = duckdb.connect()
    rows = con.execute(
        f"""
        SELECT strftime(d, '%Y-%m'), sum(v), sum(t), sum(c), sum(i), count(v)
        FROM (
          SELECT strptime("Date", '%a, %d-%b-%Y')::DATE AS d,
                 "PageViews" AS v, "PageViews__Target" AS t,
                 replace("Clicks", ',', '')::BIGINT AS c,
                 replace("Impressions", ',', '')::BIGINT AS i
          FROM read_csv('{folder / "data" / "daily.csv"}', header = true, all_varchar = false,
                        types = {{'Clicks': 'VARCHAR', 'Impressions': 'VARCHAR'}})
        ) GROUP BY 1
        """
    ).fetchall()
    return {month: values for month, *values in ((r[0], *r[1:]) for r in rows)}


def test_every_number_a_leader_reads_is_right(daily: Path) -> None:
    raw = monthly(daily)
    views, target, clicks, impressions, days = raw["2026-09"]
    august = raw["2026-08"]
    assert days == 30 and raw["2026-10"][4] == 19 and raw["2026-11"][4] == 0
    result = CliRunner().invoke(main, ["check", "--project", str(daily)])
    assert result.exit_code == 0, result.output
    assert "PageViews is blank from 2026-10-20 on: 73 row(s)" in result.output
    with open_project(daily) as project:
        month = project.period("latest", "month", ["page_views", "ctr"])
        assert month.label == "2026-09"  # October's views stop on the 19th
        card = project.outcome_scorecard(month).set_index("outcome")
        reach, relevance = card.loc["reach"], card.loc["relevance"]
        assert reach["value"] == views and reach["text"] == f"{views:,}"
        assert reach["target"] == target and reach["target_text"] == f"{target:,}"
        assert reach["previous_change"] == pytest.approx((views / august[0] - 1) * 100)
        assert relevance["value"] == pytest.approx(clicks / impressions)
        moved = (clicks / impressions - august[2] / august[3]) * 100
        assert relevance["previous_change"] == pytest.approx(moved)  # points, not percent
        summary = " ".join(narrative.executive_summary(project, month))
        status = reach["status"]
        assert status in ("on track", "at risk", "off track")
        if status == "on track":
            assert "Every outcome with a target is on track" in summary
        else:
            assert f"More people read us is {status}" in summary and f"{target:,}" in summary
        october = project.compare("page_views", "2026-10").iloc[0]
        assert october["value"] == raw["2026-10"][0]
        assert (
            "2026-10 is in progress: data through 2026-10-19 (19 of 31 days)" in (october["flags"])
        )
        november = project.compare("page_views", "2026-11").iloc[0]
        assert november["text"] == "n/a"  # blank, not 0, though the targets run on
        assert (
            "No outcome has data for 2026-11" in narrative.executive_summary(project, "2026-11")[0]
        )


def test_the_published_review_shows_those_numbers(daily: Path, jupyter_dirs: None) -> None:
    views, target, *_ = monthly(daily)["2026-09"]
    result = CliRunner().invoke(main, ["report", "--project", str(daily), "--period", "latest"])
    assert result.exit_code == 0, result.output
    page = (daily / "reports" / "2026-09" / "company.html").read_text(encoding="utf-8")
    assert f"{views:,}" in page and f"{target:,}" in page
    assert "No outcome has data" not in page
