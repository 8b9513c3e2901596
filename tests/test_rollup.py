"""A monthly rate is not summed across months (issue 26): the sample's logo retention is a
ratio of a monthly snapshot's counts; over a year it read 97.0% as if it were the year's rate.
Now it is the average of its months, said so ("avg monthly"), or it has no value."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.cli import main


def monthly_retention(folder: Path) -> dict[str, float]:
    """Each month's logo retention from the raw snapshot (plain DuckDB): accounts at the start
    (active or churned) still there at its end, over those at the start."""
    rows = duckdb.connect().execute(
        "SELECT strftime(CAST(month AS DATE), '%Y-%m'), "
        "count(*) FILTER (WHERE status IN ('active', 'churned')), "
        "count(*) FILTER (WHERE status = 'churned') "
        f"FROM read_parquet('{folder / 'data' / 'subscriptions.parquet'}') GROUP BY 1"
    )
    return {month: (start - churned) / start for month, start, churned in rows.fetchall()}


def test_a_monthly_rate_over_a_year_is_its_average_month(sample_dir: Path) -> None:
    months = monthly_retention(sample_dir)
    year = [v for m, v in months.items() if m.startswith("2025")]
    quarter = [months[m] for m in ("2025-04", "2025-05", "2025-06")]
    with open_project(sample_dir) as project:
        row = project.compare("retention", "2025").iloc[0]
        assert row["value"] == pytest.approx(sum(year) / 12)
        assert row["flags"][0] == (
            "Logo retention over 2025-01-01 to 2025-12-31 is the average of its monthly rates "
            "(avg monthly)"
        )
        frame = project.kpis(["retention"], grain="quarter", start="2025-04-01", end="2025-06-30")
        assert list(frame["value"]) == [pytest.approx(sum(quarter) / 3)]
        june = project.compare("retention", "2025-06").iloc[0]  # a month: its own rate
        assert june["value"] == pytest.approx(months["2025-06"]) and june["flags"] == []


def test_without_a_rollup_a_monthly_rate_has_no_value_over_a_year(
    sample_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    config = folder / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("    rollup: average_of_periods", "    # no rollup"), "utf-8")
    with open_project(folder) as project:
        row = project.compare("retention", "2025").iloc[0]
        assert row["value"] != row["value"] and row["text"] == "n/a"
        assert row["flags"][0].startswith(
            "Logo retention is a monthly rate of the snapshot 'subscriptions': it has no value "
            "over 2025-01-01 to 2025-12-31"
        )
        assert project.compare("retention", "2025-06").iloc[0]["value"] > 0.9
    result = CliRunner().invoke(main, ["check", "--project", str(folder)])
    assert result.exit_code == 0, result.output
    assert (
        "metric 'retention' is a ratio of the monthly snapshot 'subscriptions' (a monthly "
        "rate): over a quarter or a year it has no value"
    ) in result.output
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("mrr_growth:", "mrr_growth:\n    rollup: sometimes", 1), "utf-8")
    result = CliRunner().invoke(main, ["check", "--project", str(folder)])
    assert result.exit_code == 1 and "rollup" in result.output, result.output
