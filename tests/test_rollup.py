"""A monthly rate is not summed across months (issue 26): the sample's MRR growth is a ratio of
a monthly snapshot's sums; over a year it would read as if it were the year's rate. It is the
average of its months, said so ("avg monthly"), or it has no value. Logo retention, from the
account export (a lifecycle source, issue 32), is the year's own retention instead."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.cli import main


def monthly_growth(folder: Path) -> dict[str, float]:
    """Each month's MRR growth from the raw snapshot (plain DuckDB): net new MRR over the MRR
    at the month's start."""
    rows = duckdb.connect().execute(
        "SELECT strftime(CAST(month AS DATE), '%Y-%m'), sum(net_new_mrr), sum(starting_mrr) "
        f"FROM read_parquet('{folder / 'data' / 'subscriptions.parquet'}') GROUP BY 1"
    )
    return {month: new / start for month, new, start in rows.fetchall()}


def test_a_monthly_rate_over_a_year_is_its_average_month(sample_dir: Path) -> None:
    months = monthly_growth(sample_dir)
    year = [v for m, v in months.items() if m.startswith("2025")]
    quarter = [months[m] for m in ("2025-04", "2025-05", "2025-06")]
    with open_project(sample_dir) as project:
        row = project.compare("mrr_growth", "2025").iloc[0]
        assert row["value"] == pytest.approx(sum(year) / 12)
        assert row["flags"][0] == (
            "MRR growth over 2025-01-01 to 2025-12-31 is the average of its monthly rates "
            "(avg monthly)"
        )
        frame = project.kpis(["mrr_growth"], grain="quarter", start="2025-04-01", end="2025-06-30")
        assert list(frame["value"]) == [pytest.approx(sum(quarter) / 3)]
        june = project.compare("mrr_growth", "2025-06").iloc[0]  # a month: its own rate
        assert june["value"] == pytest.approx(months["2025-06"]) and june["flags"] == []


def test_retention_over_a_year_is_the_years_own(sample_dir: Path) -> None:
    """Of the accounts that were customers on 2024-12-31, the share still customers on
    2025-12-31 (pandas over the account export): well below the average month's 97%."""
    spells = pd.read_csv(
        sample_dir / "data" / "accounts.csv", parse_dates=["started_on", "cancelled_on"]
    )

    def active(day: str) -> set[str]:
        when = pd.Timestamp(day)
        alive = (spells["started_on"] <= when) & (
            spells["cancelled_on"].isna() | (spells["cancelled_on"] > when)
        )
        return set(spells.loc[alive, "account_id"])

    opening = active("2024-12-31")
    kept = len(opening & active("2025-12-31")) / len(opening)
    with open_project(sample_dir) as project:
        row = project.compare("retention", "2025").iloc[0]
        months = project.kpis(["retention"], grain="month", start="2025-01-01", end="2025-12-31")
    assert row["value"] == pytest.approx(kept) and row["flags"] == []
    assert kept < 0.8 < months["value"].mean()
    assert dt.date(2025, 1, 1) in set(months["period_start"])


def test_without_a_rollup_a_monthly_rate_has_no_value_over_a_year(
    sample_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    config = folder / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("    rollup: average_of_periods", "    # no rollup"), "utf-8")
    with open_project(folder) as project:
        row = project.compare("mrr_growth", "2025").iloc[0]
        assert row["value"] != row["value"] and row["text"] == "n/a"
        assert row["flags"][0].startswith(
            "MRR growth is a monthly rate of the snapshot 'subscriptions': it has no value "
            "over 2025-01-01 to 2025-12-31"
        )
        assert project.compare("mrr_growth", "2025-06").iloc[0]["value"] > 0
    result = CliRunner().invoke(main, ["check", "--project", str(folder)])
    assert result.exit_code == 0, result.output
    assert (
        "metric 'mrr_growth' is a ratio of the monthly snapshot 'subscriptions' (a monthly "
        "rate): over a quarter or a year it has no value"
    ) in result.output
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("mrr_growth:", "mrr_growth:\n    rollup: sometimes", 1), "utf-8")
    result = CliRunner().invoke(main, ["check", "--project", str(folder)])
    assert result.exit_code == 1 and "rollup" in result.output, result.output
