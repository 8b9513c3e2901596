"""A review of a period its data never reached says so (issue 26): stale data is not "on
track". A project whose export ended in 2023, reviewed for last month."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.cli import main
from reviewkit.present import narrative

CONFIG = """\
name: Stale Co
sources:
  signups:
    path: data/signups.csv
    date: {column: day, format: "%Y-%m-%d"}
    values: {signups: integer}
metrics:
  signups: {source: signups, agg: sum, column: signups}
outcomes:
  - id: growth
    title: More people sign up
    owner: Ana
    kpi: signups
    baseline: {value: 900, period: 2023-01}
    target: {value: 1200, by: 2026-12-31}
"""
GAP = (
    "No outcome has data for 2026-10: the data behind them runs through 2023-06-30, so this "
    "review shows no values or statuses; 2023-06 is the latest month with data."
)


@pytest.fixture
def stale(tmp_path: Path) -> Path:
    folder = tmp_path / "stale"
    (folder / "data").mkdir(parents=True)
    day, lines = dt.date(2023, 1, 1), ["day,signups"]
    while day <= dt.date(2023, 6, 30):
        lines.append(f"{day},{30 + day.day}")
        day += dt.timedelta(days=1)
    (folder / "data" / "signups.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "reviewkit.yaml").write_text(CONFIG, encoding="utf-8")
    return folder


def test_the_summary_says_there_is_no_data_and_claims_no_status(stale: Path) -> None:
    """It said "Every outcome with a target is on track" while every status was n/a."""
    with open_project(stale) as project:
        summary = narrative.executive_summary(project, "last-month")
        assert summary[0] == GAP
        assert summary == [GAP]  # nothing about statuses or moves it does not have
        assert narrative.executive_summary(project, "2023-05")[0] != GAP  # a month with data


def test_report_and_schedule_refuse_a_period_without_data_unless_allowed(
    stale: Path, jupyter_dirs: None
) -> None:
    """`report --period last-month` published with exit 0; now it fails, naming the latest
    month with data, and publishes nothing; `--allow-empty` publishes a review that says so."""
    result = CliRunner().invoke(main, ["report", "--project", str(stale), "--period", "last-month"])
    assert result.exit_code == 1, result.output
    assert GAP in result.output and "--allow-empty" in result.output
    assert not (stale / "reports" / "2026-10").exists() or not list(
        (stale / "reports" / "2026-10").glob("*.html")
    )
    result = CliRunner().invoke(
        main, ["schedule", "--project", str(stale), "--cron", "0 6 2 * *", "--once"]
    )
    assert result.exit_code == 1 and GAP in result.output, result.output
    result = CliRunner().invoke(
        main, ["report", "--project", str(stale), "--period", "last-month", "--allow-empty"]
    )
    assert result.exit_code == 0, result.output
    page = (stale / "reports" / "2026-10" / "company.html").read_text(encoding="utf-8")
    assert GAP in page and "is on track" not in page
